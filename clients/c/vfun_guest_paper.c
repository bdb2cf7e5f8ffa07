/* vfun-guest --paper (vfun_guest_paper.h). */
#define _GNU_SOURCE
#include "vfun_guest_paper.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vfun.h"
#include "vfun_guest_check.h"
#include "vfun_guest_out.h"
#include "vfun_guest_phases.h"
#include "vfun_guest_ref.h"

#define WARMUP_MAX_CALLS 200u
#define WARMUP_MAX_REPS 100u
#define TCP_REPLY_BYTES 12

static int64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int parse_count(const char *s, const char *end, uint32_t *out) {
  if (s == end || end - s > 10) return -1;
  uint64_t v = 0;
  for (const char *p = s; p < end; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v < 1 || v > 0xffffffffu) return -1;
  *out = (uint32_t)v;
  return 0;
}

int paper_parse_instances(const char *s, paper_instances *out, char *why, size_t cap) {
  out->count = 0;
  if (!s || !*s) {
    snprintf(why, cap, "--instances is empty");
    return -1;
  }
  const char *p = s;
  for (;;) {
    const char *comma = strchr(p, ',');
    const char *end = comma ? comma : p + strlen(p);
    const char *x = memchr(p, 'x', (size_t)(end - p));
    if (out->count == PAPER_MAX_INSTANCES) {
      snprintf(why, cap, "--instances: more than %d instances", PAPER_MAX_INSTANCES);
      return -1;
    }
    if (!x || parse_count(p, x, &out->reps[out->count]) != 0 || parse_count(x + 1, end, &out->iterations[out->count]) != 0) {
      snprintf(why, cap, "--instances: instance %d '%.*s' is not RxI with counts in 1..4294967295", out->count + 1,
               (int)(end - p < 40 ? end - p : 40), p);
      return -1;
    }
    out->count++;
    if (!comma) return 0;
    p = comma + 1;
  }
}

int paper_parse_endpoint(const char *s, char *host, size_t cap, uint16_t *port) {
  const char *colon = s ? strrchr(s, ':') : NULL;
  if (!colon || (size_t)(colon - s) >= cap || colon == s) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  struct in_addr a;
  if (inet_pton(AF_INET, host, &a) != 1) return -1;
  uint32_t p;
  if (parse_count(colon + 1, colon + strlen(colon), &p) != 0 || p > 65535) return -1;
  *port = (uint16_t)p;
  return 0;
}

static void put_arg(uint8_t *arg, uint32_t n, uint32_t reps) {
  put_u32(arg, n);
  put_u32(arg + 4, reps);
}

static void report_run(const char *via, const char *fn, int k, long run, int64_t ns, uint32_t calls, uint64_t result) {
  char r[24];
  snprintf(r, sizeof r, "%llu", (unsigned long long)result);
  out_begin("paper");
  out_str("via", via);
  out_str("fn", fn);
  out_int("instance", k);
  out_int("run", run);
  out_int("ns", ns);
  out_int("calls", calls);
  out_str("result", r);
  out_end();
}

/* One call through the window: 0, or -1 (reported). */
static int window_call(vfun_region *r, guest_calls *c, const uint8_t *arg, int timeout_ms, uint64_t *result) {
  uint32_t err = 0;
  int rc = vfun_call(r, arg, 8, c->result, sizeof c->result, &c->result_len, &err, timeout_ms);
  if (rc == VFUN_OK || rc == VFUN_ERR_SERVICE) c->answered++;
  if (rc != VFUN_OK) {
    if (rc == VFUN_ERR_SERVICE) FAIL(c->fn, "paper", "service error %u (%s)", err, out_error_name(err));
    else FAIL(c->fn, "paper", "%s (%d): %s", out_rc_name(rc), rc, vfun_strerror(rc));
    c->desync = rc != VFUN_ERR_SERVICE;
    return -1;
  }
  if (c->result_len != 8) {
    FAIL(c->fn, "paper", "result of %u bytes, expected 8", c->result_len);
    return -1;
  }
  *result = get_u64(c->result);
  return 0;
}

static void paper_window(guest *g, const paper_instances *in) {
  const char *fn = g->opt.paper_fn;
  char instance[VFUN_CTL_NAME_MAX + 1];
  vfun_ctl_answer act, rel;
  guest_calls c = {.fn = fn};
  if (guest_negotiate(g, fn, instance, sizeof instance) != 0) return;
  if (guest_activate(g, fn, instance, &act) == 0) {
    vfun_region r;
    if (guest_attach(g, fn, &act, &r) == 0) {
      const char *via = act.region == VFUN_REGION_MEMFD ? "memfd" : "ivshmem";
      uint8_t arg[8], warm[8];
      uint64_t result = 0;
      int ok = 1;
      for (int k = 0; ok && k < in->count; k++) {
        uint32_t R = in->reps[k], I = in->iterations[k];
        put_arg(arg, (uint32_t)g->opt.paper_n, R);
        put_arg(warm, (uint32_t)g->opt.paper_n, R < WARMUP_MAX_REPS ? R : WARMUP_MAX_REPS);
        for (uint32_t i = 0; ok && i < (I < WARMUP_MAX_CALLS ? I : WARMUP_MAX_CALLS); i++)
          ok = window_call(&r, &c, warm, g->opt.call_timeout_ms, &result) == 0;
        for (long run = 0; ok && run < g->opt.paper_runs; run++) {
          int64_t t0 = mono_ns();
          for (uint32_t i = 0; ok && i < I; i++) ok = window_call(&r, &c, arg, g->opt.call_timeout_ms, &result) == 0;
          int64_t ns = mono_ns() - t0;
          if (ok) report_run(via, fn, k, run, ns, I, result);
        }
      }
      vfun_close(&r);
    }
  }
  if (guest_release(g, fn, instance, &rel) == 0) guest_check_stats(fn, &c, &rel);
}

static int write_all(int fd, const uint8_t *b, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, uint8_t *b, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

/* One round trip over TCP: 0, or -1 (reported). */
static int tcp_call(int fd, const char *fn, const uint8_t *arg, uint64_t *result) {
  uint8_t reply[TCP_REPLY_BYTES];
  if (write_all(fd, arg, 8) != 0 || read_all(fd, reply, sizeof reply) != 0) {
    FAIL(fn, "paper-tcp", "the connection failed: %s", errno ? strerror(errno) : "closed by the server");
    return -1;
  }
  if (get_u32(reply) != 0) {
    FAIL(fn, "paper-tcp", "the server answered status %u", get_u32(reply));
    return -1;
  }
  *result = get_u64(reply + 4);
  return 0;
}

static void paper_tcp(guest *g, const paper_instances *in) {
  const char *fn = g->opt.paper_fn;
  char host[64];
  uint16_t port;
  if (paper_parse_endpoint(g->opt.paper_tcp, host, sizeof host, &port) != 0) {
    FAIL(fn, "paper-tcp", "--tcp '%.80s' is not IPv4:PORT", g->opt.paper_tcp);
    return;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &sa.sin_addr);
  int one = 1;
  if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    FAIL(fn, "paper-tcp", "cannot connect to %s:%u: %s", host, port, strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  out_begin("phase");
  out_str("fn", fn);
  out_str("phase", "tcp");
  out_bool("ok", 1);
  out_str("endpoint", g->opt.paper_tcp);
  out_end();
  uint8_t arg[8], warm[8];
  uint64_t result = 0;
  int ok = 1;
  for (int k = 0; ok && k < in->count; k++) {
    uint32_t R = in->reps[k], I = in->iterations[k];
    put_arg(arg, (uint32_t)g->opt.paper_n, R);
    put_arg(warm, (uint32_t)g->opt.paper_n, R < WARMUP_MAX_REPS ? R : WARMUP_MAX_REPS);
    for (uint32_t i = 0; ok && i < (I < WARMUP_MAX_CALLS ? I : WARMUP_MAX_CALLS); i++) ok = tcp_call(fd, fn, warm, &result) == 0;
    for (long run = 0; ok && run < g->opt.paper_runs; run++) {
      int64_t t0 = mono_ns();
      for (uint32_t i = 0; ok && i < I; i++) ok = tcp_call(fd, fn, arg, &result) == 0;
      int64_t ns = mono_ns() - t0;
      if (ok) report_run("tcp", fn, k, run, ns, I, result);
    }
  }
  close(fd);
}

void guest_paper(guest *g) {
  paper_instances in;
  char why[160];
  if (paper_parse_instances(g->opt.paper_instances, &in, why, sizeof why) != 0) {
    FAIL(g->opt.paper_fn, "paper", "%s", why);
    return;
  }
  paper_window(g, &in);
  if (g->opt.paper_tcp) paper_tcp(g, &in);
}
