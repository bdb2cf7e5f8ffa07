/*
 * args.h: reading and checking JS arguments. Each reader returns 1 with
 * *out set, or 0 with a TypeError / RangeError pending.
 */
#ifndef VFUN_ARGS_H
#define VFUN_ARGS_H

#include "addon.h"

#include <stddef.h>
#include <stdint.h>

/* A finite, non-negative integer (up to 2^53) from a JS number. */
int get_index(napi_env env, napi_value v, const char *what, uint64_t *out);

/* An optional boolean property of obj; absent/undefined -> dflt. */
int get_bool_prop(napi_env env, napi_value obj, const char *name, int dflt, int *out);

/* A boolean argument. */
int get_bool_arg(napi_env env, napi_value v, const char *what, int *out);

/* A file descriptor argument: an integer in [0, INT_MAX]. */
int get_fd(napi_env env, napi_value v, const char *what, int *out);

/* A mapping length: an integer > 0 that fits size_t and off_t. */
int get_length(napi_env env, napi_value v, size_t *out);

/*
 * A JS string as a malloc'd NUL-terminated UTF-8 copy (caller frees), at
 * most max_bytes long; NUL characters refused when no_nul. NULL (thrown)
 * on failure.
 */
char *get_utf8(napi_env env, napi_value v, const char *what, size_t max_bytes, int no_nul, size_t *len_out);

#endif
