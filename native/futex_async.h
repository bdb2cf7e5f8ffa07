/*
 * futex_async.h: a shared futex wait on libuv's thread pool, settling a Promise.
 */
#ifndef VFUN_FUTEX_ASYNC_H
#define VFUN_FUTEX_ASYNC_H

#include "addon.h"

/* futexWaitAsync(ab, byteOffset, expected, timeoutMs) -> Promise<0 ok | 1 not-equal | 2 timed out> */
napi_value js_futex_wait_async(napi_env env, napi_callback_info info);

#endif
