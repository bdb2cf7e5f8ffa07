/* vfun-guest --check (vfun_guest_check.h). */
#include "vfun_guest_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfun_guest_out.h"
#include "vfun_guest_phases.h"
#include "vfun_guest_ref.h"
#include "vfun_json.h"

int guest_counted_call(vfun_region *r, guest_calls *c, const void *arg, uint32_t len, const char *what, uint32_t *err_code) {
  if (c->desync) return VFUN_ERR_BUSY;
  *err_code = 0;
  int rc = vfun_call(r, arg, len, c->result, sizeof c->result, &c->result_len, err_code, CALL_TIMEOUT_MS);
  if (rc == VFUN_OK || rc == VFUN_ERR_SERVICE) {
    c->answered++;
    if (rc == VFUN_ERR_SERVICE && *err_code == VFUN_BAD_INPUT) c->bad_input++;
    return rc;
  }
  FAIL(c->fn, "call", "%s: %s (%d): %s", what, out_rc_name(rc), rc, vfun_strerror(rc));
  if (rc != VFUN_ERR_TOO_BIG) c->desync = 1;
  return rc;
}

static void expect_u64(vfun_region *r, guest_calls *c, const char *fn, uint32_t n, uint64_t want) {
  uint8_t arg[4];
  uint32_t err;
  char what[64];
  snprintf(what, sizeof what, "%s(%u)", fn, n);
  put_u32(arg, n);
  int rc = guest_counted_call(r, c, arg, 4, what, &err);
  if (rc == VFUN_ERR_SERVICE) FAIL(fn, "call", "%s: service error %u (%s)", what, err, out_error_name(err));
  if (rc != VFUN_OK) return;
  if (c->result_len != 8) {
    FAIL(fn, "call", "%s: result of %u bytes, expected 8", what, c->result_len);
    return;
  }
  uint64_t got = get_u64(c->result);
  if (got != want) FAIL(fn, "call", "%s = %llu, expected %llu", what, (unsigned long long)got, (unsigned long long)want);
}

static void expect_crc(vfun_region *r, guest_calls *c, const uint8_t *data, uint32_t n, const char *label) {
  uint32_t err;
  char what[96];
  snprintf(what, sizeof what, "crc32(%s, %u bytes)", label, n);
  int rc = guest_counted_call(r, c, data, n, what, &err);
  if (rc == VFUN_ERR_SERVICE) FAIL("crc32", "call", "%s: service error %u (%s)", what, err, out_error_name(err));
  if (rc != VFUN_OK) return;
  if (c->result_len != 4) {
    FAIL("crc32", "call", "%s: result of %u bytes, expected 4", what, c->result_len);
    return;
  }
  uint32_t got = get_u32(c->result), want = ref_crc32(data, n);
  if (got != want) FAIL("crc32", "call", "%s = 0x%08x, expected 0x%08x", what, got, want);
}

static void run_cases(vfun_region *r, guest_calls *c, uint32_t capacity) {
  if (strcmp(c->fn, "factorial") == 0) {
    static const uint32_t ns[] = {0, 1, 5, 20, 51};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) expect_u64(r, c, "factorial", ns[i], ref_factorial(ns[i]));
    /* A refused argument: 3 bytes, where factorial takes exactly 4. */
    uint8_t bad[3] = {51, 0, 0};
    uint32_t err;
    int rc = guest_counted_call(r, c, bad, 3, "factorial(3-byte argument)", &err);
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

void guest_check_stats(const char *fn, const guest_calls *c, const vfun_ctl_answer *rel) {
  if (c->desync) {
    out_report(0, fn, "release", NULL, "a call went unanswered: the stats (%lld calls) are not compared", rel->calls);
    return;
  }
  if (rel->calls != c->answered)
    FAIL(fn, "release", "vFunD counted %lld calls, this guest made %d", rel->calls, c->answered);
  for (uint32_t code = 1; code <= 6; code++) {
    char path[32];
    vfun_json_span v;
    long long n = 0;
    snprintf(path, sizeof path, "%s", out_error_name(code));
    int r = vfun_json_get(rel->errors, strlen(rel->errors), path, &v);
    if (r == 1 && vfun_json_int(v, &n) != 0) n = -1;
    long long want = code == VFUN_BAD_INPUT ? c->bad_input : 0;
    if (r < 0 || n != want)
      FAIL(fn, "release", "stats.errors.%s is %lld, expected %lld (errors %s)", out_error_name(code), n, want, rel->errors);
  }
}

void guest_check_function(guest *g, const char *fn) {
  int before = out_failures();
  char instance[VFUN_CTL_NAME_MAX + 1];
  vfun_ctl_answer act, rel;
  guest_calls c = {.fn = fn};
  if (guest_negotiate(g, fn, instance, sizeof instance) == 0) {
    if (guest_activate(g, fn, instance, &act) == 0) {
      vfun_region r;
      if (guest_attach(g, fn, &act, &r) == 0) {
        run_cases(&r, &c, (uint32_t)act.capacity);
        vfun_close(&r);
      }
    }
    if (guest_release(g, fn, instance, &rel) == 0) guest_check_stats(fn, &c, &rel);
  }
  out_begin("check");
  out_str("fn", fn);
  out_int("calls", c.answered);
  out_bool("ok", out_failures() == before);
  out_end();
}

void guest_check_unknown_instance(guest *g) {
  int before = out_failures();
  char nonce[33], instance[64];
  vfun_ctl_nonce(nonce);
  snprintf(instance, sizeof instance, "no-such-instance-%s", nonce);
  vfun_ctl_request rq = {.op = "activate", .instance = instance, .fallback = -1};
  vfun_ctl_answer a;
  int r = guest_control(g, "activate-unknown", &rq, &a);
  if (r == 1) {
    FAIL("activate-unknown", "activate", "vFunD activated %s, an instance that was never negotiated", instance);
    guest_release(g, "activate-unknown", a.instance, &a);
  }
  out_begin("check");
  out_str("fn", "activate-unknown");
  out_bool("ok", r == 0 && out_failures() == before);
  if (r == 0) {
    out_str("reason", a.reason);
    out_str("detail", a.detail);
  }
  out_end();
}

void guest_self_check(void) {
  if (ref_factorial(51) != 18284192274659147776ULL || ref_fibonacci(93) != 12200160415121876738ULL ||
      ref_crc32((const uint8_t *)"123456789", 9) != 0xCBF43926u)
    FAIL(NULL, "self-check", "the C reference functions are wrong");
}
