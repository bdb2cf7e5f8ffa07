/* The command line of vfun-guest (vfun_guest_args.h). */
#include "vfun_guest_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfun_ctl.h"
#include "vfun_guest_paper.h"

#define MAX_BENCH 10000000L

static void usage_error(guest_args *out, const char *why) {
  out->kind = GUEST_ARGS_USAGE;
  snprintf(out->why, sizeof out->why, "%s", why);
}

void guest_parse_args(int argc, char **argv, guest_opts *opt, guest_args *out) {
  const char *paper_n_s = NULL, *paper_runs_s = NULL;
  const char *bench_s = NULL, *ts_s = NULL, *fallback_s = NULL, *repeat_s = NULL, *timeout_s = NULL;
  memset(opt, 0, sizeof *opt);
  memset(out, 0, sizeof *out);
  opt->app = "vmapp";
  opt->p_kind = "sw";
  const struct {
    const char *name;
    const char **dst;
  } valued[] = {{"--control", &opt->control},     {"--window", &opt->window},      {"--tenant", &opt->tenant_arg},
                {"--secret-file", &opt->secret_file}, {"--app", &opt->app},       {"--net", &opt->net},
                {"--bench", &bench_s},            {"--print-request", &opt->print_op}, {"--parse-answer", &opt->parse_op},
                {"--fn", &opt->p_fn},             {"--kind", &opt->p_kind},        {"--instance", &opt->p_instance},
                {"--nonce", &opt->p_nonce},       {"--ts", &ts_s},                 {"--fallback", &fallback_s},
                {"--call", &opt->call_fn},        {"--arg", &opt->call_arg},       {"--repeat", &repeat_s},
                {"--timeout-ms", &timeout_s},     {"--fetch-region", &opt->fetch_instance},
                {"--paper", &opt->paper_fn},      {"--paper-n", &paper_n_s},       {"--instances", &opt->paper_instances},
                {"--runs", &paper_runs_s},        {"--tcp", &opt->paper_tcp}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int taken = 0;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
      if (strcmp(a, valued[k].name) != 0) continue;
      if (i + 1 >= argc) {
        out->kind = GUEST_ARGS_USAGE;
        snprintf(out->why, sizeof out->why, "%s needs a value", a);
        return;
      }
      *valued[k].dst = argv[++i];
      taken = 1;
      break;
    }
    if (taken) continue;
    if (strcmp(a, "--check") == 0) opt->check = 1;
    else if (strcmp(a, "--fail-on-release-missing") == 0) opt->fail_on_release_missing = 1;
    else if (strcmp(a, "--selftest-hash") == 0) {
      out->kind = GUEST_ARGS_SELFTEST_HASH;
      return;
    } else if (strcmp(a, "--selftest-mac") == 0) {
      if (i + 2 >= argc) {
        usage_error(out, "--selftest-mac SECRET MESSAGE");
        return;
      }
      out->kind = GUEST_ARGS_SELFTEST_MAC;
      out->mac_secret = argv[i + 1];
      out->mac_message = argv[i + 2];
      return;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      out->kind = GUEST_ARGS_HELP;
      return;
    } else {
      out->kind = GUEST_ARGS_USAGE;
      snprintf(out->why, sizeof out->why, "unknown option %.64s", a);
      return;
    }
  }
  if (bench_s) {
    char *end;
    opt->bench = strtol(bench_s, &end, 10);
    if (*end || opt->bench < 1 || opt->bench > MAX_BENCH) {
      usage_error(out, "--bench takes a count in 1..10000000");
      return;
    }
  }
  opt->repeat = 1;
  if (repeat_s) {
    char *end;
    opt->repeat = strtol(repeat_s, &end, 10);
    if (*end || opt->repeat < 1 || opt->repeat > MAX_BENCH) {
      usage_error(out, "--repeat takes a count in 1..10000000");
      return;
    }
  }
  opt->call_timeout_ms = CALL_TIMEOUT_MS;
  if (timeout_s) {
    char *end;
    long t = strtol(timeout_s, &end, 10);
    if (*end || t < 1 || t > 24L * 3600 * 1000) {
      usage_error(out, "--timeout-ms takes 1..86400000");
      return;
    }
    opt->call_timeout_ms = (int)t;
  }
  if (opt->call_fn && (!opt->call_arg || !vfun_ctl_name_ok(opt->call_fn))) {
    usage_error(out, "--call FN needs a function name and --arg HEX");
    return;
  }
  if (opt->paper_fn || paper_n_s || opt->paper_instances || paper_runs_s || opt->paper_tcp) {
    char *end = NULL;
    paper_instances in;
    char why[sizeof out->why];
    if (!opt->paper_fn || !vfun_ctl_name_ok(opt->paper_fn)) {
      usage_error(out, "--paper FN needs a function name (and --paper-n, --instances, --runs)");
      return;
    }
    opt->paper_n = paper_n_s ? strtol(paper_n_s, &end, 10) : -1;
    if (!paper_n_s || *end || opt->paper_n < 0 || opt->paper_n > 1000) {
      usage_error(out, "--paper-n takes the function's argument n in 0..1000");
      return;
    }
    opt->paper_runs = paper_runs_s ? strtol(paper_runs_s, &end, 10) : -1;
    if (!paper_runs_s || *end || opt->paper_runs < 1 || opt->paper_runs > 100000) {
      usage_error(out, "--runs takes a count in 1..100000");
      return;
    }
    if (paper_parse_instances(opt->paper_instances, &in, why, sizeof why) != 0) {
      usage_error(out, why);
      return;
    }
    char host[64];
    uint16_t port;
    if (opt->paper_tcp && paper_parse_endpoint(opt->paper_tcp, host, sizeof host, &port) != 0) {
      usage_error(out, "--tcp takes IPv4:PORT (e.g. 10.0.2.2:4000)");
      return;
    }
  }
  opt->p_fallback = -1;
  if (fallback_s) {
    opt->p_fallback = strcmp(fallback_s, "true") == 0 ? 1 : strcmp(fallback_s, "false") == 0 ? 0 : -2;
    if (opt->p_fallback == -2) {
      usage_error(out, "--fallback true|false");
      return;
    }
  }
  opt->p_ts = ts_s ? strtoll(ts_s, NULL, 10) : -1;
  out->kind = GUEST_ARGS_RUN;
}

int guest_usage(const char *why) {
  if (why) fprintf(stderr, "vfun-guest: %s\n", why);
  fprintf(stderr,
          "usage: vfun-guest [--control PATH] [--window PATH] [--tenant ID] [--secret-file F] [--app NAME]\n"
          "                  [--check] [--bench N] [--net PATH] [--fail-on-release-missing]\n"
          "                  [--call FN --arg HEX [--repeat N] [--timeout-ms MS]]\n"
          "                  [--paper FN --paper-n N --instances RxI[,RxI...] --runs K [--tcp IPv4:PORT]]\n");
  return 2;
}
