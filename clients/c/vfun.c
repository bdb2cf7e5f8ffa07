/* See vfun.h. Offsets, words and the order of writes follow docs/region-format.md. */
#define _GNU_SOURCE
#include "vfun.h"
#include "vfun_err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAGIC_OUT 0x4F444656u
#define MAGIC_IN 0x49444656u
#define VERSION 1u
#define HEADER_BYTES 192u
#define LAYOUT_HASH 0xDCE1DA4Eu
#define SEQ_MASK 0x0FFFFFFFu
#define CMD_SET 1u
#define ST_BUSY 2u
#define ST_DONE 3u
#define ST_ERROR 4u
#define ST_CLOSED 5u
#define MAX_CAPACITY 16777216u

/* Poll-only waits (§13.2): pure spin, then sched_yield between looks, then short sleeps. */
#define POLL_SPIN_US 5.0
#define POLL_YIELD_US 100.0
#define POLL_SLEEP_NS (50 * 1000)       /* at most 100 µs */
#define POLL_LIVENESS_MS 2000.0

#define U32(p, off) (*(const uint32_t *)((p) + (off)))
#define U16(p, off) (*(const uint16_t *)((p) + (off)))
#define AT32(p, off) ((_Atomic int32_t *)((p) + (off)))

/* Seals every region vFunD hands over carries (§14); glibc's <fcntl.h> has them since 2.27. */
#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SHRINK
#define F_SEAL_SHRINK 0x0002
#endif
#ifndef F_SEAL_GROW
#define F_SEAL_GROW 0x0004
#endif

/* vFunD's tombstone: any state word whose status is CLOSED, whatever its seq (§5). */
#define IS_CLOSED(w) (((uint32_t)(w) & 0xFu) == ST_CLOSED)

static int32_t word(uint32_t seq, uint32_t low) { return (int32_t)(((seq & SEQ_MASK) << 4) | (low & 0xFu)); }

static void *map_file(const char *dir, const char *name, int writable, size_t *bytes) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)HEADER_BYTES) {
    close(fd);
    errno = EINVAL;
    return NULL;
  }
  *bytes = (size_t)st.st_size;
  void *p = mmap(NULL, *bytes, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
  close(fd);
  return p == MAP_FAILED ? NULL : p;
}

/* areaBytes(capacity) = 192 + ceil(capacity / 64) * 64 */
static size_t area_bytes(uint32_t capacity) { return HEADER_BYTES + ((size_t)capacity + 63) / 64 * 64; }
size_t vfun_area_bytes(uint32_t capacity) { return area_bytes(capacity); }

const char *vfun_strerror(int rc) {
  switch (rc) {
    case VFUN_OK: return "ok";
    case VFUN_ERR_SYS: return "a system call failed";
    case VFUN_ERR_HEADER: return "the region's headers do not match this layout or capacity";
    case VFUN_ERR_SERVICE: return "the service answered ERROR";
    case VFUN_ERR_TIMEOUT: return "no answer before the timeout";
    case VFUN_ERR_TOO_BIG: return "argument or result larger than the region's capacity";
    case VFUN_ERR_BUSY: return "a request is still unanswered";
    case VFUN_ERR_PROTOCOL: return "datain holds a value the protocol does not allow";
    case VFUN_ERR_CLOSED: return "channel closed: the service has shown no sign of life for 2 s";
    case VFUN_ERR_INSTANCE_CLOSED: return "channel closed: vFunD closed this instance (released, or its service died); no answer will come";
    case VFUN_ERR_REGION: return "the descriptors are not a sealed region of the expected size";
    default: return "unknown error";
  }
}

static int check_header(const uint8_t *a, uint32_t magic, uint32_t capacity, size_t bytes) {
  if (U32(a, 0) != magic || U16(a, 4) != VERSION || U16(a, 6) != HEADER_BYTES || U32(a, 8) != LAYOUT_HASH) return 0;
  if (capacity == 0 || capacity > MAX_CAPACITY || area_bytes(capacity) > bytes || U32(a, 12) != capacity) return 0;
  return 1;
}

/* Continue from the last request word; it must have been answered (in sync, §7). Writes our pid. */
static int attach_seq(vfun_region *r) {
  uint32_t req = (uint32_t)atomic_load(AT32(r->out, 64));
  uint32_t state = (uint32_t)atomic_load(AT32((uint8_t *)r->in, 64));
  r->seq = (req >> 4) & SEQ_MASK;
  if (IS_CLOSED(state)) return VFUN_ERR_INSTANCE_CLOSED;
  if (((state >> 4) & SEQ_MASK) != r->seq || (state & 0xF) == ST_BUSY) return VFUN_ERR_BUSY;
  *(uint32_t *)(r->out + 136) = (uint32_t)getpid(); /* liveness line: our pid */
  return VFUN_OK;
}

int vfun_open(vfun_region *r, const char *dir) {
  size_t out_bytes = 0, in_bytes = 0;
  memset(r, 0, sizeof *r);
  r->out = map_file(dir, "dataout", 1, &out_bytes);
  if (!r->out) return VFUN_ERR_SYS;
  r->in = map_file(dir, "datain", 0, &in_bytes);
  if (!r->in) {
    munmap(r->out, out_bytes);
    return VFUN_ERR_SYS;
  }
  r->bytes = out_bytes < in_bytes ? out_bytes : in_bytes;
  r->capacity = U32(r->out, 12);
  if (!check_header(r->out, MAGIC_OUT, r->capacity, out_bytes) || !check_header(r->in, MAGIC_IN, r->capacity, in_bytes)) {
    vfun_close(r);
    return VFUN_ERR_HEADER;
  }
  int rc = attach_seq(r);
  if (rc != VFUN_OK) vfun_close(r);
  return rc;
}

/* One descriptor of a sealed region: a regular file, sealed against shrinking and growing, at
 * least `need` bytes long. 0, or -1 with a message. */
static int check_sealed(int fd, const char *area, size_t need, char *err, size_t errcap) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    vfun_set_err(err, errcap, "%s: fstat of fd %d: %s", area, fd, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    vfun_set_err(err, errcap, "%s: fd %d is not a regular file (mode 0%o)", area, fd, (unsigned)st.st_mode);
    return -1;
  }
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    vfun_set_err(err, errcap, "%s: fd %d carries no seals (F_GET_SEALS: %s): not a sealed memfd", area, fd, strerror(errno));
    return -1;
  }
  if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
    vfun_set_err(err, errcap, "%s: fd %d is not sealed against resizing (seals 0x%x, need F_SEAL_SHRINK | F_SEAL_GROW)", area, fd,
                 (unsigned)seals);
    return -1;
  }
  if ((uintmax_t)st.st_size < (uintmax_t)need) {
    vfun_set_err(err, errcap, "%s: fd %d holds %lld bytes, the area needs %zu", area, fd, (long long)st.st_size, need);
    return -1;
  }
  return 0;
}

int vfun_map_fds(vfun_region *r, int dataout_fd, int datain_fd, uint32_t capacity, char *err, size_t errcap) {
  memset(r, 0, sizeof *r);
  if (capacity == 0 || capacity > MAX_CAPACITY) {
    vfun_set_err(err, errcap, "capacity %u is outside 1..%u", capacity, MAX_CAPACITY);
    return VFUN_ERR_HEADER;
  }
  const size_t bytes = area_bytes(capacity);
  if (check_sealed(dataout_fd, "dataout", bytes, err, errcap) != 0 || check_sealed(datain_fd, "datain", bytes, err, errcap) != 0)
    return VFUN_ERR_REGION;
  void *out = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, dataout_fd, 0);
  if (out == MAP_FAILED) {
    vfun_set_err(err, errcap, "mmap dataout (%zu bytes, read-write): %s", bytes, strerror(errno));
    return VFUN_ERR_SYS;
  }
  void *in = mmap(NULL, bytes, PROT_READ, MAP_SHARED, datain_fd, 0);
  if (in == MAP_FAILED) {
    vfun_set_err(err, errcap, "mmap datain (%zu bytes, read-only): %s", bytes, strerror(errno));
    munmap(out, bytes);
    return VFUN_ERR_SYS;
  }
  r->out = out;
  r->in = in;
  r->bytes = bytes;
  r->capacity = capacity;
  if (!check_header(r->out, MAGIC_OUT, capacity, bytes) || !check_header(r->in, MAGIC_IN, capacity, bytes)) {
    vfun_set_err(err, errcap, "the headers do not match layout version %u, hash 0x%08X and capacity %u (dataout magic 0x%08x, datain magic 0x%08x)",
                 VERSION, LAYOUT_HASH, capacity, U32(r->out, 0), U32(r->in, 0));
    vfun_close(r);
    return VFUN_ERR_HEADER;
  }
  int rc = attach_seq(r);
  if (rc != VFUN_OK) {
    vfun_set_err(err, errcap, "%s", vfun_strerror(rc));
    vfun_close(r);
  }
  return rc;
}

int vfun_attach(vfun_region *r, uint8_t *out, const uint8_t *in, size_t bytes, int poll_only) {
  memset(r, 0, sizeof *r);
  if (!out || !in || bytes < HEADER_BYTES) return VFUN_ERR_HEADER;
  r->out = out;
  r->in = in;
  r->bytes = bytes;
  r->attached = 1;
  r->poll_only = poll_only ? 1 : 0;
  r->capacity = U32(r->out, 12);
  int rc = VFUN_ERR_HEADER;
  if (check_header(r->out, MAGIC_OUT, r->capacity, bytes) && check_header(r->in, MAGIC_IN, r->capacity, bytes)) rc = attach_seq(r);
  if (rc != VFUN_OK) {
    vfun_close(r);
    return rc;
  }
  if (r->poll_only) atomic_store(AT32(r->out, 128), 0); /* we never sleep on a window word */
  atomic_fetch_add((_Atomic uint32_t *)(r->out + 132), 1u); /* client heartbeat: bumped at attach (§3) */
  return VFUN_OK;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ __volatile__("pause");
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* §13.2: never a futex, never clientSleeping. Spin, then yield between looks, then sleep in slices
 * of at most 100 µs. The service is gone when neither the state word nor datain.heartbeat changed
 * for 2 s, unless it shows our request BUSY: a long call stops the heartbeat, and the host bounds it
 * (a hung call is answered DRIVER_FAULT by the restarted service), so then only the timeout applies. */
static int wait_poll(vfun_region *r, int32_t done, int32_t error, int timeout_ms, int32_t *out) {
  _Atomic int32_t *state = AT32((uint8_t *)r->in, 64);
  _Atomic int32_t *heartbeat = AT32((uint8_t *)r->in, 132);
  double start = now_ms(), alive = start;
  int32_t seen_state = atomic_load(state), seen_beat = atomic_load(heartbeat);
  for (unsigned n = 0;; n++) {
    int32_t w = atomic_load(state);
    if (w == done || w == error) {
      *out = w;
      return VFUN_OK;
    }
    if (IS_CLOSED(w)) return VFUN_ERR_INSTANCE_CLOSED;
    if ((n & 63) != 63) {
      cpu_relax();
      continue;
    }
    double t = now_ms();
    int32_t beat = atomic_load(heartbeat);
    if (beat != seen_beat || w != seen_state) {
      seen_beat = beat;
      seen_state = w;
      alive = t;
    }
    if (t - alive >= POLL_LIVENESS_MS && w != ((done & ~0xF) | (int32_t)ST_BUSY)) return VFUN_ERR_CLOSED;
    if (t - start >= (double)timeout_ms) return VFUN_ERR_TIMEOUT;
    double spent_us = (t - start) * 1e3;
    if (spent_us < POLL_SPIN_US) continue;
    if (spent_us < POLL_YIELD_US) {
      sched_yield();
      n = 62; /* yield between every two looks from now on */
      continue;
    }
    struct timespec ts = {0, POLL_SLEEP_NS};
    nanosleep(&ts, NULL);
    n = 62; /* past the spin budget: look at the clock after every sleep */
  }
}

/* The state word was stored last: len, error and payload are complete. Validate them (§11). */
static int take_answer(vfun_region *r, int32_t w, int32_t error, void *result, uint32_t cap, uint32_t *result_len,
                       uint32_t *err_code) {
  uint32_t n = U32(r->in, 68);
  if (n > r->capacity) return VFUN_ERR_PROTOCOL;
  if (w == error) {
    uint32_t code = U32(r->in, 72);
    if (code < VFUN_BAD_COMMAND || code > VFUN_NO_RESULT) return VFUN_ERR_PROTOCOL;
    *err_code = code;
    return VFUN_ERR_SERVICE;
  }
  if (n > cap) return VFUN_ERR_TOO_BIG;
  memcpy(result, r->in + HEADER_BYTES, n);
  *result_len = n;
  return VFUN_OK;
}

int vfun_call(vfun_region *r, const void *arg, uint32_t len, void *result, uint32_t cap, uint32_t *result_len,
              uint32_t *err_code, int timeout_ms) {
  if (len > r->capacity) return VFUN_ERR_TOO_BIG;
  /* 1. payload, 2. len, 3. the request word last (seq_cst store: a release). */
  memcpy(r->out + HEADER_BYTES, arg, len);
  *(volatile uint32_t *)(r->out + 68) = len;
  r->seq = (r->seq + 1) & SEQ_MASK;
  atomic_store(AT32(r->out, 64), word(r->seq, CMD_SET));
  const int32_t done = word(r->seq, ST_DONE), error = word(r->seq, ST_ERROR);
  int32_t w;
  if (r->poll_only) {
    /* The service polls dataout.req; its serviceSleeping flag means nothing to us (§13.2). */
    int rc = wait_poll(r, done, error, timeout_ms, &w);
    if (rc != VFUN_OK) return rc;
    return take_answer(r, w, error, result, cap, result_len, err_code);
  }
  /* Wake the service only if it said it sleeps (Dekker with its flag). */
  if (atomic_load(AT32((uint8_t *)r->in, 128)) == 1) syscall(SYS_futex, AT32(r->out, 64), FUTEX_WAKE, 1, NULL, NULL, 0);

  _Atomic int32_t *state = AT32((uint8_t *)r->in, 64);
  _Atomic int32_t *sleeping = AT32(r->out, 128);
  double start = now_ms();
  for (unsigned n = 0;; n++) {
    w = atomic_load(state);
    if (w == done || w == error) break;
    if (IS_CLOSED(w)) return VFUN_ERR_INSTANCE_CLOSED;
    if (n < 20000) continue; /* spin first: answers usually come within a microsecond */
    double left = timeout_ms - (now_ms() - start);
    if (left <= 0) return VFUN_ERR_TIMEOUT;
    atomic_store(sleeping, 1);
    w = atomic_load(state); /* re-check after announcing the sleep */
    if (w != done && w != error && !IS_CLOSED(w)) {
      /* 50 ms slices: vFunD writes the CLOSED tombstone without a wake-up, so look again each slice */
      struct timespec ts = {0, 50 * 1000 * 1000};
      syscall(SYS_futex, state, FUTEX_WAIT, w, &ts, NULL, 0);
    }
    atomic_store(sleeping, 0);
  }
  return take_answer(r, w, error, result, cap, result_len, err_code);
}

void vfun_close(vfun_region *r) {
  if (r->out && !r->attached) munmap(r->out, r->bytes);
  if (r->in && !r->attached) munmap((void *)r->in, r->bytes);
  r->out = NULL;
  r->in = NULL;
}
