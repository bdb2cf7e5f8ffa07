/*
 * futex.c: futexWait / futexWake, the hot path: no allocation, no exception
 * unless the arguments are wrong. The futexes are *shared* (FUTEX_WAIT, not
 * FUTEX_WAIT_PRIVATE), so the kernel keys them on (inode, page offset) and
 * two processes that map the same file meet on the same word.
 */
#define _GNU_SOURCE
#include "futex.h"

#include "errors.h"
#include "mapping.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>


/* Resolve (ab, byteOffset) to an aligned 32-bit word inside the buffer (futex.h). */
uint32_t *futex_word_at(napi_env env, napi_value abv, napi_value offv) {
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

int futex_read_wait_args(napi_env env, napi_callback_info info, const char *name, futex_wait_args *out) {
  size_t argc = 4;
  napi_value argv[4];
  char msg[128];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  if (argc < 4) {
    snprintf(msg, sizeof msg, "%s(ab, byteOffset, expected, timeoutMs) needs 4 arguments", name);
    napi_throw_type_error(env, "ERR_MISSING_ARGS", msg);
    return -1;
  }
  out->buffer = argv[0];
  out->word = futex_word_at(env, argv[0], argv[1]);
  if (!out->word) return -1;
  int32_t expected;
  double timeout_ms;
  if (napi_get_value_int32(env, argv[2], &expected) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected must be a number");
    return -1;
  }
  if (napi_get_value_double(env, argv[3], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "timeoutMs must be a number");
    return -1;
  }
  out->expected = (uint32_t)expected;
  out->has_timeout = 0;
  /* Negative, NaN or +Infinity: no timeout (like Atomics.wait for NaN/Infinity). */
  if (timeout_ms >= 0 && timeout_ms < 9.2e15) {
    double secs = floor(timeout_ms / 1000.0);
    out->has_timeout = 1;
    out->timeout.tv_sec = (time_t)secs;
    out->timeout.tv_nsec = (long)((timeout_ms - secs * 1000.0) * 1e6);
    if (out->timeout.tv_nsec >= 1000000000L) out->timeout.tv_nsec = 999999999L;
    if (out->timeout.tv_nsec < 0) out->timeout.tv_nsec = 0;
  }
  return 0;
}

int futex_wait_code(long r, int err) {
  if (r == 0) return WAIT_OK;
  switch (err) {
    case EAGAIN: return WAIT_NOT_EQUAL;
    case ETIMEDOUT: return WAIT_TIMED_OUT;
    case EINTR: return WAIT_OK; /* the caller re-checks the word */
    default: return -1;
  }
}

napi_value js_futex_wait(napi_env env, napi_callback_info info) {
  futex_wait_args a;
  napi_value result;
  int code;
  if (futex_read_wait_args(env, info, "futexWait", &a) != 0) return NULL;

  /*
   * A zero timeout needs no syscall: the kernel would arm a timer and sleep
   * for the timer slack (~50 us by default) before reporting ETIMEDOUT.
   */
  if (a.has_timeout && a.timeout.tv_sec == 0 && a.timeout.tv_nsec == 0) {
    code = __atomic_load_n(a.word, __ATOMIC_SEQ_CST) == a.expected ? WAIT_TIMED_OUT : WAIT_NOT_EQUAL;
  } else {
    /* FUTEX_WAIT, not FUTEX_WAIT_PRIVATE: the word is shared with other processes. */
    long r = syscall(SYS_futex, a.word, FUTEX_WAIT, a.expected, a.has_timeout ? &a.timeout : NULL, NULL, 0);
    int e = errno;
    code = futex_wait_code(r, e);
    if (code < 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s: futex(FUTEX_WAIT): %s", errno_name(e), strerror(e));
      throw_sys_error(env, e, NULL, "futex", NULL, msg);
      return NULL;
    }
  }
  if (napi_create_int32(env, code, &result) != napi_ok) return NULL;
  return result;
}

napi_value js_futex_wake(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "futexWake(ab, byteOffset, count?) needs at least 2 arguments");
    return NULL;
  }
  uint32_t *word = futex_word_at(env, argv[0], argv[1]);
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

napi_value js_sched_yield(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  sched_yield();
  return NULL; /* undefined */
}
