/* See vfun_json.h. */
#include "vfun_json.h"

#include <string.h>

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

int vfun_json_string_truncated(vfun_json_span v, char *out, size_t cap) { return json_string(v, out, cap, 1); }

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
