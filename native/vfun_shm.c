/*
 * vfun_shm: a small N-API addon that maps a file MAP_SHARED as an
 * ArrayBuffer and gives futex wait/wake on 32-bit words of the mapping.
 *
 * It exists because Node has neither mmap nor a blocking wait that works
 * across processes (Atomics.wait only accepts SharedArrayBuffer, which is
 * private to one process). Two processes that map the same file can use
 * Atomics.load/store on an Int32Array over the returned ArrayBuffer and block
 * with futexWait/futexWake here: the futexes are *shared* (FUTEX_WAIT, not
 * FUTEX_WAIT_PRIVATE), so the kernel keys them on (inode, page offset) and
 * both processes meet on the same word.
 *
 * JS API (see src/native/shm.ts for the typed interface):
 *   open(path, length, { create?, writable, mode? }) -> ArrayBuffer
 *   unmap(ab) -> boolean          (true if it unmapped, false if already gone)
 *   futexWait(ab, byteOffset, expected, timeoutMs) -> 0 ok | 1 not-equal | 2 timed out
 *   futexWake(ab, byteOffset, count) -> number of waiters woken
 *   msync(ab) -> undefined
 *   pageSize() -> number
 *   flock(fd, 'exclusive' | 'shared' | 'unlock', wait) -> boolean
 *   abiVersion: number
 *
 * futexWait/futexWake are the hot path: no allocation, no exception unless
 * the arguments are wrong.
 *
 * Linux only. N-API version 8 (Node >= 12.22 / 14.17 / 15.12 / 16).
 */
#define _GNU_SOURCE
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif

#ifndef __linux__
#error "vfun_shm needs Linux (mmap MAP_SHARED + futex)"
#endif

#include <node_api.h>

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
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
/* unmap(ab) -> boolean                                                     */
/* ------------------------------------------------------------------------ */

static int get_arraybuffer(napi_env env, napi_value v, void **data, size_t *len) {
  if (napi_get_arraybuffer_info(env, v, data, len) != napi_ok) {
    if (!is_exception_pending(env))
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an ArrayBuffer returned by open()");
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
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "unmap: this ArrayBuffer is not a live mapping returned by open()");
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
  if (napi_get_arraybuffer_info(env, abv, &data, &len) != napi_ok) {
    if (!is_exception_pending(env))
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an ArrayBuffer returned by open()");
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
                          "msync: this ArrayBuffer is not a live mapping returned by open() (unmapped?)");
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
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value abi;
  if (napi_create_int32(env, VFUN_SHM_ABI_VERSION, &abi) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "abiVersion", abi) != napi_ok) return NULL;
  return exports;
}
