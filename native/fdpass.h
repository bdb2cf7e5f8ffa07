/*
 * fdpass.h: passing fds over a Unix socket (SCM_RIGHTS). sendFds is the
 * server side (fdsend.c), fetchFds the client side (fdfetch.c).
 */
#ifndef VFUN_FDPASS_H
#define VFUN_FDPASS_H

#include "addon.h"

/* sendFds(socketFd, data, fds[1..8]) -> undefined: data on a connected socket, the fds with its first byte */
napi_value js_send_fds(napi_env env, napi_callback_info info);

/* fetchFds(socketPath, request, timeoutMs) -> { line, fds }: a synchronous one-line client */
napi_value js_fetch_fds(napi_env env, napi_callback_info info);

#endif
