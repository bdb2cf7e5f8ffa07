/*
 * Getting the region of a process tenant (docs/region-format.md §14): vFunD hands over an active
 * instance's two sealed memfds on a connection of their own to the tenant's control socket. The
 * guest sends one signed request line (op "region"); the answer is one JSON line whose first byte
 * carries the descriptors as SCM_RIGHTS, dataout then datain. A refusal is a plain answer line
 * without descriptors. Linux, C11.
 */
#ifndef VFUN_HANDOVER_H
#define VFUN_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

#include "vfun_ctl.h"

/* Most descriptors taken from one answer. vFunD sends 2; up to this many more are received (and
 * closed) so that the error can say how many came; past it the kernel truncates (MSG_CTRUNC). */
#define VFUN_HANDOVER_MAX_FDS 8

/* Connect to the Unix socket `path` (a fresh connection), send `req` (one line ending in '\n'), and
 * read one answer line into line[cap] (without its '\n', NUL-terminated; bytes after it are
 * dropped) with recvmsg(MSG_CMSG_CLOEXEC), collecting every SCM_RIGHTS descriptor that came with
 * any of its bytes, in order, into fds[VFUN_HANDOVER_MAX_FDS] (*nfds of them). One deadline,
 * `timeout_ms` from the call, covers connecting, sending and receiving. Returns the line's length;
 * on any error (no socket, timeout, closed before '\n', a line longer than cap - 1, MSG_CTRUNC,
 * more than VFUN_HANDOVER_MAX_FDS descriptors) every descriptor received so far is closed, *nfds
 * is 0, and it returns -1 with a message in err. The connection is closed either way. */
int vfun_fetch_fds(const char *path, const char *req, size_t req_len, char *line, size_t cap, int fds[VFUN_HANDOVER_MAX_FDS],
                   int *nfds, int timeout_ms, char *err, size_t errcap);

/* An instance's region as vFunD handed it over: the caller owns both descriptors. */
typedef struct {
  int dataout_fd;
  int datain_fd;
  uint32_t capacity;
} vfun_region_fds;

/* The whole exchange for `instance` of `tenant` on the control socket `path`: sign op "region"
 * with the secret, fetch, and check the answer (it echoes our nonce, it is well-formed, op
 * "region" for this instance with a capacity) and that exactly two descriptors came with it.
 * Returns 1: *out holds them (map them with vfun_map_fds, then close both); 0: vFunD refused
 * (a->reason, a->detail); -1: no usable answer (err). On 0 and -1 no descriptor is left open. */
int vfun_region_fetch(const char *path, const char *tenant, const void *secret, size_t secret_len, const char *instance,
                      int timeout_ms, vfun_region_fds *out, vfun_ctl_answer *a, char *err, size_t errcap);

#endif
