/* Reference results of vfun-guest's checks (vfun_guest_ref.h). */
#include "vfun_guest_ref.h"

uint64_t ref_factorial(uint32_t n) {
  uint64_t r = 1;
  for (uint32_t i = 2; i <= n; i++) r *= i;
  return r;
}

uint64_t ref_fibonacci(uint32_t n) {
  uint64_t a = 0, b = 1;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

uint32_t ref_crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}
