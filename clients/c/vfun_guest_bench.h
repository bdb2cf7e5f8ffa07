/*
 * vfun-guest --bench N: N timed round trips of factorial(51) through the region (the window,
 * poll-only, or sealed memory), then, in a VM (or with --net), N round trips over the vfun.net
 * virtio-serial port as the baseline; one {"vfun":"bench"} line of percentiles each.
 * Internal to vfun-guest. Linux, C11.
 */
#ifndef VFUN_GUEST_BENCH_H
#define VFUN_GUEST_BENCH_H

#include "vfun_guest.h"

/* Run the benchmark with n round trips (1..10000000) on each path. */
void guest_bench(guest *g, long n);

#endif
