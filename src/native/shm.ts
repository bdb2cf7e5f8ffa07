/**
 * Loader and typed interface for the native addon `vfun_shm`
 * (native/*.c): the binary prebuilt for this platform inside the package
 * (prebuilds/), or a build of one's own (build/Release/vfun_shm.node, by
 * the install script where no prebuilt binary loads, or
 * `npm run build:native` in a checkout); see shmAddonCandidates.
 *
 * The addon maps a file MAP_SHARED as an ArrayBuffer and gives futex
 * wait/wake on 32-bit words of the mapping. Node has neither: Atomics.wait
 * only takes a SharedArrayBuffer, which never leaves its process. It backs
 * the cross-process data plane (client and service in two OS processes
 * mapping the same `dataout` / `datain` files).
 *
 * The addon is optional. When it is missing (not built, non-Linux, failed to
 * load) `loadShm()` returns null, `shmUnavailableReason()` says why, and
 * `requireShm()` throws a VirtFunError 'REGION'. The in-process
 * SharedArrayBuffer backend does not need it.
 *
 * VIRTFUN_SHM_ADDON=<absolute path> loads the addon from somewhere else
 * (read once, at the first load).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WaitOps } from '../dataplane/wait.js';
import { VirtFunError, messageOf } from '../errors.js';

/** `abiVersion` of the addon this file was written against (VFUN_SHM_ABI_VERSION in the C source). */
export const SHM_ABI_VERSION = 5;

/** futexWait results. */
export const FUTEX_WOKEN = 0;
export const FUTEX_NOT_EQUAL = 1;
export const FUTEX_TIMED_OUT = 2;
/** 0: woken (or interrupted: re-check the word), 1: the word was not `expected`, 2: timed out. */
export type FutexWaitResult = typeof FUTEX_WOKEN | typeof FUTEX_NOT_EQUAL | typeof FUTEX_TIMED_OUT;

export interface ShmOpenFlags {
  /** Create the file (O_CREAT | O_EXCL: fails if it exists) and ftruncate it to `length`. */
  readonly create?: boolean;
  /** Map PROT_READ | PROT_WRITE (else PROT_READ only: writing through it kills the process with SIGSEGV). */
  readonly writable: boolean;
  /** Permission bits for a created file (default 0o600). */
  readonly mode?: number;
}

/** Seals of a memfd (fcntl F_ADD_SEALS / F_GET_SEALS, linux/fcntl.h). */
export const F_SEAL_SEAL = 0x0001;
export const F_SEAL_SHRINK = 0x0002;
export const F_SEAL_GROW = 0x0004;
export const F_SEAL_WRITE = 0x0008;
export const F_SEAL_FUTURE_WRITE = 0x0010;
/** Linux 6.3+: the file can never be made executable (memfdCreate asks for it where the kernel has it). */
export const F_SEAL_EXEC = 0x0020;
/** The seals every memfdCreate region carries: its size can never change, and no seal can be added or removed. */
export const MEMFD_REGION_SEALS = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

/** sendFds carries 1 to SEND_FDS_MAX fds per call. */
export const SEND_FDS_MAX = 8;
/** fetchFds refuses an answer line longer than this many UTF-8 bytes (without its '\n'). */
export const FETCH_LINE_MAX = 65536;
/** fetchFds refuses an answer that carries more fds than this. */
export const FETCH_FDS_MAX = 64;

/** What fetchFds received: the answer line (without '\n') and every fd that came with it, in order. */
export interface FetchedFds {
  readonly line: string;
  /** Open fds (O_CLOEXEC) owned by the caller: close each with fs.closeSync. */
  readonly fds: number[];
}

/** sandboxSelf options; each one absent or false leaves that setting as it is. */
export interface SandboxOptions {
  /** prctl(PR_SET_NO_NEW_PRIVS, 1): execve never grants privileges again (setuid bits, file capabilities). Irreversible. */
  readonly noNewPrivs?: boolean;
  /** prctl(PR_SET_DUMPABLE, 0): same-uid processes can no longer ptrace this one nor open /proc/<pid>/mem, /proc/<pid>/fd/*. */
  readonly nonDumpable?: boolean;
  /** prctl(PR_SET_PDEATHSIG, sig): this signal arrives when the parent (the thread that spawned us) dies; 0 clears it. */
  readonly parentDeathSignal?: number;
  /**
   * Install the seccomp filter (x86_64 and aarch64) on every thread: the
   * syscalls listed in docs/native.md fail with EPERM, among them ptrace,
   * mount, unshare, bpf, ftruncate and fallocate. Needs noNewPrivs. Irreversible.
   */
  readonly denySyscalls?: boolean;
  /**
   * With denySyscalls: leave ftruncate allowed (truncate and fallocate stay denied). For a GPU
   * service, whose Vulkan driver (Mesa's lavapipe) grows memfds of its own; the region's memfds
   * stay sealed against resizing, so this does not let it resize them.
   */
  readonly allowFtruncate?: boolean;
}

/** The calling process's current settings (prctl PR_GET_*). */
export interface SandboxState {
  readonly noNewPrivs: boolean;
  readonly dumpable: boolean;
  /** 0: none. */
  readonly parentDeathSignal: number;
  /** 0: no seccomp, 2: filter mode. */
  readonly seccomp: number;
  /** Whether a filter this process installed with sandboxSelf denies ftruncate (false with allowFtruncate, or none). */
  readonly ftruncateDenied: boolean;
}

/** A socket peer's process, user and group (SO_PEERCRED). */
export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** flock(2) modes: LOCK_EX, LOCK_SH, LOCK_UN. */
export type FlockMode = 'exclusive' | 'shared' | 'unlock';

/** The functions exported by vfun_shm.node. */
export interface ShmAddon {
  readonly abiVersion: number;
  /**
   * A stored journal record judged, in one pass over its bytes, to be in
   * canonical form with a `hash` member that recomputes and, like `hash`, a
   * `prevHash` (if any) of 64 lowercase hex digits (native/stored.c); false
   * for anything it does not judge. Absent from builds before it.
   */
  readonly storedSealed?: (bytes: Uint8Array) => boolean;
  /**
   * Map `length` bytes of the file at `path` MAP_SHARED. Opens with
   * O_NOFOLLOW | O_CLOEXEC (a symlink as the last component is refused),
   * refuses a non-regular file and a file smaller than `length`, closes the
   * fd after mapping. The result is an external ArrayBuffer; the mapping is
   * released by `unmap` or when the buffer is garbage-collected. Throws an
   * Error with `code` (errno name or ERR_*), `errno`, `syscall`, `path`.
   * A mapped file truncated by someone else raises SIGBUS on access.
   */
  open(path: string, length: number, flags: ShmOpenFlags): ArrayBuffer;
  /**
   * munmap now and detach the buffer (byteLength becomes 0, views become
   * empty). True if it unmapped, false if the buffer was already detached.
   * Throws TypeError for an ArrayBuffer that open() did not return.
   */
  unmap(ab: ArrayBuffer): boolean;
  /**
   * FUTEX_WAIT (shared, not private) on the 32-bit word at `byteOffset`:
   * sleep while it equals `expected`, at most `timeoutMs` (negative, NaN or
   * Infinity: no timeout; fractions allowed). Works on read-only mappings.
   * RangeError when `byteOffset` is out of range or not 4-byte aligned.
   */
  futexWait(ab: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): FutexWaitResult;
  /**
   * futexWait on a thread of libuv's pool (ABI 5, native/futex_async.c): the
   * calling thread goes on, and the promise settles with the same result
   * codes when the word changed, a waker woke it, or the timeout ran out.
   * Holds the buffer (no garbage collection) and one pool thread while it
   * sleeps: wait in bounded slices. Rejects (code: errno name) only when the
   * futex itself fails (EFAULT: the mapping went away under the wait).
   */
  futexWaitAsync(ab: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): Promise<FutexWaitResult>;
  /** FUTEX_WAKE (shared): wake up to `count` waiters (default: all); returns how many were woken. */
  futexWake(ab: ArrayBuffer, byteOffset: number, count?: number): number;
  /** msync(MS_SYNC) the whole mapping to its file. */
  msync(ab: ArrayBuffer): void;
  /** sysconf(_SC_PAGESIZE). */
  pageSize(): number;
  /** sched_yield(): give the core to another runnable thread, if any. */
  schedYield?(): void;
  /**
   * flock(2) on an open fd (advisory, whole file, owned by the open file
   * description: released by 'unlock', by closing every fd that shares it, or
   * when the process exits). `wait` false: returns false at once when the lock
   * is held elsewhere (EWOULDBLOCK); `wait` true: blocks the calling thread
   * until granted. EINTR is retried. Other errors throw with `code` (errno
   * name: EBADF, ENOLCK, EINVAL, ...), `errno`, `syscall` 'flock'.
   */
  flock(fd: number, mode: FlockMode, wait: boolean): boolean;
  /**
   * A sealed region: memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING
   * [| MFD_NOEXEC_SEAL on Linux 6.3+]), ftruncate to `length`, every page
   * reserved now with fallocate (zeros written page by page where fallocate
   * is not supported), then sealed with MEMFD_REGION_SEALS: nobody holding
   * the fd can shrink or grow it (ftruncate, write past the end: EPERM), so a
   * mapping of it never faults with SIGBUS. Out of memory is an error here
   * (ENOMEM/ENOSPC from fallocate; ENOMEM at once when `length` exceeds RAM +
   * swap; EFBIG under RLIMIT_FSIZE), never a fault on first touch. Returns
   * the fd (O_CLOEXEC; close it with fs.closeSync); on failure nothing is
   * left open. `name` (at most 249 UTF-8 bytes) shows in /proc/<pid>/fd.
   */
  memfdCreate(name: string, length: number): number;
  /** fcntl(fd, F_GET_SEALS): the F_SEAL_* bits. EINVAL for a file that is not a memfd. */
  memfdSeals(fd: number): number;
  /**
   * Map `length` bytes of an open fd MAP_SHARED, like `open` does for a path:
   * refuses a non-regular file (ERR_NOT_REGULAR_FILE) and one smaller than
   * `length` (ERR_FILE_TOO_SMALL). `writable` needs an fd open for writing.
   * The buffer works with unmap, msync, futexWait/futexWake and is unmapped
   * by its finalizer. Does not close the fd.
   */
  mapFd(fd: number, length: number, writable: boolean): ArrayBuffer;
  /**
   * sendmsg on a connected AF_UNIX stream socket (e.g. a net.Socket's
   * `_handle.fd`): `data` (UTF-8, not empty) with `fds` (1..SEND_FDS_MAX)
   * as SCM_RIGHTS on its first bytes; partial writes continue without fds;
   * EINTR retried; on EAGAIN (libuv keeps the socket non-blocking) it polls
   * for POLLOUT and throws ETIMEDOUT after 1000 ms without progress. It
   * bypasses the net.Socket's write queue: call it when nothing is pending
   * there (socket.writableLength === 0), and destroy the socket after an
   * error (part of `data` may have gone). The fds stay open here.
   */
  sendFds(socketFd: number, data: string, fds: readonly number[]): void;
  /**
   * A synchronous client: connect to the AF_UNIX stream socket at
   * `socketPath`, send `request` (exactly one line ending in '\n'), receive
   * until a '\n' (refusing more than FETCH_LINE_MAX bytes:
   * ERR_LINE_TOO_LONG), collecting every SCM_RIGHTS fd (MSG_CMSG_CLOEXEC)
   * of every chunk, close the socket. The whole exchange has one deadline,
   * `timeoutMs` from the call (ETIMEDOUT). Blocks the calling thread. Errors
   * (code: ENOENT, ECONNREFUSED, ETIMEDOUT, ERR_LINE_TOO_LONG,
   * ERR_NO_ANSWER, ERR_FDS_TRUNCATED, ERR_TOO_MANY_FDS, ...) close every fd
   * received so far. Bytes after the '\n' are dropped; invalid UTF-8 in the
   * line becomes U+FFFD.
   */
  fetchFds(socketPath: string, request: string, timeoutMs: number): FetchedFds;
  /**
   * The credentials of the peer of a connected AF_UNIX socket (a net.Socket's
   * `_handle.fd`), as the kernel recorded them when it connected
   * (getsockopt SO_PEERCRED): the peer cannot forge them. Errors carry
   * `code` (EBADF, ENOTSOCK, ...) and `syscall` 'getsockopt'.
   */
  peerCred(socketFd: number): PeerCred;
  /**
   * Confine the calling process (for a function service): see SandboxOptions.
   * Applied in the order noNewPrivs, nonDumpable, parentDeathSignal,
   * denySyscalls; arguments are checked before anything changes.
   */
  sandboxSelf(opts: SandboxOptions): void;
  /** The calling process's no_new_privs, dumpable, parent-death signal and seccomp mode. */
  sandboxState(): SandboxState;
}

const ADDON_NAME = 'vfun_shm';
const PACKAGE_NAME = 'virtfun';

let loaded = false;
let addon: ShmAddon | null = null;
let reason = '';
let loadedFrom: string | null = null;

/**
 * The package root: the nearest ancestor of this file with a package.json
 * named "virtfun" (src/native/ under vitest/tsx, dist/src/native/ after tsc).
 */
export function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // unreadable or not JSON: keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * The files the addon may be loaded from under the package root, in the order they are tried:
 * a build of one's own (build/Release/vfun_shm.node: compiled at install where no prebuilt binary
 * loads, on request with `npm rebuild virtfun --build-from-source`, or in a checkout of the
 * project), then the prebuilt binary shipped in the package for this platform and architecture
 * (prebuilds/<platform>-<arch>/vfun_shm.napi.node, built at `npm pack` by scripts/prebuild.mjs).
 * The addon uses N-API only, so one binary serves every Node version. The install script
 * (scripts/build-native.mjs) uses the same two paths.
 */
export function shmAddonCandidates(root: string, platform: string = process.platform, arch: string = process.arch): readonly string[] {
  return [join(root, 'build', 'Release', `${ADDON_NAME}.node`), join(root, 'prebuilds', `${platform}-${arch}`, `${ADDON_NAME}.napi.node`)];
}

/**
 * How to (re)build the addon where it is installed: `npm rebuild virtfun` in a project that
 * depends on the package (its root is inside a node_modules folder), `npm run build:native` in a
 * checkout of the project itself.
 */
export function rebuildAdvice(root: string | null): string {
  return root !== null && /[\\/]node_modules[\\/]/.test(root) ? `npm rebuild ${PACKAGE_NAME}` : 'npm run build:native';
}

/**
 * Absolute path the addon is loaded from: $VIRTFUN_SHM_ADDON if set, else the file it was
 * loaded from, else the first of `shmAddonCandidates` that exists (the build of one's own when
 * there is none); null when the package root cannot be found.
 */
export function shmAddonPath(): string | null {
  const override = process.env.VIRTFUN_SHM_ADDON;
  if (override) return override;
  if (loadedFrom !== null) return loadedFrom;
  const root = packageRoot();
  if (root === null) return null;
  const candidates = shmAddonCandidates(root);
  return candidates.find((f) => existsSync(f)) ?? candidates[0]!;
}

/** Loads `file` and checks it is the addon of this ABI: the addon, or why not. */
function loadFile(file: string): { readonly addon: ShmAddon } | { readonly reason: string } {
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)(file);
  } catch (e) {
    return { reason: `loading ${file} failed: ${messageOf(e)}` };
  }
  const m = mod as Partial<ShmAddon>;
  if (typeof m.futexWait !== 'function' || typeof m.open !== 'function') return { reason: `${file} does not export the expected functions` };
  if (m.abiVersion !== SHM_ABI_VERSION) return { reason: `${file} has abiVersion ${String(m.abiVersion)}, expected ${SHM_ABI_VERSION} (stale build)` };
  return { addon: m as ShmAddon };
}

function tryLoad(): void {
  if (process.platform !== 'linux') {
    reason = `it is Linux-only (mmap MAP_SHARED + futex) and this is ${process.platform}`;
    return;
  }
  const override = process.env.VIRTFUN_SHM_ADDON;
  const root = packageRoot();
  if (!override && root === null) {
    reason = `cannot find the ${PACKAGE_NAME} package root (no package.json named "${PACKAGE_NAME}" above ${dirname(fileURLToPath(import.meta.url))})`;
    return;
  }
  const candidates = override ? [override] : shmAddonCandidates(root!);
  const present = candidates.filter((f) => existsSync(f));
  if (present.length === 0) {
    reason = override
      ? `${override} does not exist (the build failed or was skipped at install)`
      : `${candidates[0]!} does not exist (the build failed or was skipped at install) and there is no prebuilt binary for ${process.platform}-${process.arch} (${candidates[1]!})`;
    return;
  }
  const failures: string[] = [];
  for (const file of present) {
    const r = loadFile(file);
    if ('addon' in r) {
      addon = r.addon;
      loadedFrom = file;
      return;
    }
    failures.push(r.reason);
  }
  reason = failures.join('; ');
}

/** The addon, or null when it is unavailable (see `shmUnavailableReason`). Loaded once, then cached. */
export function loadShm(): ShmAddon | null {
  if (!loaded) {
    loaded = true;
    tryLoad();
  }
  return addon;
}

/** True when the cross-process mmap backend can be used. */
export function shmAvailable(): boolean {
  return loadShm() !== null;
}

/** Why the addon is unavailable; '' when it is available. */
export function shmUnavailableReason(): string {
  loadShm();
  return addon === null ? reason : '';
}

/** The addon, or a VirtFunError 'REGION' explaining that it is not built and what still works. */
export function requireShm(): ShmAddon {
  const a = loadShm();
  if (a !== null) return a;
  throw new VirtFunError(
    'REGION',
    `the native addon ${ADDON_NAME} is not built: ${reason}; run \`${rebuildAdvice(packageRoot())}\`; the in-process SharedArrayBuffer backend still works`,
  );
}

const WAKE_ALL = 0x7fffffff;

/**
 * WaitOps for areas over mapped files: futex wait/wake on the word
 * `i32[index]`, where `i32` is a view over an ArrayBuffer returned by
 * `open`. Shared futexes, so the two sides may be different processes.
 * `waitAsync` sleeps on libuv's thread pool (futexWaitAsync).
 * A wait interrupted by a signal reports 'ok' without a change; Waiter
 * treats that like an explicit wake and its callers re-check.
 */
export function mmapWaitOps(shm: ShmAddon): WaitOps {
  const { futexWait, futexWake } = shm;
  return {
    wait(i32, index, expected, timeoutMs) {
      const r = futexWait(i32.buffer as ArrayBuffer, i32.byteOffset + index * 4, expected, timeoutMs);
      return r === FUTEX_WOKEN ? 'ok' : r === FUTEX_NOT_EQUAL ? 'not-equal' : 'timed-out';
    },
    notify(i32, index) {
      futexWake(i32.buffer as ArrayBuffer, i32.byteOffset + index * 4, WAKE_ALL);
    },
    async waitAsync(i32, index, expected, timeoutMs) {
      const r = await shm.futexWaitAsync(i32.buffer as ArrayBuffer, i32.byteOffset + index * 4, expected, timeoutMs);
      return r === FUTEX_WOKEN ? 'ok' : r === FUTEX_NOT_EQUAL ? 'not-equal' : 'timed-out';
    },
    ...(shm.schedYield !== undefined && { yield: shm.schedYield }),
  };
}
