/*
 * The control channel of a VirtFun guest, in C (docs/operator-guide.md, "The control channel"):
 * SHA-256 and HMAC-SHA256 (own implementation, no dependencies), signed request lines in
 * canonical JSON, a small parser for answer lines, and the channel itself: a Unix socket on the
 * host, a virtio-serial port (/dev/vportNpM) in a virtual machine. Linux, C11.
 */
#ifndef VFUN_CTL_H
#define VFUN_CTL_H

#include <stddef.h>
#include <stdint.h>

/* Longest request or answer line, in bytes (src/control/protocol.ts MAX_LINE). */
#define VFUN_CTL_MAX_LINE 16384
/* Longest name (tenant, app, fn, instance) we send: the request schema's limit. */
#define VFUN_CTL_NAME_MAX 256
/* Name of the virtio-serial port carrying the control channel in a VM. */
#define VFUN_CTL_PORT_NAME "vfun.control"

/* ---- SHA-256 / HMAC-SHA256 ---- */

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

/* ---- Requests ---- */

/* 1..VFUN_CTL_NAME_MAX characters of [A-Za-z0-9_-]: what we accept to put into a request. */
int vfun_ctl_name_ok(const char *s);

/* 32 lowercase hex digits (16 random bytes: getrandom, else /dev/urandom) and a NUL. 0 or -1. */
int vfun_ctl_nonce(char out[33]);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
long long vfun_ctl_now_ms(void);

typedef struct {
  const char *op;       /* "negotiate", "activate", "region" or "release" */
  const char *tenant;
  const char *app;      /* negotiate */
  const char *fn;       /* negotiate */
  const char *kind;     /* negotiate: "sw" or "hw" */
  int fallback;         /* negotiate: -1 absent, 0 false, 1 true */
  const char *instance; /* activate, region, release */
  const char *nonce;    /* NULL: a fresh one; else 16..64 lowercase hex digits */
  long long ts;         /* < 0: now */
} vfun_ctl_request;

/* The canonical JSON of every field but mac (keys sorted, no whitespace) into out[cap].
 * Returns its length, or -1 with a message in err (a bad op, name, kind, nonce, or no room). */
int vfun_ctl_canonical(const vfun_ctl_request *rq, char *out, size_t cap, char *err, size_t errcap);

/* The signed request line: the canonical JSON plus "mac" (HMAC-SHA256 of the canonical JSON keyed
 * by the secret's bytes, lowercase hex), then '\n'. Returns the line's length or -1 (err). */
int vfun_ctl_build(const vfun_ctl_request *rq, const void *secret, size_t secret_len, char *line, size_t cap, char *err,
                   size_t errcap);

/* ---- A minimal JSON reader for answers ---- */

typedef struct {
  const char *p; /* first character of the value */
  size_t n;      /* its length in the text */
} vfun_json_span;

/* Find the value at `path` ("instance", "region.window.slot": member names separated by dots,
 * from the top-level object) in the JSON text json[0..len). Returns 1 found, 0 absent,
 * -1 when the text is not well-formed JSON (up to the point reached). */
int vfun_json_get(const char *json, size_t len, const char *path, vfun_json_span *out);
/* A string value, unescaped (\uXXXX as UTF-8), into out[cap] with a NUL. 0, or -1 (not a string / too long). */
int vfun_json_string(vfun_json_span v, char *out, size_t cap);
/* An integer value (no fraction, no exponent, fits in long long). 0 or -1. */
int vfun_json_int(vfun_json_span v, long long *out);
/* true / false. 0 or -1. */
int vfun_json_bool(vfun_json_span v, int *out);

/* ---- Answers ---- */

/* Where an activated instance's region is: a slot of the VM's ivshmem window (§13), or sealed memory
 * whose two descriptors the guest fetches with op "region" (§14). An answer that names host paths
 * is not accepted. */
enum { VFUN_REGION_NONE = 0, VFUN_REGION_WINDOW = 1, VFUN_REGION_MEMFD = 2 };

typedef struct {
  int ok;                                 /* 1: "ok":true, 0: "ok":false */
  char op[16];                            /* ok answers */
  char instance[VFUN_CTL_NAME_MAX + 1];   /* negotiate, activate, region */
  char kind[4];                           /* negotiate */
  long long capacity;                     /* activate, region */
  int region;                             /* activate: VFUN_REGION_WINDOW or VFUN_REGION_MEMFD */
  long long slot, dataout_offset, datain_offset; /* activate, window tenants */
  long long calls;                        /* release: stats.calls */
  char errors[1024];                      /* release: stats.errors as JSON text ("{}" when absent) */
  char reason[64];                        /* refusals */
  char detail[2048];                      /* refusals (may be empty) */
} vfun_ctl_answer;

/* Parse an answer line to a request `op`. Returns 0 for a well-formed answer (ok true or false:
 * look at a->ok), -1 when the line is not one (err names what is missing or wrong). */
int vfun_ctl_parse_answer(const char *line, size_t len, const char *op, vfun_ctl_answer *a, char *err, size_t errcap);

/* ---- The channel (also used for the "vfun.net" port of the benchmark) ---- */

typedef struct {
  int fd;
  int is_socket;                   /* 1: a Unix socket; 0: a character device (virtio-serial port) */
  size_t have;                     /* bytes buffered in buf */
  char buf[VFUN_CTL_MAX_LINE + 1];
  char path[512];
} vfun_chan;

/* /dev/<port> of the virtio-serial port whose /sys/class/virtio-ports/<port>/name is `name`.
 * 0, or -1 when there is none. */
int vfun_port_find(const char *name, char *path, size_t cap);

/* Open `path`: connect to it if it is a Unix socket, else open it O_RDWR (a virtio-serial port).
 * Pending input of a character device (answers left over by an earlier guest process) is dropped.
 * 0, or -1 (err). */
int vfun_chan_open(vfun_chan *c, const char *path, char *err, size_t errcap);
/* Write all n bytes (partial writes and EINTR handled). 0, or -1 (err). */
int vfun_chan_write(vfun_chan *c, const void *buf, size_t n, int timeout_ms, char *err, size_t errcap);
/* Read one line (up to '\n', which is not stored) into line[cap] with a NUL: returns its length,
 * or -1 (err: timeout, closed, longer than VFUN_CTL_MAX_LINE). */
int vfun_chan_read_line(vfun_chan *c, char *line, size_t cap, int timeout_ms, char *err, size_t errcap);
/* Read exactly n bytes. 0, or -1 (err). */
int vfun_chan_read_exact(vfun_chan *c, void *buf, size_t n, int timeout_ms, char *err, size_t errcap);
void vfun_chan_close(vfun_chan *c);
/* CLOCK_MONOTONIC in ms. */
double vfun_mono_ms(void);
/* poll() `fd` for `events` until `deadline` (vfun_mono_ms): 1 ready, 0 timed out, -1 error (errno). EINTR retried. */
int vfun_wait_fd(int fd, short events, double deadline);

/* Build and send a signed request, read and parse its answer. 0 (look at a->ok) or -1 (err). */
int vfun_ctl_call(vfun_chan *c, const vfun_ctl_request *rq, const void *secret, size_t secret_len, vfun_ctl_answer *a,
                  int timeout_ms, char *err, size_t errcap);

#endif
