/* See vfun_handover.h. The exchange is docs/region-format.md §14. */
#define _GNU_SOURCE
#include "vfun_handover.h"
#include "vfun_chan.h"
#include "vfun_err.h"
#include "vfun_json.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void close_all(int *fds, int *nfds) {
  for (int i = 0; i < *nfds; i++) close(fds[i]);
  *nfds = 0;
}

/* Connect without blocking past the deadline. A full listen backlog (EAGAIN) is retried. 0 or -1. */
static int connect_by(int s, const struct sockaddr_un *sa, double deadline, char *err, size_t errcap) {
  for (;;) {
    if (connect(s, (const struct sockaddr *)sa, sizeof *sa) == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN && vfun_mono_ms() < deadline) {
      struct timespec ts = {0, 1000 * 1000};
      nanosleep(&ts, NULL);
      continue;
    }
    if (errno == EINPROGRESS) {
      int r = vfun_wait_fd(s, POLLOUT, deadline), e = 0;
      socklen_t el = sizeof e;
      if (r > 0 && getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0) return 0;
      if (r > 0) errno = e;
      else if (r == 0) errno = ETIMEDOUT;
    }
    vfun_set_err(err, errcap, "connect %s: %s", sa->sun_path, errno == EAGAIN ? "the socket's backlog stayed full" : strerror(errno));
    return -1;
  }
}

int vfun_fetch_fds(const char *path, const char *req, size_t req_len, char *line, size_t cap, int fds[VFUN_HANDOVER_MAX_FDS],
                   int *nfds, int timeout_ms, char *err, size_t errcap) {
  double deadline = vfun_mono_ms() + timeout_ms;
  *nfds = 0;
  if (cap < 2) {
    vfun_set_err(err, errcap, "no room for an answer");
    return -1;
  }
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) {
    vfun_set_err(err, errcap, "%s: socket path longer than %zu bytes", path, sizeof sa.sun_path - 1);
    return -1;
  }
  strcpy(sa.sun_path, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) {
    vfun_set_err(err, errcap, "socket: %s", strerror(errno));
    return -1;
  }
  if (connect_by(s, &sa, deadline, err, errcap) != 0) goto fail;

  for (size_t sent = 0; sent < req_len;) {
    ssize_t w = send(s, req + sent, req_len - sent, MSG_NOSIGNAL);
    if (w > 0) {
      sent += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    int r = w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? vfun_wait_fd(s, POLLOUT, deadline) : -1;
    if (r <= 0) {
      vfun_set_err(err, errcap, "send to %s: %s", path, r == 0 ? "timed out" : strerror(errno));
      goto fail;
    }
  }

  size_t have = 0;
  for (;;) {
    union {
      struct cmsghdr align;
      char buf[CMSG_SPACE(sizeof(int) * VFUN_HANDOVER_MAX_FDS)];
    } ctrl;
    struct iovec iov = {line + have, cap - 1 - have};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctrl.buf;
    m.msg_controllen = sizeof ctrl.buf;
    ssize_t r = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
    if (r < 0) {
      if (errno == EINTR) continue;
      int ready = errno == EAGAIN || errno == EWOULDBLOCK ? vfun_wait_fd(s, POLLIN, deadline) : -1;
      if (ready > 0) continue;
      if (ready == 0)
        vfun_set_err(err, errcap, "%s: no answer line within %d ms (%zu bytes and %d descriptors so far)", path, timeout_ms, have, *nfds);
      else
        vfun_set_err(err, errcap, "recvmsg %s: %s", path, strerror(errno));
      goto fail;
    }
    /* Take every descriptor of this chunk first: whatever happens next, they are ours to close. */
    int extra = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (*nfds < VFUN_HANDOVER_MAX_FDS) fds[(*nfds)++] = fd;
        else {
          close(fd);
          extra++;
        }
      }
    }
    if (m.msg_flags & MSG_CTRUNC) {
      vfun_set_err(err, errcap,
                   "%s: the kernel dropped descriptors of the answer (MSG_CTRUNC): this process is at its limit of open files "
                   "(RLIMIT_NOFILE), or more than %d came",
                   path, VFUN_HANDOVER_MAX_FDS);
      goto fail;
    }
    if (extra > 0) {
      vfun_set_err(err, errcap, "%s: the answer carried more than %d descriptors", path, VFUN_HANDOVER_MAX_FDS);
      goto fail;
    }
    if (r == 0) {
      vfun_set_err(err, errcap, "%s: closed before a whole answer line (%zu bytes and %d descriptors came)", path, have, *nfds);
      goto fail;
    }
    char *nl = memchr(line + have, '\n', (size_t)r);
    have += (size_t)r;
    if (nl) {
      *nl = '\0';
      close(s);
      return (int)(nl - line);
    }
    if (have >= cap - 1) {
      vfun_set_err(err, errcap, "%s: answer line longer than %zu bytes", path, cap - 2);
      goto fail;
    }
  }

fail:
  close_all(fds, nfds);
  close(s);
  return -1;
}

int vfun_region_fetch(const char *path, const char *tenant, const void *secret, size_t secret_len, const char *instance,
                      int timeout_ms, vfun_region_fds *out, vfun_ctl_answer *a, char *err, size_t errcap) {
  char nonce[33], req[VFUN_CTL_MAX_LINE + 1], line[VFUN_CTL_MAX_LINE + 1];
  int fds[VFUN_HANDOVER_MAX_FDS], nfds = 0;
  out->dataout_fd = out->datain_fd = -1;
  out->capacity = 0;
  memset(a, 0, sizeof *a);
  if (vfun_ctl_nonce(nonce) != 0) {
    vfun_set_err(err, errcap, "cannot draw a nonce: %s", strerror(errno));
    return -1;
  }
  vfun_ctl_request rq = {.op = "region", .tenant = tenant, .instance = instance, .fallback = -1, .nonce = nonce, .ts = -1};
  int n = vfun_ctl_build(&rq, secret, secret_len, req, sizeof req, err, errcap);
  if (n < 0) return -1;
  n = vfun_fetch_fds(path, req, (size_t)n, line, sizeof line, fds, &nfds, timeout_ms, err, errcap);
  if (n < 0) return -1;

  vfun_json_span v;
  char echoed[65];
  if (vfun_json_get(line, (size_t)n, "nonce", &v) != 1 || vfun_json_string(v, echoed, sizeof echoed) != 0 ||
      strcmp(echoed, nonce) != 0) {
    vfun_set_err(err, errcap, "the answer to op region does not carry our nonce: %.120s", line);
    goto fail;
  }
  if (vfun_ctl_parse_answer(line, (size_t)n, "region", a, err, errcap) != 0) goto fail;
  if (!a->ok) {
    close_all(fds, &nfds); /* a refusal carries none; any that came are not a region */
    return 0;
  }
  if (strcmp(a->instance, instance) != 0) {
    vfun_set_err(err, errcap, "asked for the region of %s, the answer is about %s", instance, a->instance);
    goto fail;
  }
  if (nfds != 2) {
    vfun_set_err(err, errcap, "the answer to op region carried %d descriptors, want 2 (dataout, datain)", nfds);
    goto fail;
  }
  out->dataout_fd = fds[0];
  out->datain_fd = fds[1];
  out->capacity = (uint32_t)a->capacity;
  return 1;

fail:
  close_all(fds, &nfds);
  return -1;
}
