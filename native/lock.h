/*
 * lock.h: flock(2) on an open fd.
 */
#ifndef VFUN_LOCK_H
#define VFUN_LOCK_H

#include "addon.h"

/* flock(fd, 'exclusive' | 'shared' | 'unlock', wait) -> boolean (false: held elsewhere) */
napi_value js_flock(napi_env env, napi_callback_info info);

#endif
