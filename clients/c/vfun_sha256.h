/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) for the control channel's request signatures:
 * our own implementation, no dependencies. Plus lowercase hex, as signatures and nonces are
 * written. C11.
 */
#ifndef VFUN_SHA256_H
#define VFUN_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t h[8];
  uint64_t bytes;     /* message length so far */
  uint8_t block[64];  /* partial block */
  size_t fill;        /* bytes in block */
} vfun_sha256_ctx;

void vfun_sha256_init(vfun_sha256_ctx *c);
void vfun_sha256_update(vfun_sha256_ctx *c, const void *data, size_t n);
void vfun_sha256_final(vfun_sha256_ctx *c, uint8_t out[32]);
void vfun_sha256(const void *data, size_t n, uint8_t out[32]);
/* HMAC-SHA256 (RFC 2104) of msg under key (any length: a key longer than 64 bytes is hashed first). */
void vfun_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[32]);
/* n bytes as 2n lowercase hex digits plus a NUL (out holds 2n + 1 bytes). */
void vfun_hex(const uint8_t *in, size_t n, char *out);

#endif
