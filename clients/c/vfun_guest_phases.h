/*
 * The phases of a vFunction as vfun-guest goes through them: negotiate, activate and release over
 * the control channel, and attach to the region the activation answer names (a slot of the
 * ivshmem window, or sealed memory fetched over the control socket). Each prints a {"vfun":"phase"}
 * line when it succeeds and reports a failure when it does not. Internal to vfun-guest. Linux, C11.
 */
#ifndef VFUN_GUEST_PHASES_H
#define VFUN_GUEST_PHASES_H

#include <stddef.h>

#include "vfun.h"
#include "vfun_ctl.h"
#include "vfun_guest.h"

/* Send a request as g's tenant (a fresh nonce, the current time): 1 for ok:true, 0 for ok:false
 * (a refusal, in *a, not reported), -1 when there was no usable answer (reported as a failure). */
int guest_control(guest *g, const char *fn, vfun_ctl_request *rq, vfun_ctl_answer *a);

/* Negotiate fn (kind sw) for g's app; the instance's name into instance[cap]. 0 or -1. */
int guest_negotiate(guest *g, const char *fn, char *instance, size_t cap);

/* Activate the instance; the answer (capacity, region) into *a. 0 or -1. */
int guest_activate(guest *g, const char *fn, const char *instance, vfun_ctl_answer *a);

/* Release the instance; the answer (stats) into *a. 0 or -1. An entry of the instance still in the
 * window afterwards is reported (a failure with --fail-on-release-missing, else a warning). */
int guest_release(guest *g, const char *fn, const char *instance, vfun_ctl_answer *a);

/* Attach *r to the region the activation answer act names: sealed memory (fetched over a second
 * connection to the control socket, mapped, descriptors closed; futex waits), or a slot of the
 * window (its entry checked against the answer; poll-only). 0 or -1. */
int guest_attach(guest *g, const char *fn, const vfun_ctl_answer *act, vfun_region *r);

#endif
