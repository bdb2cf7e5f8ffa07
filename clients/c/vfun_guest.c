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
 *              [--paper FN --paper-n N --instances RxI,... --runs K [--tcp IPv4:PORT]]
 *
 * Output: one JSON object per line on stdout ({"vfun":"phase"|"call"|"check"|"bench"|"warning"|
 * "error"|"done", ...}); exit 0 only when everything passed. See README.md.
 *
 * Debug modes (used by the tests): --selftest-hash (stdin lines "<hex key>:<hex message>" ->
 * "<sha256(message)> <hmac(key, message)>"), --selftest-mac SECRET MESSAGE, --print-request OP
 * [--fn F --kind K --fallback true|false --instance I --nonce N --ts T], --parse-answer OP (stdin),
 * --fetch-region INSTANCE (fetch and map an instance's sealed region; counts open descriptors).
 *
 * This file: main and a run. Its parts: the options (vfun_guest_args.c), the tenant's identity
 * (vfun_guest_config.c), the JSON lines (vfun_guest_out.c), the phases (vfun_guest_phases.c),
 * --check (vfun_guest_check.c, with the reference results of vfun_guest_ref.c), --bench
 * (vfun_guest_bench.c), --call (vfun_guest_call.c), --paper (vfun_guest_paper.c), descriptors and --fetch-region
 * (vfun_guest_fds.c), the other debug modes (vfun_guest_selftest.c).
 */
#include <stdio.h>

#include "vfun_chan.h"
#include "vfun_ctl.h"
#include "vfun_guest.h"
#include "vfun_guest_args.h"
#include "vfun_guest_bench.h"
#include "vfun_guest_call.h"
#include "vfun_guest_check.h"
#include "vfun_guest_config.h"
#include "vfun_guest_fds.h"
#include "vfun_guest_out.h"
#include "vfun_guest_paper.h"
#include "vfun_guest_selftest.h"
#include "vfun_window.h"

/* The last line, {"vfun":"done"}; the exit code: 0 only when nothing failed. */
static int done(void) {
  int failures = out_failures();
  out_begin("done");
  out_bool("ok", failures == 0);
  out_int("failures", failures);
  out_end();
  return failures == 0 ? 0 : 1;
}

/* In a VM (a port) regions are slots of the window. On the host (a Unix socket) vFunD hands a
 * process tenant sealed memory, and a window is opened only when one is given (a VM tenant's
 * window file, to run the VM's guest on the host). */
static void open_window(guest *g) {
  if (!g->opt.window && g->ctl.is_socket) {
    snprintf(g->win_err, sizeof g->win_err, "no --window given: on the host only sealed-memory regions can be used");
  } else if (vfun_window_open(&g->win, g->opt.window, g->win_err, sizeof g->win_err) == 0) {
    g->win_open = 1;
    out_begin("phase");
    out_str("phase", "window");
    out_bool("ok", 1);
    out_str("path", g->win.path);
    out_int("windowBytes", g->win.window_bytes);
    out_int("slotCount", g->win.slot_count);
    out_int("slotBytes", g->win.slot_bytes);
    out_end();
  } else {
    FAIL(NULL, "window", "%s", g->win_err);
  }
}

/* Open the control channel and the window, run the modes asked for (--check, --bench, --call),
 * close both; the descriptors open at the end must be those open at the start. */
static int run(guest *g) {
  if (!g->opt.check && !g->opt.bench && !g->opt.call_fn && !g->opt.paper_fn) g->opt.check = 1;
  const int fds_at_start = guest_count_fds();

  char path[512], err[512];
  if (g->opt.control) snprintf(path, sizeof path, "%s", g->opt.control);
  else if (vfun_port_find(VFUN_CTL_PORT_NAME, path, sizeof path) != 0) {
    FAIL(NULL, "control", "no virtio-serial port named %s (and no --control)", VFUN_CTL_PORT_NAME);
    return done();
  }
  if (vfun_chan_open(&g->ctl, path, err, sizeof err) != 0) {
    FAIL(NULL, "control", "%s", err);
    return done();
  }
  g->ctl_open = 1;
  open_window(g);

  guest_self_check();
  if (g->opt.check) {
    static const char *const fns[] = {"factorial", "fibonacci", "crc32"};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) guest_check_function(g, fns[i]);
    guest_check_unknown_instance(g);
  }
  if (g->opt.bench) guest_bench(g, g->opt.bench);
  if (g->opt.call_fn) guest_call_mode(g);
  if (g->opt.paper_fn) guest_paper(g);

  vfun_chan_close(&g->ctl);
  if (g->win_open) vfun_window_close(&g->win);
  int fds_at_end = guest_count_fds();
  if (fds_at_start >= 0 && fds_at_end != fds_at_start)
    FAIL(NULL, "descriptors", "%d descriptors open at the end, %d at the start", fds_at_end, fds_at_start);
  return done();
}

int main(int argc, char **argv) {
  static guest g;
  guest_args args;
  guest_parse_args(argc, argv, &g.opt, &args);
  switch (args.kind) {
    case GUEST_ARGS_USAGE: return guest_usage(args.why);
    case GUEST_ARGS_HELP: guest_usage(NULL); return 0;
    case GUEST_ARGS_SELFTEST_HASH: return guest_selftest_hash();
    case GUEST_ARGS_SELFTEST_MAC: return guest_selftest_mac(args.mac_secret, args.mac_message);
    case GUEST_ARGS_RUN: break;
  }
  if (g.opt.parse_op) return guest_parse_answer_mode(g.opt.parse_op);
  if (guest_load_identity(&g) != 0) return done();
  if (g.opt.print_op) return guest_print_request(&g);
  if (g.opt.fetch_instance) {
    if (!g.opt.control) return guest_usage("--fetch-region needs --control SOCKET");
    guest_fetch_region_mode(&g);
    return done();
  }
  return run(&g);
}
