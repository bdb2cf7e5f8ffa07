/*
 * vfun-guest --check: for each of factorial, fibonacci and crc32, all four phases, calls compared
 * with the reference results (vfun_guest_ref.h), and the release's stats compared with the calls
 * made; then an activation of an instance that was never negotiated, which vFunD must refuse.
 * The counted call and the stats check serve --bench too. Internal to vfun-guest. C11.
 */
#ifndef VFUN_GUEST_CHECK_H
#define VFUN_GUEST_CHECK_H

#include <stdint.h>

#include "vfun.h"
#include "vfun_ctl.h"
#include "vfun_guest.h"

/* The calls made to one instance. */
typedef struct {
  const char *fn;
  int answered;   /* requests the service answered */
  int bad_input;  /* of which BAD_INPUT */
  int desync;     /* a call went unanswered or was malformed: stop calling */
  uint8_t result[64];
  uint32_t result_len;
} guest_calls;

/* One call (what names it in a failure), its result into c->result. Returns the vfun_call code
 * (VFUN_ERR_BUSY, without calling, once c->desync is set); counts answered calls; reports transport
 * failures, and sets c->desync on any but VFUN_ERR_TOO_BIG. */
int guest_counted_call(vfun_region *r, guest_calls *c, const void *arg, uint32_t len, const char *what, uint32_t *err_code);

/* Compare the release's stats (rel) with the calls c made: calls, and errors (only BAD_INPUT, as
 * many as were refused). Not compared (a warning) after a desync. */
void guest_check_stats(const char *fn, const guest_calls *c, const vfun_ctl_answer *rel);

/* Negotiate, activate, attach, run fn's cases, release, compare the stats; a {"vfun":"check"} line. */
void guest_check_function(guest *g, const char *fn);

/* Activating an instance that was never negotiated must be refused; a {"vfun":"check"} line. */
void guest_check_unknown_instance(guest *g);

/* The reference functions themselves, on known values (a failure in phase "self-check"). */
void guest_self_check(void);

#endif
