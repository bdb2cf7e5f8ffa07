/* vfun-call <region-dir> <n> [calls]: factorial/fibonacci through the region; prints the u64 result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vfun.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: vfun-call <region-dir> <n> [calls]\n");
    return 2;
  }
  vfun_region r;
  int rc = vfun_open(&r, argv[1]);
  if (rc != VFUN_OK) {
    fprintf(stderr, "vfun_open: %d\n", rc);
    return 1;
  }
  uint32_t n = (uint32_t)strtoul(argv[2], NULL, 10);
  long calls = argc > 3 ? strtol(argv[3], NULL, 10) : 1;
  uint64_t result = 0;
  uint32_t len = 0, err = 0;
  for (long i = 0; i < calls; i++) {
    rc = vfun_call(&r, &n, sizeof n, &result, sizeof result, &len, &err, 5000);
    if (rc == VFUN_ERR_SERVICE) {
      printf("error %u\n", err);
      vfun_close(&r);
      return 0;
    }
    if (rc != VFUN_OK) {
      fprintf(stderr, "vfun_call: %d\n", rc);
      return 1;
    }
  }
  printf("%llu\n", (unsigned long long)result);
  vfun_close(&r);
  return 0;
}
