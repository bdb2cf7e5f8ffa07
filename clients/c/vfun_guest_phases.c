/* The phases of a vFunction, for vfun-guest (vfun_guest_phases.h). */
#include "vfun_guest_phases.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vfun_guest_out.h"
#include "vfun_handover.h"
#include "vfun_window.h"

int guest_control(guest *g, const char *fn, vfun_ctl_request *rq, vfun_ctl_answer *a) {
  char err[512];
  rq->tenant = g->tenant;
  rq->nonce = NULL;
  rq->ts = -1;
  if (!g->ctl_open) {
    FAIL(fn, rq->op, "no control channel");
    return -1;
  }
  if (vfun_ctl_call(&g->ctl, rq, g->secret, g->secret_len, a, CTL_TIMEOUT_MS, err, sizeof err) != 0) {
    FAIL(fn, rq->op, "%s", err);
    return -1;
  }
  return a->ok;
}

int guest_negotiate(guest *g, const char *fn, char *instance, size_t cap) {
  vfun_ctl_request rq = {.op = "negotiate", .app = g->opt.app, .fn = fn, .kind = "sw", .fallback = -1};
  vfun_ctl_answer a;
  int r = guest_control(g, fn, &rq, &a);
  if (r == 0) out_report(1, fn, "negotiate", a.reason, "%s", a.detail);
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

int guest_activate(guest *g, const char *fn, const char *instance, vfun_ctl_answer *a) {
  vfun_ctl_request rq = {.op = "activate", .instance = instance, .fallback = -1};
  int r = guest_control(g, fn, &rq, a);
  if (r == 0) out_report(1, fn, "activate", a->reason, "%s", a->detail);
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

int guest_release(guest *g, const char *fn, const char *instance, vfun_ctl_answer *a) {
  vfun_ctl_request rq = {.op = "release", .instance = instance, .fallback = -1};
  int r = guest_control(g, fn, &rq, a);
  if (r == 0) out_report(1, fn, "release", a->reason, "%s", a->detail);
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
  if (g->win_open && vfun_window_lookup(&g->win, instance, &e, NULL, 0) == 0)
    out_report(g->opt.fail_on_release_missing, fn, "release", NULL,
               "instance %s still has an active entry in the window (slot %u) after its release", instance, e.slot);
  return 0;
}

/* Sealed memory (§14): fetch the two descriptors over a second connection to the control socket,
 * map them (seals, sizes and headers checked), close them. Blocking waits (futex): same host. */
static int attach_memfd(guest *g, const char *fn, const vfun_ctl_answer *act, vfun_region *r) {
  char err[512];
  if (!g->ctl.is_socket) {
    FAIL(fn, "region", "vFunD handed %s over as sealed memory, which a port cannot carry: a VM tenant needs an ivshmem window",
         act->instance);
    return -1;
  }
  vfun_region_fds rf;
  vfun_ctl_answer ra;
  int k = vfun_region_fetch(g->ctl.path, g->tenant, g->secret, g->secret_len, act->instance, CTL_TIMEOUT_MS, &rf, &ra, err,
                            sizeof err);
  if (k == 0) out_report(1, fn, "region", ra.reason, "%s", ra.detail);
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
    FAIL(fn, "attach", "vfun_map_fds: %s (%d): %s", out_rc_name(rc), rc, err);
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

/* Find the instance's entry, check it against the activation answer, attach (poll-only). */
static int attach_window(guest *g, const char *fn, const vfun_ctl_answer *act, vfun_region *r) {
  char err[512];
  vfun_window_entry e;
  if (!g->win_open) {
    FAIL(fn, "window", "no window: %s", g->win_err);
    return -1;
  }
  if (vfun_window_lookup(&g->win, act->instance, &e, err, sizeof err) != 0) {
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
  if (strcmp(e.fn, fn) != 0 || strcmp(e.app, g->opt.app) != 0)
    out_report(0, fn, "window", NULL, "the entry of slot %u names %s/%s, expected %s/%s", e.slot, e.app, e.fn, g->opt.app, fn);
  int rc = vfun_attach(r, g->win.base + e.dataout_offset, g->win.base + e.datain_offset, vfun_window_area_bytes(e.capacity), 1);
  if (rc != VFUN_OK) {
    FAIL(fn, "attach", "vfun_attach: %s (%d)", out_rc_name(rc), rc);
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

int guest_attach(guest *g, const char *fn, const vfun_ctl_answer *act, vfun_region *r) {
  return act->region == VFUN_REGION_MEMFD ? attach_memfd(g, fn, act, r) : attach_window(g, fn, act, r);
}
