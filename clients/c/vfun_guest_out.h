/*
 * The output of vfun-guest: one JSON object per line on stdout ({"vfun":"phase"|"call"|"check"|
 * "bench"|"warning"|"error"|"done", ...}), written member by member, flushed at the end of each
 * line; the count of failures reported; the names of the client's and the service's error codes.
 * Internal to vfun-guest. C11.
 */
#ifndef VFUN_GUEST_OUT_H
#define VFUN_GUEST_OUT_H

#include <stdint.h>

/* Start a line: {"vfun":"<what>" */
void out_begin(const char *what);
/* ,"k":<v as a JSON string> */
void out_str(const char *k, const char *v);
/* ,"k":<v> */
void out_int(const char *k, long long v);
/* ,"k":<v with two decimals> */
void out_num(const char *k, double v);
/* ,"k":true|false */
void out_bool(const char *k, int v);
/* ,"k":<json, written as it is> */
void out_raw(const char *k, const char *json);
/* End the line: }\n, flushed. */
void out_end(void);

/* A {"vfun":"error"} line (failure: counted) or a {"vfun":"warning"} line: fn (if any), phase,
 * reason (if any), and the formatted detail (at most 4095 bytes). */
void out_report(int failure, const char *fn, const char *phase, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A failure without a reason. */
#define FAIL(fn, phase, ...) out_report(1, fn, phase, NULL, __VA_ARGS__)

/* The failures reported so far. */
int out_failures(void);

/* The name of a vfun.h return code (VFUN_OK, VFUN_ERR_*): "OK", "CHANNEL_TIMEOUT", ...; "?" if unknown. */
const char *out_rc_name(int rc);
/* The name of a service error code (1 BAD_COMMAND .. 6 NO_RESULT; 0 is ""), "?" above 6. */
const char *out_error_name(uint32_t code);

#endif
