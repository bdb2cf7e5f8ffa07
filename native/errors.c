/*
 * errors.c: JS errors with .code, .errno, .syscall and .path (see errors.h).
 */
#define _GNU_SOURCE
#include "errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ETXTBSY: return "ETXTBSY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case EOVERFLOW: return "EOVERFLOW";
    case EDQUOT: return "EDQUOT";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOLCK: return "ENOLCK";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EPIPE: return "EPIPE";
    case ESRCH: return "ESRCH";
    case ENOTSOCK: return "ENOTSOCK";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTOTYPE: return "EPROTOTYPE";
    case EADDRINUSE: return "EADDRINUSE";
    case ECONNRESET: return "ECONNRESET";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case ETOOMANYREFS: return "ETOOMANYREFS";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EINPROGRESS: return "EINPROGRESS";
    default: return "EUNKNOWN";
  }
}

/*
 * Throw an Error with .code (errno name, or `code` if given), .errno,
 * .syscall and .path set, like Node's fs errors.
 */
void throw_sys_error(napi_env env, int err, const char *code, const char *syscall_name, const char *path,
                     const char *message) {
  napi_value code_v, msg_v, error, v;
  const char *code_s = code ? code : errno_name(err);
  if (napi_create_string_utf8(env, code_s, NAPI_AUTO_LENGTH, &code_v) != napi_ok) goto fallback;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg_v) != napi_ok) goto fallback;
  if (napi_create_error(env, code_v, msg_v, &error) != napi_ok) goto fallback;
  if (err != 0 && napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
  if (syscall_name && napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "syscall", v);
  if (path && napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "path", v);
  napi_throw(env, error);
  return;
fallback:
  napi_throw_error(env, code_s, message);
}

int is_exception_pending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

/* Throw "<ERRNO>: <what>: <strerror>" with code/errno/syscall set. */
void throw_errno(napi_env env, int err, const char *syscall_name, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s: %s", errno_name(err), what, strerror(err));
  throw_sys_error(env, err, NULL, syscall_name, NULL, msg);
}
