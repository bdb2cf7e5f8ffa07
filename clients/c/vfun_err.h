/* Internal to clients/c: format an error message into a caller's buffer (err may be NULL). */
#ifndef VFUN_ERR_H
#define VFUN_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static void vfun_set_err(char *err, size_t errcap, const char *fmt, ...) __attribute__((format(printf, 3, 4), unused));
static void vfun_set_err(char *err, size_t errcap, const char *fmt, ...) {
  if (!err || errcap == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errcap, fmt, ap);
  va_end(ap);
}

#endif
