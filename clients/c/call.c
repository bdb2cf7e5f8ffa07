/*
 * vfun-call <region> <n> [calls]: factorial/fibonacci through an activated instance's region; prints
 * the u64 result. <region> is a directory holding region files (dataout, datain: the library's file
 * backend), or fd:D,I for the two descriptors of a sealed-memory region this process inherited
 * (dataout as fd D, datain as fd I; docs/region-format.md §14), e.g. from a parent that fetched them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "vfun.h"

/* fd:D,I -> map the two inherited descriptors (capacity from the dataout header), then close them. */
static int open_fds(vfun_region *r, const char *spec) {
  int out_fd, in_fd;
  char tail;
  if (sscanf(spec, "fd:%d,%d%c", &out_fd, &in_fd, &tail) != 2 || out_fd < 0 || in_fd < 0) {
    fprintf(stderr, "vfun-call: '%s' is not fd:D,I\n", spec);
    return VFUN_ERR_SYS;
  }
  uint8_t cap[4];
  char err[512] = "";
  int rc;
  if (pread(out_fd, cap, sizeof cap, 12) != (ssize_t)sizeof cap) {
    snprintf(err, sizeof err, "cannot read the capacity from the dataout header of fd %d", out_fd);
    rc = VFUN_ERR_REGION;
  } else {
    uint32_t capacity = (uint32_t)cap[0] | (uint32_t)cap[1] << 8 | (uint32_t)cap[2] << 16 | (uint32_t)cap[3] << 24;
    rc = vfun_map_fds(r, out_fd, in_fd, capacity, err, sizeof err);
  }
  close(out_fd);
  close(in_fd);
  if (rc != VFUN_OK) fprintf(stderr, "vfun_map_fds: %d: %s\n", rc, err);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: vfun-call <region-dir | fd:D,I> <n> [calls]\n");
    return 2;
  }
  vfun_region r;
  int rc = strncmp(argv[1], "fd:", 3) == 0 ? open_fds(&r, argv[1]) : vfun_open(&r, argv[1]);
  if (rc != VFUN_OK) {
    fprintf(stderr, "vfun-call: cannot map %s: %d: %s\n", argv[1], rc, vfun_strerror(rc));
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
      fprintf(stderr, "vfun_call: %d: %s\n", rc, vfun_strerror(rc));
      vfun_close(&r);
      return 1;
    }
  }
  printf("%llu\n", (unsigned long long)result);
  vfun_close(&r);
  return 0;
}
