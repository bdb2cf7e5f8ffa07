/*
 * memfd.h: sealed memfd regions, reserved at creation.
 */
#ifndef VFUN_MEMFD_H
#define VFUN_MEMFD_H

#include "addon.h"

/* memfdCreate(name, length) -> fd (reserved, size-sealed, O_CLOEXEC) */
napi_value js_memfd_create(napi_env env, napi_callback_info info);

/* memfdSeals(fd) -> F_SEAL_* bits */
napi_value js_memfd_seals(napi_env env, napi_callback_info info);

#endif
