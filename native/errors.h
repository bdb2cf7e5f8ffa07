/*
 * errors.h: throwing JS errors (slow path only). Errors are Error objects
 * with .code (errno name, or ERR_* for our own refusals), .errno (negative,
 * when there is one), .syscall and, for paths, .path, like Node's fs errors.
 * Argument mistakes are TypeError / RangeError (napi_throw_type_error,
 * napi_throw_range_error).
 */
#ifndef VFUN_ERRORS_H
#define VFUN_ERRORS_H

#include "addon.h"

/* The name of an errno value ("ENOENT"), or "EUNKNOWN". */
const char *errno_name(int e);

/* Throw an Error with .code (errno name, or `code` if given), .errno, .syscall and .path set. */
void throw_sys_error(napi_env env, int err, const char *code, const char *syscall_name, const char *path,
                     const char *message);

/* Throw "<ERRNO>: <what>: <strerror>" with code/errno/syscall set. */
void throw_errno(napi_env env, int err, const char *syscall_name, const char *what);

/* Whether a JS exception is pending (a failed N-API call may have thrown one). */
int is_exception_pending(napi_env env);

/* Return NULL from a JS entry point when an N-API call fails, with an exception pending. */
#define CHECK_NAPI(env, call)                                                         \
  do {                                                                                \
    if ((call) != napi_ok) {                                                          \
      if (!is_exception_pending(env)) napi_throw_error((env), NULL, "vfun_shm: " #call " failed"); \
      return NULL;                                                                    \
    }                                                                                 \
  } while (0)

#endif
