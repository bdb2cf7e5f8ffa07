/* See vfun_ctl.h. The protocol is docs/operator-guide.md, "The control channel". */
#define _GNU_SOURCE
#include "vfun_ctl.h"
#include "vfun_err.h"
#include "vfun_json.h"
#include "vfun_sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define set_err vfun_set_err

/* ===================================================================== requests */

int vfun_ctl_name_ok(const char *s) {
  if (!s) return 0;
  size_t n = 0;
  for (; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return 0;
    if (n >= VFUN_CTL_NAME_MAX) return 0;
  }
  return n > 0;
}

static int nonce_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
  return n >= 16 && n <= 64;
}

int vfun_ctl_nonce(char out[33]) {
  uint8_t b[16];
  size_t got = 0;
#ifdef SYS_getrandom
  while (got < sizeof b) {
    long r = syscall(SYS_getrandom, b + got, sizeof b - got, 1 /* GRND_NONBLOCK */);
    if (r > 0) got += (size_t)r;
    else if (r < 0 && errno == EINTR) continue;
    else break; /* ENOSYS, or EAGAIN this early in boot: /dev/urandom never blocks */
  }
#endif
  if (got < sizeof b) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    while (got < sizeof b) {
      ssize_t r = read(fd, b + got, sizeof b - got);
      if (r > 0) got += (size_t)r;
      else if (r < 0 && errno == EINTR) continue;
      else break;
    }
    close(fd);
    if (got < sizeof b) return -1;
  }
  vfun_hex(b, sizeof b, out);
  return 0;
}

long long vfun_ctl_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int vfun_ctl_canonical(const vfun_ctl_request *rq, char *out, size_t cap, char *err, size_t errcap) {
  char nonce[65];
  if (!rq->op) {
    set_err(err, errcap, "request has no op");
    return -1;
  }
  int negotiate = strcmp(rq->op, "negotiate") == 0;
  if (!negotiate && strcmp(rq->op, "activate") != 0 && strcmp(rq->op, "region") != 0 && strcmp(rq->op, "release") != 0) {
    set_err(err, errcap, "op '%.32s' is not negotiate, activate, region or release", rq->op);
    return -1;
  }
  if (!vfun_ctl_name_ok(rq->tenant)) {
    set_err(err, errcap, "tenant must be 1..%d characters of A-Z a-z 0-9 _ -", VFUN_CTL_NAME_MAX);
    return -1;
  }
  if (rq->nonce) {
    if (!nonce_ok(rq->nonce)) {
      set_err(err, errcap, "nonce must be 16..64 lowercase hex digits");
      return -1;
    }
    snprintf(nonce, sizeof nonce, "%s", rq->nonce);
  } else if (vfun_ctl_nonce(nonce) != 0) {
    set_err(err, errcap, "cannot draw a nonce: %s", strerror(errno));
    return -1;
  }
  long long ts = rq->ts >= 0 ? rq->ts : vfun_ctl_now_ms();
  int n;
  if (negotiate) {
    if (!vfun_ctl_name_ok(rq->app) || !vfun_ctl_name_ok(rq->fn)) {
      set_err(err, errcap, "%s must be 1..%d characters of A-Z a-z 0-9 _ -", vfun_ctl_name_ok(rq->app) ? "fn" : "app",
              VFUN_CTL_NAME_MAX);
      return -1;
    }
    if (!rq->kind || (strcmp(rq->kind, "sw") != 0 && strcmp(rq->kind, "hw") != 0)) {
      set_err(err, errcap, "kind must be sw or hw");
      return -1;
    }
    if (rq->fallback < -1 || rq->fallback > 1) {
      set_err(err, errcap, "fallback must be -1 (absent), 0 or 1");
      return -1;
    }
    /* Keys in code unit order: app fallback fn kind nonce op tenant ts v. */
    n = snprintf(out, cap, "{\"app\":\"%s\"%s\"fn\":\"%s\",\"kind\":\"%s\",\"nonce\":\"%s\",\"op\":\"negotiate\",\"tenant\":\"%s\",\"ts\":%lld,\"v\":1}",
                 rq->app, rq->fallback < 0 ? "," : rq->fallback ? ",\"fallback\":true," : ",\"fallback\":false,", rq->fn,
                 rq->kind, nonce, rq->tenant, ts);
  } else {
    if (!vfun_ctl_name_ok(rq->instance)) {
      set_err(err, errcap, "instance must be 1..%d characters of A-Z a-z 0-9 _ -", VFUN_CTL_NAME_MAX);
      return -1;
    }
    /* Keys in code unit order: instance nonce op tenant ts v. */
    n = snprintf(out, cap, "{\"instance\":\"%s\",\"nonce\":\"%s\",\"op\":\"%s\",\"tenant\":\"%s\",\"ts\":%lld,\"v\":1}",
                 rq->instance, nonce, rq->op, rq->tenant, ts);
  }
  if (n < 0 || (size_t)n >= cap) {
    set_err(err, errcap, "request does not fit in %zu bytes", cap);
    return -1;
  }
  return n;
}

int vfun_ctl_build(const vfun_ctl_request *rq, const void *secret, size_t secret_len, char *line, size_t cap, char *err,
                   size_t errcap) {
  int n = vfun_ctl_canonical(rq, line, cap, err, errcap);
  if (n < 0) return -1;
  uint8_t mac[32];
  char hex[65];
  vfun_hmac_sha256(secret, secret_len, line, (size_t)n, mac);
  vfun_hex(mac, 32, hex);
  /* The canonical text ends with '}': put ,"mac":"…"} and the newline in its place. */
  size_t need = (size_t)n - 1 + strlen(",\"mac\":\"\"}\n") + 64;
  if (need >= cap || need >= VFUN_CTL_MAX_LINE) {
    set_err(err, errcap, "request line does not fit in %zu bytes", cap < VFUN_CTL_MAX_LINE ? cap : (size_t)VFUN_CTL_MAX_LINE);
    return -1;
  }
  snprintf(line + n - 1, cap - (size_t)n + 1, ",\"mac\":\"%s\"}\n", hex);
  return (int)need;
}

/* ===================================================================== answers */

typedef struct {
  const char *line;
  size_t len;
  const char *op;
  char *err;
  size_t errcap;
} answer_ctx;

/* A required (or optional: returns 0 when absent) string member. -1 with err set on a problem. */
static int get_string(const answer_ctx *x, const char *path, char *out, size_t cap, int required, int truncate) {
  vfun_json_span v;
  int r = vfun_json_get(x->line, x->len, path, &v);
  if (r == 0) {
    if (!required) return 0;
    set_err(x->err, x->errcap, "answer to %s: missing \"%s\"", x->op, path);
    return -1;
  }
  if (r < 0 || (truncate ? vfun_json_string_truncated(v, out, cap) : vfun_json_string(v, out, cap)) != 0) {
    set_err(x->err, x->errcap, "answer to %s: \"%s\" is not a string%s", x->op, path, r < 0 ? "" : " (or too long)");
    return -1;
  }
  return 1;
}

static int get_int(const answer_ctx *x, const char *path, long long lo, long long hi, long long *out) {
  vfun_json_span v;
  int r = vfun_json_get(x->line, x->len, path, &v);
  if (r == 0) {
    set_err(x->err, x->errcap, "answer to %s: missing \"%s\"", x->op, path);
    return -1;
  }
  if (r < 0 || vfun_json_int(v, out) != 0 || *out < lo || *out > hi) {
    set_err(x->err, x->errcap, "answer to %s: \"%s\" is not an integer in %lld..%lld", x->op, path, lo, hi);
    return -1;
  }
  return 0;
}

int vfun_ctl_parse_answer(const char *line, size_t len, const char *op, vfun_ctl_answer *a, char *err, size_t errcap) {
  answer_ctx x = {line, len, op, err, errcap};
  vfun_json_span v;
  memset(a, 0, sizeof *a);
  strcpy(a->errors, "{}");
  int r = vfun_json_get(line, len, "ok", &v);
  if (r < 0) {
    set_err(err, errcap, "answer to %s is not JSON: %.120s", op, line);
    return -1;
  }
  if (r == 0 || vfun_json_bool(v, &a->ok) != 0) {
    set_err(err, errcap, "answer to %s: %s \"ok\" (true or false): %.120s", op, r == 0 ? "missing" : "not a boolean", line);
    return -1;
  }
  if (!a->ok) {
    if (get_string(&x, "reason", a->reason, sizeof a->reason, 1, 1) < 0) return -1;
    if (get_string(&x, "detail", a->detail, sizeof a->detail, 0, 1) < 0) return -1;
    return 0;
  }
  if (get_string(&x, "op", a->op, sizeof a->op, 1, 0) < 0) return -1;
  if (strcmp(a->op, op) != 0) {
    set_err(err, errcap, "answer to %s is an answer to %s", op, a->op);
    return -1;
  }
  if (strcmp(op, "negotiate") == 0 || strcmp(op, "activate") == 0 || strcmp(op, "region") == 0) {
    if (get_string(&x, "instance", a->instance, sizeof a->instance, 1, 0) < 0) return -1;
    if (!vfun_ctl_name_ok(a->instance)) {
      set_err(err, errcap, "answer to %s: \"instance\" is not 1..%d characters of A-Z a-z 0-9 _ -", op, VFUN_CTL_NAME_MAX);
      return -1;
    }
  }
  if (strcmp(op, "negotiate") == 0) {
    if (get_string(&x, "kind", a->kind, sizeof a->kind, 1, 0) < 0) return -1;
    if (strcmp(a->kind, "sw") != 0 && strcmp(a->kind, "hw") != 0) {
      set_err(err, errcap, "answer to negotiate: \"kind\" is not sw or hw");
      return -1;
    }
  } else if (strcmp(op, "activate") == 0) {
    if (get_int(&x, "capacity", 1, 16777216, &a->capacity) < 0) return -1;
    if (vfun_json_get(line, len, "region", &v) != 1 || v.p[0] != '{') {
      set_err(err, errcap, "answer to activate: missing \"region\" (an object)");
      return -1;
    }
    if (vfun_json_get(line, len, "region.window", &v) == 1) {
      if (get_int(&x, "region.window.slot", 0, 0xFFFFFFFFLL, &a->slot) < 0 ||
          get_int(&x, "region.window.dataoutOffset", 0, 0xFFFFFFFFLL, &a->dataout_offset) < 0 ||
          get_int(&x, "region.window.datainOffset", 0, 0xFFFFFFFFLL, &a->datain_offset) < 0)
        return -1;
      a->region = VFUN_REGION_WINDOW;
    } else {
      int memfd = 0;
      if (vfun_json_get(line, len, "region.memfd", &v) != 1 || vfun_json_bool(v, &memfd) != 0 || !memfd) {
        set_err(err, errcap, "answer to activate: \"region\" is neither {\"window\":{...}} nor {\"memfd\":true} (host paths are not accepted)");
        return -1;
      }
      a->region = VFUN_REGION_MEMFD;
    }
  } else if (strcmp(op, "region") == 0) {
    if (get_int(&x, "capacity", 1, 16777216, &a->capacity) < 0) return -1;
  } else if (strcmp(op, "release") == 0) {
    if (get_int(&x, "stats.calls", 0, 0x7FFFFFFFFFFFFFFFLL, &a->calls) < 0) return -1;
    if (vfun_json_get(line, len, "stats.errors", &v) == 1) {
      if (v.p[0] != '{' || v.n >= sizeof a->errors) {
        set_err(err, errcap, "answer to release: \"stats.errors\" is not an object (or too long)");
        return -1;
      }
      memcpy(a->errors, v.p, v.n);
      a->errors[v.n] = '\0';
    }
  }
  return 0;
}

/* ===================================================================== the call */

int vfun_ctl_call(vfun_chan *c, const vfun_ctl_request *rq, const void *secret, size_t secret_len, vfun_ctl_answer *a,
                  int timeout_ms, char *err, size_t errcap) {
  static char line[VFUN_CTL_MAX_LINE + 1];
  char fresh[33];
  vfun_ctl_request mine = *rq;
  if (mine.nonce == NULL) {
    if (vfun_ctl_nonce(fresh) != 0) {
      set_err(err, errcap, "cannot draw a nonce: %s", strerror(errno));
      return -1;
    }
    mine.nonce = fresh;
  }
  int n = vfun_ctl_build(&mine, secret, secret_len, line, sizeof line, err, errcap);
  if (n < 0) return -1;
  if (vfun_chan_write(c, line, (size_t)n, timeout_ms, err, errcap) != 0) return -1;
  /* vFunD echoes the request's nonce in every answer: skip answers to requests of an earlier
   * process on this channel (a VM's port outlives the processes that use it). */
  for (int stale = 0; stale < 64; stale++) {
    n = vfun_chan_read_line(c, line, sizeof line, timeout_ms, err, errcap);
    if (n < 0) return -1;
    vfun_json_span v;
    char echoed[65];
    /* vFunD echoes every well-formed nonce: an answer without ours is not ours (e.g. a refusal of a
     * torn line an earlier process left half-written on the port). */
    if (vfun_json_get(line, (size_t)n, "nonce", &v) != 1 || vfun_json_string(v, echoed, sizeof echoed) != 0 ||
        strcmp(echoed, mine.nonce) != 0)
      continue;
    return vfun_ctl_parse_answer(line, (size_t)n, rq->op, a, err, errcap);
  }
  set_err(err, errcap, "64 answers in a row carried another request's nonce");
  return -1;
}
