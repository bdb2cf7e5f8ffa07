/*
 * peercred.h: SO_PEERCRED of a connected AF_UNIX socket.
 */
#ifndef VFUN_PEERCRED_H
#define VFUN_PEERCRED_H

#include "addon.h"

/* peerCred(socketFd) -> { pid, uid, gid } */
napi_value js_peer_cred(napi_env env, napi_callback_info info);

#endif
