/*
 * deadline.h: waiting on one fd until a deadline on the monotonic clock
 * (the fd-passing calls bound every wait this way).
 */
#ifndef VFUN_DEADLINE_H
#define VFUN_DEADLINE_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t monotonic_ms(void);

/*
 * poll() fd for `events` until `deadline` (monotonic ms). 1: ready, 0:
 * deadline passed, -1: poll failed (errno set).
 */
int wait_fd_until(int fd, short events, int64_t deadline);

#endif
