/*
 * vfun-guest, the VirtFun guest program (vfun_guest.c): the state of a run, shared by its parts:
 * the options (vfun_guest_args.c), the tenant's identity (vfun_guest_config.c), and the control
 * channel and ivshmem window it opened. Internal to vfun-guest. Linux, C11.
 */
#ifndef VFUN_GUEST_H
#define VFUN_GUEST_H

#include <stddef.h>

#include "vfun_chan.h"
#include "vfun_ctl.h"
#include "vfun_window.h"

/* How long a control request waits for its answer. */
#define CTL_TIMEOUT_MS 30000
/* How long a call waits for its answer (--check, --bench; the default of --timeout-ms). */
#define CALL_TIMEOUT_MS 30000

/* The command line (see usage in vfun_guest_args.c). */
typedef struct {
  const char *control, *window, *tenant_arg, *secret_file, *app, *net;
  const char *call_fn, *call_arg, *fetch_instance;
  int check, fail_on_release_missing;
  long bench, repeat;   /* --bench N (0: none), --repeat N (1 by default) */
  int call_timeout_ms;  /* --timeout-ms */
  /* --paper FN --paper-n N --instances LIST --runs K [--tcp HOST:PORT] (vfun_guest_paper.h) */
  const char *paper_fn, *paper_instances, *paper_tcp;
  long paper_n, paper_runs;
  /* debug modes: --print-request OP with its fields, --parse-answer OP */
  const char *print_op, *parse_op, *p_fn, *p_kind, *p_instance, *p_nonce;
  int p_fallback;       /* -1 absent, 0 false, 1 true */
  long long p_ts;       /* -1: now */
} guest_opts;

/* A run of vfun-guest. */
typedef struct {
  guest_opts opt;
  char tenant[VFUN_CTL_NAME_MAX + 1]; /* --tenant, or /etc/vfun/tenant */
  char secret[4097];                  /* the HMAC key, from --secret-file or /etc/vfun/secret */
  size_t secret_len;
  vfun_chan ctl;                      /* the control channel, when ctl_open */
  int ctl_open;
  vfun_window win;                    /* the ivshmem window (or a window file), when win_open */
  int win_open;
  char win_err[512];                  /* else why there is none */
} guest;

#endif
