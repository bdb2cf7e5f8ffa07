/**
 * The C client (clients/c), written from docs/region-format.md alone, against a real vFunD in this
 * process (FileRuntime: sealed memfd regions, one service process per instance; a control server
 * per tenant), as `vfun up` runs it:
 *
 * - `vfun-guest --check` runs all four phases on the host: the activation answer says
 *   `{"memfd":true}`, the client fetches the two descriptors over a second connection to the
 *   control socket (op `region`, SCM_RIGHTS, §14), checks seals, sizes and headers, maps them, calls
 *   factorial, fibonacci and CRC-32, releases, and ends with no descriptor left open;
 * - the CLOSED tombstone (§5): a client waiting in a call stops waiting with "channel closed" when
 *   its service process dies under the call, and when another connection releases the instance;
 * - refusals of op `region` carry no descriptors, and the client leaves none open;
 * - `vfun-call`, the computation phase alone, through region files and through inherited
 *   descriptors (`fd:3,4`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { FileRuntime, type HostRegion } from '../../src/actors/runtime-files.js';
import { VFunD } from '../../src/actors/vfund.js';
import { ControlServer } from '../../src/control/server.js';
import { Status, wordLow4 } from '../../src/dataplane/layout.js';
import { closeFdRegion, createMemfdRegion, isFdRegion } from '../../src/dataplane/region-fds.js';
import { createFileRegion, type FileRegion } from '../../src/dataplane/region-files.js';
import { startService, type ServiceHandle } from '../../src/dataplane/service-host.js';
import type { Envelope } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { randomIds, systemClock } from '../../src/util/system.js';
import { GUEST_SOURCES } from '../../src/vm/guest-binary.js';

const exec = promisify(execFile);
const SRC = join(import.meta.dirname, '../../clients/c');
const CFLAGS = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror'];
const TENANT = 'acme';
const SECRET = 'a tenant secret of at least 16 characters';

let dir: string;
let guestBin: string;
let callBin: string;
let secretFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vfun-c-'));
  guestBin = join(dir, 'vfun-guest');
  callBin = join(dir, 'vfun-call');
  secretFile = join(dir, 'secret');
  await writeFile(secretFile, SECRET + '\n', { mode: 0o600 });
  await exec('cc', [...CFLAGS, '-o', guestBin, ...GUEST_SOURCES.map((f) => join(SRC, f))]);
  await exec('cc', [...CFLAGS, '-o', callBin, join(SRC, 'vfun.c'), join(SRC, 'call.c')]);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Line = Record<string, unknown> & { vfun: string };

/** A C program whose JSON lines on stdout can be awaited one by one while it runs. */
class Guest {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private waiters: { match: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];

  constructor(bin: string, args: readonly string[]) {
    this.child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Line;
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => (w.match(line) ? (w.resolve(line), false) : true));
    });
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code) => resolve(code));
    });
  }

  /** The first line (already printed or to come) that matches. */
  line(match: (l: Line) => boolean): Promise<Line> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      this.waiters.push({ match, resolve });
      void this.exited.then(() => reject(new Error(`the guest exited without such a line; it printed:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\n${this.stderr}`)));
    });
  }

  async done(): Promise<{ code: number | null; lines: Line[] }> {
    const code = await this.exited;
    return { code, lines: this.lines };
  }
}

describe('vfun-guest against a real vFunD: sealed memory over the control socket', () => {
  let runtime: FileRuntime;
  let vfund: VFunD<HostRegion>;
  let server: ControlServer;
  const events: Envelope[] = [];
  const waiters: { match: (e: Envelope) => boolean; resolve: (e: Envelope) => void }[] = [];
  /** The first journaled event (already seen or to come) that matches. */
  const eventWhere = (match: (e: Envelope) => boolean): Promise<Envelope> => {
    const found = events.find(match);
    return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ match, resolve }));
  };
  const guest = (args: readonly string[]) => new Guest(guestBin, ['--control', server.path, '--tenant', TENANT, '--secret-file', secretFile, '--app', 'capp', ...args]);

  beforeAll(async () => {
    const valid = parseConfig({
      tenants: [{ id: TENANT, secret: SECRET, maxInstances: 8 }],
      functions: ['factorial', 'fibonacci', 'crc32', 'slow', 'crashy'].map((name) => ({ name, kinds: { sw: { slots: 4, driver: 'crc32' } } })),
    });
    // slow and crashy are test drivers (test/clients/fixtures/drivers.ts): the configuration names them after validation.
    const snapshot = toSnapshot(valid);
    const config = { ...snapshot, functions: snapshot.functions.map((f) => ({ ...f, kinds: { sw: { ...f.kinds.sw!, driver: f.name } } })) };
    runtime = await FileRuntime.create({ root: join(dir, 'tree'), driverModule: new URL('./fixtures/drivers.ts', import.meta.url) });
    vfund = await VFunD.start<HostRegion>({ journal: new MemoryJournal(), runtime, config, host: 'h', clock: systemClock, ids: randomIds });
    vfund.subscribe((envs) => {
      for (const e of envs) {
        events.push(e);
        for (const w of waiters.splice(0)) (w.match(e) ? w.resolve(e) : waiters.push(w));
      }
    });
    await runtime.tree.prepareTenant(TENANT);
    server = await ControlServer.start({ vfund, tenant: { id: TENANT, secret: SECRET }, socketPath: join(runtime.tree.root, 'vmcli', TENANT, 'control.sock'), clock: systemClock });
  });

  afterAll(async () => {
    await server?.close();
    await vfund?.stop('test over');
    await runtime?.close();
  });

  it('--check: all four phases of factorial, fibonacci and crc32 through the handed-over memfds, no descriptor left open', async () => {
    const { code, lines } = await guest(['--check']).done();
    expect(lines.filter((l) => l.vfun === 'error' || l.vfun === 'warning'), JSON.stringify(lines)).toEqual([]);
    expect(code).toBe(0);
    expect(lines.at(-1)).toEqual({ vfun: 'done', ok: true, failures: 0 });
    const checks = Object.fromEntries(lines.filter((l) => l.vfun === 'check').map((l) => [l.fn, l]));
    expect(checks.factorial).toMatchObject({ calls: 7, ok: true });
    expect(checks.fibonacci).toMatchObject({ calls: 5, ok: true });
    expect(checks.crc32).toMatchObject({ calls: 6, ok: true });
    expect(checks['activate-unknown']).toMatchObject({ ok: true, reason: 'unknown-instance' });
    for (const fn of ['factorial', 'fibonacci', 'crc32']) {
      const phases = lines.filter((l) => l.vfun === 'phase' && l.fn === fn);
      expect(phases.map((l) => l.phase)).toEqual(['negotiate', 'activate', 'attach', 'release']);
      expect(phases[1]).toMatchObject({ region: 'memfd', capacity: 65536 });
      expect(phases[2]).toMatchObject({ backing: 'memfd', capacity: 65536 });
    }
    // vFunD counted what the client made, and journaled each release.
    const released = await Promise.all(['factorial', 'fibonacci', 'crc32'].map((fn) => eventWhere((e) => e.type === 'instance.released' && e.fn === fn)));
    expect(released.map((e) => (e.data as { stats: { calls: number } }).stats.calls)).toEqual([7, 5, 6]);
  });

  it('stops waiting with "channel closed" when its service process dies under the call (CLOSED tombstone)', async () => {
    // crashy: an input starting with 0xfd kills the service process (SIGABRT) while it computes.
    const g = guest(['--call', 'crashy', '--arg', 'fd00', '--timeout-ms', '600000']);
    const { lines } = await g.done();
    const calls = lines.filter((l) => l.vfun === 'call');
    expect(calls).toEqual([]);
    const failed = lines.find((l) => l.vfun === 'error' && l.phase === 'call');
    expect(failed, JSON.stringify(lines)).toBeDefined();
    expect(String(failed!.detail)).toMatch(/^crashy call 1: INSTANCE_CLOSED \(-9\): channel closed: vFunD closed this instance/);
    const instance = String(lines.find((l) => l.phase === 'negotiate')!.instance);
    const cause = await eventWhere((e) => e.type === 'service.failed' && e.instance === instance);
    expect(JSON.stringify(cause.data)).toContain('SIGABRT');
  });

  it('stops waiting with "channel closed" when another connection releases the instance during a slow call', async () => {
    // slow: answers after input[0] * 10 ms; the client calls until something stops it.
    const g = guest(['--call', 'slow', '--arg', '0e', '--repeat', '1000000', '--timeout-ms', '600000']);
    const instance = String((await g.line((l) => l.phase === 'negotiate')).instance);
    await g.line((l) => l.vfun === 'call'); // it calls, and gets answers
    const region = vfund.region(instance);
    if (!isFdRegion(region)) throw new Error('expected a sealed-memory region');
    const word = Buffer.alloc(4);
    const status = () => (readSync(region.datainFd, word, 0, 4, 64), wordLow4(word.readInt32LE(0)));
    await expect.poll(status, { timeout: 60_000, interval: 5 }).toBe(Status.BUSY); // a call in hand

    const other = await ControlClient.connect(server.path);
    const released = await other.release({ tenant: TENANT, credential: SECRET, instance });
    other.close();
    expect(released).toMatchObject({ ok: true });

    const { code, lines } = await g.done();
    expect(code).toBe(1);
    const errors = lines.filter((l) => l.vfun === 'error');
    expect(errors[0]).toMatchObject({ fn: 'slow', phase: 'call' });
    expect(String(errors[0]!.detail)).toMatch(/^slow call \d+: INSTANCE_CLOSED \(-9\): channel closed: vFunD closed this instance \(released, or its service died\)/);
    expect(lines.filter((l) => l.vfun === 'call').every((l) => l.ok === true && l.result === '0e')).toBe(true);
    // Its own release comes too late: the instance is gone.
    expect(errors[1]).toMatchObject({ fn: 'slow', phase: 'release', reason: 'unknown-instance' });
    expect(errors).toHaveLength(2);
  });

  it('a refused op region (unknown instance, instance not active yet) carries no descriptors and leaves none open', async () => {
    const unknown = await guest(['--fetch-region', 'no-such-instance']).done();
    expect(unknown.lines.find((l) => l.vfun === 'error')).toMatchObject({ phase: 'region', reason: 'unknown-instance' });
    const fds = unknown.lines.find((l) => l.vfun === 'fds')!;
    expect(fds.after).toBe(fds.before);

    const client = await ControlClient.connect(server.path);
    try {
      const n = await client.negotiate({ tenant: TENANT, credential: SECRET, app: 'capp', fn: 'factorial', kind: 'sw' });
      if (!n.ok) throw new Error(n.detail);
      const early = await guest(['--fetch-region', n.instance]).done();
      expect(early.lines.find((l) => l.vfun === 'error')).toMatchObject({ phase: 'region', reason: 'wrong-phase' });
      const f = early.lines.find((l) => l.vfun === 'fds')!;
      expect(f.after).toBe(f.before);

      // Once active, the same request hands the region over, and it maps.
      expect(await client.activate({ tenant: TENANT, credential: SECRET, instance: n.instance })).toMatchObject({ ok: true });
      // The tree names the region (region.json) and holds no memory of it.
      const entryDir = join(runtime.tree.root, 'vmcli', TENANT, 'capp', 'factorial');
      expect(JSON.parse(await readFile(join(entryDir, 'region.json'), 'utf8'))).toEqual({ instance: n.instance, capacity: 65536, backing: 'memfd', handover: 'control.sock' });
      expect((await readdir(entryDir)).sort()).toEqual(['region.json']);
      const got = await guest(['--fetch-region', n.instance]).done();
      expect(got.code).toBe(0);
      expect(got.lines.find((l) => l.vfun === 'region')).toEqual({ vfun: 'region', ok: true, instance: n.instance, capacity: 65536, bytes: 65536 + 192 });
      const g2 = got.lines.find((l) => l.vfun === 'fds')!;
      expect(g2.after).toBe(g2.before);
      expect(await client.release({ tenant: TENANT, credential: SECRET, instance: n.instance })).toMatchObject({ ok: true });
    } finally {
      client.close();
    }
  });
});

describe('vfun-call: the computation phase alone', () => {
  let region: FileRegion;
  let service: ServiceHandle;
  beforeAll(async () => {
    region = createFileRegion({ dataout: join(dir, 'dataout'), datain: join(dir, 'datain') }, 4096);
    service = await startService({ region, driver: 'factorial' });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('calls factorial(51) through region files, once and 10 000 times', async () => {
    expect((await exec(callBin, [dir, '51'])).stdout.trim()).toBe('18284192274659147776');
    expect((await exec(callBin, [dir, '20', '10000'])).stdout.trim()).toBe('2432902008176640000');
    expect(service.stats().calls).toBe(10_001);
  });

  it('gets the service error code for a refused argument, and the service goes on', async () => {
    expect((await exec(callBin, [dir, '2000000'])).stdout.trim()).toBe('error 5'); // BAD_INPUT: n past the limit
    expect((await exec(callBin, [dir, '10'])).stdout.trim()).toBe('3628800');
  });

  it('calls through a sealed region it inherited as fd:3,4', async () => {
    const sealed = createMemfdRegion(4096, 'c-client-test');
    const svc = await startService({ region: sealed, driver: 'fibonacci' });
    try {
      const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(callBin, ['fd:3,4', '93', '1000'], { stdio: ['ignore', 'pipe', 'pipe', sealed.dataoutFd, sealed.datainFd] });
        let stdout = '';
        let stderr = '';
        child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout, stderr }));
      });
      expect(out.stderr).toBe('');
      expect(out.stdout.trim()).toBe('12200160415121876738');
      expect(svc.stats().calls).toBe(1000);
    } finally {
      await svc.stop();
      closeFdRegion(sealed);
    }
  });

  it('refuses descriptors that are not a sealed region', async () => {
    // fd 3 and 4 are plain files here: no seals.
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn('sh', ['-c', `exec "$0" fd:3,4 5 3<"$1" 4<"$1"`, callBin, join(dir, 'datain')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/vfun_map_fds: -10: dataout: fd 3 carries no seals/);
  });
});
