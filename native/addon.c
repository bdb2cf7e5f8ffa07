/*
 * vfun_shm: a small N-API addon that maps a file MAP_SHARED as an
 * ArrayBuffer and gives futex wait/wake on 32-bit words of the mapping;
 * since ABI 2 it also makes sealed memfd regions, passes fds over Unix
 * sockets, takes flock locks and confines a service process.
 *
 * It exists because Node has neither mmap nor a blocking wait that works
 * across processes (Atomics.wait only accepts SharedArrayBuffer, which is
 * private to one process). Two processes that map the same file can use
 * Atomics.load/store on an Int32Array over the returned ArrayBuffer and block
 * with futexWait/futexWake here: the futexes are *shared* (FUTEX_WAIT, not
 * FUTEX_WAIT_PRIVATE), so the kernel keys them on (inode, page offset) and
 * both processes meet on the same word.
 *
 * Regions as sealed memfds: a tenant must never be able to resize memory
 * that vFunD or a service maps (a truncated mapped file raises SIGBUS in
 * whoever touches it). memfdCreate makes an anonymous file with its pages
 * reserved now (fallocate: out of memory is an error here, not a fault
 * later) and seals its size (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
 * sendFds/fetchFds hand such fds to another process over a Unix socket
 * (SCM_RIGHTS); mapFd maps one. sandboxSelf confines a service process:
 * no_new_privs, not dumpable, a parent-death signal, and a seccomp filter
 * that answers EPERM to syscalls a service never needs (the list and the
 * reasons are in seccomp.c and docs/native.md).
 *
 * JS API (see src/native/shm.ts for the typed interface, docs/native.md
 * for what each call guarantees and its errors):
 *   open(path, length, { create?, writable, mode? }) -> ArrayBuffer
 *   mapFd(fd, length, writable) -> ArrayBuffer   (does not close fd)
 *   unmap(ab) -> boolean          (true if it unmapped, false if already gone)
 *   futexWait(ab, byteOffset, expected, timeoutMs) -> 0 ok | 1 not-equal | 2 timed out
 *   futexWake(ab, byteOffset, count) -> number of waiters woken
 *   futexWaitAsync(ab, byteOffset, expected, timeoutMs) -> Promise<0 | 1 | 2>   (on libuv's pool; ABI 5)
 *   msync(ab) -> undefined
 *   pageSize() -> number
 *   schedYield() -> undefined
 *   flock(fd, 'exclusive' | 'shared' | 'unlock', wait) -> boolean (false: held elsewhere)
 *   memfdCreate(name, length) -> fd   (reserved, size-sealed, O_CLOEXEC)
 *   memfdSeals(fd) -> F_SEAL_* bits
 *   sendFds(socketFd, data, fds[1..8]) -> undefined
 *   fetchFds(socketPath, request, timeoutMs) -> { line, fds }
 *   sandboxSelf({ noNewPrivs?, nonDumpable?, parentDeathSignal?, denySyscalls?, allowFtruncate? }) -> undefined
 *   sandboxState() -> { noNewPrivs, dumpable, parentDeathSignal, seccomp }
 *   storedSealed(bytes) -> boolean   (a journal record: canonical and its hash recomputes; stored.c)
 *   abiVersion: number
 *
 * Errors are Error objects with .code (errno name, or ERR_* for our own
 * refusals), .errno (negative, when there is one), .syscall and, for paths,
 * .path; argument mistakes are TypeError / RangeError. Every fd a call opens
 * is O_CLOEXEC and is closed again on every error path.
 *
 * futexWait/futexWake are the hot path: no allocation, no exception unless
 * the arguments are wrong.
 *
 * Linux only. N-API version 8 (Node >= 12.22 / 14.17 / 15.12 / 16). The
 * seccomp filter is written for x86_64 and aarch64.

 *
 * The addon's parts, one concern each (each .c with its .h):
 *   addon.c     this overview, the ABI version and the module registration
 *   errors.c    JS errors with .code / .errno / .syscall / .path
 *   args.c      reading and checking JS arguments
 *   mapping.c   live mappings as external ArrayBuffers: registry, unmap, msync
 *   map.c       open(path) and mapFd(fd): a file mapped MAP_SHARED; pageSize
 *   futex.c     futexWait / futexWake (the hot path), schedYield
 *   futex_async.c futexWaitAsync: the same wait on libuv's thread pool, settling a Promise
 *   lock.c      flock
 *   memfd.c     sealed memfds reserved at creation
 *   deadline.c  waiting on one fd until a monotonic deadline
 *   fdsend.c    sendFds, the server side of fd passing (fdpass.h)
 *   fdfetch.c   fetchFds, the client side of fd passing (fdpass.h)
 *   sandbox.c   sandboxSelf / sandboxState
 *   seccomp.c   the seccomp deny filter sandboxSelf installs
 *   stored.c    storedSealed, the fast check of a stored journal record
 */
#define _GNU_SOURCE
#include "addon.h"

#include "fdpass.h"
#include "futex.h"
#include "futex_async.h"
#include "lock.h"
#include "map.h"
#include "mapping.h"
#include "memfd.h"
#include "peercred.h"
#include "sandbox.h"
#include "stored.h"

/* Bumped when the JS-visible API changes; src/native/shm.ts checks it. */
#define VFUN_SHM_ABI_VERSION 5

/* ------------------------------------------------------------------------ */
/* Module init (context-aware: safe to load from worker threads).           */
/* ------------------------------------------------------------------------ */

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmap", NULL, js_unmap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futexWait", NULL, js_futex_wait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futexWake", NULL, js_futex_wake, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futexWaitAsync", NULL, js_futex_wait_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"msync", NULL, js_msync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pageSize", NULL, js_page_size, NULL, NULL, NULL, napi_enumerable, NULL},
      {"schedYield", NULL, js_sched_yield, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flock", NULL, js_flock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"memfdCreate", NULL, js_memfd_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"memfdSeals", NULL, js_memfd_seals, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mapFd", NULL, js_map_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendFds", NULL, js_send_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fetchFds", NULL, js_fetch_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sandboxSelf", NULL, js_sandbox_self, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sandboxState", NULL, js_sandbox_state, NULL, NULL, NULL, napi_enumerable, NULL},
      {"storedSealed", NULL, js_stored_sealed, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerCred", NULL, js_peer_cred, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value abi;
  if (napi_create_int32(env, VFUN_SHM_ABI_VERSION, &abi) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "abiVersion", abi) != napi_ok) return NULL;
  return exports;
}
