/* The output of vfun-guest: JSON lines on stdout, failures counted (vfun_guest_out.h). */
#include "vfun_guest_out.h"

#include <stdarg.h>
#include <stdio.h>

#include "vfun.h"

static int failures;

static void jstr(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p == '\n') fputs("\\n", stdout);
    else if (*p == '\r') fputs("\\r", stdout);
    else if (*p == '\t') fputs("\\t", stdout);
    else if (*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

void out_begin(const char *what) { printf("{\"vfun\":\"%s\"", what); }
void out_str(const char *k, const char *v) {
  printf(",\"%s\":", k);
  jstr(v);
}
void out_int(const char *k, long long v) { printf(",\"%s\":%lld", k, v); }
void out_num(const char *k, double v) { printf(",\"%s\":%.2f", k, v); }
void out_bool(const char *k, int v) { printf(",\"%s\":%s", k, v ? "true" : "false"); }
void out_raw(const char *k, const char *json) { printf(",\"%s\":%s", k, json); }
void out_end(void) {
  fputs("}\n", stdout);
  fflush(stdout);
}

void out_report(int failure, const char *fn, const char *phase, const char *reason, const char *fmt, ...) {
  char detail[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (failure) failures++;
  out_begin(failure ? "error" : "warning");
  if (fn) out_str("fn", fn);
  out_str("phase", phase);
  if (reason) out_str("reason", reason);
  out_str("detail", detail);
  out_end();
}

int out_failures(void) { return failures; }

const char *out_rc_name(int rc) {
  switch (rc) {
    case VFUN_OK: return "OK";
    case VFUN_ERR_SYS: return "SYS";
    case VFUN_ERR_HEADER: return "HEADER";
    case VFUN_ERR_SERVICE: return "SERVICE_ERROR";
    case VFUN_ERR_TIMEOUT: return "CHANNEL_TIMEOUT";
    case VFUN_ERR_TOO_BIG: return "TOO_BIG";
    case VFUN_ERR_BUSY: return "BUSY";
    case VFUN_ERR_PROTOCOL: return "CHANNEL_PROTOCOL";
    case VFUN_ERR_CLOSED: return "CHANNEL_CLOSED";
    case VFUN_ERR_INSTANCE_CLOSED: return "INSTANCE_CLOSED";
    case VFUN_ERR_REGION: return "REGION";
    default: return "?";
  }
}

static const char *const ERROR_NAMES[] = {"", "BAD_COMMAND", "BAD_LENGTH", "BAD_SEQ", "DRIVER_FAULT", "BAD_INPUT", "NO_RESULT"};

const char *out_error_name(uint32_t code) { return code <= 6 ? ERROR_NAMES[code] : "?"; }
