/*
 * A minimal JSON reader for the control channel's answer lines: checks that the whole text is
 * well-formed JSON, then finds a member by its path and reads it as a string, an integer or a
 * boolean. No allocation, no dependencies. C11.
 */
#ifndef VFUN_JSON_H
#define VFUN_JSON_H

#include <stddef.h>

typedef struct {
  const char *p; /* first character of the value */
  size_t n;      /* its length in the text */
} vfun_json_span;

/* Find the value at `path` ("instance", "region.window.slot": member names separated by dots,
 * from the top-level object) in the JSON text json[0..len). Returns 1 found, 0 absent,
 * -1 when the text is not well-formed JSON (up to the point reached). */
int vfun_json_get(const char *json, size_t len, const char *path, vfun_json_span *out);
/* A string value, unescaped (\uXXXX as UTF-8), into out[cap] with a NUL. 0, or -1 (not a string / too long). */
int vfun_json_string(vfun_json_span v, char *out, size_t cap);
/* As vfun_json_string, but a string too long for out[cap] is cut (at a character boundary) instead of refused. */
int vfun_json_string_truncated(vfun_json_span v, char *out, size_t cap);
/* An integer value (no fraction, no exponent, fits in long long). 0 or -1. */
int vfun_json_int(vfun_json_span v, long long *out);
/* true / false. 0 or -1. */
int vfun_json_bool(vfun_json_span v, int *out);

#endif
