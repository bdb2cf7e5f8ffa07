/**
 * flock(2) through the addon, between this process and children (fd-peer):
 * a lock held in one process refuses another (wait=false gives false), a
 * waiter blocks until the holder exits, shared locks coexist.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireShm, shmAddonPath, type ShmAddon } from '../../src/native/shm.js';
import { FdPeer } from './fd-peer.js';

let shm: ShmAddon;
let addonPath: string;
let dir: string;
let seq = 0;

beforeAll(() => {
  shm = requireShm();
  addonPath = shmAddonPath()!;
  dir = mkdtempSync(join(tmpdir(), 'vfun-flock-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function lockFile(): string {
  const f = join(dir, `lock-${++seq}`);
  writeFileSync(f, '');
  return f;
}

function thrown(f: () => unknown): Error & { code?: string; syscall?: string; errno?: number } {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected an exception');
}

/** True when /proc/locks shows `pid` blocked waiting for a FLOCK on `file` (a "->" line). */
function blockedOnFlock(pid: number, file: string): boolean {
  const ino = statSync(file).ino;
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === '->' && f[2] === 'FLOCK' && f[5] === String(pid) && f[6]?.endsWith(`:${ino}`) === true;
    });
}

describe('flock', () => {
  it('a second process cannot take an exclusive lock the first holds; it gets it once the first exits', async () => {
    const f = lockFile();
    const holder = new FdPeer(addonPath);
    const waiter = new FdPeer(addonPath);
    try {
      await Promise.all([holder.ready, waiter.ready]);
      const { fd: hfd } = await holder.call<{ fd: number }>('open', { path: f });
      expect((await holder.call('flock', { fd: hfd, mode: 'exclusive', wait: false })).result).toBe(true);

      // This process: refused at once, exclusive or shared.
      const fd = openSync(f, 'r+');
      try {
        expect(shm.flock(fd, 'exclusive', false)).toBe(false);
        expect(shm.flock(fd, 'shared', false)).toBe(false);

        // Another child: refused without waiting, then blocks with wait=true ...
        const { fd: wfd } = await waiter.call<{ fd: number }>('open', { path: f });
        expect((await waiter.call('flock', { fd: wfd, mode: 'exclusive', wait: false })).result).toBe(false);
        const granted = waiter.call('flock', { fd: wfd, mode: 'exclusive', wait: true });
        while (!blockedOnFlock(waiter.pid, f)) await sleep(5);

        // ... until the holder exits (its open file description goes, and the lock with it).
        expect(await holder.close()).toEqual({ code: 0, signal: null });
        expect((await granted).result).toBe(true);
        expect(shm.flock(fd, 'exclusive', false)).toBe(false); // now the waiter holds it

        expect((await waiter.call('flock', { fd: wfd, mode: 'unlock', wait: false })).result).toBe(true);
        expect(shm.flock(fd, 'exclusive', false)).toBe(true);
        expect(shm.flock(fd, 'unlock', false)).toBe(true);
      } finally {
        closeSync(fd);
      }
    } finally {
      await holder.close();
      await waiter.close();
    }
  });

  it('shared locks coexist; an exclusive lock waits for every shared one to go', async () => {
    const f = lockFile();
    const peer = new FdPeer(addonPath);
    try {
      await peer.ready;
      const { fd: pfd } = await peer.call<{ fd: number }>('open', { path: f });
      expect((await peer.call('flock', { fd: pfd, mode: 'shared', wait: false })).result).toBe(true);
      const a = openSync(f, 'r');
      const b = openSync(f, 'r');
      try {
        expect(shm.flock(a, 'shared', true)).toBe(true);
        expect(shm.flock(b, 'exclusive', false)).toBe(false); // two shared holders
        expect(shm.flock(a, 'unlock', false)).toBe(true);
        expect(shm.flock(b, 'exclusive', false)).toBe(false); // the child still holds its shared lock
        await peer.call('close', { fd: pfd });
        expect(shm.flock(b, 'exclusive', false)).toBe(true);
        expect(shm.flock(a, 'shared', false)).toBe(false);
      } finally {
        closeSync(a);
        closeSync(b);
      }
    } finally {
      await peer.close();
    }
  });

  it('locks belong to the open file description: a second open() in the same process is refused too', () => {
    const f = lockFile();
    const a = openSync(f, 'r+');
    const b = openSync(f, 'r+');
    try {
      expect(shm.flock(a, 'exclusive', false)).toBe(true);
      expect(shm.flock(a, 'exclusive', false)).toBe(true); // re-locking one's own lock succeeds
      expect(shm.flock(b, 'exclusive', false)).toBe(false);
      expect(shm.flock(a, 'shared', false)).toBe(true); // downgrade
      expect(shm.flock(b, 'shared', false)).toBe(true);
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });

  it('errors throw with the errno name, errno and syscall; bad arguments are TypeError/RangeError', () => {
    const f = lockFile();
    const fd = openSync(f, 'r');
    closeSync(fd);
    const e = thrown(() => shm.flock(fd, 'exclusive', false));
    expect(e.code).toBe('EBADF');
    expect(e.syscall).toBe('flock');
    expect(e.errno).toBe(-9);
    expect(e.message).toMatch(/^EBADF: flock\(fd \d+, exclusive, no wait\): Bad file descriptor$/);

    const ok = openSync(f, 'r');
    try {
      const call = shm.flock as (...a: unknown[]) => unknown;
      expect(thrown(() => call(ok, 'exclusiveX', false))).toBeInstanceOf(TypeError);
      expect(thrown(() => call(ok, 'exclusive\0', false))).toBeInstanceOf(TypeError);
      expect(thrown(() => call(ok, 3, false))).toBeInstanceOf(TypeError);
      expect(thrown(() => call(ok, 'shared', 1))).toBeInstanceOf(TypeError);
      expect(thrown(() => call(ok, 'shared'))).toBeInstanceOf(TypeError);
      expect(thrown(() => call(-1, 'shared', false))).toBeInstanceOf(RangeError);
      expect(thrown(() => call(2 ** 31, 'shared', false))).toBeInstanceOf(RangeError);
    } finally {
      closeSync(ok);
    }
  });
});
