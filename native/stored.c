/*
 * stored.c: storedSealed, the fast path of the JetStream reader's check of
 * each message (src/events/adapters/jetstream/reader.ts). It judges the
 * same conditions as scanCanonical in src/events/canonical.ts, more
 * conservatively (ASCII only, nesting at most MAX_DEPTH), and recomputes the
 * hash over the bytes without copying them. Anything it does not judge
 * answers 0, and the reader then checks the message the slow way, so the
 * verdicts and the errors stay those of the portable code.
 *
 * SHA-256 is OpenSSL's, found in the Node process that loads this addon
 * (the Node binary exports it, or the libcrypto it links) by dlsym at the
 * first call, not linked: a Node without it makes storedSealed answer 0
 * (the slow path), never a failed symbol lookup that would end the process.
 */
#define _GNU_SOURCE
#include "stored.h"

/* SHA256_Init/Update/Final: deprecated in OpenSSL 3 in favour of EVP, still exported, and allocation-free. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <dlfcn.h>
#include <string.h>

typedef int (*sha_init_fn)(SHA256_CTX *);
typedef int (*sha_update_fn)(SHA256_CTX *, const void *, size_t);
typedef int (*sha_final_fn)(unsigned char *, SHA256_CTX *);
static sha_init_fn sha_init;
static sha_update_fn sha_update;
static sha_final_fn sha_final;
/* 0: not looked up yet; 1: found; -1: absent. One thread (the main one) calls it. */
static int sha_state;

static int sha_available(void) {
  if (sha_state == 0) {
    sha_init = (sha_init_fn)dlsym(RTLD_DEFAULT, "SHA256_Init");
    sha_update = (sha_update_fn)dlsym(RTLD_DEFAULT, "SHA256_Update");
    sha_final = (sha_final_fn)dlsym(RTLD_DEFAULT, "SHA256_Final");
    sha_state = sha_init != NULL && sha_update != NULL && sha_final != NULL ? 1 : -1;
  }
  return sha_state == 1;
}

#define MAX_DEPTH 64

/* a[0, la) < b[0, lb), bytewise (= UTF-16 code units for ASCII). */
static int range_less(const unsigned char *a, size_t la, const unsigned char *b, size_t lb) {
  size_t m = la < lb ? la : lb;
  int c = memcmp(a, b, m);
  return c != 0 ? c < 0 : la < lb;
}

static const char HEX[] = "0123456789abcdef";

/* At b[at]: `:"` then 64 lowercase hex digits and `"`. */
static int hex_string(const unsigned char *b, size_t n, size_t at) {
  if (at + 67 > n || b[at] != ':' || b[at + 1] != '"' || b[at + 66] != '"') return 0;
  for (size_t k = at + 2; k < at + 66; k++) {
    unsigned char c = b[k];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
  }
  return 1;
}

int stored_sealed(const unsigned char *b, size_t n) {
  if (n == 0 || b[0] != '{' || !sha_available()) return 0;
  unsigned char is_object[MAX_DEPTH];
  size_t key_start[MAX_DEPTH], key_end[MAX_DEPTH];
  int has_key[MAX_DEPTH];
  int depth = 0, expect_key = 0, in_hash = 0;
  size_t member_start = 0, hash_start = 0, hash_end = 0, value_start = 0;
  int hash_seen = 0, hash_closed = 0;
  size_t i = 0;
  while (i < n) {
    unsigned char c = b[i];
    if (c >= 0x80) return 0;
    if (c == '"') {
      size_t start = i + 1, j = start;
      for (;;) {
        if (j >= n) return 0;
        unsigned char d = b[j];
        if (d == '"') break;
        if (d == '\\') {
          if (expect_key || j + 1 >= n || (b[j + 1] != '"' && b[j + 1] != '\\')) return 0;
          j += 2;
          continue;
        }
        if (d < 0x20 || d >= 0x80) return 0;
        j++;
      }
      if (expect_key) {
        int top = depth - 1;
        if (has_key[top] && !range_less(b + key_start[top], key_end[top] - key_start[top], b + start, j - start)) return 0;
        has_key[top] = 1;
        key_start[top] = start;
        key_end[top] = j;
        if (depth == 1 && ((j - start == 4 && memcmp(b + start, "hash", 4) == 0) || (j - start == 8 && memcmp(b + start, "prevHash", 8) == 0))) {
          if (!hex_string(b, n, j + 1)) return 0;
          if (j - start == 4) {
            hash_seen = 1;
            in_hash = 1;
            hash_start = member_start;
            value_start = j + 2; /* after '":' */
          }
        }
        expect_key = 0;
      }
      i = j + 1;
      continue;
    }
    switch (c) {
      case '{':
      case '[':
        if (depth >= MAX_DEPTH) return 0;
        is_object[depth] = c == '{';
        has_key[depth] = 0;
        depth++;
        expect_key = c == '{';
        if (depth == 1) member_start = i + 1;
        i++;
        continue;
      case '}':
      case ']':
        if (depth == 0) return 0;
        if (depth == 1 && in_hash) {
          hash_end = i;
          in_hash = 0;
          hash_closed = 1;
        }
        depth--;
        expect_key = 0;
        i++;
        if (depth == 0 && i != n) return 0;
        continue;
      case ',':
        if (depth == 0) return 0;
        if (depth == 1 && in_hash) {
          hash_end = i;
          in_hash = 0;
          hash_closed = 1;
        }
        expect_key = is_object[depth - 1];
        if (depth == 1) member_start = i;
        i++;
        continue;
      case ':':
        i++;
        continue;
      case 't':
      case 'n':
        i += 4;
        continue;
      case 'f':
        i += 5;
        continue;
      default: {
        size_t j = i;
        if (c == '-') j++;
        size_t first = j;
        while (j < n && b[j] >= '0' && b[j] <= '9') j++;
        size_t digits = j - first;
        if (digits == 0 || digits > 15) return 0;
        if (b[first] == '0' && (digits > 1 || first > i)) return 0;
        if (j < n && (b[j] == '.' || b[j] == 'e' || b[j] == 'E')) return 0;
        i = j;
        continue;
      }
    }
  }
  if (depth != 0 || i != n || !hash_seen || !hash_closed) return 0;
  /* The member is exactly "hash":"<64 hex digits>" (hex_string checked the digits). */
  if (hash_end != value_start + 66) return 0;
  size_t start = hash_start, end = hash_end;
  if (b[start] != ',' && b[end] == ',') end++; /* first member: take the comma after it */
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_CTX ctx;
  if (sha_init(&ctx) != 1 || sha_update(&ctx, b, start) != 1 || sha_update(&ctx, b + end, n - end) != 1 || sha_final(md, &ctx) != 1) return 0;
  const unsigned char *hex = b + value_start + 1;
  for (int k = 0; k < SHA256_DIGEST_LENGTH; k++) {
    if (hex[2 * k] != (unsigned char)HEX[md[k] >> 4] || hex[2 * k + 1] != (unsigned char)HEX[md[k] & 15]) return 0;
  }
  return 1;
}

napi_value js_stored_sealed(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  bool is_typed = false;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "storedSealed: expected a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok) return NULL;
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "storedSealed: expected a Uint8Array");
    return NULL;
  }
  napi_value out;
  if (napi_get_boolean(env, length > 0 && stored_sealed((const unsigned char *)data, length), &out) != napi_ok) return NULL;
  return out;
}
