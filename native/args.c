/*
 * args.c: reading and checking JS arguments (see args.h).
 */
#define _GNU_SOURCE
#include "args.h"

#include "errors.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read a finite, non-negative integer (up to 2^53) from a JS number. */
int get_index(napi_env env, napi_value v, const char *what, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  if (!(d >= 0) || d > 9007199254740991.0 || d != floor(d)) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be an integer >= 0, got %g", what, d);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (uint64_t)d;
  return 1;
}

/* Optional boolean property; absent/undefined -> dflt. */
int get_bool_prop(napi_env env, napi_value obj, const char *name, int dflt, int *out) {
  bool has = false;
  napi_value v;
  napi_valuetype t;
  *out = dflt;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok) return 0;
  if (!has) return 1;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_undefined) return 1;
  if (t != napi_boolean) {
    char msg[96];
    snprintf(msg, sizeof msg, "flags.%s must be a boolean", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b ? 1 : 0;
  return 1;
}

int get_bool_arg(napi_env env, napi_value v, const char *what, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a boolean", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  *out = b ? 1 : 0;
  return 1;
}

/* Read a file descriptor argument: an integer in [0, INT_MAX]. */
int get_fd(napi_env env, napi_value v, const char *what, int *out) {
  uint64_t fd64;
  if (!get_index(env, v, what, &fd64)) return 0;
  if (fd64 > (uint64_t)INT_MAX) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a file descriptor (<= %d)", what, INT_MAX);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (int)fd64;
  return 1;
}

/* A mapping length: an integer > 0 that fits size_t and off_t. */
int get_length(napi_env env, napi_value v, size_t *out) {
  uint64_t len64;
  if (!get_index(env, v, "length", &len64)) return 0;
  if (len64 == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "length must be > 0");
    return 0;
  }
  if (len64 > (uint64_t)SIZE_MAX || len64 > (uint64_t)INT64_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "length is too large for this platform");
    return 0;
  }
  *out = (size_t)len64;
  return 1;
}

/*
 * A JS string as a malloc'd NUL-terminated UTF-8 copy (caller frees).
 * `max_bytes` bounds its UTF-8 length; embedded NULs are refused when
 * `no_nul`. On failure an exception is pending and NULL is returned.
 */
char *get_utf8(napi_env env, napi_value v, const char *what, size_t max_bytes, int no_nul, size_t *len_out) {
  char msg[160];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a string", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
  }
  if (len > max_bytes) {
    snprintf(msg, sizeof msg, "%s is %zu bytes in UTF-8, more than the %zu allowed", what, len, max_bytes);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return NULL;
  }
  char *buf = (char *)malloc(len + 1);
  if (!buf) {
    napi_throw_error(env, "ENOMEM", "vfun_shm: out of memory");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, v, buf, len + 1, &len) != napi_ok) {
    free(buf);
    if (!is_exception_pending(env)) napi_throw_error(env, NULL, "vfun_shm: napi_get_value_string_utf8 failed");
    return NULL;
  }
  if (no_nul && strlen(buf) != len) {
    free(buf);
    snprintf(msg, sizeof msg, "%s must not contain NUL characters", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return NULL;
  }
  if (len_out) *len_out = len;
  return buf;
}
