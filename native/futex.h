/*
 * futex.h: futex wait/wake on a 32-bit word of a mapping, and sched_yield.
 */
#ifndef VFUN_FUTEX_H
#define VFUN_FUTEX_H

#include "addon.h"

#include <stdint.h>

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
