/*
 * futex.h: futex wait/wake on a 32-bit word of a mapping, and sched_yield.
 */
#ifndef VFUN_FUTEX_H
#define VFUN_FUTEX_H

#include "addon.h"

#include <stdint.h>
#include <time.h>

/* What futexWait and futexWaitAsync answer. */
#define WAIT_OK 0
#define WAIT_NOT_EQUAL 1
#define WAIT_TIMED_OUT 2

/* The arguments of a futex wait: (ab, byteOffset, expected, timeoutMs). */
typedef struct {
  napi_value buffer;    /* the ArrayBuffer (argv[0]) */
  uint32_t *word;       /* the aligned word in it */
  uint32_t expected;
  int has_timeout;      /* 0: wait without a timeout (negative, NaN or +Infinity) */
  struct timespec timeout;
} futex_wait_args;

/*
 * Read the arguments of `name`(ab, byteOffset, expected, timeoutMs) into *out;
 * 0 on success, -1 with a TypeError / RangeError pending.
 */
int futex_read_wait_args(napi_env env, napi_callback_info info, const char *name, futex_wait_args *out);

/* WAIT_* for the result of syscall(SYS_futex, FUTEX_WAIT...) `r` with errno `err`; -1 for an error to report. */
int futex_wait_code(long r, int err);

/*
 * Resolve (ab, byteOffset) to an aligned 32-bit word of an ArrayBuffer; on a
 * wrong argument a TypeError / RangeError is pending and NULL is returned.
 */
uint32_t *futex_word_at(napi_env env, napi_value abv, napi_value offv);

/* futexWait(ab, byteOffset, expected, timeoutMs) -> 0 ok | 1 not-equal | 2 timed out */
napi_value js_futex_wait(napi_env env, napi_callback_info info);

/* futexWake(ab, byteOffset, count?) -> number of waiters woken */
napi_value js_futex_wake(napi_env env, napi_callback_info info);

/* schedYield() -> undefined */
napi_value js_sched_yield(napi_env env, napi_callback_info info);

#endif
