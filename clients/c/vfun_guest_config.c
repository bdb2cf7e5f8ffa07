/* The tenant's identity for vfun-guest (vfun_guest_config.h). */
#include "vfun_guest_config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vfun_ctl.h"
#include "vfun_guest_out.h"

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

int guest_load_identity(guest *g) {
  if (g->opt.tenant_arg) snprintf(g->tenant, sizeof g->tenant, "%s", g->opt.tenant_arg);
  else if (read_trimmed("/etc/vfun/tenant", g->tenant, sizeof g->tenant, NULL) != 0) {
    FAIL(NULL, "config", "cannot read /etc/vfun/tenant (or give --tenant): %s", strerror(errno));
    return -1;
  }
  if (!vfun_ctl_name_ok(g->tenant)) {
    FAIL(NULL, "config", "tenant '%.64s' is not 1..%d characters of A-Z a-z 0-9 _ -", g->tenant, VFUN_CTL_NAME_MAX);
    return -1;
  }
  const char *sf = g->opt.secret_file ? g->opt.secret_file : "/etc/vfun/secret";
  if (read_trimmed(sf, g->secret, sizeof g->secret, &g->secret_len) != 0) {
    FAIL(NULL, "config", "cannot read the tenant secret from %s: %s", sf, strerror(errno));
    return -1;
  }
  if (g->secret_len == 0) {
    FAIL(NULL, "config", "the tenant secret in %s is empty", sf);
    return -1;
  }
  if (!vfun_ctl_name_ok(g->opt.app)) {
    FAIL(NULL, "config", "app '%.64s' is not 1..%d characters of A-Z a-z 0-9 _ -", g->opt.app, VFUN_CTL_NAME_MAX);
    return -1;
  }
  return 0;
}
