/* vfun-guest --bench (vfun_guest_bench.h). */
#define _GNU_SOURCE
#include "vfun_guest_bench.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vfun.h"
#include "vfun_chan.h"
#include "vfun_guest_check.h"
#include "vfun_guest_out.h"
#include "vfun_guest_phases.h"
#include "vfun_guest_ref.h"

#define NET_TIMEOUT_MS 10000

static vfun_chan net_chan;

static double mono_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void print_bench(const char *path, const char *via, double *t, long n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  double sum = 0;
  for (long i = 0; i < n; i++) sum += t[i];
  long p99 = (long)((99 * n + 99) / 100) - 1; /* ceil(0.99 n) - 1 */
  long p90 = (long)((90 * n + 99) / 100) - 1;
  long p999 = (long)((999 * n + 999) / 1000) - 1;
  out_begin("bench");
  out_str("path", path);
  out_str("via", via);
  out_int("n", n);
  out_num("median_us", n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2);
  out_num("p90_us", t[p90 < 0 ? 0 : p90]);
  out_num("p99_us", t[p99 < 0 ? 0 : p99]);
  out_num("p999_us", t[p999 < 0 ? 0 : p999]);
  out_num("min_us", t[0]);
  out_num("mean_us", sum / (double)n);
  out_num("max_us", t[n - 1]);
  out_end();
}

/* The virtio-serial baseline: request u32 LE length (4) + the u32 LE argument; reply u32 LE status +
 * u32 LE length + payload. */
static void bench_net(guest *g, long n, double *t, uint64_t want) {
  char path[512], err[512];
  if (g->opt.net) snprintf(path, sizeof path, "%s", g->opt.net);
  else if (vfun_port_find("vfun.net", path, sizeof path) != 0) {
    FAIL("factorial", "bench-net", "no virtio-serial port named vfun.net (and no --net)");
    return;
  }
  if (vfun_chan_open(&net_chan, path, err, sizeof err) != 0) {
    FAIL("factorial", "bench-net", "%s", err);
    return;
  }
  uint8_t req[8], head[8], payload[4096];
  put_u32(req, 4);
  put_u32(req + 4, 51);
  long i = 0;
  for (; i < n; i++) {
    double t0 = mono_us();
    if (vfun_chan_write(&net_chan, req, sizeof req, NET_TIMEOUT_MS, err, sizeof err) != 0 ||
        vfun_chan_read_exact(&net_chan, head, sizeof head, NET_TIMEOUT_MS, err, sizeof err) != 0)
      break;
    uint32_t status = get_u32(head), len = get_u32(head + 4);
    if (len > sizeof payload) {
      snprintf(err, sizeof err, "reply of %u bytes (status %u), expected 8", len, status);
      break;
    }
    if (vfun_chan_read_exact(&net_chan, payload, len, NET_TIMEOUT_MS, err, sizeof err) != 0) break;
    t[i] = mono_us() - t0;
    if (status != 0) {
      snprintf(err, sizeof err, "round trip %ld: status %u: %.*s", i, status, (int)(len < 400 ? len : 400), (const char *)payload);
      break;
    }
    if (len != 8 || get_u64(payload) != want) {
      snprintf(err, sizeof err, "round trip %ld: %u bytes, value %llu; expected 8 bytes, %llu", i, len,
               len == 8 ? (unsigned long long)get_u64(payload) : 0ULL, (unsigned long long)want);
      break;
    }
  }
  vfun_chan_close(&net_chan);
  if (i < n) {
    FAIL("factorial", "bench-net", "%s", err);
    return;
  }
  print_bench("virtio-serial", path, t, n);
}

void guest_bench(guest *g, long n) {
  const char *fn = "factorial";
  char instance[VFUN_CTL_NAME_MAX + 1];
  vfun_ctl_answer act, rel;
  guest_calls c = {.fn = fn};
  double *t = malloc((size_t)n * sizeof *t);
  if (!t) {
    FAIL(fn, "bench", "cannot allocate %ld timings", n);
    return;
  }
  const uint64_t want = ref_factorial(51);
  if (guest_negotiate(g, fn, instance, sizeof instance) == 0) {
    if (guest_activate(g, fn, instance, &act) == 0) {
      vfun_region r;
      if (guest_attach(g, fn, &act, &r) == 0) {
        uint8_t arg[4];
        uint32_t err;
        put_u32(arg, 51);
        long i = 0;
        for (; i < n; i++) {
          double t0 = mono_us();
          int rc = guest_counted_call(&r, &c, arg, 4, "factorial(51)", &err);
          t[i] = mono_us() - t0;
          if (rc != VFUN_OK || c.result_len != 8 || get_u64(c.result) != want) {
            if (rc == VFUN_OK || rc == VFUN_ERR_SERVICE)
              FAIL(fn, "bench", "round trip %ld: %s, %u bytes, expected factorial(51) = %llu", i, out_rc_name(rc), c.result_len,
                   (unsigned long long)want);
            break;
          }
        }
        vfun_close(&r);
        if (i == n) {
          if (act.region == VFUN_REGION_MEMFD) print_bench("memfd", g->ctl.path, t, n);
          else print_bench("ivshmem", g->win.path, t, n);
        }
      }
      if (act.region == VFUN_REGION_WINDOW || g->opt.net) bench_net(g, n, t, want); /* the virtio-serial baseline of a VM */
    }
    if (guest_release(g, fn, instance, &rel) == 0) guest_check_stats(fn, &c, &rel);
  }
  free(t);
}
