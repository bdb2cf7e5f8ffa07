/*
 * fdsend.c: sendFds(socketFd, data, fds), the server side of fd passing:
 * writes data on a connected Unix socket, the fds (SCM_RIGHTS) riding on
 * its first bytes.
 */
#define _GNU_SOURCE
#include "fdpass.h"

#include "args.h"
#include "deadline.h"
#include "errors.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SEND_MAX_FDS 8
#define SEND_STALL_MS 1000

/* One SCM_RIGHTS control message with `n` fds into `ctl` (CMSG_SPACE(n ints) bytes). */
static void put_rights(struct msghdr *msg, char *ctl, size_t ctl_len, const int *fds, int n) {
  memset(ctl, 0, ctl_len);
  msg->msg_control = ctl;
  msg->msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
  struct cmsghdr *c = CMSG_FIRSTHDR(msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
}

/*
 * Write all of buf to a (maybe non-blocking) stream socket, the fds riding
 * on the first bytes that go out. EINTR retried; EAGAIN waits for POLLOUT,
 * at most SEND_STALL_MS without progress (then ETIMEDOUT). 0 or errno;
 * *call names the failing syscall.
 */
static int send_with_fds(int sock, const char *buf, size_t len, const int *fds, int nfds, const char **call) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * SEND_MAX_FDS)];
  } ctl;
  size_t off = 0;
  int fds_sent = nfds == 0;
  while (off < len) {
    struct iovec iov = {.iov_base = (void *)(buf + off), .iov_len = len - off};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds_sent) put_rights(&msg, ctl.buf, sizeof ctl.buf, fds, nfds);
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      fds_sent = 1;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = wait_fd_until(sock, POLLOUT, monotonic_ms() + SEND_STALL_MS);
      if (r > 0) continue;
      *call = "poll";
      return r == 0 ? ETIMEDOUT : errno;
    }
    *call = "sendmsg";
    return n < 0 ? errno : EIO;
  }
  return 0;
}

/* Read the fds array argument of sendFds: 1..SEND_MAX_FDS fds. Returns the count, -1 if thrown. */
static int get_fd_array(napi_env env, napi_value v, int *fds) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fds must be an array of file descriptors");
    return -1;
  }
  if (napi_get_array_length(env, v, &n) != napi_ok) return -1;
  if (n < 1 || n > SEND_MAX_FDS) {
    char msg[96];
    snprintf(msg, sizeof msg, "fds must hold 1 to %d file descriptors, got %u", SEND_MAX_FDS, n);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok) return -1;
    if (!get_fd(env, e, "fds[i]", &fds[i])) return -1;
  }
  return (int)n;
}

napi_value js_send_fds(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "sendFds(socketFd, data, fds) needs 3 arguments");
    return NULL;
  }
  int sock, fds[SEND_MAX_FDS];
  if (!get_fd(env, argv[0], "socketFd", &sock)) return NULL;
  int nfds = get_fd_array(env, argv[2], fds);
  if (nfds < 0) return NULL;
  size_t len;
  char *data = get_utf8(env, argv[1], "data", SIZE_MAX / 2, 0, &len);
  if (!data) return NULL;
  if (len == 0) {
    free(data);
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "data must not be empty: the fds travel with its first byte");
    return NULL;
  }
  const char *call = "sendmsg";
  int e = send_with_fds(sock, data, len, fds, nfds, &call);
  free(data);
  if (e != 0) {
    char what[160];
    snprintf(what, sizeof what, "%s on socket fd %d (%zu bytes, %d fds)%s", call, sock, len, nfds,
             e == ETIMEDOUT ? ": the peer read nothing for 1000 ms" : "");
    throw_errno(env, e, call, what);
    return NULL;
  }
  return NULL; /* undefined */
}

