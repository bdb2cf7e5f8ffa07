/*
 * vfun-guest: a VirtFun guest, written from docs/region-format.md and docs/operator-guide.md. All
 * four phases of a vFunction: negotiate, activate and release over the control channel (a
 * virtio-serial port named "vfun.control" in a virtual machine, or a Unix socket on the host), the
 * computation phase through the region vFunD placed the instance in: a slot of the ivshmem window
 * (PCI BAR 2, or a file on the host; polling only), or, for a process on the host, the two sealed
 * memfds fetched over a second connection to the control socket (op "region", §14; futex waits).
 *
 *   vfun-guest [--control PATH] [--window PATH] [--tenant ID] [--secret-file F] [--app NAME]
 *              [--check] [--bench N] [--net PATH] [--fail-on-release-missing]
 *              [--call FN --arg HEX [--repeat N] [--timeout-ms MS]]
 *
 * Output: one JSON object per line on stdout ({"vfun":"phase"|"call"|"check"|"bench"|"warning"|
 * "error"|"done", ...}); exit 0 only when everything passed. See README.md.
 *
 * Debug modes (used by the tests): --selftest-hash (stdin lines "<hex key>:<hex message>" ->
 * "<sha256(message)> <hmac(key, message)>"), --selftest-mac SECRET MESSAGE, --print-request OP
 * [--fn F --kind K --fallback true|false --instance I --nonce N --ts T], --parse-answer OP (stdin),
 * --fetch-region INSTANCE (fetch and map an instance's sealed region; counts open descriptors).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "vfun.h"
#include "vfun_chan.h"
#include "vfun_ctl.h"
#include "vfun_handover.h"
#include "vfun_json.h"
#include "vfun_sha256.h"
#include "vfun_window.h"

#define CTL_TIMEOUT_MS 30000
#define CALL_TIMEOUT_MS 30000
#define NET_TIMEOUT_MS 10000
#define MAX_BENCH 10000000L

static struct {
  const char *control, *window, *tenant_arg, *secret_file, *app, *net;
  const char *call_fn, *call_arg, *fetch_instance;
  int check, fail_on_release_missing;
  long bench, repeat;
  int call_timeout_ms;
  char tenant[VFUN_CTL_NAME_MAX + 1];
  char secret[4097];
  size_t secret_len;
  vfun_chan ctl;
  int ctl_open;
  vfun_window win;
  int win_open;
  char win_err[512];
  int failures;
} g;

static vfun_chan net_chan;

/* ===================================================================== output */

static void jstr(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p == '\n') fputs("\\n", stdout);
    else if (*p == '\r') fputs("\\r", stdout);
    else if (*p == '\t') fputs("\\t", stdout);
    else if (*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}
static void out_begin(const char *what) { printf("{\"vfun\":\"%s\"", what); }
static void out_str(const char *k, const char *v) {
  printf(",\"%s\":", k);
  jstr(v);
}
static void out_int(const char *k, long long v) { printf(",\"%s\":%lld", k, v); }
static void out_num(const char *k, double v) { printf(",\"%s\":%.2f", k, v); }
static void out_bool(const char *k, int v) { printf(",\"%s\":%s", k, v ? "true" : "false"); }
static void out_raw(const char *k, const char *json) { printf(",\"%s\":%s", k, json); }
static void out_end(void) {
  fputs("}\n", stdout);
  fflush(stdout);
}

static void report(int failure, const char *fn, const char *phase, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void report(int failure, const char *fn, const char *phase, const char *reason, const char *fmt, ...) {
  char detail[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (failure) g.failures++;
  out_begin(failure ? "error" : "warning");
  if (fn) out_str("fn", fn);
  out_str("phase", phase);
  if (reason) out_str("reason", reason);
  out_str("detail", detail);
  out_end();
}
#define FAIL(fn, phase, ...) report(1, fn, phase, NULL, __VA_ARGS__)

/* ===================================================================== reference results */

static uint64_t ref_factorial(uint32_t n) {
  uint64_t r = 1;
  for (uint32_t i = 2; i <= n; i++) r *= i;
  return r;
}

static uint64_t ref_fibonacci(uint32_t n) {
  uint64_t a = 0, b = 1;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

static uint32_t ref_crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static const char *rc_name(int rc) {
  switch (rc) {
    case VFUN_OK: return "OK";
    case VFUN_ERR_SYS: return "SYS";
    case VFUN_ERR_HEADER: return "HEADER";
    case VFUN_ERR_SERVICE: return "SERVICE_ERROR";
    case VFUN_ERR_TIMEOUT: return "CHANNEL_TIMEOUT";
    case VFUN_ERR_TOO_BIG: return "TOO_BIG";
    case VFUN_ERR_BUSY: return "BUSY";
    case VFUN_ERR_PROTOCOL: return "CHANNEL_PROTOCOL";
    case VFUN_ERR_CLOSED: return "CHANNEL_CLOSED";
    case VFUN_ERR_INSTANCE_CLOSED: return "INSTANCE_CLOSED";
    case VFUN_ERR_REGION: return "REGION";
    default: return "?";
  }
}

static const char *const ERROR_NAMES[] = {"", "BAD_COMMAND", "BAD_LENGTH", "BAD_SEQ", "DRIVER_FAULT", "BAD_INPUT", "NO_RESULT"};

/* ===================================================================== control phases */

static double mono_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Send a request; 1 for ok:true, 0 for ok:false (a refusal), -1 when there was no usable answer. */
static int control(const char *fn, vfun_ctl_request *rq, vfun_ctl_answer *a) {
  char err[512];
  rq->tenant = g.tenant;
  rq->nonce = NULL;
  rq->ts = -1;
  if (!g.ctl_open) {
    FAIL(fn, rq->op, "no control channel");
    return -1;
  }
  if (vfun_ctl_call(&g.ctl, rq, g.secret, g.secret_len, a, CTL_TIMEOUT_MS, err, sizeof err) != 0) {
    FAIL(fn, rq->op, "%s", err);
    return -1;
  }
  return a->ok;
}

static int negotiate(const char *fn, char *instance, size_t cap) {
  vfun_ctl_request rq = {.op = "negotiate", .app = g.app, .fn = fn, .kind = "sw", .fallback = -1};
  vfun_ctl_answer a;
  int r = control(fn, &rq, &a);
  if (r == 0) report(1, fn, "negotiate", a.reason, "%s", a.detail);
  if (r != 1) return -1;
  if (strcmp(a.kind, "sw") != 0) {
    FAIL(fn, "negotiate", "asked for kind sw, vFunD granted %s", a.kind);
    return -1;
  }
  snprintf(instance, cap, "%s", a.instance);
  out_begin("phase");
  out_str("fn", fn);
  out_str("phase", "negotiate");
  out_bool("ok", 1);
  out_str("instance", a.instance);
  out_str("kind", a.kind);
  out_end();
  return 0;
}

static int activate(const char *fn, const char *instance, vfun_ctl_answer *a) {
  vfun_ctl_request rq = {.op = "activate", .instance = instance, .fallback = -1};
  int r = control(fn, &rq, a);
  if (r == 0) report(1, fn, "activate", a->reason, "%s", a->detail);
  if (r != 1) return -1;
  if (strcmp(a->instance, instance) != 0) {
    FAIL(fn, "activate", "asked to activate %s, the answer is about %s", instance, a->instance);
    return -1;
  }
  out_begin("phase");
  out_str("fn", fn);
  out_str("phase", "activate");
  out_bool("ok", 1);
  out_str("instance", a->instance);
  out_int("capacity", a->capacity);
  if (a->region == VFUN_REGION_WINDOW) {
    out_str("region", "window");
    out_int("slot", a->slot);
    out_int("dataoutOffset", a->dataout_offset);
    out_int("datainOffset", a->datain_offset);
  } else {
    out_str("region", "memfd");
  }
  out_end();
  return 0;
}

/* Release; returns 0 and the stats in *a, or -1. */
static int release(const char *fn, const char *instance, vfun_ctl_answer *a) {
  vfun_ctl_request rq = {.op = "release", .instance = instance, .fallback = -1};
  int r = control(fn, &rq, a);
  if (r == 0) report(1, fn, "release", a->reason, "%s", a->detail);
  if (r != 1) return -1;
  out_begin("phase");
  out_str("fn", fn);
  out_str("phase", "release");
  out_bool("ok", 1);
  out_str("instance", instance);
  out_int("calls", a->calls);
  out_raw("errors", a->errors);
  out_end();
  /* vFunD retracts the entry (state 0) before it answers a release (§13.1). */
  vfun_window_entry e;
  if (g.win_open && vfun_window_lookup(&g.win, instance, &e, NULL, 0) == 0)
    report(g.fail_on_release_missing, fn, "release", NULL,
           "instance %s still has an active entry in the window (slot %u) after its release", instance, e.slot);
  return 0;
}

/* Sealed memory (§14): fetch the two descriptors over a second connection to the control socket,
 * map them (seals, sizes and headers checked), close them. Blocking waits (futex): same host. */
static int attach_memfd(const char *fn, const vfun_ctl_answer *act, vfun_region *r) {
  char err[512];
  if (!g.ctl.is_socket) {
    FAIL(fn, "region", "vFunD handed %s over as sealed memory, which a port cannot carry: a VM tenant needs an ivshmem window",
         act->instance);
    return -1;
  }
  vfun_region_fds rf;
  vfun_ctl_answer ra;
  int k = vfun_region_fetch(g.ctl.path, g.tenant, g.secret, g.secret_len, act->instance, CTL_TIMEOUT_MS, &rf, &ra, err, sizeof err);
  if (k == 0) report(1, fn, "region", ra.reason, "%s", ra.detail);
  if (k < 0) FAIL(fn, "region", "%s", err);
  if (k != 1) return -1;
  int rc;
  if ((long long)rf.capacity != act->capacity) {
    snprintf(err, sizeof err, "the region's capacity %u differs from the activation answer's %lld", rf.capacity, act->capacity);
    rc = VFUN_ERR_HEADER;
  } else {
    rc = vfun_map_fds(r, rf.dataout_fd, rf.datain_fd, rf.capacity, err, sizeof err);
  }
  close(rf.dataout_fd); /* mapped (or refused): the descriptors are not needed any more */
  close(rf.datain_fd);
  if (rc != VFUN_OK) {
    FAIL(fn, "attach", "vfun_map_fds: %s (%d): %s", rc_name(rc), rc, err);
    return -1;
  }
  out_begin("phase");
  out_str("fn", fn);
  out_str("phase", "attach");
  out_bool("ok", 1);
  out_str("backing", "memfd");
  out_int("capacity", r->capacity);
  out_end();
  return 0;
}

/* Attach to the region the activation answer names: sealed memory, or (below) a window slot. */
static int attach_window(const char *fn, const vfun_ctl_answer *act, vfun_region *r);
static int attach(const char *fn, const vfun_ctl_answer *act, vfun_region *r) {
  return act->region == VFUN_REGION_MEMFD ? attach_memfd(fn, act, r) : attach_window(fn, act, r);
}

/* Find the instance's entry, check it against the activation answer, attach (poll-only). */
static int attach_window(const char *fn, const vfun_ctl_answer *act, vfun_region *r) {
  char err[512];
  vfun_window_entry e;
  if (!g.win_open) {
    FAIL(fn, "window", "no window: %s", g.win_err);
    return -1;
  }
  if (vfun_window_lookup(&g.win, act->instance, &e, err, sizeof err) != 0) {
    FAIL(fn, "window", "%s", err);
    return -1;
  }
  if ((long long)e.slot != act->slot || (long long)e.capacity != act->capacity || (long long)e.dataout_offset != act->dataout_offset ||
      (long long)e.datain_offset != act->datain_offset) {
    FAIL(fn, "window",
         "the window entry (slot %u, capacity %u, dataoutOffset %u, datainOffset %u) differs from the activation answer "
         "(slot %lld, capacity %lld, dataoutOffset %lld, datainOffset %lld)",
         e.slot, e.capacity, e.dataout_offset, e.datain_offset, act->slot, act->capacity, act->dataout_offset,
         act->datain_offset);
    return -1;
  }
  if (strcmp(e.fn, fn) != 0 || strcmp(e.app, g.app) != 0)
    report(0, fn, "window", NULL, "the entry of slot %u names %s/%s, expected %s/%s", e.slot, e.app, e.fn, g.app, fn);
  int rc = vfun_attach(r, g.win.base + e.dataout_offset, g.win.base + e.datain_offset, vfun_window_area_bytes(e.capacity), 1);
  if (rc != VFUN_OK) {
    FAIL(fn, "attach", "vfun_attach: %s (%d)", rc_name(rc), rc);
    return -1;
  }
  out_begin("phase");
  out_str("fn", fn);
  out_str("phase", "attach");
  out_bool("ok", 1);
  out_int("slot", e.slot);
  out_int("serial", e.serial);
  out_int("capacity", e.capacity);
  out_end();
  return 0;
}

/* ===================================================================== --check */

typedef struct {
  const char *fn;
  int answered;   /* requests the service answered */
  int bad_input;  /* of which BAD_INPUT */
  int desync;     /* a call went unanswered or was malformed: stop calling */
  uint8_t result[64];
  uint32_t result_len;
} calls;

/* One call. Returns the vfun_call code; counts answered calls; reports transport failures. */
static int call(vfun_region *r, calls *c, const void *arg, uint32_t len, const char *what, uint32_t *err_code) {
  if (c->desync) return VFUN_ERR_BUSY;
  *err_code = 0;
  int rc = vfun_call(r, arg, len, c->result, sizeof c->result, &c->result_len, err_code, CALL_TIMEOUT_MS);
  if (rc == VFUN_OK || rc == VFUN_ERR_SERVICE) {
    c->answered++;
    if (rc == VFUN_ERR_SERVICE && *err_code == VFUN_BAD_INPUT) c->bad_input++;
    return rc;
  }
  FAIL(c->fn, "call", "%s: %s (%d): %s", what, rc_name(rc), rc, vfun_strerror(rc));
  if (rc != VFUN_ERR_TOO_BIG) c->desync = 1;
  return rc;
}

static void expect_u64(vfun_region *r, calls *c, const char *fn, uint32_t n, uint64_t want) {
  uint8_t arg[4];
  uint32_t err;
  char what[64];
  snprintf(what, sizeof what, "%s(%u)", fn, n);
  put_u32(arg, n);
  int rc = call(r, c, arg, 4, what, &err);
  if (rc == VFUN_ERR_SERVICE) FAIL(fn, "call", "%s: service error %u (%s)", what, err, err <= 6 ? ERROR_NAMES[err] : "?");
  if (rc != VFUN_OK) return;
  if (c->result_len != 8) {
    FAIL(fn, "call", "%s: result of %u bytes, expected 8", what, c->result_len);
    return;
  }
  uint64_t got = get_u64(c->result);
  if (got != want) FAIL(fn, "call", "%s = %llu, expected %llu", what, (unsigned long long)got, (unsigned long long)want);
}

static void expect_crc(vfun_region *r, calls *c, const uint8_t *data, uint32_t n, const char *label) {
  uint32_t err;
  char what[96];
  snprintf(what, sizeof what, "crc32(%s, %u bytes)", label, n);
  int rc = call(r, c, data, n, what, &err);
  if (rc == VFUN_ERR_SERVICE) FAIL("crc32", "call", "%s: service error %u (%s)", what, err, err <= 6 ? ERROR_NAMES[err] : "?");
  if (rc != VFUN_OK) return;
  if (c->result_len != 4) {
    FAIL("crc32", "call", "%s: result of %u bytes, expected 4", what, c->result_len);
    return;
  }
  uint32_t got = get_u32(c->result), want = ref_crc32(data, n);
  if (got != want) FAIL("crc32", "call", "%s = 0x%08x, expected 0x%08x", what, got, want);
}

static void run_cases(vfun_region *r, calls *c, uint32_t capacity) {
  if (strcmp(c->fn, "factorial") == 0) {
    static const uint32_t ns[] = {0, 1, 5, 20, 51};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) expect_u64(r, c, "factorial", ns[i], ref_factorial(ns[i]));
    /* A refused argument: 3 bytes, where factorial takes exactly 4. */
    uint8_t bad[3] = {51, 0, 0};
    uint32_t err;
    int rc = call(r, c, bad, 3, "factorial(3-byte argument)", &err);
    if (rc == VFUN_OK) FAIL("factorial", "call", "a 3-byte argument was accepted (expected service error 5 BAD_INPUT)");
    else if (rc == VFUN_ERR_SERVICE && err != VFUN_BAD_INPUT)
      FAIL("factorial", "call", "a 3-byte argument: service error %u, expected 5 (BAD_INPUT)", err);
    /* and the service goes on */
    expect_u64(r, c, "factorial", 10, ref_factorial(10));
  } else if (strcmp(c->fn, "fibonacci") == 0) {
    static const uint32_t ns[] = {0, 1, 2, 10, 93};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) expect_u64(r, c, "fibonacci", ns[i], ref_fibonacci(ns[i]));
  } else {
    static const char *const texts[] = {"", "a", "123456789", "The quick brown fox jumps over the lazy dog"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
      expect_crc(r, c, (const uint8_t *)texts[i], (uint32_t)strlen(texts[i]), "text");
    uint32_t big = capacity > 4096 ? capacity : 4096;
    uint8_t *p = malloc(big);
    if (!p) {
      FAIL("crc32", "call", "out of memory");
      return;
    }
    for (uint32_t i = 0; i < big; i++) p[i] = (uint8_t)(i * 31u + 7u);
    if (capacity >= 4096) expect_crc(r, c, p, 4096, "pattern");
    if (capacity > 4096) expect_crc(r, c, p, capacity, "pattern, full capacity");
    free(p);
  }
}

static void check_stats(const char *fn, const calls *c, const vfun_ctl_answer *rel) {
  if (c->desync) {
    report(0, fn, "release", NULL, "a call went unanswered: the stats (%lld calls) are not compared", rel->calls);
    return;
  }
  if (rel->calls != c->answered)
    FAIL(fn, "release", "vFunD counted %lld calls, this guest made %d", rel->calls, c->answered);
  for (int code = 1; code <= 6; code++) {
    char path[32];
    vfun_json_span v;
    long long n = 0;
    snprintf(path, sizeof path, "%s", ERROR_NAMES[code]);
    int r = vfun_json_get(rel->errors, strlen(rel->errors), path, &v);
    if (r == 1 && vfun_json_int(v, &n) != 0) n = -1;
    long long want = code == VFUN_BAD_INPUT ? c->bad_input : 0;
    if (r < 0 || n != want) FAIL(fn, "release", "stats.errors.%s is %lld, expected %lld (errors %s)", ERROR_NAMES[code], n, want, rel->errors);
  }
}

static void check_function(const char *fn) {
  int before = g.failures;
  char instance[VFUN_CTL_NAME_MAX + 1];
  vfun_ctl_answer act, rel;
  calls c = {.fn = fn};
  if (negotiate(fn, instance, sizeof instance) == 0) {
    if (activate(fn, instance, &act) == 0) {
      vfun_region r;
      if (attach(fn, &act, &r) == 0) {
        run_cases(&r, &c, (uint32_t)act.capacity);
        vfun_close(&r);
      }
    }
    if (release(fn, instance, &rel) == 0) check_stats(fn, &c, &rel);
  }
  out_begin("check");
  out_str("fn", fn);
  out_int("calls", c.answered);
  out_bool("ok", g.failures == before);
  out_end();
}

static void check_unknown_instance(void) {
  int before = g.failures;
  char nonce[33], instance[64];
  vfun_ctl_nonce(nonce);
  snprintf(instance, sizeof instance, "no-such-instance-%s", nonce);
  vfun_ctl_request rq = {.op = "activate", .instance = instance, .fallback = -1};
  vfun_ctl_answer a;
  int r = control("activate-unknown", &rq, &a);
  if (r == 1) {
    FAIL("activate-unknown", "activate", "vFunD activated %s, an instance that was never negotiated", instance);
    release("activate-unknown", a.instance, &a);
  }
  out_begin("check");
  out_str("fn", "activate-unknown");
  out_bool("ok", r == 0 && g.failures == before);
  if (r == 0) {
    out_str("reason", a.reason);
    out_str("detail", a.detail);
  }
  out_end();
}

static void self_check(void) {
  if (ref_factorial(51) != 18284192274659147776ULL || ref_fibonacci(93) != 12200160415121876738ULL ||
      ref_crc32((const uint8_t *)"123456789", 9) != 0xCBF43926u)
    FAIL(NULL, "self-check", "the C reference functions are wrong");
}

/* ===================================================================== --bench */

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

static void bench_net(long n, double *t, uint64_t want) {
  char path[512], err[512];
  if (g.net) snprintf(path, sizeof path, "%s", g.net);
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

static void bench(long n) {
  const char *fn = "factorial";
  char instance[VFUN_CTL_NAME_MAX + 1];
  vfun_ctl_answer act, rel;
  calls c = {.fn = fn};
  double *t = malloc((size_t)n * sizeof *t);
  if (!t) {
    FAIL(fn, "bench", "cannot allocate %ld timings", n);
    return;
  }
  const uint64_t want = ref_factorial(51);
  if (negotiate(fn, instance, sizeof instance) == 0) {
    if (activate(fn, instance, &act) == 0) {
      vfun_region r;
      if (attach(fn, &act, &r) == 0) {
        uint8_t arg[4];
        uint32_t err;
        put_u32(arg, 51);
        long i = 0;
        for (; i < n; i++) {
          double t0 = mono_us();
          int rc = call(&r, &c, arg, 4, "factorial(51)", &err);
          t[i] = mono_us() - t0;
          if (rc != VFUN_OK || c.result_len != 8 || get_u64(c.result) != want) {
            if (rc == VFUN_OK || rc == VFUN_ERR_SERVICE)
              FAIL(fn, "bench", "round trip %ld: %s, %u bytes, expected factorial(51) = %llu", i, rc_name(rc), c.result_len,
                   (unsigned long long)want);
            break;
          }
        }
        vfun_close(&r);
        if (i == n) {
          if (act.region == VFUN_REGION_MEMFD) print_bench("memfd", g.ctl.path, t, n);
          else print_bench("ivshmem", g.win.path, t, n);
        }
      }
      if (act.region == VFUN_REGION_WINDOW || g.net) bench_net(n, t, want); /* the virtio-serial baseline of a VM */
    }
    if (release(fn, instance, &rel) == 0) check_stats(fn, &c, &rel);
  }
  free(t);
}

/* ===================================================================== configuration */

/* Read a small file, trim white space at both ends. 0 or -1 (errno). */
static int read_trimmed(const char *path, char *out, size_t cap, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t n = fread(out, 1, cap - 1, f);
  int toolong = !feof(f) && fgetc(f) != EOF;
  fclose(f);
  if (toolong) {
    errno = EFBIG;
    return -1;
  }
  out[n] = '\0';
  size_t s = 0;
  while (s < n && (out[s] == ' ' || out[s] == '\t' || out[s] == '\n' || out[s] == '\r')) s++;
  while (n > s && (out[n - 1] == ' ' || out[n - 1] == '\t' || out[n - 1] == '\n' || out[n - 1] == '\r')) n--;
  memmove(out, out + s, n - s);
  out[n - s] = '\0';
  if (len) *len = n - s;
  return 0;
}

static int load_identity(void) {
  if (g.tenant_arg) snprintf(g.tenant, sizeof g.tenant, "%s", g.tenant_arg);
  else if (read_trimmed("/etc/vfun/tenant", g.tenant, sizeof g.tenant, NULL) != 0) {
    FAIL(NULL, "config", "cannot read /etc/vfun/tenant (or give --tenant): %s", strerror(errno));
    return -1;
  }
  if (!vfun_ctl_name_ok(g.tenant)) {
    FAIL(NULL, "config", "tenant '%.64s' is not 1..%d characters of A-Z a-z 0-9 _ -", g.tenant, VFUN_CTL_NAME_MAX);
    return -1;
  }
  const char *sf = g.secret_file ? g.secret_file : "/etc/vfun/secret";
  if (read_trimmed(sf, g.secret, sizeof g.secret, &g.secret_len) != 0) {
    FAIL(NULL, "config", "cannot read the tenant secret from %s: %s", sf, strerror(errno));
    return -1;
  }
  if (g.secret_len == 0) {
    FAIL(NULL, "config", "the tenant secret in %s is empty", sf);
    return -1;
  }
  if (!vfun_ctl_name_ok(g.app)) {
    FAIL(NULL, "config", "app '%.64s' is not 1..%d characters of A-Z a-z 0-9 _ -", g.app, VFUN_CTL_NAME_MAX);
    return -1;
  }
  return 0;
}

/* ===================================================================== debug modes */

static int unhex(const char *s, size_t n, uint8_t *out) {
  if (n % 2) return -1;
  for (size_t i = 0; i < n; i += 2) {
    int hi = -1, lo = -1;
    char a = s[i], b = s[i + 1];
    hi = a >= '0' && a <= '9' ? a - '0' : a >= 'a' && a <= 'f' ? a - 'a' + 10 : a >= 'A' && a <= 'F' ? a - 'A' + 10 : -1;
    lo = b >= '0' && b <= '9' ? b - '0' : b >= 'a' && b <= 'f' ? b - 'a' + 10 : b >= 'A' && b <= 'F' ? b - 'A' + 10 : -1;
    if (hi < 0 || lo < 0) return -1;
    out[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* Descriptors open in this process (/proc/self/fd, less the one reading it), or -1. */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL)
    if (ent->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;
}

/* ===================================================================== --call */

/* Negotiate FN, activate, attach, call it --repeat times with the bytes of --arg (one {"vfun":"call"}
 * line per answer; the first failure to get one ends the calls), release. */
static void call_mode(void) {
  const char *fn = g.call_fn;
  size_t hex_len = strlen(g.call_arg);
  uint8_t *arg = malloc(hex_len / 2 + 1);
  if (!arg || unhex(g.call_arg, hex_len, arg) != 0) {
    FAIL(fn, "call", "--arg must be an even number of hex digits");
    free(arg);
    return;
  }
  char instance[VFUN_CTL_NAME_MAX + 1];
  vfun_ctl_answer act, rel;
  if (negotiate(fn, instance, sizeof instance) == 0) {
    if (activate(fn, instance, &act) == 0) {
      vfun_region r;
      uint8_t *res;
      if (attach(fn, &act, &r) == 0 && (res = malloc(r.capacity)) != NULL) {
        for (long i = 1; i <= g.repeat; i++) {
          uint32_t len = 0, code = 0;
          int rc = vfun_call(&r, arg, (uint32_t)(hex_len / 2), res, r.capacity, &len, &code, g.call_timeout_ms);
          if (rc != VFUN_OK && rc != VFUN_ERR_SERVICE) {
            FAIL(fn, "call", "%s call %ld: %s (%d): %s", fn, i, rc_name(rc), rc, vfun_strerror(rc));
            break;
          }
          out_begin("call");
          out_str("fn", fn);
          out_int("n", i);
          out_bool("ok", rc == VFUN_OK);
          if (rc == VFUN_OK) {
            char hex[2 * 256 + 1];
            vfun_hex(res, len < 256 ? len : 256, hex);
            out_int("len", len);
            out_str("result", hex);
          } else {
            out_int("error", code);
            out_str("errorName", code <= 6 ? ERROR_NAMES[code] : "?");
          }
          out_end();
        }
        free(res);
        vfun_close(&r);
      }
    }
    release(fn, instance, &rel);
  }
  free(arg);
}

/* The number the next descriptor opened gets (the lowest free one), or -1. */
static int next_fd(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) close(fd);
  return fd;
}

/* --fetch-region INSTANCE: fetch the instance's sealed region, map it, unmap it; say how many
 * descriptors were open before and after (every path must close what it received), and which
 * number the next one opened got at the start. */
static void fetch_region_mode(void) {
  char err[512];
  int before = count_fds(), next = next_fd();
  vfun_region_fds rf;
  vfun_ctl_answer ra;
  int k = vfun_region_fetch(g.control, g.tenant, g.secret, g.secret_len, g.fetch_instance, g.call_timeout_ms, &rf, &ra, err, sizeof err);
  if (k == 1) {
    vfun_region r;
    int rc = vfun_map_fds(&r, rf.dataout_fd, rf.datain_fd, rf.capacity, err, sizeof err);
    close(rf.dataout_fd);
    close(rf.datain_fd);
    if (rc == VFUN_OK) {
      out_begin("region");
      out_bool("ok", 1);
      out_str("instance", ra.instance);
      out_int("capacity", r.capacity);
      out_int("bytes", (long long)r.bytes);
      out_end();
      vfun_close(&r);
    } else {
      FAIL(NULL, "attach", "vfun_map_fds: %s (%d): %s", rc_name(rc), rc, err);
    }
  } else if (k == 0) {
    report(1, NULL, "region", ra.reason, "%s", ra.detail);
  } else {
    FAIL(NULL, "region", "%s", err);
  }
  out_begin("fds");
  out_int("before", before);
  out_int("after", count_fds());
  out_int("next", next);
  out_end();
}

/* stdin lines "<hex key>:<hex message>" -> "<sha256(message)> <hmac-sha256(key, message)>" */
static int selftest_hash(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    char *colon = strchr(line, ':');
    if (!colon) {
      fprintf(stderr, "selftest-hash: line without ':'\n");
      return 2;
    }
    size_t kl = (size_t)(colon - line), ml = (size_t)n - kl - 1;
    uint8_t *key = malloc(kl / 2 + 1), *msg = malloc(ml / 2 + 1);
    if (!key || !msg || unhex(line, kl, key) != 0 || unhex(colon + 1, ml, msg) != 0) {
      fprintf(stderr, "selftest-hash: bad hex\n");
      return 2;
    }
    uint8_t d[32], m[32];
    char dh[65], mh[65];
    vfun_sha256(msg, ml / 2, d);
    vfun_hmac_sha256(key, kl / 2, msg, ml / 2, m);
    vfun_hex(d, 32, dh);
    vfun_hex(m, 32, mh);
    printf("%s %s\n", dh, mh);
    free(key);
    free(msg);
  }
  free(line);
  return 0;
}

static int parse_answer_mode(const char *op) {
  char *line = NULL, err[512];
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n < 0) n = 0;
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  vfun_ctl_answer a;
  if (vfun_ctl_parse_answer(line ? line : "", (size_t)n, op, &a, err, sizeof err) != 0) {
    out_begin("error");
    out_str("phase", "parse");
    out_str("detail", err);
    out_end();
    free(line);
    return 1;
  }
  out_begin("answer");
  out_bool("ok", a.ok);
  if (a.ok) {
    out_str("op", a.op);
    if (a.instance[0]) out_str("instance", a.instance);
    if (a.kind[0]) out_str("kind", a.kind);
    if (strcmp(op, "activate") == 0 || strcmp(op, "region") == 0) out_int("capacity", a.capacity);
    if (strcmp(op, "activate") == 0) {
      out_str("region", a.region == VFUN_REGION_WINDOW ? "window" : "memfd");
      if (a.region == VFUN_REGION_WINDOW) {
        out_int("slot", a.slot);
        out_int("dataoutOffset", a.dataout_offset);
        out_int("datainOffset", a.datain_offset);
      }
    }
    if (strcmp(op, "release") == 0) {
      out_int("calls", a.calls);
      out_raw("errors", a.errors);
    }
  } else {
    out_str("reason", a.reason);
    out_str("detail", a.detail);
  }
  out_end();
  free(line);
  return 0;
}

/* ===================================================================== main */

static int usage(const char *why) {
  if (why) fprintf(stderr, "vfun-guest: %s\n", why);
  fprintf(stderr,
          "usage: vfun-guest [--control PATH] [--window PATH] [--tenant ID] [--secret-file F] [--app NAME]\n"
          "                  [--check] [--bench N] [--net PATH] [--fail-on-release-missing]\n"
          "                  [--call FN --arg HEX [--repeat N] [--timeout-ms MS]]\n");
  return 2;
}

static int done(void) {
  out_begin("done");
  out_bool("ok", g.failures == 0);
  out_int("failures", g.failures);
  out_end();
  return g.failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  const char *print_op = NULL, *parse_op = NULL, *p_fn = NULL, *p_kind = "sw", *p_instance = NULL, *p_nonce = NULL;
  const char *bench_s = NULL, *ts_s = NULL, *fallback_s = NULL, *repeat_s = NULL, *timeout_s = NULL;
  g.app = "vmapp";
  const struct {
    const char *name;
    const char **dst;
  } valued[] = {{"--control", &g.control},     {"--window", &g.window},      {"--tenant", &g.tenant_arg},
                {"--secret-file", &g.secret_file}, {"--app", &g.app},       {"--net", &g.net},
                {"--bench", &bench_s},         {"--print-request", &print_op}, {"--parse-answer", &parse_op},
                {"--fn", &p_fn},               {"--kind", &p_kind},          {"--instance", &p_instance},
                {"--nonce", &p_nonce},         {"--ts", &ts_s},              {"--fallback", &fallback_s},
                {"--call", &g.call_fn},        {"--arg", &g.call_arg},       {"--repeat", &repeat_s},
                {"--timeout-ms", &timeout_s},  {"--fetch-region", &g.fetch_instance}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int taken = 0;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
      if (strcmp(a, valued[k].name) != 0) continue;
      if (i + 1 >= argc) {
        char why[96];
        snprintf(why, sizeof why, "%s needs a value", a);
        return usage(why);
      }
      *valued[k].dst = argv[++i];
      taken = 1;
      break;
    }
    if (taken) continue;
    if (strcmp(a, "--check") == 0) g.check = 1;
    else if (strcmp(a, "--fail-on-release-missing") == 0) g.fail_on_release_missing = 1;
    else if (strcmp(a, "--selftest-hash") == 0) return selftest_hash();
    else if (strcmp(a, "--selftest-mac") == 0) {
      if (i + 2 >= argc) return usage("--selftest-mac SECRET MESSAGE");
      uint8_t m[32];
      char h[65];
      vfun_hmac_sha256(argv[i + 1], strlen(argv[i + 1]), argv[i + 2], strlen(argv[i + 2]), m);
      vfun_hex(m, 32, h);
      printf("%s\n", h);
      return 0;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(NULL);
      return 0;
    } else {
      char why[128];
      snprintf(why, sizeof why, "unknown option %.64s", a);
      return usage(why);
    }
  }
  if (bench_s) {
    char *end;
    g.bench = strtol(bench_s, &end, 10);
    if (*end || g.bench < 1 || g.bench > MAX_BENCH) return usage("--bench takes a count in 1..10000000");
  }
  g.repeat = 1;
  if (repeat_s) {
    char *end;
    g.repeat = strtol(repeat_s, &end, 10);
    if (*end || g.repeat < 1 || g.repeat > MAX_BENCH) return usage("--repeat takes a count in 1..10000000");
  }
  g.call_timeout_ms = CALL_TIMEOUT_MS;
  if (timeout_s) {
    char *end;
    long t = strtol(timeout_s, &end, 10);
    if (*end || t < 1 || t > 24L * 3600 * 1000) return usage("--timeout-ms takes 1..86400000");
    g.call_timeout_ms = (int)t;
  }
  if (g.call_fn && (!g.call_arg || !vfun_ctl_name_ok(g.call_fn))) return usage("--call FN needs a function name and --arg HEX");
  int p_fallback = -1;
  if (fallback_s) {
    p_fallback = strcmp(fallback_s, "true") == 0 ? 1 : strcmp(fallback_s, "false") == 0 ? 0 : -2;
    if (p_fallback == -2) return usage("--fallback true|false");
  }
  long long p_ts = ts_s ? strtoll(ts_s, NULL, 10) : -1;

  if (parse_op) return parse_answer_mode(parse_op);
  if (load_identity() != 0) return done();
  if (print_op) {
    char line[VFUN_CTL_MAX_LINE + 1], err[512];
    vfun_ctl_request rq = {.op = print_op, .tenant = g.tenant, .app = g.app, .fn = p_fn, .kind = p_kind,
                           .fallback = p_fallback, .instance = p_instance, .nonce = p_nonce, .ts = p_ts};
    if (vfun_ctl_build(&rq, g.secret, g.secret_len, line, sizeof line, err, sizeof err) < 0) {
      fprintf(stderr, "vfun-guest: %s\n", err);
      return 1;
    }
    fputs(line, stdout);
    return 0;
  }
  if (g.fetch_instance) {
    if (!g.control) return usage("--fetch-region needs --control SOCKET");
    fetch_region_mode();
    return done();
  }
  if (!g.check && !g.bench && !g.call_fn) g.check = 1;
  const int fds_at_start = count_fds();

  char path[512], err[512];
  if (g.control) snprintf(path, sizeof path, "%s", g.control);
  else if (vfun_port_find(VFUN_CTL_PORT_NAME, path, sizeof path) != 0) {
    FAIL(NULL, "control", "no virtio-serial port named %s (and no --control)", VFUN_CTL_PORT_NAME);
    return done();
  }
  if (vfun_chan_open(&g.ctl, path, err, sizeof err) != 0) {
    FAIL(NULL, "control", "%s", err);
    return done();
  }
  g.ctl_open = 1;
  /* In a VM (a port) regions are slots of the window. On the host (a Unix socket) vFunD hands a
   * process tenant sealed memory, and a window is opened only when one is given (a VM tenant's
   * window file, to run the VM's guest on the host). */
  if (!g.window && g.ctl.is_socket) {
    snprintf(g.win_err, sizeof g.win_err, "no --window given: on the host only sealed-memory regions can be used");
  } else if (vfun_window_open(&g.win, g.window, g.win_err, sizeof g.win_err) == 0) {
    g.win_open = 1;
    out_begin("phase");
    out_str("phase", "window");
    out_bool("ok", 1);
    out_str("path", g.win.path);
    out_int("windowBytes", g.win.window_bytes);
    out_int("slotCount", g.win.slot_count);
    out_int("slotBytes", g.win.slot_bytes);
    out_end();
  } else {
    FAIL(NULL, "window", "%s", g.win_err);
  }

  self_check();
  if (g.check) {
    static const char *const fns[] = {"factorial", "fibonacci", "crc32"};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) check_function(fns[i]);
    check_unknown_instance();
  }
  if (g.bench) bench(g.bench);
  if (g.call_fn) call_mode();

  vfun_chan_close(&g.ctl);
  if (g.win_open) vfun_window_close(&g.win);
  int fds_at_end = count_fds();
  if (fds_at_start >= 0 && fds_at_end != fds_at_start)
    FAIL(NULL, "descriptors", "%d descriptors open at the end, %d at the start", fds_at_end, fds_at_start);
  return done();
}
