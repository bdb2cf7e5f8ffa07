/**
 * Integration tests for the native addon vfun_shm (mmap MAP_SHARED + shared
 * futexes). They need the addon built (`npm run build:native`, or
 * `node scripts/build-native.mjs`); without it `requireShm()` fails the
 * suite with the reason, nothing is skipped.
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Waiter, type WaitStrategy } from '../../src/dataplane/wait.js';
import {
  FUTEX_NOT_EQUAL,
  FUTEX_TIMED_OUT,
  loadShm,
  mmapWaitOps,
  requireShm,
  shmAddonPath,
  shmAvailable,
  shmUnavailableReason,
  type ShmAddon,
} from '../../src/native/shm.js';

const PEER = fileURLToPath(new URL('./fixtures/shm-peer.mjs', import.meta.url));
const LEN = 4096;

let shm: ShmAddon;
let addonPath: string;
let dir: string;
let seq = 0;

function tmpFile(): string {
  return join(dir, `area-${++seq}`);
}

/** A zero-filled file of `len` bytes, for mapping without `create`. */
function zeroFile(len = LEN): string {
  const f = tmpFile();
  writeFileSync(f, Buffer.alloc(len));
  return f;
}

interface PeerResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start the peer without waiting for it (the caller may block the event loop meanwhile). */
function startPeer(args: string[], nodeFlags: string[] = []): Promise<PeerResult> {
  const child = spawn(process.execPath, [...nodeFlags, PEER, args[0]!, addonPath, ...args.slice(1)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function lastJson(r: PeerResult): Record<string, unknown> {
  expect(r.stderr, 'peer stderr').toBe('');
  expect(r.code, `peer exit code (stderr: ${r.stderr})`).toBe(0);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

function thrown(f: () => unknown): Error & { code?: string; path?: string; syscall?: string } {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected an exception');
}

beforeAll(() => {
  shm = requireShm();
  addonPath = shmAddonPath()!;
  dir = mkdtempSync(join(tmpdir(), 'vfun-shm-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('loader', () => {
  it('finds and loads build/Release/vfun_shm.node from the package root', () => {
    expect(shmAvailable()).toBe(true);
    expect(shmUnavailableReason()).toBe('');
    expect(loadShm()).toBe(shm);
    expect(addonPath).toMatch(/build\/Release\/vfun_shm\.node$/);
    expect(shm.abiVersion).toBe(5);
    expect(shm.pageSize()).toBeGreaterThanOrEqual(4096);
    expect(shm.schedYield?.()).toBeUndefined(); // returns at once; the spinners' core hand-off
  });

  it('when the addon is missing: loadShm null, a reason, requireShm throws VirtFunError REGION naming the fix', async () => {
    vi.stubEnv('VIRTFUN_SHM_ADDON', join(dir, 'nowhere', 'vfun_shm.node'));
    vi.resetModules();
    try {
      const fresh = await import('../../src/native/shm.js');
      expect(fresh.loadShm()).toBeNull();
      expect(fresh.shmAvailable()).toBe(false);
      expect(fresh.shmUnavailableReason()).toContain('nowhere/vfun_shm.node does not exist');
      const e = thrown(() => fresh.requireShm()) as Error & { code?: string };
      expect(e.name).toBe('VirtFunError');
      expect(e.code).toBe('REGION');
      expect(e.message).toMatch(/^the native addon vfun_shm is not built: .*does not exist.*; run `npm run build:native`; the in-process SharedArrayBuffer backend still works$/);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});

describe('open', () => {
  it('creates a file of the requested length, mode 0600 by default, and maps it', () => {
    const f = tmpFile();
    const ab = shm.open(f, LEN, { create: true, writable: true });
    expect(ab.byteLength).toBe(LEN);
    const st = statSync(f);
    expect(st.size).toBe(LEN);
    expect(st.mode & 0o777).toBe(0o600);
    expect(shm.unmap(ab)).toBe(true);
  });

  it('honours mode and refuses to create over an existing file (O_EXCL)', () => {
    const f = tmpFile();
    shm.unmap(shm.open(f, LEN, { create: true, writable: true, mode: 0o640 }));
    expect(statSync(f).mode & 0o777).toBe(0o640);
    const e = thrown(() => shm.open(f, LEN, { create: true, writable: true }));
    expect(e.code).toBe('EEXIST');
    expect(e.message).toContain(f);
  });

  it('refuses a symlink (O_NOFOLLOW) with an error naming the path', () => {
    const target = zeroFile();
    const link = tmpFile() + '.link';
    symlinkSync(target, link);
    const e = thrown(() => shm.open(link, LEN, { writable: false }));
    expect(e.code).toBe('ELOOP');
    expect(e.path).toBe(link);
    expect(e.message).toContain(link);
    expect(e.message).toMatch(/symbolic link/i);
  });

  it('refuses a file smaller than the requested length', () => {
    const f = zeroFile(LEN);
    const e = thrown(() => shm.open(f, 2 * LEN, { writable: true }));
    expect(e.code).toBe('ERR_FILE_TOO_SMALL');
    expect(e.message).toContain(f);
    expect(e.message).toContain(`${LEN} bytes`);
  });

  it('refuses a non-regular file and reports a missing file with errno text', () => {
    const e = thrown(() => shm.open(dir, LEN, { writable: false }));
    expect(e.code).toBe('ERR_NOT_REGULAR_FILE');
    expect(e.message).toContain(dir);
    const missing = join(dir, 'missing');
    const e2 = thrown(() => shm.open(missing, LEN, { writable: false }));
    expect(e2.code).toBe('ENOENT');
    expect(e2.message).toContain(missing);
    expect(e2.message).toMatch(/No such file/);
  });

  it('reports permission errors with the path (when not running as a user that bypasses them)', () => {
    const f = zeroFile();
    chmodSync(f, 0o400);
    // root ignores file permissions; either way the read-only mapping works.
    shm.unmap(shm.open(f, LEN, { writable: false }));
    if (process.getuid?.() !== 0) {
      const e = thrown(() => shm.open(f, LEN, { writable: true }));
      expect(e.code).toBe('EACCES');
      expect(e.message).toContain(f);
    }
  });

  it('validates its arguments', () => {
    const f = zeroFile();
    expect(thrown(() => shm.open(f, 0, { writable: true }))).toBeInstanceOf(RangeError);
    expect(thrown(() => shm.open(f, 1.5, { writable: true }))).toBeInstanceOf(RangeError);
    expect(thrown(() => (shm.open as (...a: unknown[]) => unknown)(f, LEN))).toBeInstanceOf(TypeError);
    expect(thrown(() => (shm.open as (...a: unknown[]) => unknown)(42, LEN, { writable: true }))).toBeInstanceOf(TypeError);
  });
});

describe('unmap and msync', () => {
  it('unmap detaches the buffer: byteLength 0, views empty, futex calls refused', () => {
    const ab = shm.open(zeroFile(), LEN, { writable: true });
    const i32 = new Int32Array(ab);
    Atomics.store(i32, 0, 5);
    expect(shm.unmap(ab)).toBe(true);
    expect(ab.byteLength).toBe(0);
    expect(i32.length).toBe(0);
    expect(() => Atomics.load(i32, 0)).toThrow(/detached/);
    expect(thrown(() => shm.futexWait(ab, 0, 5, 0))).toBeInstanceOf(RangeError);
    expect(thrown(() => shm.futexWake(ab, 0, 1))).toBeInstanceOf(RangeError);
    expect(shm.unmap(ab)).toBe(false);
    expect(thrown(() => shm.msync(ab))).toBeInstanceOf(TypeError);
  });

  it('refuses to unmap an ArrayBuffer it did not map', () => {
    expect(thrown(() => shm.unmap(new ArrayBuffer(LEN)))).toBeInstanceOf(TypeError);
  });

  it('msync writes the mapping through to the file', () => {
    const f = zeroFile();
    const ab = shm.open(f, LEN, { writable: true });
    new DataView(ab).setUint32(8, 0xdeadbeef, true);
    shm.msync(ab);
    shm.unmap(ab);
    expect(readFileSync(f).readUInt32LE(8)).toBe(0xdeadbeef);
  });

  it('garbage-collected buffers are unmapped; unmap followed by the finalizer does not unmap twice', async () => {
    const f = zeroFile();
    const r = lastJson(await startPeer(['gc', f, String(LEN)], ['--expose-gc']));
    expect(r.afterOpen).toBeGreaterThan(0);
    expect(r.afterGc).toBe(1); // only the buffer still referenced
    expect(r.keep).toBe(77);
  });
});

describe('futex in one process', () => {
  it('futexWait returns 1 when the word is not the expected value', () => {
    const ab = shm.open(zeroFile(), LEN, { writable: true });
    Atomics.store(new Int32Array(ab), 3, 9);
    expect(shm.futexWait(ab, 12, 8, 1000)).toBe(FUTEX_NOT_EQUAL);
    expect(shm.futexWait(ab, 12, 8, -1)).toBe(FUTEX_NOT_EQUAL);
    expect(shm.futexWait(ab, 12, 8, 0)).toBe(FUTEX_NOT_EQUAL);
    shm.unmap(ab);
  });

  it('futexWait returns 2 when it times out', () => {
    const ab = shm.open(zeroFile(), LEN, { writable: true });
    expect(shm.futexWait(ab, 0, 0, 1)).toBe(FUTEX_TIMED_OUT);
    expect(shm.futexWait(ab, LEN - 4, 0, 0)).toBe(FUTEX_TIMED_OUT);
    expect(shm.futexWait(ab, 0, 0, 0.25)).toBe(FUTEX_TIMED_OUT);
    shm.unmap(ab);
  });

  it('futexWait works on a read-only mapping', () => {
    const f = zeroFile();
    const rw = shm.open(f, LEN, { writable: true });
    const ro = shm.open(f, LEN, { writable: false });
    Atomics.store(new Int32Array(rw), 1, -7);
    expect(Atomics.load(new Int32Array(ro), 1)).toBe(-7);
    expect(shm.futexWait(ro, 4, -7, 1)).toBe(FUTEX_TIMED_OUT);
    expect(shm.futexWait(ro, 4, 0, 1)).toBe(FUTEX_NOT_EQUAL);
    expect(shm.futexWake(ro, 4, 1)).toBe(0);
    shm.unmap(ro);
    shm.unmap(rw);
  });

  it('futexWake with nobody waiting returns 0', () => {
    const ab = shm.open(zeroFile(), LEN, { writable: true });
    expect(shm.futexWake(ab, 0, 1)).toBe(0);
    expect(shm.futexWake(ab, 64, 0x7fffffff)).toBe(0);
    expect(shm.futexWake(ab, 64)).toBe(0);
    shm.unmap(ab);
  });

  it('rejects offsets out of range or not 4-byte aligned with RangeError', () => {
    const ab = shm.open(zeroFile(), LEN, { writable: true });
    for (const off of [2, 5, -4, LEN, LEN - 2, 1.5, Number.NaN]) {
      expect(thrown(() => shm.futexWait(ab, off, 0, 0)), `offset ${off}`).toBeInstanceOf(RangeError);
      expect(thrown(() => shm.futexWake(ab, off, 1)), `offset ${off}`).toBeInstanceOf(RangeError);
    }
    expect(thrown(() => shm.futexWait(new SharedArrayBuffer(8) as unknown as ArrayBuffer, 0, 0, 0))).toBeInstanceOf(TypeError);
    shm.unmap(ab);
  });

  it('mmapWaitOps maps results and uses the view byteOffset', () => {
    const ab = shm.open(zeroFile(), LEN, { writable: true });
    const ops = mmapWaitOps(shm);
    const view = new Int32Array(ab, 64, 4);
    Atomics.store(view, 2, 3);
    expect(ops.wait(view, 2, 4, 1)).toBe('not-equal');
    expect(ops.wait(view, 2, 3, 1)).toBe('timed-out');
    expect(ops.wait(view, 1, 0, 1)).toBe('timed-out');
    ops.notify(view, 2);
    shm.unmap(ab);
  });
});

describe('across two processes', () => {
  it('a child maps the same file: each side reads what the other wrote with Atomics', async () => {
    const f = tmpFile();
    const ab = shm.open(f, LEN, { create: true, writable: true });
    const i32 = new Int32Array(ab);
    const n = 16;
    for (let k = 1; k <= n; k++) Atomics.store(i32, k, k * 1000 - 7);
    const r = lastJson(await startPeer(['echo', f, String(LEN), String(n)]));
    expect(r.seen).toEqual(Array.from({ length: n }, (_, k) => (k + 1) * 1000 - 7));
    expect(Atomics.load(i32, 0)).toBe(1);
    for (let k = 1; k <= n; k++) expect(Atomics.load(i32, n + k)).toBe((k * 1000 - 7) * 2 + 1);
    shm.unmap(ab);
  });

  it('futex ping-pong, 10k round trips, every value checked on both sides', async () => {
    const rounds = 10_000;
    const outFile = tmpFile();
    const inFile = zeroFile();
    const outAb = shm.open(outFile, LEN, { create: true, writable: true });
    const inAb = shm.open(inFile, LEN, { writable: false }); // the child writes it
    const out = new Int32Array(outAb);
    const inn = new Int32Array(inAb);
    const peer = startPeer(['pong', outFile, inFile, String(LEN), String(rounds)]);
    let bad = '';
    let waits = 0;
    for (let k = 1; k <= rounds && bad === ''; k++) {
      Atomics.store(out, 0, k);
      shm.futexWake(outAb, 0, 1);
      let v = Atomics.load(inn, 0);
      while (v !== k) {
        if (v !== k - 1) {
          bad = `round ${k}: datain holds ${v}`;
          break;
        }
        const r = shm.futexWait(inAb, 0, v, 10_000);
        waits++;
        if (r === FUTEX_TIMED_OUT) {
          bad = `round ${k}: no answer within 10 s`;
          break;
        }
        v = Atomics.load(inn, 0);
      }
    }
    const res = await peer;
    expect(bad, res.stderr).toBe('');
    expect(lastJson(res).last).toBe(rounds);
    expect(Atomics.load(inn, 0)).toBe(rounds);
    expect(waits).toBeGreaterThan(0);
    shm.unmap(outAb);
    shm.unmap(inAb);
  });

  it.each<WaitStrategy>(['block', 'hybrid'])('Waiter(%s) over mmapWaitOps: 2k round trips with a child', async (strategy) => {
    const rounds = 2_000;
    const outFile = tmpFile();
    const inFile = zeroFile();
    const outAb = shm.open(outFile, LEN, { create: true, writable: true });
    const inAb = shm.open(inFile, LEN, { writable: false });
    const out = new Int32Array(outAb);
    const inn = new Int32Array(inAb);
    const flag = new Int32Array(outAb, 64, 1); // our sleeping flag (the peer wakes unconditionally)
    const ops = mmapWaitOps(shm);
    const waiter = new Waiter(ops, { strategy, spinMicros: 5, sliceMs: 1000 });
    const peer = startPeer(['pong', outFile, inFile, String(LEN), String(rounds)]);
    let bad = '';
    for (let k = 1; k <= rounds && bad === ''; k++) {
      Atomics.store(out, 0, k);
      ops.notify(out, 0);
      let old = k - 1;
      const deadline = performance.now() + 10_000;
      while (bad === '') {
        if (waiter.waitChange(inn, 0, old, flag, 0, deadline)) {
          if (waiter.word === k) break;
          bad = `round ${k}: datain holds ${waiter.word}`;
        } else if (performance.now() >= deadline) {
          bad = `round ${k}: no answer within 10 s`;
        } else {
          old = Atomics.load(inn, 0);
          if (old === k) break;
        }
      }
    }
    const res = await peer;
    expect(bad, res.stderr).toBe('');
    expect(lastJson(res).last).toBe(rounds);
    expect(Atomics.load(flag, 0)).toBe(0);
    shm.unmap(outAb);
    shm.unmap(inAb);
  });

  it('a read-only mapping cannot be written: the child writing through it dies with SIGSEGV', async () => {
    const f = zeroFile();
    const r = await startPeer(['write-readonly', f, String(LEN)]);
    expect(r.signal).toBe('SIGSEGV');
    expect(r.stdout).toContain('"before":0');
    expect(r.stdout).not.toContain('survived');
    // Nothing reached the file.
    const ab = shm.open(f, LEN, { writable: false });
    expect(Atomics.load(new Int32Array(ab), 0)).toBe(0);
    shm.unmap(ab);
  });
});

describe('peerCred', () => {
  it("gives the connecting process's pid, uid and gid, as the kernel recorded them", async () => {
    const { createServer } = await import('node:net');
    const path = join(dir, 'peer.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const accepted = new Promise<{ pid: number; uid: number; gid: number }>((resolve, reject) =>
      server.once('connection', (s) => {
        try {
          resolve(shm.peerCred((s as unknown as { _handle: { fd: number } })._handle.fd));
        } catch (err) {
          reject(err as Error);
        } finally {
          s.destroy();
        }
      }),
    );
    // Another process connects: the pid is its own, not ours.
    const child = spawn(process.execPath, ['-e', `require('node:net').connect(${JSON.stringify(path)}).on('close', () => process.exit(0)).on('error', () => process.exit(0))`], { stdio: 'ignore' });
    const cred = await accepted;
    server.close();
    expect(cred.pid).toBe(child.pid);
    expect(cred.pid).not.toBe(process.pid);
    expect(cred.uid).toBe(process.getuid!());
    expect(cred.gid).toBe(process.getgid!());
  });

  it('refuses an fd that is not an open socket, naming the error and the syscall', () => {
    expect(() => shm.peerCred(1_000_000)).toThrow(/EBADF: getsockopt/);
    const fd = openSync(join(dir, 'not-a-socket'), 'w');
    try {
      expect(() => shm.peerCred(fd)).toThrow(/ENOTSOCK: getsockopt/);
    } finally {
      closeSync(fd);
    }
  });
});
