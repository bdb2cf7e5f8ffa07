/*
 * The control protocol of a VirtFun guest, in C (docs/operator-guide.md, "The control channel"):
 * signed request lines in canonical JSON (HMAC-SHA256: vfun_sha256.h), their answers (read with
 * vfun_json.h), and a request-answer call over a channel (vfun_chan.h: a Unix socket on the
 * host, a virtio-serial port in a virtual machine). Linux, C11.
 */
#ifndef VFUN_CTL_H
#define VFUN_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "vfun_chan.h"

/* Longest request or answer line, in bytes (src/control/protocol.ts MAX_LINE). */
#define VFUN_CTL_MAX_LINE VFUN_CHAN_MAX_LINE
/* Longest name (tenant, app, fn, instance) we send: the request schema's limit. */
#define VFUN_CTL_NAME_MAX 256
/* Name of the virtio-serial port carrying the control channel in a VM. */
#define VFUN_CTL_PORT_NAME "vfun.control"

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

/* ---- The call ---- */

/* Build and send a signed request, read and parse its answer. 0 (look at a->ok) or -1 (err). */
int vfun_ctl_call(vfun_chan *c, const vfun_ctl_request *rq, const void *secret, size_t secret_len, vfun_ctl_answer *a,
                  int timeout_ms, char *err, size_t errcap);

#endif
