/*
 * The command line of vfun-guest: options into a guest_opts, or what to do instead (a usage
 * error, --help, a self-test that needs no options). Internal to vfun-guest. C11.
 */
#ifndef VFUN_GUEST_ARGS_H
#define VFUN_GUEST_ARGS_H

#include "vfun_guest.h"

typedef enum {
  GUEST_ARGS_RUN,           /* the options are in *opt */
  GUEST_ARGS_USAGE,         /* a bad command line: why */
  GUEST_ARGS_HELP,          /* --help, -h */
  GUEST_ARGS_SELFTEST_HASH, /* --selftest-hash */
  GUEST_ARGS_SELFTEST_MAC   /* --selftest-mac SECRET MESSAGE: mac_secret, mac_message */
} guest_args_kind;

typedef struct {
  guest_args_kind kind;
  char why[128];
  const char *mac_secret, *mac_message;
} guest_args;

/* Parse argv[1..argc) into *opt (defaults first). Options are taken in order: the first bad one,
 * --help or a self-test ends the parsing; then the values of --bench, --repeat, --timeout-ms,
 * --call and --fallback are checked, in that order. */
void guest_parse_args(int argc, char **argv, guest_opts *opt, guest_args *out);

/* "vfun-guest: <why>" (if why) and the usage, on stderr. Returns 2, the exit code of a bad command line. */
int guest_usage(const char *why);

#endif
