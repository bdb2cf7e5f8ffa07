/* The protocol self-tests of vfun-guest (vfun_guest_selftest.h). */
#define _GNU_SOURCE
#include "vfun_guest_selftest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "vfun_ctl.h"
#include "vfun_guest_call.h"
#include "vfun_guest_out.h"
#include "vfun_sha256.h"

int guest_selftest_hash(void) {
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
    if (!key || !msg || guest_unhex(line, kl, key) != 0 || guest_unhex(colon + 1, ml, msg) != 0) {
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

int guest_selftest_mac(const char *secret, const char *message) {
  uint8_t m[32];
  char h[65];
  vfun_hmac_sha256(secret, strlen(secret), message, strlen(message), m);
  vfun_hex(m, 32, h);
  printf("%s\n", h);
  return 0;
}

int guest_print_request(const guest *g) {
  char line[VFUN_CTL_MAX_LINE + 1], err[512];
  const guest_opts *o = &g->opt;
  vfun_ctl_request rq = {.op = o->print_op, .tenant = g->tenant, .app = o->app, .fn = o->p_fn, .kind = o->p_kind,
                         .fallback = o->p_fallback, .instance = o->p_instance, .nonce = o->p_nonce, .ts = o->p_ts};
  if (vfun_ctl_build(&rq, g->secret, g->secret_len, line, sizeof line, err, sizeof err) < 0) {
    fprintf(stderr, "vfun-guest: %s\n", err);
    return 1;
  }
  fputs(line, stdout);
  return 0;
}

int guest_parse_answer_mode(const char *op) {
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
