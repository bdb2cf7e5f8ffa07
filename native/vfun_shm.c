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
 * reasons are at the filter below and in docs/native.md).
 *
 * JS API (see src/native/shm.ts for the typed interface, docs/native.md
 * for what each call guarantees and its errors):
 *   open(path, length, { create?, writable, mode? }) -> ArrayBuffer
 *   mapFd(fd, length, writable) -> ArrayBuffer   (does not close fd)
 *   unmap(ab) -> boolean          (true if it unmapped, false if already gone)
 *   futexWait(ab, byteOffset, expected, timeoutMs) -> 0 ok | 1 not-equal | 2 timed out
 *   futexWake(ab, byteOffset, count) -> number of waiters woken
 *   msync(ab) -> undefined
 *   pageSize() -> number
 *   schedYield() -> undefined
 *   flock(fd, 'exclusive' | 'shared' | 'unlock', wait) -> boolean (false: held elsewhere)
 *   memfdCreate(name, length) -> fd   (reserved, size-sealed, O_CLOEXEC)
 *   memfdSeals(fd) -> F_SEAL_* bits
 *   sendFds(socketFd, data, fds[1..8]) -> undefined
 *   fetchFds(socketPath, request, timeoutMs) -> { line, fds }
 *   sandboxSelf({ noNewPrivs?, nonDumpable?, parentDeathSignal?, denySyscalls? }) -> undefined
 *   sandboxState() -> { noNewPrivs, dumpable, parentDeathSignal, seccomp }
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
 */
#define _GNU_SOURCE
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif

#ifndef __linux__
#error "vfun_shm needs Linux (mmap MAP_SHARED + futex)"
#endif

#include <node_api.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Bumped when the JS-visible API changes; src/native/shm.ts checks it. */
#define VFUN_SHM_ABI_VERSION 2

#define WAIT_OK 0
#define WAIT_NOT_EQUAL 1
#define WAIT_TIMED_OUT 2

/* ------------------------------------------------------------------------ */
/* Registry of live mappings.                                               */
/*                                                                          */
/* Each mapping has a heap record that is also the finalize hint of its     */
/* ArrayBuffer. Whoever unmaps first (explicit unmap or the GC finalizer)   */
/* sets `unmapped` and takes the record out of the list; the finalizer      */
/* always frees the record. The list lets unmap() check that an ArrayBuffer */
/* really is one of ours (live mappings never overlap, so the base address  */
/* identifies one). One mutex: the addon may be loaded by worker threads.   */
/* ------------------------------------------------------------------------ */

typedef struct mapping {
  void *addr;
  size_t length;
  int unmapped;
  struct mapping *prev, *next;
} mapping;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mapping *registry_head = NULL;

static void registry_add(mapping *m) {
  pthread_mutex_lock(&registry_lock);
  m->prev = NULL;
  m->next = registry_head;
  if (registry_head) registry_head->prev = m;
  registry_head = m;
  pthread_mutex_unlock(&registry_lock);
}

/* Caller holds registry_lock. */
static void registry_remove_locked(mapping *m) {
  if (m->prev) m->prev->next = m->next;
  else registry_head = m->next;
  if (m->next) m->next->prev = m->prev;
  m->prev = m->next = NULL;
}

/* Caller holds registry_lock. */
static mapping *registry_find_locked(void *addr) {
  for (mapping *m = registry_head; m; m = m->next)
    if (m->addr == addr) return m;
  return NULL;
}

static void finalize_mapping(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  mapping *m = (mapping *)hint;
  pthread_mutex_lock(&registry_lock);
  if (!m->unmapped) {
    munmap(m->addr, m->length);
    m->unmapped = 1;
    registry_remove_locked(m);
  }
  pthread_mutex_unlock(&registry_lock);
  free(m);
}

/* ------------------------------------------------------------------------ */
/* Error helpers (slow path only).                                          */
/* ------------------------------------------------------------------------ */

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ETXTBSY: return "ETXTBSY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case EOVERFLOW: return "EOVERFLOW";
    case EDQUOT: return "EDQUOT";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOLCK: return "ENOLCK";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EPIPE: return "EPIPE";
    case ESRCH: return "ESRCH";
    case ENOTSOCK: return "ENOTSOCK";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTOTYPE: return "EPROTOTYPE";
    case EADDRINUSE: return "EADDRINUSE";
    case ECONNRESET: return "ECONNRESET";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case ETOOMANYREFS: return "ETOOMANYREFS";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EINPROGRESS: return "EINPROGRESS";
    default: return "EUNKNOWN";
  }
}

/*
 * Throw an Error with .code (errno name, or `code` if given), .errno,
 * .syscall and .path set, like Node's fs errors.
 */
static void throw_sys_error(napi_env env, int err, const char *code, const char *syscall_name, const char *path,
                            const char *message) {
  napi_value code_v, msg_v, error, v;
  const char *code_s = code ? code : errno_name(err);
  if (napi_create_string_utf8(env, code_s, NAPI_AUTO_LENGTH, &code_v) != napi_ok) goto fallback;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg_v) != napi_ok) goto fallback;
  if (napi_create_error(env, code_v, msg_v, &error) != napi_ok) goto fallback;
  if (err != 0 && napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
  if (syscall_name && napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "syscall", v);
  if (path && napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "path", v);
  napi_throw(env, error);
  return;
fallback:
  napi_throw_error(env, code_s, message);
}

static int is_exception_pending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

#define CHECK_NAPI(env, call)                                                         \
  do {                                                                                \
    if ((call) != napi_ok) {                                                          \
      if (!is_exception_pending(env)) napi_throw_error((env), NULL, "vfun_shm: " #call " failed"); \
      return NULL;                                                                    \
    }                                                                                 \
  } while (0)

/* Read a finite, non-negative integer (up to 2^53) from a JS number. */
static int get_index(napi_env env, napi_value v, const char *what, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  if (!(d >= 0) || d > 9007199254740991.0 || d != floor(d)) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be an integer >= 0, got %g", what, d);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (uint64_t)d;
  return 1;
}

/* Optional boolean property; absent/undefined -> dflt. */
static int get_bool_prop(napi_env env, napi_value obj, const char *name, int dflt, int *out) {
  bool has = false;
  napi_value v;
  napi_valuetype t;
  *out = dflt;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok) return 0;
  if (!has) return 1;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_undefined) return 1;
  if (t != napi_boolean) {
    char msg[96];
    snprintf(msg, sizeof msg, "flags.%s must be a boolean", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b ? 1 : 0;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* A live mapping as an external ArrayBuffer (open and mapFd).              */
/* ------------------------------------------------------------------------ */

/*
 * Register [addr, addr+length) and hand it to JS as an external ArrayBuffer
 * whose finalizer unmaps it. On failure the range is unmapped, an exception
 * is pending and NULL is returned.
 */
static napi_value wrap_mapping(napi_env env, void *addr, size_t length) {
  mapping *m = (mapping *)calloc(1, sizeof *m);
  if (!m) {
    munmap(addr, length);
    napi_throw_error(env, "ENOMEM", "vfun_shm: out of memory");
    return NULL;
  }
  m->addr = addr;
  m->length = length;
  registry_add(m);

  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, length, finalize_mapping, m, &ab) != napi_ok) {
    pthread_mutex_lock(&registry_lock);
    registry_remove_locked(m);
    pthread_mutex_unlock(&registry_lock);
    munmap(addr, length);
    free(m);
    if (!is_exception_pending(env))
      napi_throw_error(env, NULL, "vfun_shm: napi_create_external_arraybuffer failed (is the length too large?)");
    return NULL;
  }
  return ab;
}

/* ------------------------------------------------------------------------ */
/* open(path, length, flags) -> ArrayBuffer                                  */
/* ------------------------------------------------------------------------ */

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_valuetype t;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "open(path, length, flags) needs 3 arguments");
    return NULL;
  }

  /* path */
  CHECK_NAPI(env, napi_typeof(env, argv[0], &t));
  if (t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a string");
    return NULL;
  }
  size_t path_len = 0;
  CHECK_NAPI(env, napi_get_value_string_utf8(env, argv[0], NULL, 0, &path_len));
  if (path_len == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "path must not be empty");
    return NULL;
  }
  if (path_len >= PATH_MAX) {
    napi_throw_range_error(env, "ENAMETOOLONG", "path is longer than PATH_MAX");
    return NULL;
  }
  char path[PATH_MAX];
  CHECK_NAPI(env, napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len));
  if (strlen(path) != path_len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "path must not contain NUL bytes");
    return NULL;
  }

  /* length */
  uint64_t length64;
  if (!get_index(env, argv[1], "length", &length64)) return NULL;
  if (length64 == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "length must be > 0");
    return NULL;
  }
  if (length64 > (uint64_t)SIZE_MAX || length64 > (uint64_t)INT64_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "length is too large for this platform");
    return NULL;
  }
  size_t length = (size_t)length64;

  /* flags */
  CHECK_NAPI(env, napi_typeof(env, argv[2], &t));
  if (t != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "flags must be an object { create?, writable, mode? }");
    return NULL;
  }
  int create, writable;
  if (!get_bool_prop(env, argv[2], "create", 0, &create)) return NULL;
  if (!get_bool_prop(env, argv[2], "writable", 0, &writable)) return NULL;
  uint32_t mode = 0600;
  {
    bool has = false;
    napi_value v;
    CHECK_NAPI(env, napi_has_named_property(env, argv[2], "mode", &has));
    if (has) {
      CHECK_NAPI(env, napi_get_named_property(env, argv[2], "mode", &v));
      CHECK_NAPI(env, napi_typeof(env, v, &t));
      if (t != napi_undefined) {
        uint64_t m64;
        if (!get_index(env, v, "flags.mode", &m64)) return NULL;
        if (m64 > 07777) {
          napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "flags.mode must be <= 0o7777");
          return NULL;
        }
        mode = (uint32_t)m64;
      }
    }
  }

  /*
   * O_NOFOLLOW: refuse a symlink as the last component. O_NONBLOCK: never
   * block opening a FIFO or device (we refuse those right after; it has no
   * effect on regular files). A created file needs a writable fd for
   * ftruncate even when the mapping is read-only.
   */
  int oflags = O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | ((writable || create) ? O_RDWR : O_RDONLY);
  if (create) oflags |= O_CREAT | O_EXCL;

  char msg[PATH_MAX + 256];
  int fd;
  do {
    fd = open(path, oflags, (mode_t)mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP)
      snprintf(msg, sizeof msg, "%s: open '%s': %s; symbolic links are refused (O_NOFOLLOW)", errno_name(e), path,
               strerror(e));
    else
      snprintf(msg, sizeof msg, "%s: open '%s'%s: %s", errno_name(e), path, create ? " (create, exclusive)" : "",
               strerror(e));
    throw_sys_error(env, e, NULL, "open", path, msg);
    return NULL;
  }

  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    snprintf(msg, sizeof msg, "%s: fstat '%s': %s", errno_name(e), path, strerror(e));
    close(fd);
    throw_sys_error(env, e, NULL, "fstat", path, msg);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    snprintf(msg, sizeof msg, "EINVAL: '%s' is not a regular file; refusing to map it", path);
    throw_sys_error(env, EINVAL, "ERR_NOT_REGULAR_FILE", "open", path, msg);
    return NULL;
  }

  if (create) {
    int r;
    do {
      r = ftruncate(fd, (off_t)length);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
      int e = errno;
      snprintf(msg, sizeof msg, "%s: ftruncate '%s' to %zu bytes: %s", errno_name(e), path, length, strerror(e));
      /* We created it (O_EXCL): remove it, unless someone swapped the name meanwhile. */
      struct stat now;
      close(fd);
      if (lstat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) unlink(path);
      throw_sys_error(env, e, NULL, "ftruncate", path, msg);
      return NULL;
    }
    st.st_size = (off_t)length;
  } else if ((uint64_t)st.st_size < length64) {
    close(fd);
    snprintf(msg, sizeof msg, "'%s' is %lld bytes, smaller than the %zu bytes requested; refusing to map past its end",
             path, (long long)st.st_size, length);
    throw_sys_error(env, 0, "ERR_FILE_TOO_SMALL", "open", path, msg);
    return NULL;
  }

  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void *addr = mmap(NULL, length, prot, MAP_SHARED, fd, 0);
  int mmap_errno = errno;
  close(fd); /* the mapping keeps its own reference to the file */
  if (addr == MAP_FAILED) {
    snprintf(msg, sizeof msg, "%s: mmap '%s' (%zu bytes, %s, MAP_SHARED): %s", errno_name(mmap_errno), path, length,
             writable ? "read-write" : "read-only", strerror(mmap_errno));
    if (create) {
      struct stat now;
      if (lstat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) unlink(path);
    }
    throw_sys_error(env, mmap_errno, NULL, "mmap", path, msg);
    return NULL;
  }

  return wrap_mapping(env, addr, length);
}

/* ------------------------------------------------------------------------ */
/* unmap(ab) -> boolean                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Only an ArrayBuffer (what open() returns). Asked first because since Node 24
 * napi_get_arraybuffer_info also accepts a SharedArrayBuffer, which Node 20
 * refused; napi_is_arraybuffer is false for one on every version.
 */
static int is_arraybuffer(napi_env env, napi_value v) {
  bool is = false;
  return napi_is_arraybuffer(env, v, &is) == napi_ok && is;
}

static int get_arraybuffer(napi_env env, napi_value v, void **data, size_t *len) {
  if (!is_arraybuffer(env, v) || napi_get_arraybuffer_info(env, v, data, len) != napi_ok) {
    if (!is_exception_pending(env))
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an ArrayBuffer returned by open() or mapFd()");
    return 0;
  }
  return 1;
}

static napi_value js_unmap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "unmap(ab) needs an ArrayBuffer");
    return NULL;
  }
  void *data;
  size_t len;
  if (!get_arraybuffer(env, argv[0], &data, &len)) return NULL;

  bool detached = false;
  CHECK_NAPI(env, napi_is_detached_arraybuffer(env, argv[0], &detached));
  if (detached) {
    CHECK_NAPI(env, napi_get_boolean(env, false, &result));
    return result;
  }

  pthread_mutex_lock(&registry_lock);
  mapping *m = data ? registry_find_locked(data) : NULL;
  if (!m || m->length != len) {
    pthread_mutex_unlock(&registry_lock);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "unmap: this ArrayBuffer is not a live mapping returned by open() or mapFd()");
    return NULL;
  }
  /* Detach first: if that fails nothing is unmapped and JS can keep using it. */
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
    pthread_mutex_unlock(&registry_lock);
    if (!is_exception_pending(env)) napi_throw_error(env, NULL, "unmap: napi_detach_arraybuffer failed");
    return NULL;
  }
  munmap(m->addr, m->length);
  m->unmapped = 1; /* the finalizer, when GC gets to the buffer, only frees the record */
  registry_remove_locked(m);
  pthread_mutex_unlock(&registry_lock);

  CHECK_NAPI(env, napi_get_boolean(env, true, &result));
  return result;
}

/* ------------------------------------------------------------------------ */
/* futexWait / futexWake: the hot path.                                     */
/* ------------------------------------------------------------------------ */

/* Resolve (ab, byteOffset) to an aligned 32-bit word inside the buffer. */
static uint32_t *word_at(napi_env env, napi_value abv, napi_value offv) {
  void *data;
  size_t len;
  double off;
  if (!is_arraybuffer(env, abv) || napi_get_arraybuffer_info(env, abv, &data, &len) != napi_ok) {
    if (!is_exception_pending(env))
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an ArrayBuffer returned by open() or mapFd()");
    return NULL;
  }
  if (napi_get_value_double(env, offv, &off) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "byteOffset must be a number");
    return NULL;
  }
  /* !(off >= 0) also catches NaN. */
  if (!(off >= 0) || off != floor(off) || off + 4 > (double)len) {
    char msg[160];
    snprintf(msg, sizeof msg, "byteOffset %g is outside the buffer (byteLength %zu; an unmapped buffer has 0)", off,
             len);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return NULL;
  }
  size_t o = (size_t)off;
  if ((o & 3) != 0 || (((uintptr_t)data + o) & 3) != 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "byteOffset %zu is not 4-byte aligned", o);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return NULL;
  }
  return (uint32_t *)((char *)data + o);
}

static napi_value js_futex_wait(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 4) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "futexWait(ab, byteOffset, expected, timeoutMs) needs 4 arguments");
    return NULL;
  }
  uint32_t *word = word_at(env, argv[0], argv[1]);
  if (!word) return NULL;
  int32_t expected;
  double timeout_ms;
  if (napi_get_value_int32(env, argv[2], &expected) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected must be a number");
    return NULL;
  }
  if (napi_get_value_double(env, argv[3], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "timeoutMs must be a number");
    return NULL;
  }

  int code;
  struct timespec ts, *tsp = NULL;
  /* Negative, NaN or +Infinity: no timeout (like Atomics.wait for NaN/Infinity). */
  if (timeout_ms >= 0 && timeout_ms < 9.2e15) {
    double secs = floor(timeout_ms / 1000.0);
    ts.tv_sec = (time_t)secs;
    ts.tv_nsec = (long)((timeout_ms - secs * 1000.0) * 1e6);
    if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
    if (ts.tv_nsec < 0) ts.tv_nsec = 0;
    tsp = &ts;
  }

  /*
   * A zero timeout needs no syscall: the kernel would arm a timer and sleep
   * for the timer slack (~50 us by default) before reporting ETIMEDOUT.
   */
  if (tsp && ts.tv_sec == 0 && ts.tv_nsec == 0) {
    code = __atomic_load_n(word, __ATOMIC_SEQ_CST) == (uint32_t)expected ? WAIT_TIMED_OUT : WAIT_NOT_EQUAL;
    goto done;
  }

  /* FUTEX_WAIT, not FUTEX_WAIT_PRIVATE: the word is shared with other processes. */
  long r = syscall(SYS_futex, word, FUTEX_WAIT, (uint32_t)expected, tsp, NULL, 0);
  if (r == 0) {
    code = WAIT_OK;
  } else {
    switch (errno) {
      case EAGAIN: code = WAIT_NOT_EQUAL; break;
      case ETIMEDOUT: code = WAIT_TIMED_OUT; break;
      case EINTR: code = WAIT_OK; break; /* the caller re-checks the word */
      default: {
        int e = errno;
        char msg[128];
        snprintf(msg, sizeof msg, "%s: futex(FUTEX_WAIT): %s", errno_name(e), strerror(e));
        throw_sys_error(env, e, NULL, "futex", NULL, msg);
        return NULL;
      }
    }
  }
done:
  if (napi_create_int32(env, code, &result) != napi_ok) return NULL;
  return result;
}

static napi_value js_futex_wake(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "futexWake(ab, byteOffset, count?) needs at least 2 arguments");
    return NULL;
  }
  uint32_t *word = word_at(env, argv[0], argv[1]);
  if (!word) return NULL;
  int count = INT_MAX;
  if (argc >= 3) {
    double c;
    napi_valuetype t;
    if (napi_typeof(env, argv[2], &t) != napi_ok) return NULL;
    if (t != napi_undefined) {
      if (napi_get_value_double(env, argv[2], &c) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "count must be a number");
        return NULL;
      }
      if (!(c >= 0)) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count must be >= 0");
        return NULL;
      }
      count = c >= (double)INT_MAX ? INT_MAX : (int)c;
    }
  }
  long r = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
  if (r < 0) {
    int e = errno;
    char msg[128];
    snprintf(msg, sizeof msg, "%s: futex(FUTEX_WAKE): %s", errno_name(e), strerror(e));
    throw_sys_error(env, e, NULL, "futex", NULL, msg);
    return NULL;
  }
  if (napi_create_int32(env, (int32_t)r, &result) != napi_ok) return NULL;
  return result;
}

/* ------------------------------------------------------------------------ */
/* flock(fd, mode, wait) -> boolean                                         */
/* ------------------------------------------------------------------------ */

/* Read a file descriptor argument: an integer in [0, INT_MAX]. */
static int get_fd(napi_env env, napi_value v, const char *what, int *out) {
  uint64_t fd64;
  if (!get_index(env, v, what, &fd64)) return 0;
  if (fd64 > (uint64_t)INT_MAX) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a file descriptor (<= %d)", what, INT_MAX);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (int)fd64;
  return 1;
}

/* "exclusive" -> LOCK_EX, "shared" -> LOCK_SH, "unlock" -> LOCK_UN; -1 (thrown) otherwise. */
static int get_flock_op(napi_env env, napi_value v) {
  char mode[16];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, mode, sizeof mode, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mode must be 'exclusive', 'shared' or 'unlock'");
    return -1;
  }
  /* len == strlen: no embedded NUL. A longer string is cut to 15 bytes and matches nothing. */
  if (len == strlen(mode)) {
    if (strcmp(mode, "exclusive") == 0) return LOCK_EX;
    if (strcmp(mode, "shared") == 0) return LOCK_SH;
    if (strcmp(mode, "unlock") == 0) return LOCK_UN;
  }
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "mode must be 'exclusive', 'shared' or 'unlock'");
  return -1;
}

/*
 * flock(2) on an open fd. wait=false adds LOCK_NB and answers false when the
 * lock is held elsewhere (EWOULDBLOCK); wait=true blocks the calling thread
 * until the lock is granted. EINTR is retried; any other error throws.
 */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "flock(fd, mode, wait) needs 3 arguments");
    return NULL;
  }
  int fd;
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  int op = get_flock_op(env, argv[1]);
  if (op < 0) return NULL;
  bool wait;
  if (napi_get_value_bool(env, argv[2], &wait) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "wait must be a boolean");
    return NULL;
  }
  if (!wait) op |= LOCK_NB;

  int r;
  do {
    r = flock(fd, op);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    int e = errno;
    if (e == EWOULDBLOCK && !wait) {
      CHECK_NAPI(env, napi_get_boolean(env, false, &result));
      return result;
    }
    char msg[160];
    const char *what = (op & ~LOCK_NB) == LOCK_EX ? "exclusive" : (op & ~LOCK_NB) == LOCK_SH ? "shared" : "unlock";
    snprintf(msg, sizeof msg, "%s: flock(fd %d, %s%s): %s", errno_name(e), fd, what, wait ? "" : ", no wait",
             strerror(e));
    throw_sys_error(env, e, NULL, "flock", NULL, msg);
    return NULL;
  }
  CHECK_NAPI(env, napi_get_boolean(env, true, &result));
  return result;
}

/* ------------------------------------------------------------------------ */
/* msync(ab), pageSize()                                                    */
/* ------------------------------------------------------------------------ */

static napi_value js_msync(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "msync(ab) needs an ArrayBuffer");
    return NULL;
  }
  void *data;
  size_t len;
  if (!get_arraybuffer(env, argv[0], &data, &len)) return NULL;
  pthread_mutex_lock(&registry_lock);
  mapping *m = data ? registry_find_locked(data) : NULL;
  int ok = m && m->length == len;
  pthread_mutex_unlock(&registry_lock);
  if (!ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "msync: this ArrayBuffer is not a live mapping returned by open() or mapFd() (unmapped?)");
    return NULL;
  }
  if (msync(data, len, MS_SYNC) != 0) {
    int e = errno;
    char msg[128];
    snprintf(msg, sizeof msg, "%s: msync: %s", errno_name(e), strerror(e));
    throw_sys_error(env, e, NULL, "msync", NULL, msg);
    return NULL;
  }
  return NULL; /* undefined */
}

static napi_value js_page_size(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  long ps = sysconf(_SC_PAGESIZE);
  CHECK_NAPI(env, napi_create_int64(env, ps > 0 ? ps : 4096, &result));
  return result;
}

static napi_value js_sched_yield(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  sched_yield();
  return NULL; /* undefined */
}

/* ------------------------------------------------------------------------ */
/* Shared utilities for the fd functions (slow path only).                  */
/* ------------------------------------------------------------------------ */

/* Throw "<ERRNO>: <what>: <strerror>" with code/errno/syscall set. */
static void throw_errno(napi_env env, int err, const char *syscall_name, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s: %s", errno_name(err), what, strerror(err));
  throw_sys_error(env, err, NULL, syscall_name, NULL, msg);
}

/* A mapping length: an integer > 0 that fits size_t and off_t. */
static int get_length(napi_env env, napi_value v, size_t *out) {
  uint64_t len64;
  if (!get_index(env, v, "length", &len64)) return 0;
  if (len64 == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "length must be > 0");
    return 0;
  }
  if (len64 > (uint64_t)SIZE_MAX || len64 > (uint64_t)INT64_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "length is too large for this platform");
    return 0;
  }
  *out = (size_t)len64;
  return 1;
}

static int get_bool_arg(napi_env env, napi_value v, const char *what, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a boolean", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  *out = b ? 1 : 0;
  return 1;
}

/*
 * A JS string as a malloc'd NUL-terminated UTF-8 copy (caller frees).
 * `max_bytes` bounds its UTF-8 length; embedded NULs are refused when
 * `no_nul`. On failure an exception is pending and NULL is returned.
 */
static char *get_utf8(napi_env env, napi_value v, const char *what, size_t max_bytes, int no_nul, size_t *len_out) {
  char msg[160];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a string", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
  }
  if (len > max_bytes) {
    snprintf(msg, sizeof msg, "%s is %zu bytes in UTF-8, more than the %zu allowed", what, len, max_bytes);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return NULL;
  }
  char *buf = (char *)malloc(len + 1);
  if (!buf) {
    napi_throw_error(env, "ENOMEM", "vfun_shm: out of memory");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, v, buf, len + 1, &len) != napi_ok) {
    free(buf);
    if (!is_exception_pending(env)) napi_throw_error(env, NULL, "vfun_shm: napi_get_value_string_utf8 failed");
    return NULL;
  }
  if (no_nul && strlen(buf) != len) {
    free(buf);
    snprintf(msg, sizeof msg, "%s must not contain NUL characters", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return NULL;
  }
  if (len_out) *len_out = len;
  return buf;
}

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * poll() one fd for `events` until `deadline` (monotonic ms), retrying
 * EINTR with the time left. 1: ready (including POLLERR/POLLHUP: the next
 * call reports it), 0: deadline passed, -1: poll failed (errno set).
 */
static int wait_fd_until(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) return 0;
    struct pollfd p = {.fd = fd, .events = events, .revents = 0};
    int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return -1;
  }
}

static void close_fds(const int *fds, int n) {
  for (int i = 0; i < n; i++) close(fds[i]);
}

/* ------------------------------------------------------------------------ */
/* Sealed memfds: memfdCreate(name, length), memfdSeals(fd)                 */
/*                                                                          */
/* A region handed to a tenant or a service is a memfd whose size is sealed */
/* (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL): nobody holding the fd can   */
/* truncate it under a mapping (the SIGBUS a truncated mapped file raises)  */
/* nor grow it. Its memory is reserved at creation (fallocate), so running  */
/* out of memory is an error here rather than a fault on first touch.       */
/* ------------------------------------------------------------------------ */

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U /* Linux 6.3 */
#endif
#define MEMFD_NAME_MAX 249 /* the kernel's limit (NAME_MAX minus "memfd:") */
#define MEMFD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/*
 * memfd_create with MFD_NOEXEC_SEAL where the kernel has it (6.3+: the file
 * can never be made executable, and vm.memfd_noexec=2 refuses memfds without
 * it); older kernels answer EINVAL to the unknown flag and get the plain call.
 */
static int memfd_open(const char *name) {
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  return fd;
}

/* Reserve by writing zeros page by page, for filesystems without fallocate. 0 or errno. */
static int reserve_by_writing(int fd, uint64_t length) {
  static const char zeros[4096];
  uint64_t off = 0;
  while (off < length) {
    size_t n = length - off < sizeof zeros ? (size_t)(length - off) : sizeof zeros;
    ssize_t w = pwrite(fd, zeros, n, (off_t)off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return ENOSPC;
    off += (uint64_t)w;
  }
  return 0;
}

/* Allocate every page of [0, length) now. 0 or errno; *call names the failing syscall. */
static int reserve_memory(int fd, uint64_t length, const char **call) {
  int r;
  do {
    r = fallocate(fd, 0, 0, (off_t)length);
  } while (r != 0 && errno == EINTR);
  if (r == 0) return 0;
  if (errno != EOPNOTSUPP) {
    *call = "fallocate";
    return errno;
  }
  *call = "pwrite";
  return reserve_by_writing(fd, length);
}

/* RAM + swap in bytes: an upper bound no reservation can pass. */
static uint64_t memory_ceiling(void) {
  struct sysinfo si;
  if (sysinfo(&si) != 0) return UINT64_MAX;
  return ((uint64_t)si.totalram + (uint64_t)si.totalswap) * (uint64_t)si.mem_unit;
}

static napi_value js_memfd_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "memfdCreate(name, length) needs 2 arguments");
    return NULL;
  }
  size_t length;
  if (!get_length(env, argv[1], &length)) return NULL;
  char *name = get_utf8(env, argv[0], "name", MEMFD_NAME_MAX, 1, NULL);
  if (!name) return NULL;

  char what[MEMFD_NAME_MAX + 128];
  uint64_t ceiling = memory_ceiling();
  if ((uint64_t)length > ceiling) {
    char msg[MEMFD_NAME_MAX + 256];
    snprintf(msg, sizeof msg,
             "ENOMEM: memfd '%s' of %zu bytes: more than this machine's RAM + swap (%llu bytes); refusing to reserve it",
             name, length, (unsigned long long)ceiling);
    free(name);
    throw_sys_error(env, ENOMEM, NULL, NULL, NULL, msg);
    return NULL;
  }

  int fd = memfd_open(name);
  if (fd < 0) {
    int e = errno;
    snprintf(what, sizeof what, "memfd_create '%s'", name);
    free(name);
    throw_errno(env, e, "memfd_create", what);
    return NULL;
  }

  const char *call = "ftruncate";
  int e = 0, r;
  do {
    r = ftruncate(fd, (off_t)length);
  } while (r != 0 && errno == EINTR);
  if (r != 0) e = errno;
  if (e == 0) e = reserve_memory(fd, length, &call);
  if (e == 0 && fcntl(fd, F_ADD_SEALS, MEMFD_SEALS) != 0) {
    e = errno;
    call = "fcntl";
  }
  if (e != 0) {
    close(fd);
    if (strcmp(call, "fcntl") == 0)
      snprintf(what, sizeof what, "fcntl(F_ADD_SEALS) on memfd '%s'", name);
    else
      snprintf(what, sizeof what, "%s memfd '%s' to %zu bytes%s", call, name, length,
               strcmp(call, "ftruncate") == 0 ? "" : " (reserving its memory)");
    free(name);
    throw_errno(env, e, call, what);
    return NULL;
  }
  free(name);
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    if (!is_exception_pending(env)) napi_throw_error(env, NULL, "vfun_shm: napi_create_int32 failed");
    return NULL;
  }
  return result;
}

static napi_value js_memfd_seals(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "memfdSeals(fd) needs a file descriptor");
    return NULL;
  }
  int fd;
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    int e = errno;
    char what[96];
    snprintf(what, sizeof what, "fcntl(fd %d, F_GET_SEALS)%s", fd, e == EINVAL ? " (not a memfd?)" : "");
    throw_errno(env, e, "fcntl", what);
    return NULL;
  }
  CHECK_NAPI(env, napi_create_int32(env, seals, &result));
  return result;
}

/* ------------------------------------------------------------------------ */
/* mapFd(fd, length, writable) -> ArrayBuffer                               */
/* ------------------------------------------------------------------------ */

static napi_value js_map_fd(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "mapFd(fd, length, writable) needs 3 arguments");
    return NULL;
  }
  int fd, writable;
  size_t length;
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  if (!get_length(env, argv[1], &length)) return NULL;
  if (!get_bool_arg(env, argv[2], "writable", &writable)) return NULL;

  char msg[256];
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    snprintf(msg, sizeof msg, "fstat fd %d", fd);
    throw_errno(env, e, "fstat", msg);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(msg, sizeof msg, "EINVAL: fd %d is not a regular file; refusing to map it", fd);
    throw_sys_error(env, EINVAL, "ERR_NOT_REGULAR_FILE", "mapFd", NULL, msg);
    return NULL;
  }
  if ((uint64_t)st.st_size < (uint64_t)length) {
    snprintf(msg, sizeof msg, "fd %d is %lld bytes, smaller than the %zu bytes requested; refusing to map past its end",
             fd, (long long)st.st_size, length);
    throw_sys_error(env, 0, "ERR_FILE_TOO_SMALL", "mapFd", NULL, msg);
    return NULL;
  }
  void *addr = mmap(NULL, length, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) {
    int e = errno;
    snprintf(msg, sizeof msg, "mmap fd %d (%zu bytes, %s, MAP_SHARED)", fd, length, writable ? "read-write" : "read-only");
    throw_errno(env, e, "mmap", msg);
    return NULL;
  }
  return wrap_mapping(env, addr, length);
}

/* ------------------------------------------------------------------------ */
/* Passing fds over a Unix socket (SCM_RIGHTS)                              */
/*   sendFds(socketFd, data, fds): the server side, on a connected socket   */
/*   fetchFds(path, request, timeoutMs): a synchronous one-line client      */
/* ------------------------------------------------------------------------ */

#define SEND_MAX_FDS 8
#define SEND_STALL_MS 1000
#define FETCH_LINE_MAX 65536 /* bytes in the answer line, without its '\n' */
#define FETCH_MAX_FDS 64     /* fds over the whole answer */
#define SCM_MAX_FDS 253      /* the kernel's SCM_MAX_FD: fds one message can carry */
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* One SCM_RIGHTS control message with `n` fds into `ctl` (CMSG_SPACE(n ints) bytes). */
static void put_rights(struct msghdr *msg, char *ctl, size_t ctl_len, const int *fds, int n) {
  memset(ctl, 0, ctl_len);
  msg->msg_control = ctl;
  msg->msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
  struct cmsghdr *c = CMSG_FIRSTHDR(msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
}

/*
 * Write all of buf to a (maybe non-blocking) stream socket, the fds riding
 * on the first bytes that go out. EINTR retried; EAGAIN waits for POLLOUT,
 * at most SEND_STALL_MS without progress (then ETIMEDOUT). 0 or errno;
 * *call names the failing syscall.
 */
static int send_with_fds(int sock, const char *buf, size_t len, const int *fds, int nfds, const char **call) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * SEND_MAX_FDS)];
  } ctl;
  size_t off = 0;
  int fds_sent = nfds == 0;
  while (off < len) {
    struct iovec iov = {.iov_base = (void *)(buf + off), .iov_len = len - off};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds_sent) put_rights(&msg, ctl.buf, sizeof ctl.buf, fds, nfds);
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      fds_sent = 1;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = wait_fd_until(sock, POLLOUT, monotonic_ms() + SEND_STALL_MS);
      if (r > 0) continue;
      *call = "poll";
      return r == 0 ? ETIMEDOUT : errno;
    }
    *call = "sendmsg";
    return n < 0 ? errno : EIO;
  }
  return 0;
}

/* Read the fds array argument of sendFds: 1..SEND_MAX_FDS fds. Returns the count, -1 if thrown. */
static int get_fd_array(napi_env env, napi_value v, int *fds) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fds must be an array of file descriptors");
    return -1;
  }
  if (napi_get_array_length(env, v, &n) != napi_ok) return -1;
  if (n < 1 || n > SEND_MAX_FDS) {
    char msg[96];
    snprintf(msg, sizeof msg, "fds must hold 1 to %d file descriptors, got %u", SEND_MAX_FDS, n);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok) return -1;
    if (!get_fd(env, e, "fds[i]", &fds[i])) return -1;
  }
  return (int)n;
}

static napi_value js_send_fds(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "sendFds(socketFd, data, fds) needs 3 arguments");
    return NULL;
  }
  int sock, fds[SEND_MAX_FDS];
  if (!get_fd(env, argv[0], "socketFd", &sock)) return NULL;
  int nfds = get_fd_array(env, argv[2], fds);
  if (nfds < 0) return NULL;
  size_t len;
  char *data = get_utf8(env, argv[1], "data", SIZE_MAX / 2, 0, &len);
  if (!data) return NULL;
  if (len == 0) {
    free(data);
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "data must not be empty: the fds travel with its first byte");
    return NULL;
  }
  const char *call = "sendmsg";
  int e = send_with_fds(sock, data, len, fds, nfds, &call);
  free(data);
  if (e != 0) {
    char what[160];
    snprintf(what, sizeof what, "%s on socket fd %d (%zu bytes, %d fds)%s", call, sock, len, nfds,
             e == ETIMEDOUT ? ": the peer read nothing for 1000 ms" : "");
    throw_errno(env, e, call, what);
    return NULL;
  }
  return NULL; /* undefined */
}

/* The state of one fetchFds exchange: everything its error paths must release. */
typedef struct {
  int sock;
  int fds[FETCH_MAX_FDS];
  int nfds;
  int extra_fds; /* fds beyond FETCH_MAX_FDS, closed on arrival */
  char *buf;     /* FETCH_LINE_MAX + 1 bytes */
  size_t len;
  const char *path;
  double timeout_ms;
} fetch_state;

static void fetch_release(fetch_state *s, int keep_fds) {
  if (s->sock >= 0) close(s->sock);
  s->sock = -1;
  if (!keep_fds) close_fds(s->fds, s->nfds);
  s->nfds = 0;
  free(s->buf);
  s->buf = NULL;
}

static void fetch_throw(napi_env env, fetch_state *s, int err, const char *code, const char *call, const char *what) {
  char msg[PATH_MAX + 256];
  if (code)
    snprintf(msg, sizeof msg, "%s: %s", s->path, what);
  else
    snprintf(msg, sizeof msg, "%s: %s '%s': %s", errno_name(err), what, s->path, strerror(err));
  throw_sys_error(env, err, code, call, s->path, msg);
}

static void fetch_throw_timeout(napi_env env, fetch_state *s, const char *while_doing) {
  char msg[PATH_MAX + 320];
  snprintf(msg, sizeof msg, "ETIMEDOUT: fetchFds '%s': the %g ms deadline passed %s", s->path, s->timeout_ms,
           while_doing);
  throw_sys_error(env, ETIMEDOUT, NULL, "poll", s->path, msg);
}

/* Non-blocking connect; a full listen backlog (EAGAIN) is retried every 10 ms until the deadline. */
static int fetch_connect(napi_env env, fetch_state *s, int64_t deadline) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  memcpy(addr.sun_path, s->path, strlen(s->path) + 1);
  s->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->sock < 0) {
    fetch_throw(env, s, errno, NULL, "socket", "socket(AF_UNIX) for");
    return 0;
  }
  for (;;) {
    if (connect(s->sock, (struct sockaddr *)&addr, sizeof addr) == 0 || errno == EISCONN) return 1;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      fetch_throw(env, s, errno, NULL, "connect", "connect to");
      return 0;
    }
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) {
      fetch_throw_timeout(env, s, "while connecting (the server's listen backlog stayed full)");
      return 0;
    }
    poll(NULL, 0, left < 10 ? (int)left : 10);
  }
}

static int fetch_send_request(napi_env env, fetch_state *s, const char *req, size_t len, int64_t deadline) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(s->sock, req + off, len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = wait_fd_until(s->sock, POLLOUT, deadline);
      if (r > 0) continue;
      if (r == 0) fetch_throw_timeout(env, s, "while sending the request");
      else fetch_throw(env, s, errno, NULL, "poll", "poll (sending the request) on");
      return 0;
    }
    fetch_throw(env, s, n < 0 ? errno : EIO, NULL, "send", "sending the request to");
    return 0;
  }
  return 1;
}

/* Take every fd out of the SCM_RIGHTS messages of one recvmsg (keeping FETCH_MAX_FDS at most). */
static void fetch_collect_fds(fetch_state *s, struct msghdr *msg) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char *p = CMSG_DATA(c);
    for (size_t i = 0; i < n; i++) {
      int fd;
      memcpy(&fd, p + i * sizeof(int), sizeof fd);
      if (s->nfds < FETCH_MAX_FDS) {
        s->fds[s->nfds++] = fd;
      } else {
        close(fd);
        s->extra_fds++;
      }
    }
  }
}

/* Receive until a '\n'; *line_len gets the line's length without it. */
static int fetch_recv_line(napi_env env, fetch_state *s, int64_t deadline, size_t *line_len) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * SCM_MAX_FDS)];
  } ctl;
  char what[160];
  size_t scanned = 0;
  for (;;) {
    char *nl = memchr(s->buf + scanned, '\n', s->len - scanned);
    if (nl) {
      *line_len = (size_t)(nl - s->buf);
      return 1;
    }
    scanned = s->len;
    if (s->len == FETCH_LINE_MAX + 1) {
      snprintf(what, sizeof what, "the answer has no newline within %d bytes; lines over %d bytes are refused",
               FETCH_LINE_MAX + 1, FETCH_LINE_MAX);
      fetch_throw(env, s, 0, "ERR_LINE_TOO_LONG", "recvmsg", what);
      return 0;
    }
    int r = wait_fd_until(s->sock, POLLIN, deadline);
    if (r == 0) {
      snprintf(what, sizeof what, "while waiting for the answer (%zu bytes and %d fds so far, no newline)", s->len,
               s->nfds);
      fetch_throw_timeout(env, s, what);
      return 0;
    }
    if (r < 0) {
      fetch_throw(env, s, errno, NULL, "poll", "poll (waiting for the answer) on");
      return 0;
    }
    struct iovec iov = {.iov_base = s->buf + s->len, .iov_len = FETCH_LINE_MAX + 1 - s->len};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    ssize_t n = recvmsg(s->sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      fetch_throw(env, s, errno, NULL, "recvmsg", "receiving the answer from");
      return 0;
    }
    fetch_collect_fds(s, &msg);
    if (msg.msg_flags & MSG_CTRUNC) {
      fetch_throw(env, s, 0, "ERR_FDS_TRUNCATED", "recvmsg",
                  "fds sent with the answer were dropped by the kernel (MSG_CTRUNC: this process is at its open-file "
                  "limit, RLIMIT_NOFILE)");
      return 0;
    }
    if (s->extra_fds > 0) {
      snprintf(what, sizeof what, "the answer carries more than %d fds; refused", FETCH_MAX_FDS);
      fetch_throw(env, s, 0, "ERR_TOO_MANY_FDS", "recvmsg", what);
      return 0;
    }
    if (n == 0) {
      snprintf(what, sizeof what, "the server closed the connection after %zu bytes without a newline", s->len);
      fetch_throw(env, s, 0, "ERR_NO_ANSWER", "recvmsg", what);
      return 0;
    }
    s->len += (size_t)n;
  }
}

/* { line, fds } for JS. 0 (thrown) on failure; the caller still owns the fds. */
static napi_value fetch_result(napi_env env, fetch_state *s, size_t line_len) {
  napi_value obj, line, arr, v;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, s->buf, line_len, &line) != napi_ok) return NULL;
  if (napi_create_array_with_length(env, (size_t)s->nfds, &arr) != napi_ok) return NULL;
  for (int i = 0; i < s->nfds; i++) {
    if (napi_create_int32(env, s->fds[i], &v) != napi_ok) return NULL;
    if (napi_set_element(env, arr, (uint32_t)i, v) != napi_ok) return NULL;
  }
  if (napi_set_named_property(env, obj, "line", line) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, "fds", arr) != napi_ok) return NULL;
  return obj;
}

/* Read fetchFds' request: exactly one line ending in '\n'. */
static char *get_request(napi_env env, napi_value v, size_t *len) {
  char *req = get_utf8(env, v, "request", FETCH_LINE_MAX + 1, 1, len);
  if (!req) return NULL;
  char *nl = memchr(req, '\n', *len);
  if (*len == 0 || nl != req + *len - 1) {
    free(req);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "request must be exactly one line ending in '\\n'");
    return NULL;
  }
  return req;
}

static napi_value js_fetch_fds(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "fetchFds(socketPath, request, timeoutMs) needs 3 arguments");
    return NULL;
  }
  double timeout_ms;
  if (napi_get_value_double(env, argv[2], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "timeoutMs must be a number");
    return NULL;
  }
  if (!(timeout_ms > 0) || timeout_ms > (double)INT_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "timeoutMs must be > 0 and finite (at most 2^31-1)");
    return NULL;
  }
  int64_t deadline = monotonic_ms() + (int64_t)ceil(timeout_ms);

  char *path = get_utf8(env, argv[0], "socketPath", SUN_PATH_MAX, 1, NULL);
  if (!path) return NULL;
  if (path[0] == '\0') {
    free(path);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "socketPath must not be empty");
    return NULL;
  }
  size_t req_len;
  char *req = get_request(env, argv[1], &req_len);
  if (!req) {
    free(path);
    return NULL;
  }

  fetch_state s = {.sock = -1, .nfds = 0, .extra_fds = 0, .buf = NULL, .len = 0, .path = path, .timeout_ms = timeout_ms};
  napi_value result = NULL;
  size_t line_len = 0;
  s.buf = (char *)malloc(FETCH_LINE_MAX + 1);
  if (!s.buf) napi_throw_error(env, "ENOMEM", "vfun_shm: out of memory");
  else if (fetch_connect(env, &s, deadline) && fetch_send_request(env, &s, req, req_len, deadline) &&
           fetch_recv_line(env, &s, deadline, &line_len))
    result = fetch_result(env, &s, line_len);
  if (!result && !is_exception_pending(env)) napi_throw_error(env, NULL, "vfun_shm: building the fetchFds result failed");
  fetch_release(&s, result != NULL);
  free(req);
  free(path);
  return result;
}

/* ------------------------------------------------------------------------ */
/* sandboxSelf(opts), sandboxState()                                        */
/*                                                                          */
/* For a function service process: no_new_privs, not dumpable (a same-uid  */
/* process can then neither ptrace it nor open /proc/<pid>/mem or           */
/* /proc/<pid>/fd/...), a parent-death signal, and a seccomp filter that    */
/* answers EPERM to syscalls a service never needs. The filter goes on      */
/* every thread of the process (SECCOMP_FILTER_FLAG_TSYNC, which also sets  */
/* no_new_privs on them): Node's libuv pool threads run fs calls too.       */
/* ------------------------------------------------------------------------ */

#if defined(__x86_64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* Syscall numbers newer than some libc headers (the same on x86_64 and aarch64). */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
#endif
#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise 440
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef __NR_quotactl_fd
#define __NR_quotactl_fd 443
#endif

#ifdef SANDBOX_AUDIT_ARCH
/*
 * Denied with EPERM; docs/native.md gives the reasons. In short:
 * - another process's memory or fds: ptrace, process_vm_readv/writev,
 *   pidfd_getfd, process_madvise;
 * - namespaces and mounts (the way to privileges a service has no business
 *   with): setns, unshare (and clone with CLONE_NEW* flags, below), mount,
 *   umount2, pivot_root, chroot and the new mount API;
 * - the machine's state: swapon/off, reboot, kexec_load, kexec_file_load,
 *   init/finit/delete_module, acct, settimeofday, clock_settime, adjtimex,
 *   clock_adjtime, iopl, ioperm, quotactl, quotactl_fd;
 * - kernel attack surface a service never uses: bpf, perf_event_open,
 *   keyctl, add_key, request_key, userfaultfd, io_uring (whose requests
 *   run outside this filter, ftruncate and fallocate among them),
 *   open_by_handle_at, name_to_handle_at;
 * - resizing a file: ftruncate, truncate, fallocate (a service must never
 *   resize a shared mapping; fallocate also punches holes, which the size
 *   seals do not stop).
 */
static const unsigned denied_syscalls[] = {
    __NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_pidfd_getfd, __NR_process_madvise,
    __NR_setns, __NR_unshare, __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot, __NR_open_tree,
    __NR_move_mount, __NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick, __NR_mount_setattr,
    __NR_swapon, __NR_swapoff, __NR_reboot, __NR_kexec_load, __NR_kexec_file_load, __NR_init_module,
    __NR_finit_module, __NR_delete_module, __NR_acct, __NR_settimeofday, __NR_clock_settime, __NR_adjtimex,
    __NR_clock_adjtime,
#ifdef __NR_iopl
    __NR_iopl,
#endif
#ifdef __NR_ioperm
    __NR_ioperm,
#endif
    __NR_quotactl, __NR_quotactl_fd, __NR_bpf, __NR_perf_event_open, __NR_keyctl, __NR_add_key,
    __NR_request_key, __NR_userfaultfd, __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
    __NR_open_by_handle_at, __NR_name_to_handle_at, __NR_ftruncate, __NR_truncate, __NR_fallocate,
};

#define CLONE_NS_FLAGS \
  (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define SECCOMP_DATA_ARG0_LO \
  (offsetof(struct seccomp_data, args) + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 4))
/* io_uring instances open when the filter goes on (libuv's), whose io_uring_enter stays allowed. */
#define MAX_RINGS 16
#define FILTER_MAX (16 + 2 * (sizeof denied_syscalls / sizeof denied_syscalls[0]) + 4 + MAX_RINGS)

/*
 * The io_uring instances this process has open: the fds in /proc/self/fd that
 * link to anon_inode:[io_uring]. On Node 24 (not Node 20) libuv sets one up per event
 * loop at start-up (batching epoll_ctl) and aborts the process when
 * io_uring_enter on it fails, so the filter must leave exactly those usable;
 * Node 20 has none. Returns how many (at most max), -1 with errno on failure,
 * or max + 1 when there are more.
 */
static int open_rings(int *fds, int max) {
  char link[64], path[64];
  int n = 0;
  int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  DIR *d = fdopendir(dfd);
  if (!d) {
    int e = errno;
    close(dfd);
    errno = e;
    return -1;
  }
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL) {
    char *end;
    long fd = strtol(ent->d_name, &end, 10);
    if (*end != '\0' || end == ent->d_name || fd == dfd) continue;
    snprintf(path, sizeof path, "/proc/self/fd/%ld", fd);
    ssize_t len = readlink(path, link, sizeof link - 1);
    if (len < 0) continue; /* closed meanwhile */
    link[len] = '\0';
    if (strcmp(link, "anon_inode:[io_uring]") != 0) continue;
    if (n == max) {
      n = max + 1;
      break;
    }
    fds[n++] = (int)fd;
  }
  closedir(d);
  return n;
}

/*
 * The filter, in order:
 *  - a foreign architecture (i386 or arm32 compat calls) -> EPERM for
 *    everything: the deny list is by syscall number, which means nothing
 *    there, and Node makes no such calls (no kill: a stray call fails);
 *  - x86_64 only: x32 numbers (bit 30) -> EPERM, same reason;
 *  - io_uring_enter on an io_uring instance open when the filter went on
 *    (libuv's own: Node 24 aborts when it cannot use it) -> allow, on any
 *    other fd -> EPERM; no new instance can be made (io_uring_setup is
 *    denied), nor registered into (io_uring_register);
 *  - each denied number -> EPERM;
 *  - clone3 -> ENOSYS: its flags sit in memory the filter cannot read;
 *    glibc then falls back to clone, whose flags it can;
 *  - clone with any CLONE_NEW* flag -> EPERM (a namespace, like unshare);
 *  - everything else -> allow.
 * Every rule depends on the number alone except clone's and io_uring_enter's,
 * so the kernel's per-syscall cache (5.11+) skips the filter for the allowed calls.
 */
static unsigned short build_filter(struct sock_filter *f, const int *rings, int nrings) {
  unsigned short n = 0;
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_AUDIT_ARCH, 1, 0);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
#endif
  /* io_uring_enter: allowed on the instances open now (libuv's), EPERM on any other fd. */
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 0, (unsigned char)(nrings + 3));
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARG0_LO);
  for (int i = 0; i < nrings; i++)
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)rings[i], (unsigned char)(nrings - i), 0);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  for (size_t i = 0; i < sizeof denied_syscalls / sizeof denied_syscalls[0]; i++) {
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, denied_syscalls[i], 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  }
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(ENOSYS));
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARG0_LO);
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NS_FLAGS, 0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM));
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  return n;
}

/* Install the filter on every thread. 0 or errno; *call names the failing step. */
static int install_filter(const char **call) {
  int rings[MAX_RINGS];
  int nrings = open_rings(rings, MAX_RINGS);
  *call = "open(/proc/self/fd)";
  if (nrings < 0) return errno;
  if (nrings > MAX_RINGS) return EMFILE;
  struct sock_filter f[FILTER_MAX];
  struct sock_fprog prog = {.len = build_filter(f, rings, nrings), .filter = f};
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  *call = "seccomp";
  if (r == 0) return 0;
  /* r > 0: the id of a thread that could not take it (it has an unrelated filter). */
  return r > 0 ? EBUSY : errno;
}
#endif /* SANDBOX_AUDIT_ARCH */

/* An optional signal-number property: absent/undefined -> -1. */
static int get_signal_prop(napi_env env, napi_value obj, const char *name, int *out) {
  bool has = false;
  napi_value v;
  napi_valuetype t;
  *out = -1;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok) return 0;
  if (!has) return 1;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_undefined) return 1;
  uint64_t sig;
  if (!get_index(env, v, name, &sig)) return 0;
  if (sig > (uint64_t)SIGRTMAX) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a signal number from 0 (none) to %d", name, SIGRTMAX);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (int)sig;
  return 1;
}

static int prctl_or_errno(int option, unsigned long arg) {
  return prctl(option, arg, 0, 0, 0) == 0 ? 0 : errno;
}

static napi_value js_sandbox_self(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype t;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "sandboxSelf(opts) needs { noNewPrivs?, nonDumpable?, parentDeathSignal?, denySyscalls? }");
    return NULL;
  }
  int nnp, nondump, deny, pdeath;
  if (!get_bool_prop(env, argv[0], "noNewPrivs", 0, &nnp)) return NULL;
  if (!get_bool_prop(env, argv[0], "nonDumpable", 0, &nondump)) return NULL;
  if (!get_bool_prop(env, argv[0], "denySyscalls", 0, &deny)) return NULL;
  if (!get_signal_prop(env, argv[0], "parentDeathSignal", &pdeath)) return NULL;

  /* Refuse what cannot be done before changing anything. */
  if (deny) {
#ifndef SANDBOX_AUDIT_ARCH
    throw_sys_error(env, ENOSYS, "ERR_UNSUPPORTED_ARCH", "seccomp", NULL,
                    "denySyscalls: the seccomp filter is written for x86_64 and aarch64 only");
    return NULL;
#endif
    if (!nnp && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                            "denySyscalls needs noNewPrivs: true (a seccomp filter requires no_new_privs)");
      return NULL;
    }
  }

  const char *step = NULL, *call = "prctl";
  int e = 0;
  if (nnp && (e = prctl_or_errno(PR_SET_NO_NEW_PRIVS, 1)) != 0) step = "prctl(PR_SET_NO_NEW_PRIVS, 1)";
  if (!e && nondump && (e = prctl_or_errno(PR_SET_DUMPABLE, 0)) != 0) step = "prctl(PR_SET_DUMPABLE, 0)";
  if (!e && pdeath >= 0 && (e = prctl_or_errno(PR_SET_PDEATHSIG, (unsigned long)pdeath)) != 0)
    step = "prctl(PR_SET_PDEATHSIG)";
#ifdef SANDBOX_AUDIT_ARCH
  if (!e && deny && (e = install_filter(&call)) != 0)
    step = "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)";
#endif
  if (e) {
    throw_errno(env, e, call, step);
    return NULL;
  }
  return NULL; /* undefined */
}

static napi_value js_sandbox_state(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj, v;
  int pdeath = 0;
  int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  int seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  if (prctl(PR_GET_PDEATHSIG, (unsigned long)&pdeath, 0, 0, 0) != 0) pdeath = -1;
  CHECK_NAPI(env, napi_create_object(env, &obj));
  CHECK_NAPI(env, napi_get_boolean(env, nnp == 1, &v));
  CHECK_NAPI(env, napi_set_named_property(env, obj, "noNewPrivs", v));
  CHECK_NAPI(env, napi_get_boolean(env, dumpable == 1, &v));
  CHECK_NAPI(env, napi_set_named_property(env, obj, "dumpable", v));
  CHECK_NAPI(env, napi_create_int32(env, pdeath, &v));
  CHECK_NAPI(env, napi_set_named_property(env, obj, "parentDeathSignal", v));
  CHECK_NAPI(env, napi_create_int32(env, seccomp, &v));
  CHECK_NAPI(env, napi_set_named_property(env, obj, "seccomp", v));
  return obj;
}

/* ------------------------------------------------------------------------ */
/* Module init (context-aware: safe to load from worker threads).           */
/* ------------------------------------------------------------------------ */

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmap", NULL, js_unmap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futexWait", NULL, js_futex_wait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futexWake", NULL, js_futex_wake, NULL, NULL, NULL, napi_enumerable, NULL},
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
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value abi;
  if (napi_create_int32(env, VFUN_SHM_ABI_VERSION, &abi) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "abiVersion", abi) != napi_ok) return NULL;
  return exports;
}
