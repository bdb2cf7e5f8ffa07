/*
 * vfun-guest --paper FN --paper-n N --instances RxI[,RxI...] --runs K [--tcp HOST:PORT]: the
 * application of the paper's experiment (§4.2) inside the guest. For each instance R x I it makes
 * min(I, 200) untimed warm-up calls (min(R, 100) repetitions), then K timed runs of I calls, each
 * call asking for f(N) computed R times (the 8-byte argument [N u32 LE, R u32 LE] of the paper's
 * drivers), timed with the guest's CLOCK_MONOTONIC. First through a slot of the ivshmem window
 * (FN negotiated and activated with vFunD, released at the end, the release's stats compared with
 * the calls made), then, with --tcp, over TCP (Nagle off) to the benchmark's server: request = the
 * same 8 bytes, reply = [status u32 LE (0 ok), result u64 LE].
 *
 * One line per timed run:
 *   {"vfun":"paper","via":"ivshmem"|"tcp","fn":FN,"instance":k,"run":r,"ns":T,"calls":I,"result":"<u64>"}
 * Internal to vfun-guest. Linux, C11.
 */
#ifndef VFUN_GUEST_PAPER_H
#define VFUN_GUEST_PAPER_H

#include <stdint.h>

#include "vfun_guest.h"

/* Most instances one run takes. */
#define PAPER_MAX_INSTANCES 32

/* The instances of --instances. */
typedef struct {
  int count;
  uint32_t reps[PAPER_MAX_INSTANCES];
  uint32_t iterations[PAPER_MAX_INSTANCES];
} paper_instances;

/* Parse "RxI[,RxI...]" (decimal counts in 1..4294967295, at most PAPER_MAX_INSTANCES). 0, or -1 with
 * why[cap] saying what is wrong. */
int paper_parse_instances(const char *s, paper_instances *out, char *why, size_t cap);

/* Parse "HOST:PORT" (an IPv4 address, a port in 1..65535) into host[cap] and *port. 0 or -1. */
int paper_parse_endpoint(const char *s, char *host, size_t cap, uint16_t *port);

/* Run the paper's loop (see above) with g's options. */
void guest_paper(guest *g);

#endif
