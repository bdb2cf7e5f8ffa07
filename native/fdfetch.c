/*
 * fdfetch.c: fetchFds(socketPath, request, timeoutMs), the client side of
 * fd passing: connects to a Unix socket, sends one request line and
 * receives one answer line with the fds (SCM_RIGHTS) that came with it, all
 * within one deadline. Synchronous: the caller runs it off its event loop.
 */
#define _GNU_SOURCE
#include "fdpass.h"

#include "args.h"
#include "deadline.h"
#include "errors.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FETCH_LINE_MAX 65536 /* bytes in the answer line, without its '\n' */
#define FETCH_MAX_FDS 64     /* fds over the whole answer */
#define SCM_MAX_FDS 253      /* the kernel's SCM_MAX_FD: fds one message can carry */
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static void close_fds(const int *fds, int n) {
  for (int i = 0; i < n; i++) close(fds[i]);
}

typedef struct {
  int sock;
  int fds[FETCH_MAX_FDS];
  int nfds;
  int extra_fds; /* fds beyond FETCH_MAX_FDS, closed on arrival */
  char *buf;     /* FETCH_LINE_MAX + 1 bytes */
  size_t len;
  const char *path;
  double timeout_ms;
} fetch_state;

static void fetch_release(fetch_state *s, int keep_fds) {
  if (s->sock >= 0) close(s->sock);
  s->sock = -1;
  if (!keep_fds) close_fds(s->fds, s->nfds);
  s->nfds = 0;
  free(s->buf);
  s->buf = NULL;
}

static void fetch_throw(napi_env env, fetch_state *s, int err, const char *code, const char *call, const char *what) {
  char msg[PATH_MAX + 256];
  if (code)
    snprintf(msg, sizeof msg, "%s: %s", s->path, what);
  else
    snprintf(msg, sizeof msg, "%s: %s '%s': %s", errno_name(err), what, s->path, strerror(err));
  throw_sys_error(env, err, code, call, s->path, msg);
}

static void fetch_throw_timeout(napi_env env, fetch_state *s, const char *while_doing) {
  char msg[PATH_MAX + 320];
  snprintf(msg, sizeof msg, "ETIMEDOUT: fetchFds '%s': the %g ms deadline passed %s", s->path, s->timeout_ms,
           while_doing);
  throw_sys_error(env, ETIMEDOUT, NULL, "poll", s->path, msg);
}

/* Non-blocking connect; a full listen backlog (EAGAIN) is retried every 10 ms until the deadline. */
static int fetch_connect(napi_env env, fetch_state *s, int64_t deadline) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  memcpy(addr.sun_path, s->path, strlen(s->path) + 1);
  s->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->sock < 0) {
    fetch_throw(env, s, errno, NULL, "socket", "socket(AF_UNIX) for");
    return 0;
  }
  for (;;) {
    if (connect(s->sock, (struct sockaddr *)&addr, sizeof addr) == 0 || errno == EISCONN) return 1;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      fetch_throw(env, s, errno, NULL, "connect", "connect to");
      return 0;
    }
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) {
      fetch_throw_timeout(env, s, "while connecting (the server's listen backlog stayed full)");
      return 0;
    }
    poll(NULL, 0, left < 10 ? (int)left : 10);
  }
}

static int fetch_send_request(napi_env env, fetch_state *s, const char *req, size_t len, int64_t deadline) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(s->sock, req + off, len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = wait_fd_until(s->sock, POLLOUT, deadline);
      if (r > 0) continue;
      if (r == 0) fetch_throw_timeout(env, s, "while sending the request");
      else fetch_throw(env, s, errno, NULL, "poll", "poll (sending the request) on");
      return 0;
    }
    fetch_throw(env, s, n < 0 ? errno : EIO, NULL, "send", "sending the request to");
    return 0;
  }
  return 1;
}

/* Take every fd out of the SCM_RIGHTS messages of one recvmsg (keeping FETCH_MAX_FDS at most). */
static void fetch_collect_fds(fetch_state *s, struct msghdr *msg) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char *p = CMSG_DATA(c);
    for (size_t i = 0; i < n; i++) {
      int fd;
      memcpy(&fd, p + i * sizeof(int), sizeof fd);
      if (s->nfds < FETCH_MAX_FDS) {
        s->fds[s->nfds++] = fd;
      } else {
        close(fd);
        s->extra_fds++;
      }
    }
  }
}

/* Receive until a '\n'; *line_len gets the line's length without it. */
static int fetch_recv_line(napi_env env, fetch_state *s, int64_t deadline, size_t *line_len) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * SCM_MAX_FDS)];
  } ctl;
  char what[160];
  size_t scanned = 0;
  for (;;) {
    char *nl = memchr(s->buf + scanned, '\n', s->len - scanned);
    if (nl) {
      *line_len = (size_t)(nl - s->buf);
      return 1;
    }
    scanned = s->len;
    if (s->len == FETCH_LINE_MAX + 1) {
      snprintf(what, sizeof what, "the answer has no newline within %d bytes; lines over %d bytes are refused",
               FETCH_LINE_MAX + 1, FETCH_LINE_MAX);
      fetch_throw(env, s, 0, "ERR_LINE_TOO_LONG", "recvmsg", what);
      return 0;
    }
    int r = wait_fd_until(s->sock, POLLIN, deadline);
    if (r == 0) {
      snprintf(what, sizeof what, "while waiting for the answer (%zu bytes and %d fds so far, no newline)", s->len,
               s->nfds);
      fetch_throw_timeout(env, s, what);
      return 0;
    }
    if (r < 0) {
      fetch_throw(env, s, errno, NULL, "poll", "poll (waiting for the answer) on");
      return 0;
    }
    struct iovec iov = {.iov_base = s->buf + s->len, .iov_len = FETCH_LINE_MAX + 1 - s->len};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    ssize_t n = recvmsg(s->sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      fetch_throw(env, s, errno, NULL, "recvmsg", "receiving the answer from");
      return 0;
    }
    fetch_collect_fds(s, &msg);
    if (msg.msg_flags & MSG_CTRUNC) {
      fetch_throw(env, s, 0, "ERR_FDS_TRUNCATED", "recvmsg",
                  "fds sent with the answer were dropped by the kernel (MSG_CTRUNC: this process is at its open-file "
                  "limit, RLIMIT_NOFILE)");
      return 0;
    }
    if (s->extra_fds > 0) {
      snprintf(what, sizeof what, "the answer carries more than %d fds; refused", FETCH_MAX_FDS);
      fetch_throw(env, s, 0, "ERR_TOO_MANY_FDS", "recvmsg", what);
      return 0;
    }
    if (n == 0) {
      snprintf(what, sizeof what, "the server closed the connection after %zu bytes without a newline", s->len);
      fetch_throw(env, s, 0, "ERR_NO_ANSWER", "recvmsg", what);
      return 0;
    }
    s->len += (size_t)n;
  }
}

/* { line, fds } for JS. 0 (thrown) on failure; the caller still owns the fds. */
static napi_value fetch_result(napi_env env, fetch_state *s, size_t line_len) {
  napi_value obj, line, arr, v;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, s->buf, line_len, &line) != napi_ok) return NULL;
  if (napi_create_array_with_length(env, (size_t)s->nfds, &arr) != napi_ok) return NULL;
  for (int i = 0; i < s->nfds; i++) {
    if (napi_create_int32(env, s->fds[i], &v) != napi_ok) return NULL;
    if (napi_set_element(env, arr, (uint32_t)i, v) != napi_ok) return NULL;
  }
  if (napi_set_named_property(env, obj, "line", line) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, "fds", arr) != napi_ok) return NULL;
  return obj;
}

/* Read fetchFds' request: exactly one line ending in '\n'. */
static char *get_request(napi_env env, napi_value v, size_t *len) {
  char *req = get_utf8(env, v, "request", FETCH_LINE_MAX + 1, 1, len);
  if (!req) return NULL;
  char *nl = memchr(req, '\n', *len);
  if (*len == 0 || nl != req + *len - 1) {
    free(req);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "request must be exactly one line ending in '\\n'");
    return NULL;
  }
  return req;
}

napi_value js_fetch_fds(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "fetchFds(socketPath, request, timeoutMs) needs 3 arguments");
    return NULL;
  }
  double timeout_ms;
  if (napi_get_value_double(env, argv[2], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "timeoutMs must be a number");
    return NULL;
  }
  if (!(timeout_ms > 0) || timeout_ms > (double)INT_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "timeoutMs must be > 0 and finite (at most 2^31-1)");
    return NULL;
  }
  int64_t deadline = monotonic_ms() + (int64_t)ceil(timeout_ms);

  char *path = get_utf8(env, argv[0], "socketPath", SUN_PATH_MAX, 1, NULL);
  if (!path) return NULL;
  if (path[0] == '\0') {
    free(path);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "socketPath must not be empty");
    return NULL;
  }
  size_t req_len;
  char *req = get_request(env, argv[1], &req_len);
  if (!req) {
    free(path);
    return NULL;
  }

  fetch_state s = {.sock = -1, .nfds = 0, .extra_fds = 0, .buf = NULL, .len = 0, .path = path, .timeout_ms = timeout_ms};
  napi_value result = NULL;
  size_t line_len = 0;
  s.buf = (char *)malloc(FETCH_LINE_MAX + 1);
  if (!s.buf) napi_throw_error(env, "ENOMEM", "vfun_shm: out of memory");
  else if (fetch_connect(env, &s, deadline) && fetch_send_request(env, &s, req, req_len, deadline) &&
           fetch_recv_line(env, &s, deadline, &line_len))
    result = fetch_result(env, &s, line_len);
  if (!result && !is_exception_pending(env)) napi_throw_error(env, NULL, "vfun_shm: building the fetchFds result failed");
  fetch_release(&s, result != NULL);
  free(req);
  free(path);
  return result;
}
