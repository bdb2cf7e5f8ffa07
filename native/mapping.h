/*
 * mapping.h: live mappings as external ArrayBuffers. wrap_mapping hands a
 * mapped range to JS; unmap(ab) and msync(ab) accept only such a buffer.
 */
#ifndef VFUN_MAPPING_H
#define VFUN_MAPPING_H

#include "addon.h"

#include <stddef.h>

/*
 * Register [addr, addr+length) and hand it to JS as an external ArrayBuffer
 * whose finalizer unmaps it. On failure the range is unmapped, an exception
 * is pending and NULL is returned.
 */
napi_value wrap_mapping(napi_env env, void *addr, size_t length);

/*
 * Whether v is an ArrayBuffer (what open() and mapFd() return). Asked before
 * napi_get_arraybuffer_info because since Node 24 that also accepts a
 * SharedArrayBuffer, which Node 20 refused; napi_is_arraybuffer is false for
 * one on every version. Inline: futexWait's hot path asks it.
 */
static inline int is_arraybuffer(napi_env env, napi_value v) {
  bool is = false;
  return napi_is_arraybuffer(env, v, &is) == napi_ok && is;
}

/* unmap(ab) -> boolean: true if it unmapped, false if already gone. */
napi_value js_unmap(napi_env env, napi_callback_info info);

/* msync(ab) -> undefined: MS_SYNC over the whole mapping. */
napi_value js_msync(napi_env env, napi_callback_info info);

#endif
