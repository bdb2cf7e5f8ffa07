/*
 * A VirtFun guest client in C, written from docs/region-format.md alone:
 * map an activated instance's region files and call the function through
 * shared memory (the computation phase). Linux, C11, no dependencies.
 */
#ifndef VFUN_H
#define VFUN_H

#include <stddef.h>
#include <stdint.h>

/* Error codes of datain.error (docs/region-format.md §5). */
enum { VFUN_BAD_COMMAND = 1, VFUN_BAD_LENGTH = 2, VFUN_BAD_SEQ = 3, VFUN_DRIVER_FAULT = 4, VFUN_BAD_INPUT = 5, VFUN_NO_RESULT = 6 };

/* Results of vfun_* calls. */
enum {
  VFUN_OK = 0,
  VFUN_ERR_SYS = -1,      /* a system call failed: see errno */
  VFUN_ERR_HEADER = -2,   /* magic, version, header size, layout hash or capacity do not match */
  VFUN_ERR_SERVICE = -3,  /* the service answered ERROR: see *err_code */
  VFUN_ERR_TIMEOUT = -4,  /* no answer before the timeout */
  VFUN_ERR_TOO_BIG = -5,  /* argument or result larger than the region's capacity */
  VFUN_ERR_BUSY = -6,     /* attached while a request was still unanswered */
  VFUN_ERR_PROTOCOL = -7  /* datain holds a value the protocol does not allow */
};

typedef struct {
  uint8_t *out;          /* dataout, mapped read-write */
  const uint8_t *in;     /* datain, mapped read-only */
  size_t bytes;          /* size of each mapping */
  uint32_t capacity;     /* payload capacity */
  uint32_t seq;          /* seq of the last request written */
} vfun_region;

/* Map <dir>/dataout (rw) and <dir>/datain (ro), check both headers, attach to the current seq. */
int vfun_open(vfun_region *r, const char *dir);

/* SET with `len` bytes of `arg`, wait for DONE or ERROR (spin a little, then futex), copy the
 * result into `result` (at most `cap` bytes) and its length into *result_len. */
int vfun_call(vfun_region *r, const void *arg, uint32_t len, void *result, uint32_t cap, uint32_t *result_len,
              uint32_t *err_code, int timeout_ms);

void vfun_close(vfun_region *r);

#endif
