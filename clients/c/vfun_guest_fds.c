/* The descriptors of vfun-guest, and --fetch-region (vfun_guest_fds.h). */
#define _GNU_SOURCE
#include "vfun_guest_fds.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "vfun.h"
#include "vfun_ctl.h"
#include "vfun_guest_out.h"
#include "vfun_handover.h"

int guest_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL)
    if (ent->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;
}

/* The number the next descriptor opened gets (the lowest free one), or -1. */
static int next_fd(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) close(fd);
  return fd;
}

void guest_fetch_region_mode(guest *g) {
  char err[512];
  int before = guest_count_fds(), next = next_fd();
  vfun_region_fds rf;
  vfun_ctl_answer ra;
  int k = vfun_region_fetch(g->opt.control, g->tenant, g->secret, g->secret_len, g->opt.fetch_instance, g->opt.call_timeout_ms,
                            &rf, &ra, err, sizeof err);
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
      FAIL(NULL, "attach", "vfun_map_fds: %s (%d): %s", out_rc_name(rc), rc, err);
    }
  } else if (k == 0) {
    out_report(1, NULL, "region", ra.reason, "%s", ra.detail);
  } else {
    FAIL(NULL, "region", "%s", err);
  }
  out_begin("fds");
  out_int("before", before);
  out_int("after", guest_count_fds());
  out_int("next", next);
  out_end();
}
