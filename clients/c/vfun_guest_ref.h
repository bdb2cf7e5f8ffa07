/*
 * What vfun-guest compares the services' answers with: factorial, fibonacci and crc32 computed in
 * C, and the little-endian integers arguments and results are made of. Internal to vfun-guest. C11.
 */
#ifndef VFUN_GUEST_REF_H
#define VFUN_GUEST_REF_H

#include <stddef.h>
#include <stdint.h>

/* n! modulo 2^64. */
uint64_t ref_factorial(uint32_t n);
/* The n-th Fibonacci number (F(0) = 0) modulo 2^64. */
uint64_t ref_fibonacci(uint32_t n);
/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of p[0..n). */
uint32_t ref_crc32(const uint8_t *p, size_t n);

static inline void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

#endif
