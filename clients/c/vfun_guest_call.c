/* vfun-guest --call (vfun_guest_call.h). */
#include "vfun_guest_call.h"

#include <stdlib.h>
#include <string.h>

#include "vfun.h"
#include "vfun_ctl.h"
#include "vfun_guest_out.h"
#include "vfun_guest_phases.h"
#include "vfun_sha256.h"

int guest_unhex(const char *s, size_t n, uint8_t *out) {
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

void guest_call_mode(guest *g) {
  const char *fn = g->opt.call_fn;
  size_t hex_len = strlen(g->opt.call_arg);
  uint8_t *arg = malloc(hex_len / 2 + 1);
  if (!arg || guest_unhex(g->opt.call_arg, hex_len, arg) != 0) {
    FAIL(fn, "call", "--arg must be an even number of hex digits");
    free(arg);
    return;
  }
  char instance[VFUN_CTL_NAME_MAX + 1];
  vfun_ctl_answer act, rel;
  if (guest_negotiate(g, fn, instance, sizeof instance) == 0) {
    if (guest_activate(g, fn, instance, &act) == 0) {
      vfun_region r;
      uint8_t *res;
      if (guest_attach(g, fn, &act, &r) == 0 && (res = malloc(r.capacity)) != NULL) {
        for (long i = 1; i <= g->opt.repeat; i++) {
          uint32_t len = 0, code = 0;
          int rc = vfun_call(&r, arg, (uint32_t)(hex_len / 2), res, r.capacity, &len, &code, g->opt.call_timeout_ms);
          if (rc != VFUN_OK && rc != VFUN_ERR_SERVICE) {
            FAIL(fn, "call", "%s call %ld: %s (%d): %s", fn, i, out_rc_name(rc), rc, vfun_strerror(rc));
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
            out_str("errorName", out_error_name(code));
          }
          out_end();
        }
        free(res);
        vfun_close(&r);
      }
    }
    guest_release(g, fn, instance, &rel);
  }
  free(arg);
}
