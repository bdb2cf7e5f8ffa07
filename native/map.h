/*
 * map.h: mapping a file MAP_SHARED, by path (open) or by fd (mapFd).
 */
#ifndef VFUN_MAP_H
#define VFUN_MAP_H

#include "addon.h"

/* open(path, length, { create?, writable, mode? }) -> ArrayBuffer */
napi_value js_open(napi_env env, napi_callback_info info);

/* mapFd(fd, length, writable) -> ArrayBuffer (does not close fd) */
napi_value js_map_fd(napi_env env, napi_callback_info info);

/* pageSize() -> number */
napi_value js_page_size(napi_env env, napi_callback_info info);

#endif
