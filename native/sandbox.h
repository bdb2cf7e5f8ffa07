/*
 * sandbox.h: confining a function service process.
 */
#ifndef VFUN_SANDBOX_H
#define VFUN_SANDBOX_H

#include "addon.h"

/* sandboxSelf({ noNewPrivs?, nonDumpable?, parentDeathSignal?, denySyscalls? }) -> undefined */
napi_value js_sandbox_self(napi_env env, napi_callback_info info);

/* sandboxState() -> { noNewPrivs, dumpable, parentDeathSignal, seccomp } */
napi_value js_sandbox_state(napi_env env, napi_callback_info info);

#endif
