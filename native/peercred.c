/*
 * peercred.c: peerCred(socketFd) -> { pid, uid, gid }, the credentials the
 * kernel recorded for the peer of a connected AF_UNIX socket when it
 * connected (getsockopt SO_PEERCRED). They cannot be forged by the peer.
 */
#define _GNU_SOURCE
#include "peercred.h"

#include "args.h"
#include "errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, v;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "peerCred(socketFd) needs 1 argument");
    return NULL;
  }
  int fd;
  if (!get_fd(env, argv[0], "socketFd", &fd)) return NULL;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    int e = errno;
    char msg[160];
    snprintf(msg, sizeof msg, "%s: getsockopt(fd %d, SO_PEERCRED): %s", errno_name(e), fd, strerror(e));
    throw_sys_error(env, e, NULL, "getsockopt", NULL, msg);
    return NULL;
  }
  CHECK_NAPI(env, napi_create_object(env, &result));
  CHECK_NAPI(env, napi_create_int32(env, (int32_t)cred.pid, &v));
  CHECK_NAPI(env, napi_set_named_property(env, result, "pid", v));
  CHECK_NAPI(env, napi_create_uint32(env, (uint32_t)cred.uid, &v));
  CHECK_NAPI(env, napi_set_named_property(env, result, "uid", v));
  CHECK_NAPI(env, napi_create_uint32(env, (uint32_t)cred.gid, &v));
  CHECK_NAPI(env, napi_set_named_property(env, result, "gid", v));
  return result;
}
