/*
 * The debug modes of vfun-guest that test its protocol code without a vFunD: hashes and MACs,
 * the request line it would send, and how it reads an answer line. Internal to vfun-guest. C11.
 */
#ifndef VFUN_GUEST_SELFTEST_H
#define VFUN_GUEST_SELFTEST_H

#include "vfun_guest.h"

/* --selftest-hash: stdin lines "<hex key>:<hex message>" -> "<sha256(message)> <hmac-sha256(key,
 * message)>" on stdout. Returns the exit code: 0, or 2 on a malformed line. */
int guest_selftest_hash(void);

/* --selftest-mac SECRET MESSAGE: the HMAC-SHA256 of MESSAGE keyed by SECRET, in hex. Returns 0. */
int guest_selftest_mac(const char *secret, const char *message);

/* --print-request OP [--fn F --kind K --fallback true|false --instance I --nonce N --ts T]: the
 * signed request line, as g's tenant with g's secret. Returns 0, or 1 (the reason on stderr). */
int guest_print_request(const guest *g);

/* --parse-answer OP: one answer line from stdin, parsed as the answer to OP: {"vfun":"answer"}
 * with what was read (0), or {"vfun":"error","phase":"parse"} (1). */
int guest_parse_answer_mode(const char *op);

#endif
