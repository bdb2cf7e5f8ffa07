/*
 * The descriptors of vfun-guest: how many are open (a run must end with as many as it started
 * with), and --fetch-region INSTANCE, which fetches and maps an instance's sealed region and says
 * how many were open before and after. Internal to vfun-guest. Linux, C11.
 */
#ifndef VFUN_GUEST_FDS_H
#define VFUN_GUEST_FDS_H

#include "vfun_guest.h"

/* Descriptors open in this process (/proc/self/fd, less the one reading it), or -1. */
int guest_count_fds(void);

/* --fetch-region g->opt.fetch_instance over g->opt.control: fetch the instance's sealed region, map
 * it, unmap it ({"vfun":"region"}, or a failure); then {"vfun":"fds"}: the descriptors open before
 * and after (every path must close what it received), and the number the next descriptor opened got
 * at the start. */
void guest_fetch_region_mode(guest *g);

#endif
