/**
 * The C guest for virtual machines (clients/c/vfun_guest*.c), written from
 * docs/region-format.md (§13: the ivshmem window) and docs/operator-guide.md
 * (the control channel):
 *
 * - its SHA-256 / HMAC-SHA256 agree with node:crypto (property, block-size edges);
 * - the request lines it builds parse with `requestSchema` and verify with `macMatches`;
 * - its answer parser takes what vFunD writes and names what is missing;
 * - against a small doc-following stand-in for vFunD (control socket + window file +
 *   a polling service + a "net" socket), `vfun-guest --check --bench` does all four phases;
 * - against a stand-in that answers op `region` with wrong, missing, unsealed, too small or too
 *   many descriptors (§14), the client refuses each one and leaves no descriptor open.
 *
 * The C client against a real vFunD (sealed memory, the CLOSED tombstone): c-client.int.spec.ts.
 * With the real window backend in a VM: test/vm.
 */
import { execFile, spawn } from 'node:child_process';
import { createHmac, randomUUID, createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { fc } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NONCE, macMatches, type ControlRequest } from '../../src/control/protocol.js';
import { requestSchema } from '../../src/control/request-schema.js';
import { canonicalJson } from '../../src/events/canonical.js';
import { areaBytes, LAYOUT_HASH, packWord, SEQ_MASK, Status } from '../../src/dataplane/layout.js';
import { areaViews, initRegion, type AreaViews } from '../../src/dataplane/region.js';
import { closeFdRegion, createMemfdRegion } from '../../src/dataplane/region-fds.js';
import { requireShm, type ShmAddon } from '../../src/native/shm.js';
import { GUEST_SOURCES } from '../../src/vm/guest-binary.js';

const exec = promisify(execFile);
const SRC = join(import.meta.dirname, '../../clients/c');
const SOURCES = GUEST_SOURCES.map((f) => join(SRC, f));
const SECRET = 'a tenant secret of at least 16 characters';

let dir: string;
let bin: string;
let secretFile: string;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the guest without blocking the event loop (the stand-in host lives in this process). */
function run(args: readonly string[], stdin = '', prefix: readonly string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [cmd, ...rest] = [...prefix, bin, ...args] as [string, ...string[]];
    const child = spawn(cmd, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined); // a guest that exits without reading its stdin
    child.stdin.end(stdin);
  });
}

type Line = Record<string, unknown> & { vfun: string };
const lines = (out: string): Line[] =>
  out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Line);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vfun-cguest-'));
  bin = join(dir, 'vfun-guest');
  secretFile = join(dir, 'secret');
  await writeFile(secretFile, SECRET + '\n', { mode: 0o600 });
  await exec('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, ...SOURCES]);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('C guest: build', () => {
  it('compiles as a static binary (for a busybox initramfs), warnings as errors', async () => {
    const out = join(dir, 'vfun-guest-static');
    await exec('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', out, ...SOURCES]);
    const { stdout } = await exec(out, ['--selftest-mac', 'k', 'm']);
    expect(stdout.trim()).toBe(createHmac('sha256', 'k').update('m').digest('hex'));
  });

  it('refuses unknown options with a usage line (exit 2)', async () => {
    const r = await run(['--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option --frobnicate/);
    expect((await run(['--bench', '0'])).code).toBe(2);
  });
});

describe('C guest: SHA-256 and HMAC-SHA256', () => {
  const EDGES = [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000];
  const bytesOfLength = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
  const lengthAround = fc.oneof(fc.constantFrom(...EDGES), fc.integer({ min: 0, max: 300 }));
  const message = lengthAround.chain(bytesOfLength);
  const key = fc.oneof(fc.constantFrom(0, 1, 16, 32, 63, 64, 65, 100, 200).chain(bytesOfLength), fc.uint8Array({ maxLength: 150 }));

  async function cHashes(cases: readonly { key: Uint8Array; msg: Uint8Array }[]): Promise<string[]> {
    const input = cases.map((c) => `${Buffer.from(c.key).toString('hex')}:${Buffer.from(c.msg).toString('hex')}\n`).join('');
    const r = await run(['--selftest-hash'], input);
    expect(r.code).toBe(0);
    return r.stdout.trim().split('\n');
  }

  it('agrees with node:crypto at every block-size edge', async () => {
    const cases = EDGES.flatMap((m) =>
      [0, 1, 63, 64, 65, 200].map((k) => ({ key: new Uint8Array(k).map((_, i) => (i * 7 + 1) & 255), msg: new Uint8Array(m).map((_, i) => (i * 13) & 255) })),
    );
    const got = await cHashes(cases);
    cases.forEach((c, i) => {
      const sha = createHash('sha256').update(c.msg).digest('hex');
      const mac = createHmac('sha256', c.key).update(c.msg).digest('hex');
      expect(got[i]).toBe(`${sha} ${mac}`);
    });
  });

  it('agrees with node:crypto for random keys and messages (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ key, msg: message }), { minLength: 1, maxLength: 40 }), async (cases) => {
        const got = await cHashes(cases);
        expect(got).toHaveLength(cases.length);
        cases.forEach((c, i) => {
          expect(got[i]).toBe(`${createHash('sha256').update(c.msg).digest('hex')} ${createHmac('sha256', c.key).update(c.msg).digest('hex')}`);
        });
      }),
      { numRuns: 25 },
    );
  });

  it('keys by the secret string as node does (UTF-8 bytes)', async () => {
    for (const [secret, msg] of [
      ['sécret-ünïcode-κλειδί', '{"a":1}'],
      ['x'.repeat(65), 'y'.repeat(120)],
    ] as const) {
      const { stdout } = await exec(bin, ['--selftest-mac', secret, msg]);
      expect(stdout.trim()).toBe(createHmac('sha256', secret).update(msg).digest('hex'));
    }
  });
});

describe('C guest: request lines', () => {
  const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,63}$/);
  const secret = fc.stringMatching(/^[!-~][ -~]{14,60}[!-~]$/); // printable, no white space at the ends

  async function printRequest(args: readonly string[], secretText = SECRET): Promise<{ line: string; req: ControlRequest }> {
    const f = join(dir, `secret-${randomUUID()}`);
    await writeFile(f, `  ${secretText}\n`);
    const r = await run(['--secret-file', f, '--print-request', ...args]);
    await rm(f);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith('\n')).toBe(true);
    const line = r.stdout.slice(0, -1);
    expect(line).not.toContain('\n');
    const req = requestSchema.parse(JSON.parse(line));
    return { line, req };
  }

  it('negotiate, activate and release parse with requestSchema and verify with macMatches', async () => {
    const before = Date.now();
    const cases: [string[], Record<string, unknown>][] = [
      [['negotiate', '--tenant', 'vm1', '--app', 'a', '--fn', 'factorial'], { op: 'negotiate', tenant: 'vm1', app: 'a', fn: 'factorial', kind: 'sw' }],
      [['negotiate', '--tenant', 'vm1', '--fn', 'sha256', '--kind', 'hw', '--fallback', 'true'], { app: 'vmapp', kind: 'hw', fallback: true }],
      [['negotiate', '--tenant', 'vm1', '--fn', 'crc32', '--fallback', 'false'], { fallback: false }],
      [['activate', '--tenant', 'vm1', '--instance', '0f8fad5b-d9cb-469f-a165-70867728950e'], { op: 'activate', instance: '0f8fad5b-d9cb-469f-a165-70867728950e' }],
      [['release', '--tenant', 'vm_1-x', '--instance', 'i7'], { op: 'release', tenant: 'vm_1-x', instance: 'i7' }],
      [['region', '--tenant', 'acme', '--instance', 'i7'], { op: 'region', tenant: 'acme', instance: 'i7' }],
    ];
    for (const [args, want] of cases) {
      const { line, req } = await printRequest(args);
      expect(req).toMatchObject({ v: 1, ...want });
      expect(macMatches(req, SECRET)).toBe(true);
      expect(macMatches(req, SECRET + 'x')).toBe(false);
      expect(req.nonce).toMatch(/^[0-9a-f]{32}$/);
      expect(req.ts).toBeGreaterThanOrEqual(before - 1000);
      expect(req.ts).toBeLessThanOrEqual(Date.now() + 1000);
      // The line is the canonical JSON of the signed fields with "mac" appended.
      const { mac, ...body } = req;
      expect(line).toBe(canonicalJson(body).slice(0, -1) + `,"mac":"${mac}"}`);
      if (req.op === 'negotiate' && !('fallback' in want) && args.indexOf('--fallback') < 0) expect('fallback' in req).toBe(false);
    }
  });

  it('every nonce is fresh', async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) nonces.add((await printRequest(['release', '--tenant', 'vm1', '--instance', 'i1'])).req.nonce);
    expect(nonces.size).toBe(5);
  });

  it('signs any names and secrets exactly as src/control/protocol.ts verifies them (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ tenant: name, app: name, fn: name, instance: name, secret, op: fc.constantFrom('negotiate', 'activate', 'region', 'release'), kind: fc.constantFrom('sw', 'hw'), fallback: fc.constantFrom(undefined, true, false), ts: fc.integer({ min: 0, max: 2 ** 50 }) }),
        async (p) => {
          const args = [p.op, '--tenant', p.tenant, '--nonce', 'ab'.repeat(12), '--ts', String(p.ts)];
          if (p.op === 'negotiate') {
            args.push('--app', p.app, '--fn', p.fn, '--kind', p.kind);
            if (p.fallback !== undefined) args.push('--fallback', String(p.fallback));
          } else args.push('--instance', p.instance);
          const { line, req } = await printRequest(args, p.secret);
          expect(macMatches(req, p.secret)).toBe(true);
          expect(req.ts).toBe(p.ts);
          expect(req.nonce).toBe('ab'.repeat(12));
          const { mac, ...body } = req;
          expect(line).toBe(canonicalJson(body).slice(0, -1) + `,"mac":"${mac}"}`);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('refuses names outside [A-Za-z0-9_-], a bad kind and a bad nonce', async () => {
    for (const args of [
      ['negotiate', '--tenant', 'vm1', '--fn', 'fact.orial'],
      ['negotiate', '--tenant', 'vm"1', '--fn', 'f'],
      ['negotiate', '--tenant', 'vm1', '--fn', 'f', '--app', 'a b'],
      ['negotiate', '--tenant', 'vm1', '--fn', 'f', '--kind', 'gpu'],
      ['activate', '--tenant', 'vm1', '--instance', '../x'],
      ['activate', '--tenant', 'vm1'],
      ['release', '--tenant', 'vm1', '--instance', 'i', '--nonce', 'ABCDEF0123456789'],
      ['resize', '--tenant', 'vm1', '--instance', 'i'],
      ['activate', '--tenant', 'vm1', '--instance', 'x'.repeat(257)],
    ]) {
      const r = await run(['--secret-file', secretFile, '--print-request', ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stdout).not.toMatch(/"mac"/);
    }
  });
});

describe('C guest: answer lines', () => {
  async function parse(op: string, line: string): Promise<Line> {
    const r = await run(['--parse-answer', op], line + '\n');
    const [out] = lines(r.stdout);
    expect(out).toBeDefined();
    expect(r.code).toBe(out!.vfun === 'answer' ? 0 : 1);
    return out!;
  }

  it('reads what vFunD answers', async () => {
    expect(await parse('negotiate', '{"ok":true,"op":"negotiate","instance":"0f8fad5b-d9cb-469f-a165-70867728950e","kind":"sw"}')).toEqual({
      vfun: 'answer',
      ok: true,
      op: 'negotiate',
      instance: '0f8fad5b-d9cb-469f-a165-70867728950e',
      kind: 'sw',
    });
    expect(
      await parse('activate', '{"ok":true,"op":"activate","instance":"i7","capacity":65536,"region":{"window":{"slot":0,"dataoutOffset":4096,"datainOffset":73728}}}'),
    ).toMatchObject({ ok: true, instance: 'i7', capacity: 65536, region: 'window', slot: 0, dataoutOffset: 4096, datainOffset: 73728 });
    expect(await parse('activate', '{"ok":true,"op":"activate","instance":"i7","capacity":64,"region":{"memfd":true},"nonce":"00112233445566778899aabbccddeeff"}')).toEqual({
      vfun: 'answer',
      ok: true,
      op: 'activate',
      instance: 'i7',
      capacity: 64,
      region: 'memfd',
    });
    expect(await parse('region', '{"ok":true,"op":"region","instance":"i7","capacity":65536,"nonce":"00112233445566778899aabbccddeeff"}')).toEqual({
      vfun: 'answer',
      ok: true,
      op: 'region',
      instance: 'i7',
      capacity: 65536,
    });
    expect(await parse('release', '{"ok":true,"op":"release","stats":{"calls":3,"errors":{"BAD_INPUT":1}}}')).toMatchObject({ calls: 3, errors: { BAD_INPUT: 1 } });
    expect(await parse('activate', '{"ok":false,"reason":"no-capacity","detail":"sha256/hw: 1 of 1 slots in use"}')).toEqual({
      vfun: 'answer',
      ok: false,
      reason: 'no-capacity',
      detail: 'sha256/hw: 1 of 1 slots in use',
    });
  });

  it('is not fooled by key order, white space, escapes or keys inside strings', async () => {
    const detail = 'a "quoted" \\ back\\slash, "instance":"evil", tab\t, é, 😀, \u0001';
    const line = JSON.stringify({ detail, reason: 'credential', ok: false });
    expect(await parse('negotiate', line)).toMatchObject({ ok: false, reason: 'credential', detail });
    expect(await parse('negotiate', JSON.stringify({ detail: 'x', ok: false, reason: 'replayed' }, null, 1).replace(/\n/g, ' '))).toMatchObject({ reason: 'replayed' });
    // "instance" nested in another object, or inside a string, is not the answer's instance
    expect(await parse('negotiate', '{"kind":"sw","note":{"instance":"nested"},"ok":true,"op":"negotiate","x":"\\"instance\\":\\"s\\"","instance":"real-1"}')).toMatchObject({
      instance: 'real-1',
    });
  });

  it('names what is missing or wrong', async () => {
    const bad: [string, string, RegExp][] = [
      ['negotiate', 'not json', /not JSON/],
      ['negotiate', '{"ok":true,"op":"negotiate","kind":"sw"}', /missing "instance"/],
      ['negotiate', '{"ok":true,"op":"negotiate","instance":"i/../x","kind":"sw"}', /"instance" is not/],
      ['negotiate', '{"ok":true,"op":"negotiate","instance":"i1","kind":"gpu"}', /"kind" is not sw or hw/],
      ['negotiate', '{"op":"negotiate","instance":"i1","kind":"sw"}', /missing "ok"/],
      ['activate', '{"ok":true,"op":"negotiate","instance":"i1","kind":"sw"}', /answer to activate is an answer to negotiate/],
      ['activate', '{"ok":true,"op":"activate","instance":"i1","region":{"window":{"slot":0,"dataoutOffset":4096,"datainOffset":73728}}}', /missing "capacity"/],
      ['activate', '{"ok":true,"op":"activate","instance":"i1","capacity":64,"region":{"window":{"slot":0,"dataoutOffset":4096}}}', /missing "region.window.datainOffset"/],
      ['activate', '{"ok":true,"op":"activate","instance":"i1","capacity":64,"region":{"window":{"slot":-1,"dataoutOffset":4096,"datainOffset":8192}}}', /"region.window.slot" is not an integer/],
      ['activate', '{"ok":true,"op":"activate","instance":"i1","capacity":1.5,"region":{}}', /"capacity" is not an integer/],
      ['activate', '{"ok":true,"op":"activate","instance":"i1","capacity":64}', /missing "region"/],
      ['activate', '{"ok":true,"op":"activate","instance":"i1","capacity":64,"region":{}}', /neither \{"window":\{...\}\} nor \{"memfd":true\}/],
      // A process tenant's region is never a host path (the format before sealed memory): refused.
      ['activate', '{"ok":true,"op":"activate","instance":"i1","capacity":64,"region":{"dataoutPath":"/r/dataout","datainPath":"/r/datain"}}', /host paths are not accepted/],
      ['activate', '{"ok":true,"op":"activate","instance":"i1","capacity":64,"region":{"memfd":false}}', /nor \{"memfd":true\}/],
      ['region', '{"ok":true,"op":"region","instance":"i1"}', /missing "capacity"/],
      ['region', '{"ok":true,"op":"region","instance":"i1","capacity":0}', /"capacity" is not an integer in 1..16777216/],
      ['region', '{"ok":true,"op":"region","capacity":64}', /missing "instance"/],
      ['region', '{"ok":true,"op":"activate","instance":"i1","capacity":64,"region":{"memfd":true}}', /answer to region is an answer to activate/],
      ['release', '{"ok":true,"op":"release","stats":{"errors":{}}}', /missing "stats.calls"/],
      ['release', '{"ok":false,"detail":"x"}', /missing "reason"/],
      ['release', '{"ok":"yes"}', /"ok"/],
      ['release', '{"ok":true,"op":"release","stats":{"calls":1}} trailing', /not JSON/],
    ];
    for (const [op, line, want] of bad) {
      const out = await parse(op, line);
      expect(out.vfun, line).toBe('error');
      expect(String(out.detail), line).toMatch(want);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// A stand-in for vFunD with an ivshmem window, written from docs/region-format.md §13 and §9 and
// docs/operator-guide.md (the control channel). Enough to run the guest through all four phases.

const WINDOW_MAGIC = 0x4e574656;
const WINDOW_BYTES = 1 << 20;
const CAPACITY = 65536;
const PAGE = 4096;
const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;
const SLOT_AREA = roundUp(areaBytes(CAPACITY), PAGE);
const SLOT_BYTES = 2 * SLOT_AREA;
const ERROR_NAMES = ['', 'BAD_COMMAND', 'BAD_LENGTH', 'BAD_SEQ', 'DRIVER_FAULT', 'BAD_INPUT', 'NO_RESULT'] as const;
const U64 = (1n << 64n) - 1n;

interface HostOptions {
  /** Functions whose service stops answering and stops its heartbeat (a dead service). */
  readonly dead?: ReadonlySet<string>;
  /** Answer activations with host paths (dataoutPath / datainPath), as vFunD did before sealed memory. */
  readonly files?: boolean;
  /** Lie about the datain offset in the activation answer. */
  readonly wrongOffset?: boolean;
  /** Leave the entry active after a release. */
  readonly keepEntries?: boolean;
}

interface Slot {
  readonly index: number;
  readonly instance: string;
  readonly fn: string;
  readonly out: AreaViews;
  readonly inn: AreaViews;
  lastWord: number;
  lastSeq: number;
  hasResult: boolean;
  clientSlept: boolean;
}

class FakeHost {
  readonly requests: ControlRequest[] = [];
  readonly refused: string[] = [];
  private readonly negotiated = new Map<string, { fn: string; app: string }>();
  private readonly active = new Map<string, Slot>();
  private readonly seen = new Set<string>();
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private running = true;
  private beat: NodeJS.Timeout | undefined;
  readonly slotCount: number;
  readonly slotsOffset: number;
  private readonly win: ArrayBuffer;
  private readonly i32: Int32Array;
  private readonly dv: DataView;

  constructor(
    shm: ShmAddon,
    readonly windowPath: string,
    readonly controlPath: string,
    readonly netPath: string,
    private readonly opts: HostOptions = {},
  ) {
    const fd = openSync(windowPath, 'wx', 0o600);
    ftruncateSync(fd, WINDOW_BYTES);
    closeSync(fd);
    this.win = shm.open(windowPath, WINDOW_BYTES, { writable: true });
    this.i32 = new Int32Array(this.win);
    this.dv = new DataView(this.win);
    let count = Math.floor((WINDOW_BYTES - PAGE) / SLOT_BYTES);
    while (roundUp(64 + count * 256, PAGE) + count * SLOT_BYTES > WINDOW_BYTES) count--;
    this.slotCount = count;
    this.slotsOffset = roundUp(64 + count * 256, PAGE);
    const h = this.dv;
    h.setUint16(4, 1, true);
    h.setUint16(6, 64, true);
    h.setUint32(8, LAYOUT_HASH, true);
    h.setUint32(12, WINDOW_BYTES, true);
    h.setUint32(16, count, true);
    h.setUint32(20, SLOT_BYTES, true);
    h.setUint32(24, 64, true);
    h.setUint32(28, 256, true);
    h.setUint32(32, this.slotsOffset, true);
    h.setUint32(40, process.pid, true);
    Atomics.store(this.i32, 0, WINDOW_MAGIC); // magic last
  }

  async start(): Promise<void> {
    const control = createServer((s) => this.serveControl(s));
    const net = createServer((s) => this.serveNet(s));
    for (const [server, path] of [
      [control, this.controlPath],
      [net, this.netPath],
    ] as const) {
      this.servers.push(server);
      await new Promise<void>((resolve) => server.listen(path, resolve));
    }
    const tick = (): void => {
      if (!this.running) return;
      for (const slot of this.active.values()) if (!this.opts.dead?.has(slot.fn)) this.serve(slot);
      setImmediate(tick);
    };
    setImmediate(tick);
    this.beat = setInterval(() => {
      for (const slot of this.active.values()) if (!this.opts.dead?.has(slot.fn)) Atomics.add(slot.inn.i32, 132 >> 2, 1);
    }, 100);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.beat);
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /** Corrupt the window header (for the refusal test). */
  setMagic(value: number): void {
    Atomics.store(this.i32, 0, value);
  }

  get clientEverSlept(): boolean {
    return [...this.active.values()].some((s) => s.clientSlept) || this.sleptAfterRelease;
  }
  private sleptAfterRelease = false;

  // ---- control channel

  private serveControl(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        // As vFunD does: every answer echoes the request's nonce (the C client skips answers without it).
        let nonce: unknown;
        try {
          nonce = (JSON.parse(line) as { nonce?: unknown }).nonce;
        } catch {
          nonce = undefined;
        }
        const a = this.answer(line);
        socket.write(JSON.stringify(typeof nonce === 'string' && NONCE.test(nonce) ? { ...a, nonce } : a) + '\n');
      }
    });
  }

  private refuse(reason: string, detail: string): Record<string, unknown> {
    this.refused.push(`${reason}: ${detail}`);
    return { ok: false, reason, detail };
  }

  private answer(line: string): Record<string, unknown> {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return this.refuse('malformed', 'request is not valid JSON');
    }
    const parsed = requestSchema.safeParse(raw);
    if (!parsed.success) return this.refuse('malformed', parsed.error.message);
    const req = parsed.data;
    if (req.tenant !== 'vm1') return this.refuse('not-owner', `tenant ${req.tenant}`);
    if (!macMatches(req, SECRET)) return this.refuse('credential', 'signature does not match the tenant secret');
    if (Math.abs(Date.now() - req.ts) > 30_000 || this.seen.has(req.nonce)) return this.refuse('replayed', 'time or nonce');
    this.seen.add(req.nonce);
    this.requests.push(req);
    switch (req.op) {
      case 'negotiate': {
        const instance = randomUUID();
        this.negotiated.set(instance, { fn: req.fn, app: req.app });
        return { ok: true, op: 'negotiate', instance, kind: req.kind };
      }
      case 'activate': {
        const n = this.negotiated.get(req.instance);
        if (!n) return this.refuse('unknown-instance', `no negotiated instance ${req.instance}`);
        if (this.opts.files) return { ok: true, op: 'activate', instance: req.instance, capacity: CAPACITY, region: { dataoutPath: '/x/dataout', datainPath: '/x/datain' } };
        const used = new Set([...this.active.values()].map((s) => s.index));
        let index = 0;
        while (used.has(index)) index++;
        if (index >= this.slotCount) return this.refuse('no-capacity', 'window full');
        const dataoutOffset = this.slotsOffset + index * SLOT_BYTES;
        const datainOffset = dataoutOffset + SLOT_AREA;
        const out = areaViews(this.win, dataoutOffset, SLOT_AREA);
        const inn = areaViews(this.win, datainOffset, SLOT_AREA);
        initRegion(out, inn, CAPACITY);
        // entry: fields first, state (1) last, then the generation
        const at = 64 + index * 256;
        const bytes = new Uint8Array(this.win, at, 256);
        Atomics.store(this.i32, at >> 2, 0);
        this.dv.setUint32(at + 4, CAPACITY, true);
        this.dv.setUint32(at + 8, dataoutOffset, true);
        this.dv.setUint32(at + 12, datainOffset, true);
        this.dv.setUint32(at + 16, this.dv.getUint32(at + 16, true) + 1, true);
        bytes.fill(0, 32);
        bytes.set(Buffer.from(req.instance), 32);
        bytes.set(Buffer.from(n.app), 96);
        bytes.set(Buffer.from(n.fn), 160);
        Atomics.store(this.i32, at >> 2, 1);
        Atomics.add(this.i32, 36 >> 2, 1);
        this.active.set(req.instance, { index, instance: req.instance, fn: n.fn, out, inn, lastWord: 0, lastSeq: 0, hasResult: false, clientSlept: false });
        return {
          ok: true,
          op: 'activate',
          instance: req.instance,
          capacity: CAPACITY,
          region: { window: { slot: index, dataoutOffset, datainOffset: datainOffset + (this.opts.wrongOffset ? PAGE : 0) } },
        };
      }
      case 'region':
        return this.refuse('wrong-phase', `${req.instance} is in the window: the stand-in hands over no sealed memory`);
      case 'release': {
        if (!this.negotiated.delete(req.instance)) return this.refuse('unknown-instance', `no instance ${req.instance}`);
        const slot = this.active.get(req.instance);
        let stats = { calls: 0, errors: {} as Record<string, number> };
        if (slot) {
          this.active.delete(req.instance);
          this.sleptAfterRelease ||= slot.clientSlept;
          const dv = slot.inn.dv;
          stats = { calls: dv.getUint32(76, true), errors: Object.fromEntries(ERROR_NAMES.slice(1).map((name, i) => [name, dv.getUint32(80 + 4 * (i + 1), true)])) };
          if (!this.opts.keepEntries) {
            const at = 64 + slot.index * 256;
            Atomics.store(this.i32, at >> 2, 0); // state first
            Atomics.add(this.i32, 36 >> 2, 1);
            new Uint8Array(this.win, this.slotsOffset + slot.index * SLOT_BYTES, SLOT_BYTES).fill(0);
          }
        }
        return { ok: true, op: 'release', stats };
      }
    }
  }

  // ---- the service of each active slot (§9), polling

  private serve(s: Slot): void {
    if (Atomics.load(s.out.i32, 128 >> 2) !== 0) s.clientSlept = true;
    const w = Atomics.load(s.out.i32, 64 >> 2);
    if (w === s.lastWord) return;
    s.lastWord = w;
    const seq = (w >>> 4) & SEQ_MASK;
    const cmd = w & 0xf;
    const expected = (s.lastSeq + 1) & SEQ_MASK;
    s.lastSeq = seq;
    if (seq !== expected) return this.reply(s, seq, 3, 'bad seq');
    if (cmd < 1 || cmd > 3) return this.reply(s, seq, 1, 'bad command');
    const len = s.out.dv.getUint32(68, true);
    if (len > CAPACITY) return this.reply(s, seq, 2, 'bad length');
    if (cmd === 3) {
      s.hasResult = false;
      return this.reply(s, seq, 0, new Uint8Array(0));
    }
    if (cmd === 2) return s.hasResult ? this.reply(s, seq, 0, null) : this.reply(s, seq, 6, 'no result');
    Atomics.store(s.inn.i32, 64 >> 2, packWord(seq, Status.BUSY));
    const input = s.out.bytes.slice(192, 192 + len);
    const result = compute(s.fn, input);
    if (typeof result === 'string') return this.reply(s, seq, 5, result);
    this.reply(s, seq, 0, result);
  }

  /** Answer in the order of §9: payload, error + len, counters, then the state word. */
  private reply(s: Slot, seq: number, code: number, what: Uint8Array | string | null): void {
    const dv = s.inn.dv;
    let len: number;
    if (what === null) len = dv.getUint32(68, true);
    else {
      const bytes = typeof what === 'string' ? Buffer.from(what) : what;
      s.inn.bytes.set(bytes, 192);
      len = bytes.length;
    }
    if (code !== 0) s.hasResult = false;
    else if (what !== null && len > 0) s.hasResult = true;
    dv.setUint32(72, code, true);
    dv.setUint32(68, len, true);
    dv.setUint32(76, dv.getUint32(76, true) + 1, true);
    if (code !== 0) dv.setUint32(80 + 4 * code, dv.getUint32(80 + 4 * code, true) + 1, true);
    Atomics.store(s.inn.i32, 64 >> 2, packWord(seq, code === 0 ? Status.DONE : Status.ERROR));
  }

  // ---- the "net" baseline: request = u32 len + payload; reply = u32 status + u32 len + payload

  private serveNet(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
        const n = buf.readUInt32LE(0);
        const result = compute('factorial', buf.subarray(4, 4 + n));
        buf = buf.subarray(4 + n);
        const head = Buffer.alloc(8);
        if (typeof result === 'string') {
          head.writeUInt32LE(5, 0);
          socket.write(head);
        } else {
          head.writeUInt32LE(result.length, 4);
          socket.write(Buffer.concat([head, result]));
        }
      }
    });
  }
}

function u64(v: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v & U64);
  return b;
}

/** The drivers of docs/drivers.md; a string is a refusal (BAD_INPUT). */
function compute(fn: string, input: Uint8Array): Uint8Array | string {
  if (fn === 'crc32') {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(crc32(input) >>> 0);
    return b;
  }
  if (input.length !== 4) return `${fn}: input is ${input.length} bytes, expected 4`;
  const n = Buffer.from(input).readUInt32LE(0);
  if (n > 1_000_000) return `${fn}: n is ${n}, the limit is 1000000`;
  if (fn === 'factorial') {
    let r = 1n;
    for (let i = 2n; i <= BigInt(Math.min(n, 70)); i++) r = (r * i) & U64;
    return u64(n > 70 ? 0n : r);
  }
  let a = 0n;
  let b = 1n;
  for (let i = 0; i < n; i++) [a, b] = [b, (a + b) & U64];
  return u64(a);
}

const shm = requireShm(); // the native addon is built by npm install (and required in CI)

describe('C guest against a stand-in vFunD (control socket + window file)', () => {
  let n = 0;
  async function withHost<T>(opts: HostOptions, body: (host: FakeHost) => Promise<T>): Promise<T> {
    const sub = join(dir, `host-${n++}`);
    await exec('mkdir', ['-p', sub]);
    const host = new FakeHost(shm!, join(sub, 'ivshmem.shm'), join(sub, 'control.sock'), join(sub, 'net.sock'), opts);
    await host.start();
    try {
      return await body(host);
    } finally {
      await host.stop();
    }
  }
  const guest = (host: FakeHost, extra: readonly string[], secret = secretFile): Promise<Run> =>
    run(['--control', host.controlPath, '--window', host.windowPath, '--tenant', 'vm1', '--secret-file', secret, '--app', 'vmapp', ...extra]);

  it('--check and --bench: all four phases of factorial, fibonacci and crc32, polling only', async () => {
    await withHost({}, async (host) => {
      const r = await guest(host, ['--check', '--bench', '300', '--net', host.netPath, '--fail-on-release-missing']);
      const out = lines(r.stdout);
      expect(out.filter((l) => l.vfun === 'error'), r.stdout).toEqual([]);
      expect(r.code).toBe(0);
      expect(out.at(-1)).toEqual({ vfun: 'done', ok: true, failures: 0 });
      const checks = Object.fromEntries(out.filter((l) => l.vfun === 'check').map((l) => [l.fn, l]));
      expect(checks.factorial).toMatchObject({ calls: 7, ok: true });
      expect(checks.fibonacci).toMatchObject({ calls: 5, ok: true });
      expect(checks.crc32).toMatchObject({ calls: 6, ok: true });
      expect(checks['activate-unknown']).toMatchObject({ ok: true, reason: 'unknown-instance' });
      const phases = out.filter((l) => l.vfun === 'phase' && l.fn === 'factorial').map((l) => l.phase);
      expect(phases).toEqual(['negotiate', 'activate', 'attach', 'release', 'negotiate', 'activate', 'attach', 'release']);
      const release = out.find((l) => l.vfun === 'phase' && l.phase === 'release' && l.fn === 'factorial');
      expect(release).toMatchObject({ calls: 7, errors: { BAD_INPUT: 1, BAD_SEQ: 0 } });
      const bench = out.filter((l) => l.vfun === 'bench');
      expect(bench.map((b) => [b.path, b.n])).toEqual([
        ['ivshmem', 300],
        ['virtio-serial', 300],
      ]);
      for (const b of bench) {
        expect(b.median_us).toBeGreaterThan(0);
        expect(b.p99_us as number).toBeGreaterThanOrEqual(b.median_us as number);
      }
      // Every request was signed, fresh, and for this tenant; the guest never announced a sleep.
      expect(host.refused.filter((x) => !x.startsWith('unknown-instance'))).toEqual([]);
      expect(host.requests.map((q) => q.op)).toEqual([
        ...['factorial', 'fibonacci', 'crc32'].flatMap(() => ['negotiate', 'activate', 'release']),
        'activate',
        'negotiate',
        'activate',
        'release',
      ]);
      expect(host.clientEverSlept).toBe(false);
    });
  });

  it('reports CHANNEL_CLOSED when the service neither answers nor beats for 2 s, releases, and goes on', async () => {
    await withHost({ dead: new Set(['fibonacci']) }, async (host) => {
      const started = Date.now();
      const r = await guest(host, ['--check']);
      const out = lines(r.stdout);
      expect(r.code).toBe(1);
      const errors = out.filter((l) => l.vfun === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ fn: 'fibonacci', phase: 'call' });
      expect(String(errors[0]!.detail)).toMatch(/fibonacci\(0\): CHANNEL_CLOSED/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect(out.filter((l) => l.vfun === 'check').map((l) => [l.fn, l.ok])).toEqual([
        ['factorial', true],
        ['fibonacci', false],
        ['crc32', true],
        ['activate-unknown', true],
      ]);
      expect(host.requests.filter((q) => q.op === 'release')).toHaveLength(3);
      expect(out.at(-1)).toEqual({ vfun: 'done', ok: false, failures: 1 });
    });
  });

  it('refuses an activation answer with host paths, a window entry that contradicts the answer, and a bad window header', async () => {
    await withHost({ files: true }, async (host) => {
      const out = lines((await guest(host, ['--check'])).stdout);
      const errors = out.filter((l) => l.vfun === 'error');
      expect(errors.map((e) => e.fn)).toEqual(['factorial', 'fibonacci', 'crc32']);
      expect(String(errors[0]!.detail)).toMatch(/"region" is neither .* \(host paths are not accepted\)/);
      expect(host.requests.filter((q) => q.op === 'release')).toHaveLength(3); // still released
    });
    await withHost({ wrongOffset: true }, async (host) => {
      const out = lines((await guest(host, ['--check'])).stdout);
      const errors = out.filter((l) => l.vfun === 'error');
      expect(errors).toHaveLength(3);
      expect(String(errors[0]!.detail)).toMatch(/window entry .* differs from the activation answer/);
    });
    await withHost({}, async (host) => {
      host.setMagic(0x12345678);
      const r = await guest(host, ['--check']);
      const out = lines(r.stdout);
      expect(r.code).toBe(1);
      expect(out[0]).toMatchObject({ vfun: 'error', phase: 'window' });
      expect(String(out[0]!.detail)).toMatch(/magic is 0x12345678/);
    });
  });

  it('notices an entry left active after release (warning, or failure with --fail-on-release-missing)', async () => {
    await withHost({ keepEntries: true }, async (host) => {
      const lenient = await guest(host, ['--check']);
      expect(lenient.code).toBe(0);
      expect(lines(lenient.stdout).filter((l) => l.vfun === 'warning')).toHaveLength(3);
      const strict = await guest(host, ['--check', '--fail-on-release-missing']);
      expect(strict.code).toBe(1);
      expect(lines(strict.stdout).filter((l) => l.vfun === 'error' && /still has an active entry/.test(String(l.detail)))).toHaveLength(3);
    });
  });

  it('reports a refusal by vFunD (wrong secret) with its reason', async () => {
    await withHost({}, async (host) => {
      const wrong = join(dir, 'wrong-secret');
      await writeFile(wrong, 'not the tenant secret at all\n');
      const out = lines((await guest(host, ['--check'], wrong)).stdout);
      const errors = out.filter((l) => l.vfun === 'error');
      expect(errors.slice(0, 3).map((e) => [e.fn, e.phase, e.reason])).toEqual([
        ['factorial', 'negotiate', 'credential'],
        ['fibonacci', 'negotiate', 'credential'],
        ['crc32', 'negotiate', 'credential'],
      ]);
      expect(host.requests).toEqual([]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The region handover (docs/region-format.md §14) against a stand-in that answers op `region` with
// the right descriptors or with wrong ones. Whatever comes, the client must refuse what is not a
// sealed region of the announced capacity, and leave no descriptor open (it says how many it had
// open before and after: `{"vfun":"fds"}`).

describe('C guest: fetching a sealed region (op region) from a stand-in', () => {
  const fdOf = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;
  const CAP = 65536;
  const good = createMemfdRegion(CAP, 'c-guest-stand-in');
  const opened: number[] = [];
  afterAll(() => {
    closeFdRegion(good);
    for (const fd of opened) closeSync(fd);
  });
  const answerLine = (nonce: string, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ ok: true, op: 'region', instance: 'i7', capacity: CAP, nonce, ...extra }) + '\n';
  let n = 0;

  /** Serve one op region request with `answer`; run `vfun-guest --fetch-region i7` against it. */
  async function fetchWith(
    answer: (socket: Socket, nonce: string) => void,
    opts: { timeoutMs?: number; prefix?: readonly string[] } = {},
  ): Promise<{ code: number | null; out: Line[]; requests: ControlRequest[] }> {
    const sub = join(dir, `handover-${n++}`);
    await exec('mkdir', ['-p', sub]);
    const path = join(sub, 'control.sock');
    const requests: ControlRequest[] = [];
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      let buffer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        const nl = buffer.indexOf('\n');
        if (nl < 0) return;
        const req = requestSchema.parse(JSON.parse(buffer.slice(0, nl)));
        requests.push(req);
        try {
          answer(socket, req.nonce);
        } catch {
          socket.destroy(); // the client hung up first (it refused what came): nothing to check here
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const args = ['--control', path, '--tenant', 'acme', '--secret-file', secretFile, '--fetch-region', 'i7', '--timeout-ms', String(opts.timeoutMs ?? 30_000)];
      const r = await run(args, '', opts.prefix);
      const out = lines(r.stdout);
      const fds = out.find((l) => l.vfun === 'fds');
      expect(fds, r.stdout + r.stderr).toBeDefined();
      expect(fds!.after, 'descriptors open after the fetch').toBe(fds!.before);
      return { code: r.code, out, requests };
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
  const errorOf = (out: Line[]): Line | undefined => out.find((l) => l.vfun === 'error');

  it('sends one signed op region request on its own connection, and maps what a good answer carries', async () => {
    const r = await fetchWith((s, nonce) => shm.sendFds(fdOf(s), answerLine(nonce), [good.dataoutFd, good.datainFd]));
    expect(r.code).toBe(0);
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]).toMatchObject({ v: 1, op: 'region', tenant: 'acme', instance: 'i7' });
    expect(macMatches(r.requests[0]!, SECRET)).toBe(true);
    expect(r.out.find((l) => l.vfun === 'region')).toEqual({ vfun: 'region', ok: true, instance: 'i7', capacity: CAP, bytes: areaBytes(CAP) });
  });

  it('refuses an answer with one, three, or more than 8 descriptors, and closes every one it got', async () => {
    const one = await fetchWith((s, nonce) => shm.sendFds(fdOf(s), answerLine(nonce), [good.dataoutFd]));
    expect(String(errorOf(one.out)?.detail)).toMatch(/carried 1 descriptors, want 2/);
    const three = await fetchWith((s, nonce) => shm.sendFds(fdOf(s), answerLine(nonce), [good.dataoutFd, good.datainFd, good.datainFd]));
    expect(String(errorOf(three.out)?.detail)).toMatch(/carried 3 descriptors, want 2/);
    // 8 with the first bytes, one more with the rest: the 9th is past the client's limit.
    const nine = await fetchWith((s, nonce) => {
      const line = answerLine(nonce);
      shm.sendFds(fdOf(s), line.slice(0, 10), Array.from({ length: 8 }, () => good.dataoutFd));
      shm.sendFds(fdOf(s), line.slice(10), [good.datainFd]);
    });
    expect(String(errorOf(nine.out)?.detail)).toMatch(/carried more than 8 descriptors/);
  });

  it('takes a refusal as a refusal, closing descriptors that came with it', async () => {
    const r = await fetchWith((s, nonce) =>
      shm.sendFds(fdOf(s), JSON.stringify({ ok: false, reason: 'wrong-phase', detail: 'not active', nonce }) + '\n', [good.dataoutFd, good.datainFd]),
    );
    expect(errorOf(r.out)).toMatchObject({ phase: 'region', reason: 'wrong-phase', detail: 'not active' });
  });

  it('refuses descriptors that are not a sealed region: no seals, a directory, too small, no header, another capacity', async () => {
    const file = join(dir, 'not-sealed');
    const plain = openSync(file, 'w+', 0o600);
    ftruncateSync(plain, areaBytes(CAP));
    const directory = openSync(dir, 'r');
    const small = shm.memfdCreate('small', 256);
    const blank = shm.memfdCreate('blank', areaBytes(CAP));
    opened.push(plain, directory, small, blank);
    const cases: [number[], Record<string, unknown>, RegExp][] = [
      [[plain, plain], {}, /REGION \(-10\): dataout: fd \d+ carries no seals \(F_GET_SEALS: .*\): not a sealed memfd/],
      [[good.dataoutFd, directory], {}, /REGION \(-10\): datain: fd \d+ is not a regular file/],
      [[small, small], {}, /REGION \(-10\): dataout: fd \d+ holds 256 bytes, the area needs 65728/],
      [[blank, blank], {}, /HEADER \(-2\): the headers do not match .* capacity 65536 \(dataout magic 0x00000000/],
      [[good.dataoutFd, good.datainFd], { capacity: 4096 }, /HEADER \(-2\): the headers do not match .* capacity 4096 \(dataout magic 0x4f444656/],
      [[good.datainFd, good.dataoutFd], {}, /HEADER \(-2\): .*dataout magic 0x49444656, datain magic 0x4f444656/], // swapped
    ];
    for (const [fds, extra, want] of cases) {
      const r = await fetchWith((s, nonce) => shm.sendFds(fdOf(s), answerLine(nonce, extra), fds));
      expect(errorOf(r.out), want.source).toMatchObject({ phase: 'attach' });
      expect(String(errorOf(r.out)!.detail)).toMatch(want);
    }
  });

  it('refuses an answer without its nonce, one cut short, one that never ends, and one the kernel truncated (MSG_CTRUNC)', async () => {
    const stale = await fetchWith((s) => shm.sendFds(fdOf(s), answerLine('ab'.repeat(16)), [good.dataoutFd, good.datainFd]));
    expect(String(errorOf(stale.out)?.detail)).toMatch(/does not carry our nonce/);
    const cut = await fetchWith((s) => {
      shm.sendFds(fdOf(s), '{"ok":tr', [good.dataoutFd, good.datainFd]);
      s.end();
    });
    expect(String(errorOf(cut.out)?.detail)).toMatch(/closed before a whole answer line \(8 bytes and 2 descriptors came\)/);
    // A stand-in that sends the descriptors and half a line, then nothing: the client's deadline ends it.
    const silent = await fetchWith((s) => shm.sendFds(fdOf(s), '{"ok":tr', [good.dataoutFd, good.datainFd]), { timeoutMs: 300 });
    expect(String(errorOf(silent.out)?.detail)).toMatch(/no answer line within 300 ms \(8 bytes and 2 descriptors so far\)/);
    // With room for one more descriptor only (RLIMIT_NOFILE), the kernel installs the first and drops the second.
    const ok = await fetchWith((s, nonce) => shm.sendFds(fdOf(s), answerLine(nonce), [good.dataoutFd, good.datainFd]));
    const next = Number(ok.out.find((l) => l.vfun === 'fds')!.next); // the socket gets this number, the first descriptor next + 1
    const limit = next + 2;
    const truncated = await fetchWith((s, nonce) => shm.sendFds(fdOf(s), answerLine(nonce), [good.dataoutFd, good.datainFd]), {
      prefix: ['prlimit', `--nofile=${limit}:${limit}`],
    });
    expect(String(errorOf(truncated.out)?.detail), JSON.stringify(truncated.out)).toMatch(/dropped descriptors of the answer \(MSG_CTRUNC\)/);
  });
});
