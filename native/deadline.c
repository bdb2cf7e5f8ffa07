/*
 * deadline.c: waiting on one fd until a monotonic deadline (see deadline.h).
 */
#define _GNU_SOURCE
#include "deadline.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <time.h>

int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * poll() one fd for `events` until `deadline` (monotonic ms), retrying
 * EINTR with the time left. 1: ready (including POLLERR/POLLHUP: the next
 * call reports it), 0: deadline passed, -1: poll failed (errno set).
 */
int wait_fd_until(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) return 0;
    struct pollfd p = {.fd = fd, .events = events, .revents = 0};
    int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return -1;
  }
}
