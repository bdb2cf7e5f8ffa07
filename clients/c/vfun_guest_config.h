/*
 * The identity vfun-guest signs its requests with: the tenant (--tenant, or /etc/vfun/tenant) and
 * its secret (--secret-file, or /etc/vfun/secret), both trimmed, and the app name checked.
 * Internal to vfun-guest. C11.
 */
#ifndef VFUN_GUEST_CONFIG_H
#define VFUN_GUEST_CONFIG_H

#include "vfun_guest.h"

/* Fill g->tenant, g->secret and g->secret_len from g->opt. 0, or -1 after reporting a failure
 * (phase "config": a file that cannot be read, an empty secret, a bad tenant or app name). */
int guest_load_identity(guest *g);

#endif
