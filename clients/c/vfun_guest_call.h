/*
 * vfun-guest --call FN --arg HEX [--repeat N] [--timeout-ms MS]: negotiate FN, activate, attach,
 * call it with the bytes of --arg, one {"vfun":"call"} line per answer, release. Internal to
 * vfun-guest. C11.
 */
#ifndef VFUN_GUEST_CALL_H
#define VFUN_GUEST_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "vfun_guest.h"

/* n hex digits (either case) s[0..n) as n / 2 bytes into out. 0, or -1 (n odd, or not a hex digit). */
int guest_unhex(const char *s, size_t n, uint8_t *out);

/* Call g->opt.call_fn g->opt.repeat times with the bytes of g->opt.call_arg (each waiting at most
 * g->opt.call_timeout_ms); the first call that gets no answer ends the calls. */
void guest_call_mode(guest *g);

#endif
