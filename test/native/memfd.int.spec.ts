/**
 * Sealed memfd regions (memfdCreate, memfdSeals, mapFd) with real syscalls:
 * size and reservation, seals, resizing refused from every handle and from
 * a second process that received the fd, mappings in two processes sharing
 * bytes and futexes, and a region over an imposed limit failing cleanly.
 */
import { closeSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  F_SEAL_EXEC,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  FUTEX_WOKEN,
  MEMFD_REGION_SEALS,
  requireShm,
  shmAddonPath,
  type ShmAddon,
} from '../../src/native/shm.js';
import { FdPeer, wakeOneSleeper } from './fd-peer.js';

const LEN = 64 * 1024;
let shm: ShmAddon;
let addonPath: string;
let dir: string;

beforeAll(() => {
  shm = requireShm();
  addonPath = shmAddonPath()!;
  dir = mkdtempSync(join(tmpdir(), 'vfun-memfd-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type SysError = Error & { code?: string; syscall?: string; errno?: number };

function thrown(f: () => unknown): SysError {
  try {
    f();
  } catch (e) {
    return e as SysError;
  }
  throw new Error('expected an exception');
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** A memfd for one test, closed afterwards. */
function withMemfd<T>(length: number, f: (fd: number) => T): T {
  const fd = shm.memfdCreate('vfun-test', length);
  try {
    return f(fd);
  } finally {
    closeSync(fd);
  }
}


describe('memfdCreate', () => {
  it('has the size asked for, every page already allocated, the size seals, O_CLOEXEC and its name', () => {
    withMemfd(LEN, (fd) => {
      const st = fstatSync(fd);
      expect(st.isFile()).toBe(true);
      expect(st.size).toBe(LEN);
      expect(st.blocks * 512).toBe(LEN); // reserved by fallocate, not sparse
      const seals = shm.memfdSeals(fd);
      expect(seals & MEMFD_REGION_SEALS).toBe(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
      expect(seals & ~(MEMFD_REGION_SEALS | F_SEAL_EXEC)).toBe(0); // F_SEAL_EXEC where the kernel has it (6.3+)
      const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
      expect(Number.parseInt(flags, 8) & 0o2000000).toBe(0o2000000); // O_CLOEXEC
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe('/memfd:vfun-test (deleted)');
    });
  });

  it('a length that is not a page multiple is kept exactly', () => {
    withMemfd(5000, (fd) => expect(fstatSync(fd).size).toBe(5000));
  });

  it('refuses to shrink or grow through its fd, a second open() of it, or its /proc path (EPERM)', () => {
    withMemfd(LEN, (fd) => {
      expect(thrown(() => ftruncateSync(fd, 0)).code).toBe('EPERM');
      expect(thrown(() => ftruncateSync(fd, LEN * 2)).code).toBe('EPERM');
      const other = openSync(`/proc/self/fd/${fd}`, 'r+'); // a new open file description of the same memfd
      try {
        expect(thrown(() => ftruncateSync(other, LEN / 2)).code).toBe('EPERM');
        expect(shm.memfdSeals(other)).toBe(shm.memfdSeals(fd));
      } finally {
        closeSync(other);
      }
      expect(thrown(() => truncateSync(`/proc/self/fd/${fd}`, 1)).code).toBe('EPERM');
      expect(fstatSync(fd).size).toBe(LEN);
    });
  });

  it('write()/pwrite() past the end is refused (EPERM); one straddling the end stops at it', () => {
    withMemfd(LEN, (fd) => {
      const four = Buffer.from('abcd');
      expect(thrown(() => writeSync(fd, four, 0, 4, LEN)).code).toBe('EPERM');
      expect(thrown(() => writeSync(fd, four, 0, 4, LEN + 4096)).code).toBe('EPERM');
      // Straddling the end: a short write up to it here (6.18); some kernels refuse the whole write.
      let straddle: number | string | undefined;
      try {
        straddle = writeSync(fd, four, 0, 4, LEN - 2);
      } catch (e) {
        straddle = (e as SysError).code;
      }
      expect([2, 'EPERM']).toContain(straddle);
      const appender = openSync(`/proc/self/fd/${fd}`, 'a'); // O_APPEND: every write lands at the end
      try {
        expect(thrown(() => writeSync(appender, four)).code).toBe('EPERM');
      } finally {
        closeSync(appender);
      }
      expect(fstatSync(fd).size).toBe(LEN);
      const back = Buffer.alloc(2);
      readSync(fd, back, 0, 2, LEN - 2);
      expect(back.toString()).toBe(straddle === 2 ? 'ab' : '\0\0');
    });
  });

  it('a length over RAM + swap fails at once with ENOMEM, leaving no fd behind', () => {
    const before = openFds();
    const e = thrown(() => shm.memfdCreate('absurd', 2 ** 50));
    expect(e.code).toBe('ENOMEM');
    expect(e.message).toMatch(/^ENOMEM: memfd 'absurd' of 1125899906842624 bytes: more than this machine's RAM \+ swap \(\d+ bytes\); refusing to reserve it$/);
    expect(openFds()).toBe(before);
  });

  it('validates its arguments', () => {
    const call = shm.memfdCreate as (...a: unknown[]) => unknown;
    expect(thrown(() => call('x', 0))).toBeInstanceOf(RangeError);
    expect(thrown(() => call('x', 1.5))).toBeInstanceOf(RangeError);
    expect(thrown(() => call('x'.repeat(250), 4096))).toBeInstanceOf(RangeError);
    expect(thrown(() => call('a\0b', 4096))).toBeInstanceOf(TypeError);
    expect(thrown(() => call(7, 4096))).toBeInstanceOf(TypeError);
    withMemfd(4096, () => undefined);
    const fd = shm.memfdCreate('x'.repeat(249), 4096);
    closeSync(fd);
  });
});

describe('memfd over an imposed limit (a child under RLIMIT_FSIZE)', () => {
  it('fails with EFBIG naming the call and the size; the child lives on with no fd left open', async () => {
    const peer = new FdPeer(addonPath, { prefix: ['prlimit', `--fsize=${1024 * 1024}`] });
    try {
      await peer.ready;
      const before = await peer.call<{ count: number }>('fdCount');
      const r = await peer.request('memfdCreate', { name: 'too-big', length: 4 * 1024 * 1024 });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.code).toBe('EFBIG');
      expect(r.error.syscall).toBe('ftruncate');
      expect(r.error.message).toBe(`EFBIG: ftruncate memfd 'too-big' to ${4 * 1024 * 1024} bytes: File too large`);
      expect((await peer.call<{ count: number }>('fdCount')).count).toBe(before.count);
      // Below the limit it works.
      const ok = await peer.call<{ fd: number }>('memfdCreate', { name: 'fits', length: 512 * 1024 });
      expect((await peer.call<{ size: number }>('fstat', { fd: ok.fd })).size).toBe(512 * 1024);
    } finally {
      expect(await peer.close()).toEqual({ code: 0, signal: null });
    }
  });
});

describe('memfdSeals', () => {
  it('EINVAL for a file that is not a memfd; EBADF for a closed fd', () => {
    const f = join(dir, 'plain');
    writeFileSync(f, 'x');
    const fd = openSync(f, 'r');
    try {
      const e = thrown(() => shm.memfdSeals(fd));
      expect(e.code).toBe('EINVAL');
      expect(e.syscall).toBe('fcntl');
      expect(e.message).toMatch(/F_GET_SEALS\) \(not a memfd\?\)/);
    } finally {
      closeSync(fd);
    }
    expect(thrown(() => shm.memfdSeals(fd)).code).toBe('EBADF');
  });
});

describe('mapFd', () => {
  it('maps the memfd shared with its file; does not close the fd; unmap and msync work on it', () => {
    withMemfd(LEN, (fd) => {
      const ab = shm.mapFd(fd, LEN, true);
      expect(ab.byteLength).toBe(LEN);
      new Uint8Array(ab).set(Buffer.from('hello'), 100);
      const back = Buffer.alloc(5);
      readSync(fd, back, 0, 5, 100);
      expect(back.toString()).toBe('hello');
      writeSync(fd, Buffer.from('world'), 0, 5, 200);
      expect(Buffer.from(ab, 200, 5).toString()).toBe('world');
      shm.msync(ab);
      expect(shm.futexWake(ab, 0, 1)).toBe(0);
      expect(shm.unmap(ab)).toBe(true);
      expect(ab.byteLength).toBe(0);
      expect(fstatSync(fd).size).toBe(LEN); // fd still open
      const part = shm.mapFd(fd, 4096, false); // a prefix, read-only
      expect(Buffer.from(part, 100, 5).toString()).toBe('hello');
      shm.unmap(part);
    });
  });

  it('refuses a file smaller than length, a non-regular file, a closed fd, and writable on a read-only fd', () => {
    withMemfd(4096, (fd) => {
      const e = thrown(() => shm.mapFd(fd, 8192, false));
      expect(e.code).toBe('ERR_FILE_TOO_SMALL');
      expect(e.message).toBe(`fd ${fd} is 4096 bytes, smaller than the 8192 bytes requested; refusing to map past its end`);
    });
    const d = openSync(dir, 'r');
    try {
      expect(thrown(() => shm.mapFd(d, 4096, false)).code).toBe('ERR_NOT_REGULAR_FILE');
    } finally {
      closeSync(d);
    }
    const f = join(dir, 'ro');
    writeFileSync(f, Buffer.alloc(4096));
    const ro = openSync(f, 'r');
    closeSync(ro);
    expect(thrown(() => shm.mapFd(ro, 4096, false)).code).toBe('EBADF');
    const ro2 = openSync(f, 'r');
    try {
      const e = thrown(() => shm.mapFd(ro2, 4096, true));
      expect(e.code).toBe('EACCES');
      expect(e.syscall).toBe('mmap');
      shm.unmap(shm.mapFd(ro2, 4096, false));
    } finally {
      closeSync(ro2);
    }
    const call = shm.mapFd as (...a: unknown[]) => unknown;
    expect(thrown(() => call(0, 0, true))).toBeInstanceOf(RangeError);
    expect(thrown(() => call(0, 4096, 'yes'))).toBeInstanceOf(TypeError);
  });
});

describe('a second process that received the memfd (fd 3 of its stdio)', () => {
  it('cannot resize it either, sees the same seals, and shares bytes and futexes through mapFd', async () => {
    const fd = shm.memfdCreate('shared-region', LEN);
    const ab = shm.mapFd(fd, LEN, true);
    const peer = new FdPeer(addonPath, { fds: [fd] });
    try {
      await peer.ready;
      for (const length of [0, LEN / 2, LEN * 2]) {
        const r = await peer.request('ftruncate', { fd: 3, length });
        expect(r.ok ? 'resized' : r.error.code, `ftruncate to ${length}`).toBe('EPERM');
      }
      expect((await peer.call<{ seals: number }>('seals', { fd: 3 })).seals).toBe(shm.memfdSeals(fd));
      expect((await peer.call<{ ino: number; size: number }>('fstat', { fd: 3 })).ino).toBe(fstatSync(fd).ino);

      const { map } = await peer.call<{ map: number }>('mapFd', { fd: 3, length: LEN, writable: true });
      new Uint8Array(ab).set(Buffer.from('from the parent'), 1000);
      expect((await peer.call<{ text: string }>('readText', { map, offset: 1000, length: 15 })).text).toBe('from the parent');
      await peer.call('writeText', { map, offset: 2000, text: 'from the child' });
      expect(Buffer.from(ab, 2000, 14).toString()).toBe('from the child');

      // The child sleeps in FUTEX_WAIT on word 16 (offset 64) of its mapping; a wake on ours reaches it
      // (woken with the word unchanged: it was our wake, not a change it saw).
      const waited = peer.call<{ result: number; value: number }>('futexWait', { map, byteOffset: 64, expected: 0, timeoutMs: 30_000 });
      await wakeOneSleeper(shm, ab, 64);
      expect(await waited).toMatchObject({ result: FUTEX_WOKEN, value: 0 });
      // And a change made here is what it reads next.
      Atomics.store(new Int32Array(ab), 16, 7);
      expect((await peer.call('futexWait', { map, byteOffset: 64, expected: 0, timeoutMs: 30_000 })).value).toBe(7);
    } finally {
      shm.unmap(ab);
      closeSync(fd);
      expect(await peer.close()).toEqual({ code: 0, signal: null });
    }
  });
});
