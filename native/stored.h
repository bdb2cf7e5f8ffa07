/*
 * stored.h: the fast check of a stored journal record (src/events/canonical.ts,
 * "scanCanonical"; docs/jetstream.md, "Measured figures").
 */
#ifndef VFUN_STORED_H
#define VFUN_STORED_H

#include "addon.h"

#include <stddef.h>

/*
 * 1 when `b[0, n)` is, by a conservative one-pass scan, an ASCII JSON object
 * in canonical form whose top-level "hash" member holds the SHA-256 (64
 * lowercase hex digits) of the text without that member, and whose top-level
 * "prevHash" member, if any, is also 64 lowercase hex digits; 0 otherwise
 * (including every case the scan does not judge). Assumes nothing about the
 * bytes: invalid JSON may be judged 1 only if the caller also parses it.
 */
int stored_sealed(const unsigned char *b, size_t n);

/* storedSealed(bytes: Uint8Array) -> boolean */
napi_value js_stored_sealed(napi_env env, napi_callback_info info);

#endif
