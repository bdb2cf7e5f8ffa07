/* See vfun_ctl.h. The protocol is docs/operator-guide.md, "The control channel". */
#define _GNU_SOURCE
#include "vfun_ctl.h"
#include "vfun_err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define set_err vfun_set_err

/* ===================================================================== SHA-256 (FIPS 180-4) */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
    0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
    0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t *b) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | (uint32_t)b[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = bb;
    bb = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += bb;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

void vfun_sha256_init(vfun_sha256_ctx *c) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, iv, sizeof iv);
  c->bytes = 0;
  c->fill = 0;
}

void vfun_sha256_update(vfun_sha256_ctx *c, const void *data, size_t n) {
  const uint8_t *p = data;
  c->bytes += n;
  if (c->fill > 0) {
    size_t take = 64 - c->fill < n ? 64 - c->fill : n;
    memcpy(c->block + c->fill, p, take);
    c->fill += take;
    p += take;
    n -= take;
    if (c->fill < 64) return;
    sha256_block(c->h, c->block);
    c->fill = 0;
  }
  for (; n >= 64; p += 64, n -= 64) sha256_block(c->h, p);
  memcpy(c->block, p, n);
  c->fill = n;
}

void vfun_sha256_final(vfun_sha256_ctx *c, uint8_t out[32]) {
  uint64_t bits = c->bytes * 8;
  c->block[c->fill++] = 0x80;
  if (c->fill > 56) {
    memset(c->block + c->fill, 0, 64 - c->fill);
    sha256_block(c->h, c->block);
    c->fill = 0;
  }
  memset(c->block + c->fill, 0, 56 - c->fill);
  for (int i = 0; i < 8; i++) c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
  sha256_block(c->h, c->block);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(c->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)c->h[i];
  }
  memset(c, 0, sizeof *c);
}

void vfun_sha256(const void *data, size_t n, uint8_t out[32]) {
  vfun_sha256_ctx c;
  vfun_sha256_init(&c);
  vfun_sha256_update(&c, data, n);
  vfun_sha256_final(&c, out);
}

void vfun_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[32]) {
  uint8_t k[64] = {0}, pad[64], inner[32];
  if (key_len > 64) vfun_sha256(key, key_len, k);
  else if (key_len > 0) memcpy(k, key, key_len);
  vfun_sha256_ctx c;
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  vfun_sha256_init(&c);
  vfun_sha256_update(&c, pad, 64);
  vfun_sha256_update(&c, msg, msg_len);
  vfun_sha256_final(&c, inner);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  vfun_sha256_init(&c);
  vfun_sha256_update(&c, pad, 64);
  vfun_sha256_update(&c, inner, 32);
  vfun_sha256_final(&c, out);
  memset(k, 0, sizeof k);
  memset(pad, 0, sizeof pad);
}

void vfun_hex(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

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

/* ===================================================================== JSON reader */

#define JSON_MAX_DEPTH 64

static const char *ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* p at '"': the end of the string (after the closing quote), or NULL. */
static const char *skip_string(const char *p, const char *e) {
  for (p++; p < e; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"') return p + 1;
    if (c < 0x20) return NULL;
    if (c != '\\') continue;
    if (++p >= e) return NULL;
    switch (*p) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        break;
      case 'u':
        if (e - p < 5) return NULL;
        for (int i = 1; i <= 4; i++)
          if (hexval(p[i]) < 0) return NULL;
        p += 4;
        break;
      default:
        return NULL;
    }
  }
  return NULL;
}

static const char *skip_literal(const char *p, const char *e, const char *lit) {
  size_t n = strlen(lit);
  return (size_t)(e - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

static const char *skip_number(const char *p, const char *e) {
  if (p < e && *p == '-') p++;
  if (p >= e) return NULL;
  if (*p == '0') p++;
  else if (*p >= '1' && *p <= '9')
    while (p < e && *p >= '0' && *p <= '9') p++;
  else return NULL;
  if (p < e && *p == '.') {
    const char *d = ++p;
    while (p < e && *p >= '0' && *p <= '9') p++;
    if (p == d) return NULL;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    const char *d = p;
    while (p < e && *p >= '0' && *p <= '9') p++;
    if (p == d) return NULL;
  }
  return p;
}

/* p at the first character of a value (no whitespace): its end, or NULL when malformed. */
static const char *skip_value(const char *p, const char *e, int depth) {
  if (p >= e || depth > JSON_MAX_DEPTH) return NULL;
  switch (*p) {
    case '"':
      return skip_string(p, e);
    case '{':
    case '[': {
      char close = *p == '{' ? '}' : ']';
      int object = *p == '{';
      p = ws(p + 1, e);
      if (p < e && *p == close) return p + 1;
      for (;;) {
        if (object) {
          if (p >= e || *p != '"' || !(p = skip_string(p, e))) return NULL;
          p = ws(p, e);
          if (p >= e || *p != ':') return NULL;
          p = ws(p + 1, e);
        }
        if (!(p = skip_value(p, e, depth + 1))) return NULL;
        p = ws(p, e);
        if (p >= e) return NULL;
        if (*p == close) return p + 1;
        if (*p != ',') return NULL;
        p = ws(p + 1, e);
      }
    }
    case 't':
      return skip_literal(p, e, "true");
    case 'f':
      return skip_literal(p, e, "false");
    case 'n':
      return skip_literal(p, e, "null");
    default:
      return skip_number(p, e);
  }
}

/* p at '{' of a well-formed object: the value of member `key` (the last one if repeated). */
static int member(const char *p, const char *e, const char *key, size_t key_len, vfun_json_span *out) {
  int found = 0;
  p = ws(p + 1, e);
  if (p < e && *p == '}') return 0;
  for (;;) {
    const char *k = p + 1, *ke = skip_string(p, e);
    if (!ke) return -1;
    p = ws(ke, e);
    p = ws(p + 1, e); /* ':' */
    const char *v = p, *ve = skip_value(p, e, 1);
    if (!ve) return -1;
    if ((size_t)(ke - 1 - k) == key_len && memcmp(k, key, key_len) == 0) {
      out->p = v;
      out->n = (size_t)(ve - v);
      found = 1;
    }
    p = ws(ve, e);
    if (p >= e || *p == '}') return found;
    p = ws(p + 1, e); /* ',' */
  }
}

int vfun_json_get(const char *json, size_t len, const char *path, vfun_json_span *out) {
  const char *e = json + len, *p = ws(json, e);
  const char *end = skip_value(p, e, 0);
  if (!end || ws(end, e) != e) return -1;
  if (*p != '{') return 0;
  vfun_json_span cur = {p, (size_t)(end - p)};
  while (*path) {
    const char *dot = strchr(path, '.');
    size_t klen = dot ? (size_t)(dot - path) : strlen(path);
    if (cur.p[0] != '{') return 0;
    int r = member(cur.p, cur.p + cur.n, path, klen, &cur);
    if (r <= 0) return r;
    path += klen + (dot ? 1 : 0);
    if (!dot) break;
  }
  *out = cur;
  return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18);
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Unescape into out[cap]; truncate (at a character boundary) when `truncate`, else fail. */
static int json_string(vfun_json_span v, char *out, size_t cap, int truncate) {
  if (cap == 0 || v.n < 2 || v.p[0] != '"') return -1;
  const char *p = v.p + 1, *e = v.p + v.n - 1;
  size_t o = 0;
  while (p < e) {
    char tmp[4];
    size_t k;
    if (*p != '\\') {
      tmp[0] = *p++;
      k = 1;
    } else {
      char c = p[1];
      p += 2;
      switch (c) {
        case 'b': tmp[0] = '\b'; k = 1; break;
        case 'f': tmp[0] = '\f'; k = 1; break;
        case 'n': tmp[0] = '\n'; k = 1; break;
        case 'r': tmp[0] = '\r'; k = 1; break;
        case 't': tmp[0] = '\t'; k = 1; break;
        case 'u': {
          unsigned cp = (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
          p += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            unsigned lo = (unsigned)(hexval(p[2]) << 12 | hexval(p[3]) << 8 | hexval(p[4]) << 4 | hexval(p[5]));
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              p += 6;
            }
          }
          if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) cp = 0xFFFD; /* lone surrogate, or a NUL */
          k = put_utf8(tmp, cp);
          break;
        }
        default: tmp[0] = c; k = 1; break; /* " \ / */
      }
    }
    if (o + k >= cap) {
      if (!truncate) return -1;
      break;
    }
    memcpy(out + o, tmp, k);
    o += k;
  }
  out[o] = '\0';
  return 0;
}

int vfun_json_string(vfun_json_span v, char *out, size_t cap) { return json_string(v, out, cap, 0); }

int vfun_json_int(vfun_json_span v, long long *out) {
  const char *p = v.p, *e = v.p + v.n;
  int neg = 0;
  if (p < e && *p == '-') neg = 1, p++;
  if (p >= e || (*p == '0' && e - p > 1)) return -1;
  unsigned long long x = 0;
  for (; p < e; p++) {
    if (*p < '0' || *p > '9') return -1;
    if (x > (0x7FFFFFFFFFFFFFFFULL - (unsigned)(*p - '0')) / 10) return -1;
    x = x * 10 + (unsigned)(*p - '0');
  }
  *out = neg ? -(long long)x : (long long)x;
  return 0;
}

int vfun_json_bool(vfun_json_span v, int *out) {
  if (v.n == 4 && memcmp(v.p, "true", 4) == 0) *out = 1;
  else if (v.n == 5 && memcmp(v.p, "false", 5) == 0) *out = 0;
  else return -1;
  return 0;
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
  if (r < 0 || json_string(v, out, cap, truncate) != 0) {
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

/* ===================================================================== the channel */

double vfun_mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void chomp(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
}

int vfun_port_find(const char *name, char *path, size_t cap) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (d) {
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
      if (ent->d_name[0] == '.') continue;
      char file[512], got[256];
      snprintf(file, sizeof file, "/sys/class/virtio-ports/%s/name", ent->d_name);
      FILE *f = fopen(file, "r");
      if (!f) continue;
      char *ok = fgets(got, sizeof got, f);
      fclose(f);
      if (!ok) continue;
      chomp(got);
      if (strcmp(got, name) == 0) {
        snprintf(path, cap, "/dev/%s", ent->d_name);
        closedir(d);
        return 0;
      }
    }
    closedir(d);
  }
  /* udev's symlink, where there is a udev */
  char link[512];
  snprintf(link, sizeof link, "/dev/virtio-ports/%s", name);
  if (access(link, F_OK) == 0) {
    snprintf(path, cap, "%s", link);
    return 0;
  }
  errno = ENOENT;
  return -1;
}

int vfun_chan_open(vfun_chan *c, const char *path, char *err, size_t errcap) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  snprintf(c->path, sizeof c->path, "%s", path);
  struct stat st;
  if (stat(path, &st) != 0) {
    set_err(err, errcap, "%s: %s", path, strerror(errno));
    return -1;
  }
  if (S_ISSOCK(st.st_mode)) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
      set_err(err, errcap, "%s: socket path longer than %zu bytes", path, sizeof sa.sun_path - 1);
      return -1;
    }
    strcpy(sa.sun_path, path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      set_err(err, errcap, "connect %s: %s", path, strerror(errno));
      vfun_chan_close(c);
      return -1;
    }
    c->is_socket = 1;
  } else {
    c->fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (c->fd < 0) {
      if (errno == EBUSY)
        set_err(err, errcap, "open %s: another process holds the control port (a virtio-serial port opens once at a time)", path);
      else
        set_err(err, errcap, "open %s: %s", path, strerror(errno));
      return -1;
    }
  }
  int fl = fcntl(c->fd, F_GETFL);
  if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
    set_err(err, errcap, "%s: cannot make it non-blocking: %s", path, strerror(errno));
    vfun_chan_close(c);
    return -1;
  }
  if (!c->is_socket) {
    /* A port outlives the processes that open it: drop what an earlier one left unread. */
    char junk[4096];
    for (int i = 0; i < 1024 && read(c->fd, junk, sizeof junk) > 0; i++) {
    }
  }
  return 0;
}

int vfun_wait_fd(int fd, short events, double deadline) {
  for (;;) {
    double left = deadline - vfun_mono_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, left > 1e6 ? 1000000 : (int)left + 1);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return -1;
  }
}

int vfun_chan_write(vfun_chan *c, const void *buf, size_t n, int timeout_ms, char *err, size_t errcap) {
  const char *p = buf;
  double deadline = vfun_mono_ms() + timeout_ms;
  while (n > 0) {
    ssize_t w = c->is_socket ? send(c->fd, p, n, MSG_NOSIGNAL) : write(c->fd, p, n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      set_err(err, errcap, "write %s: %s", c->path, strerror(errno));
      return -1;
    }
    int r = vfun_wait_fd(c->fd, POLLOUT, deadline);
    if (r <= 0) {
      set_err(err, errcap, "write %s: %s", c->path, r == 0 ? "timed out" : strerror(errno));
      return -1;
    }
    if (r > 0 && w == 0) { /* a port with no host side: try again a little later */
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  return 0;
}

/* Read more bytes into c->buf until the deadline. 0, or -1 (err). */
static int fill(vfun_chan *c, double deadline, int timeout_ms, char *err, size_t errcap) {
  for (;;) {
    ssize_t r = read(c->fd, c->buf + c->have, VFUN_CTL_MAX_LINE - c->have);
    if (r > 0) {
      c->have += (size_t)r;
      return 0;
    }
    if (r == 0 && c->is_socket) {
      set_err(err, errcap, "%s: closed by the other side", c->path);
      return -1;
    }
    if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      set_err(err, errcap, "read %s: %s", c->path, strerror(errno));
      return -1;
    }
    if (vfun_mono_ms() >= deadline) {
      set_err(err, errcap, "%s: no answer within %d ms", c->path, timeout_ms);
      return -1;
    }
    if (r == 0) {
      /* A virtio-serial port whose host side is not connected reads as end of file (and polls as
       * POLLHUP): look again in a moment. */
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    } else if (r < 0 && errno != EINTR && vfun_wait_fd(c->fd, POLLIN, deadline) < 0) {
      set_err(err, errcap, "poll %s: %s", c->path, strerror(errno));
      return -1;
    }
  }
}

int vfun_chan_read_line(vfun_chan *c, char *line, size_t cap, int timeout_ms, char *err, size_t errcap) {
  double deadline = vfun_mono_ms() + timeout_ms;
  for (;;) {
    char *nl = memchr(c->buf, '\n', c->have);
    if (nl) {
      size_t n = (size_t)(nl - c->buf);
      if (n >= cap) {
        set_err(err, errcap, "%s: line of %zu bytes does not fit in %zu", c->path, n, cap);
        return -1;
      }
      memcpy(line, c->buf, n);
      line[n] = '\0';
      c->have -= n + 1;
      memmove(c->buf, nl + 1, c->have);
      return (int)n;
    }
    if (c->have >= VFUN_CTL_MAX_LINE) {
      set_err(err, errcap, "%s: line longer than %d bytes", c->path, VFUN_CTL_MAX_LINE);
      return -1;
    }
    if (fill(c, deadline, timeout_ms, err, errcap) != 0) return -1;
  }
}

int vfun_chan_read_exact(vfun_chan *c, void *buf, size_t n, int timeout_ms, char *err, size_t errcap) {
  double deadline = vfun_mono_ms() + timeout_ms;
  uint8_t *o = buf;
  while (n > 0) {
    if (c->have == 0 && fill(c, deadline, timeout_ms, err, errcap) != 0) return -1;
    size_t k = c->have < n ? c->have : n;
    memcpy(o, c->buf, k);
    memmove(c->buf, c->buf + k, c->have - k);
    c->have -= k;
    o += k;
    n -= k;
  }
  return 0;
}

void vfun_chan_close(vfun_chan *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->have = 0;
}

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
