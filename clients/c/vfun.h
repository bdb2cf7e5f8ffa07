/*
 * A VirtFun guest client in C, written from docs/region-format.md alone:
 * map an activated instance's region (the two sealed memfds vFunD hands a
 * process tenant, §14; region files, §1a; or the two areas of a slot of an
 * ivshmem window, §13) and call the function through shared memory (the
 * computation phase). Linux, C11, no dependencies.
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
  VFUN_ERR_PROTOCOL = -7, /* datain holds a value the protocol does not allow */
  VFUN_ERR_CLOSED = -8,   /* poll-only: neither an answer nor a datain.heartbeat change for 2 s (§13.2) */
  VFUN_ERR_INSTANCE_CLOSED = -9, /* datain's status is CLOSED (5): vFunD ended the instance (released, or its
                                  * service died); no answer will come, ask vFunD for a new instance (§5, §8) */
  VFUN_ERR_REGION = -10   /* vfun_map_fds: a descriptor is not a region: not a regular file, not sealed against
                           * resizing (F_SEAL_SHRINK | F_SEAL_GROW), or shorter than areaBytes(capacity) (§14) */
};

/* A short English text for a VFUN_OK / VFUN_ERR_* code ("channel closed: ..." for the two CLOSED codes). */
const char *vfun_strerror(int rc);

/* areaBytes(capacity) = 192 + ceil(capacity / 64) * 64: the bytes of each area (§1). */
size_t vfun_area_bytes(uint32_t capacity);

typedef struct {
  uint8_t *out;          /* dataout, mapped read-write */
  const uint8_t *in;     /* datain, mapped read-only */
  size_t bytes;          /* size of each mapping */
  uint32_t capacity;     /* payload capacity */
  uint32_t seq;          /* seq of the last request written */
  int attached;          /* 1: areas given to vfun_attach (not ours to unmap) */
  int poll_only;         /* 1: never futex, never set clientSleeping; spin, yield, short sleeps (§13.2) */
} vfun_region;

/* Map <dir>/dataout (rw) and <dir>/datain (ro), check both headers, attach to the current seq.
 * For region files (§1a: the file backend of the library, e.g. createFileRegion); vFunD hands a
 * process tenant sealed memory instead (vfun_map_fds). */
int vfun_open(vfun_region *r, const char *dir);

/* Map the two descriptors of a sealed-memory region (§14: received from vFunD with op "region",
 * or inherited): dataout read-write, datain read-only, MAP_SHARED, areaBytes(capacity) each, where
 * `capacity` is what vFunD's answer said. Before mapping, each descriptor must be a regular file
 * sealed with F_SEAL_SHRINK and F_SEAL_GROW (F_GET_SEALS) and at least areaBytes(capacity) long
 * (fstat): else VFUN_ERR_REGION. Then both headers are checked against `capacity` and the client
 * attaches to the current seq. The descriptors are not closed (the mapping does not need them:
 * close them once this returns, whatever it returns). `err` (may be NULL) says what failed. */
int vfun_map_fds(vfun_region *r, int dataout_fd, int datain_fd, uint32_t capacity, char *err, size_t errcap);

/* Use two areas that are already mapped (e.g. a slot of an ivshmem window): `bytes` is how many
 * bytes each area has. Checks both headers as vfun_open does and attaches to the current seq.
 * With `poll_only` (a guest in a VM: a futex does not cross the VM boundary), calls wait by
 * polling (§13.2) and fail with VFUN_ERR_CLOSED when the service shows no life for 2 s.
 * vfun_close does not unmap attached areas. */
int vfun_attach(vfun_region *r, uint8_t *out, const uint8_t *in, size_t bytes, int poll_only);

/* SET with `len` bytes of `arg`, wait for DONE or ERROR (spin a little, then futex), copy the
 * result into `result` (at most `cap` bytes) and its length into *result_len. In poll-only mode
 * the wait spins, then yields (sched_yield), then sleeps in slices of at most 100 µs. A state word
 * whose status is CLOSED ends the wait at once with VFUN_ERR_INSTANCE_CLOSED (vFunD writes it
 * without a futex wake: a sleeping client sees it within its 50 ms slice). */
int vfun_call(vfun_region *r, const void *arg, uint32_t len, void *result, uint32_t cap, uint32_t *result_len,
              uint32_t *err_code, int timeout_ms);

void vfun_close(vfun_region *r);

#endif
