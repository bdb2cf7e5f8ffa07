/**
 * A hostile guest: a tenant's guest process that attacks what it was given
 * (its regions, its tree, its socket, its own processes) on request, and says
 * what each attempt gave. The hostile-tenant tests and `npm run chaos --
 * --hostile` drive it; it runs with the tenant's OS identity when the tenant
 * has one.
 *
 *   VFUN_SECRET=... node dist/bench/chaos/attacker.js <socket> <tenant> [callTimeoutMs]
 *
 * JSON lines: prints {"ready":true,"pid":N}, then answers each request
 * {"id":N,"op":"...",...} with {"id":N,...} (or {"id":N,"error":"..."}).
 * Ops (each described at its function below): open, calls, loop, loopStats,
 * loopStop, loopWait, resize, garbage, tree, swapTenantDir, decoy, flood, quota,
 * disconnect, kill, probe, release, held. Every attempt is reported as 'ok' or the errno code it got.
 * Closing its stdin ends it (vFunD then releases what it held: its lease).
 */
import { randomBytes, randomFillSync, randomInt } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, fstatSync, ftruncateSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { ServiceError } from '../../src/dataplane/client.js';
import { areaBytes, HEADER_BYTES, IN, OUT } from '../../src/dataplane/layout.js';
import { isFdRegion, type FdRegion } from '../../src/dataplane/region-fds.js';
import { VirtFunError } from '../../src/errors.js';
import { connect } from '../../src/guest/connect.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { OffloadRefused, VFunction } from '../../src/guest/vfunction.js';
import { requireShm } from '../../src/native/shm.js';
import { workerEntry } from '../../src/util/entry.js';
import { LOOP_ANSWERED, LOOP_INPUT, LOOP_OK, LOOP_RUNNING, LOOP_STOP, type LoopEnd, type LoopJob } from './attacker-loop.js';

const [socket, tenant, timeoutArg] = process.argv.slice(2) as [string, string, string | undefined];
const secret = process.env.VFUN_SECRET ?? '';
const callTimeoutMs = Number(timeoutArg ?? 5000);
const shm = requireShm();

interface Held {
  readonly instance: string;
  readonly app: string;
  readonly fn: string;
  readonly vf: VFunction;
  /** The two sealed memfds vFunD handed over, kept open: what the attacks work on. */
  readonly region: FdRegion;
}
/** The control connection that negotiated what this guest holds: its lease. */
let control: ControlClient | null = null;
const held = new Map<string, Held>();
let loop: { instance: string; counters: Int32Array; end: Promise<LoopEnd> } | null = null;

/** What an attempt gave: 'ok', or the errno code it failed with. */
function attempt(f: () => void): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}

const ERRNO_TEXT: Record<string, string> = {
  'Operation not permitted': 'EPERM',
  'Operation not supported': 'EOPNOTSUPP',
  'Permission denied': 'EACCES',
  'No space left on device': 'ENOSPC',
  'Invalid argument': 'EINVAL',
  'File too large': 'EFBIG',
  'Bad file descriptor': 'EBADF',
};
/** fallocate(1) on one of our descriptors (its fd 3): Node has no fallocate. */
function fallocate(fd: number, args: string[]): string {
  const r = spawnSync('fallocate', [...args, '/dev/fd/3'], { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8' });
  if (r.error) return `${(r.error as NodeJS.ErrnoException).code ?? 'ERROR'}(fallocate)`;
  if (r.status === 0) return 'ok';
  const text = r.stderr.trim().split(': ').pop() ?? '';
  return ERRNO_TEXT[text] ?? text;
}

function errorKind(e: unknown): string {
  return e instanceof ServiceError ? e.errorName : e instanceof VirtFunError ? e.code : (e as NodeJS.ErrnoException).code ?? 'other';
}

async function lease(): Promise<ControlClient> {
  control ??= await ControlClient.connect(socket);
  return control;
}

function pick(instance: unknown): Held {
  const h = typeof instance === 'string' ? held.get(instance) : held.values().next().value;
  if (!h) throw new Error(`no instance ${String(instance ?? '')} held`);
  return h;
}

/** The pid the service published in datain (what a guest sees of its service). */
function servicePid(region: FdRegion): number {
  const ab = shm.mapFd(region.datainFd, HEADER_BYTES, false);
  try {
    return new DataView(ab).getUint32(IN.pid, true);
  } finally {
    shm.unmap(ab);
  }
}

/** The instances are gone (vFunD released them: the lease ended): let go of what is left here. */
function forgetAll(): void {
  for (const h of held.values()) {
    void h.vf.release().catch(() => undefined); // unmaps; the release itself cannot be asked any more
    for (const fd of [h.region.dataoutFd, h.region.datainFd]) attempt(() => closeSync(fd));
  }
  held.clear();
}

/** Negotiate and activate an instance over the lease; keep its descriptors. */
async function open(req: { app: string; fn: string }) {
  const c = await lease();
  const kept: FdRegion[] = [];
  try {
    const vf = await VFunction.open(
      c,
      (r) => {
        if (!isFdRegion(r)) throw new Error('expected a sealed-memory region');
        const region = { capacity: r.capacity, dataoutFd: r.dataoutFd, datainFd: r.datainFd }; // not `received`: connect() keeps them open
        kept.push(region);
        return connect(region, { timeoutMs: callTimeoutMs });
      },
      { tenant, credential: secret, app: req.app, fn: req.fn, kind: 'sw', fallback: false },
    );
    const region = kept[0]!;
    held.set(vf.instance, { instance: vf.instance, app: req.app, fn: req.fn, vf, region });
    return { instance: vf.instance, servicePid: servicePid(region) };
  } catch (e) {
    if (e instanceof OffloadRefused) return { refused: e.reason, phase: e.phase };
    throw e;
  }
}

/** `n` calls on an instance, stopping at the first error that leaves the channel unusable. */
function calls(req: { instance?: string; n?: number }) {
  const h = pick(req.instance);
  let ok = 0;
  const errors: Record<string, number> = {};
  for (let i = 0; i < (req.n ?? 10); i++) {
    try {
      h.vf.call(LOOP_INPUT);
      ok++;
    } catch (e) {
      const k = errorKind(e);
      errors[k] = (errors[k] ?? 0) + 1;
      if (!(e instanceof ServiceError)) break;
    }
  }
  return { ok, errors };
}

/** Start calling the instance in a tight loop in a worker thread; answers once the first call was answered. */
async function startLoop(req: { instance?: string }) {
  if (loop) throw new Error('a loop is running already');
  const h = pick(req.instance);
  const counters = new Int32Array(new SharedArrayBuffer(16));
  const entry = workerEntry(import.meta.url, './attacker-loop.js');
  const job: LoopJob = { capacity: h.region.capacity, dataoutFd: h.region.dataoutFd, datainFd: h.region.datainFd, timeoutMs: callTimeoutMs, counters: counters.buffer as SharedArrayBuffer };
  const w = new Worker(entry.url, { workerData: job, execArgv: entry.execArgv });
  const end = new Promise<LoopEnd>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`loop worker exited (${code}) without its counts`)));
  });
  loop = { instance: h.instance, counters, end };
  // Running: the first call answered (good or not), or the loop ended already.
  const first = await Promise.race([end.then(() => 'ended'), waitWord(counters, LOOP_ANSWERED, 0).then(() => 'running')]);
  return { instance: h.instance, loop: first };
}

/** Resolve once the Int32 word at `index` is no longer `value`. */
async function waitWord(words: Int32Array, index: number, value: number): Promise<void> {
  while (Atomics.load(words, index) === value) await new Promise((r) => setTimeout(r, 5));
}

function loopStats() {
  if (!loop) return { ok: 0, running: false };
  return { ok: Atomics.load(loop.counters, LOOP_OK), running: Atomics.load(loop.counters, LOOP_RUNNING) === 1 };
}

async function stopLoop(ask: boolean) {
  if (!loop) throw new Error('no loop');
  if (ask) Atomics.store(loop.counters, LOOP_STOP, 1);
  const end = await loop.end;
  loop = null;
  return end;
}

/** Shrink and grow both memfds every way there is: ftruncate and fallocate(1). */
function resize(req: { instance?: string }) {
  const { region } = pick(req.instance);
  const bytes = areaBytes(region.capacity);
  const attempts: Record<string, string> = {};
  const sizes: Record<string, number[]> = {};
  for (const [area, fd] of [['dataout', region.dataoutFd], ['datain', region.datainFd]] as const) {
    const before = fstatSync(fd).size;
    for (const size of [0, 100, bytes - 64, bytes + 4096, 1 << 24]) attempts[`${area} ftruncate ${size}`] = attempt(() => ftruncateSync(fd, size));
    attempts[`${area} fallocate grow`] = fallocate(fd, ['-o', '0', '-l', String(bytes + 4096)]);
    attempts[`${area} fallocate 16M`] = fallocate(fd, ['-l', String(1 << 24)]);
    attempts[`${area} fallocate insert-range`] = fallocate(fd, ['-i', '-o', '0', '-l', '4096']);
    attempts[`${area} fallocate collapse-range`] = fallocate(fd, ['-c', '-o', '0', '-l', '4096']);
    sizes[area] = [before, fstatSync(fd).size];
  }
  return { bytes, attempts, sizes };
}

/**
 * Random bytes over dataout (header, request word, length, payload) through a
 * writable mapping of our own, waking the service each round; with `datain`,
 * over the service's area too (the memfd we received is read-write); with
 * `punch`, holes punched in both (fallocate -p: the pages read back as zeros).
 * Then a few calls, to say what the instance answers now.
 */
async function garbage(req: { instance?: string; rounds?: number; datain?: boolean; punch?: boolean }) {
  const h = pick(req.instance);
  const bytes = areaBytes(h.region.capacity);
  const areas = [shm.mapFd(h.region.dataoutFd, bytes, true)];
  if (req.datain) areas.push(shm.mapFd(h.region.datainFd, bytes, true));
  let written = 0;
  const rounds = req.rounds ?? 300;
  try {
    for (let r = 0; r < rounds; r++) {
      for (const ab of areas) {
        const u8 = new Uint8Array(ab);
        const dv = new DataView(ab);
        switch (r % 4) {
          case 0: // the whole area
            randomFillSync(u8);
            written += u8.byteLength;
            break;
          case 1: // the header only
            randomFillSync(u8, 0, HEADER_BYTES);
            written += HEADER_BYTES;
            break;
          default: // a request word and a length of our choosing (any seq, any command, any length)
            dv.setInt32(OUT.req, randomInt(-(2 ** 31), 2 ** 31 - 1), true);
            dv.setUint32(OUT.len, r % 2 ? 0xffffffff : randomInt(0, 2 ** 32 - 1), true);
            written += 8;
        }
        shm.futexWake(ab, OUT.req); // OUT.req and IN.state share the offset: wake whoever sleeps there
      }
      if (r % 32 === 31) await new Promise((res) => setImmediate(res));
    }
  } finally {
    for (const ab of areas) shm.unmap(ab);
  }
  const punched: Record<string, string> = {};
  if (req.punch) {
    punched.dataout = fallocate(h.region.dataoutFd, ['-p', '-o', '0', '-l', String(bytes)]);
    punched.datain = fallocate(h.region.datainFd, ['-p', '-o', '0', '-l', String(bytes)]);
  }
  return { rounds, written, punched, after: calls({ instance: h.instance, n: 5 }) };
}

/**
 * The tenant's branch of the tree: overwrite, chmod, unlink and replace
 * region.json; move its directories away and put a file or a symlink in their
 * place; move the control socket away, put a file, then a symlink, in its place
 * (then put it back, so the guest can go on: unless `unlinkSocket`, which
 * removes it for good). `decoy`: where the app directory's symlink points (a
 * directory of the attacker's holding `<fn>/canary`: whether vFunD follows it
 * when it cleans up shows there).
 */
function tree(req: { instance?: string; variant?: 'file' | 'symlink'; unlinkSocket?: boolean }) {
  const h = pick(req.instance);
  const tenantDir = dirname(socket);
  const appDir = join(tenantDir, h.app);
  const dir = join(appDir, h.fn);
  const entry = join(dir, 'region.json');
  const decoy = mkdtempSync(join(tmpdir(), 'vfun-decoy-'));
  mkdirSync(join(decoy, h.fn));
  writeFileSync(join(decoy, h.fn, 'canary'), 'canary');
  const a: Record<string, string> = {};
  // Links point into the decoy only: whoever runs this (root, in a test) must never aim them at a real file.
  a['region.json overwrite'] = attempt(() => writeFileSync(entry, randomBytes(64)));
  a['region.json chmod 000'] = attempt(() => chmodSync(entry, 0));
  a['region.json unlink'] = attempt(() => unlinkSync(entry));
  a['region.json symlink'] = attempt(() => symlinkSync(join(decoy, 'target'), entry));
  a['region.json dir'] = attempt(() => mkdirSync(entry));
  a['fn dir rename'] = attempt(() => renameSync(dir, `${dir}.moved`));
  a[`fn dir ${req.variant ?? 'file'}`] = attempt(() => (req.variant === 'symlink' ? symlinkSync(join(decoy, h.fn), dir) : writeFileSync(dir, 'not a directory')));
  a['app dir rename'] = attempt(() => renameSync(appDir, `${appDir}.moved`));
  a[`app dir ${req.variant ?? 'file'}`] = attempt(() => (req.variant === 'symlink' ? symlinkSync(decoy, appDir) : writeFileSync(appDir, 'not a directory')));
  // The socket's mode while it is still the socket (chmod follows links), then its path.
  a['control.sock chmod 000'] = attempt(() => chmodSync(socket, 0));
  a['control.sock chmod back'] = attempt(() => chmodSync(socket, 0o600));
  const moved = `${socket}.moved`;
  a['control.sock rename'] = attempt(() => renameSync(socket, moved));
  a['control.sock file'] = attempt(() => writeFileSync(socket, 'not a socket', { flag: 'wx' }));
  a['control.sock symlink'] = attempt(() => {
    unlinkSync(socket);
    symlinkSync(join(decoy, 'not-a-socket'), socket);
  });
  if (existsSync(moved)) {
    a['control.sock restore'] = attempt(() => {
      rmSync(socket, { force: true });
      renameSync(moved, socket);
    });
  }
  if (req.unlinkSocket) a['control.sock unlink'] = attempt(() => unlinkSync(socket));
  return { attempts: a, decoy, after: calls({ instance: h.instance, n: 5 }) };
}

/**
 * Its tenant directory (`vmcli/<tenant>`, where its socket is) moved away and a
 * symlink to a decoy of its own (holding `<fn>/canary`) put in its place: what
 * a vFunD that cleans up or restarts must not follow.
 */
function swapTenantDir(req: { fn?: string }) {
  const tenantDir = dirname(socket);
  const decoy = mkdtempSync(join(tmpdir(), 'vfun-decoy-'));
  mkdirSync(join(decoy, req.fn ?? 'precious'));
  writeFileSync(join(decoy, req.fn ?? 'precious', 'canary'), 'canary');
  const attempts: Record<string, string> = {};
  attempts['tenant dir rename'] = attempt(() => renameSync(tenantDir, `${tenantDir}.moved`));
  attempts['tenant dir symlink'] = attempt(() => symlinkSync(decoy, tenantDir));
  return { attempts, decoy };
}

/** Whether the canary of a decoy directory (tree, swapTenantDir) is still there; then remove the decoy. */
function decoy(req: { path: string; fn?: string }) {
  const alive = existsSync(join(req.path, req.fn ?? 'precious', 'canary'));
  rmSync(req.path, { recursive: true, force: true });
  return { canary: alive };
}

/**
 * `lines` malformed lines over the lease connection as fast as it takes them,
 * without waiting for answers. Answers say how many vFunD refused before it
 * closed the connection; what was held over it is then vFunD's to release.
 */
async function flood(req: { lines?: number }) {
  const c = await lease();
  const lines = req.lines ?? 2000;
  const shapes = ['not json', '{"op":"negotiate"', '{"v":1,"op":"negotiate","tenant":"x","nonce":"zz"}', '[]', '{"v":1,"op":"release","instance":"' + 'A'.repeat(100) + '"}'];
  const answers = await Promise.all(Array.from({ length: lines }, (_, i) => c.sendRaw(shapes[i % shapes.length]!).catch(() => ({ ok: false as const, reason: 'not-started' as const, detail: 'closed' }))));
  const byReason: Record<string, number> = {};
  for (const r of answers) if (!r.ok) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
  const cut = (byReason['not-started'] ?? 0) > 0;
  const instances = [...held.keys()];
  if (cut) {
    control = null;
    forgetAll();
  }
  return { lines, byReason, cut, instances };
}

/** Open instances (apps `<app>0`, `<app>1`, ...) until vFunD says no. */
async function quota(req: { app?: string; fn: string; max?: number }) {
  const instances: string[] = [];
  for (let i = 0; i < (req.max ?? 64); i++) {
    const r = await open({ app: `${req.app ?? 'q'}${i}`, fn: req.fn });
    if ('refused' in r) return { instances, refused: r.refused, phase: r.phase };
    instances.push(r.instance);
  }
  return { instances, refused: null };
}

/** Close the lease connection (with the loop calling, a call is in flight) and wait for the loop to see the end. */
async function disconnect() {
  const instances = [...held.keys()];
  control?.close();
  control = null;
  const end = loop ? await stopLoop(false) : null;
  forgetAll();
  return { instances, loop: end };
}

/** Send a signal to our own service process (its pid as published in datain). */
function kill(req: { instance?: string; signal: NodeJS.Signals }) {
  const h = pick(req.instance);
  const pid = servicePid(h.region);
  return { instance: h.instance, pid, result: attempt(() => process.kill(pid, req.signal)) };
}

/** Whether this guest may signal each pid (signal 0: nothing is sent). */
function probe(req: { pids: number[] }) {
  return Object.fromEntries(req.pids.map((pid) => [pid, attempt(() => process.kill(pid, 0))]));
}

/** Release everything held (reason client), after stopping the loop. */
async function release() {
  const loopEnd = loop ? await stopLoop(true) : null;
  const released: Record<string, unknown> = {};
  for (const h of held.values()) {
    try {
      released[h.instance] = await h.vf.release();
    } catch (e) {
      released[h.instance] = { error: errorKind(e), message: (e as Error).message };
    }
    for (const fd of [h.region.dataoutFd, h.region.datainFd]) attempt(() => closeSync(fd));
  }
  held.clear();
  return { released, loop: loopEnd };
}

const ops: Record<string, (req: never) => unknown> = {
  open,
  calls,
  loop: startLoop,
  loopStats,
  loopStop: () => stopLoop(true),
  loopWait: () => stopLoop(false),
  resize,
  garbage,
  tree,
  swapTenantDir,
  decoy,
  flood,
  quota,
  disconnect,
  kill,
  probe,
  release,
  held: () => ({ instances: [...held.keys()], lease: control !== null }),
};

const say = (m: Record<string, unknown>) => process.stdout.write(JSON.stringify(m) + '\n');
let queue = Promise.resolve();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const req = JSON.parse(line) as { id: number; op: string } & Record<string, unknown>;
    // One request at a time, in order: attacks do not interleave.
    queue = queue.then(async () => {
      const f = ops[req.op];
      try {
        if (!f) throw new Error(`unknown op '${req.op}'`);
        say({ id: req.id, ...((await f(req as never)) as Record<string, unknown>) });
      } catch (e) {
        say({ id: req.id, error: (e as Error).message, code: errorKind(e) });
      }
    });
  })
  .on('close', () => void queue.then(() => process.exit(0)));
say({ ready: true, pid: process.pid });
