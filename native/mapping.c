/*
 * mapping.c: the registry of live mappings and their ArrayBuffers
 * (wrap_mapping, unmap, msync).
 *
 * Each mapping has a heap record that is also the finalize hint of its
 * ArrayBuffer. Whoever unmaps first (explicit unmap or the GC finalizer)
 * sets `unmapped` and takes the record out of the list; the finalizer
 * always frees the record. The list lets unmap() check that an ArrayBuffer
 * really is one of ours (live mappings never overlap, so the base address
 * identifies one). One mutex: the addon may be loaded by worker threads.
 */
#define _GNU_SOURCE
#include "mapping.h"

#include "errors.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct mapping {
  void *addr;
  size_t length;
  int unmapped;
  struct mapping *prev, *next;
} mapping;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mapping *registry_head = NULL;

static void registry_add(mapping *m) {
  pthread_mutex_lock(&registry_lock);
  m->prev = NULL;
  m->next = registry_head;
  if (registry_head) registry_head->prev = m;
  registry_head = m;
  pthread_mutex_unlock(&registry_lock);
}

/* Caller holds registry_lock. */
static void registry_remove_locked(mapping *m) {
  if (m->prev) m->prev->next = m->next;
  else registry_head = m->next;
  if (m->next) m->next->prev = m->prev;
  m->prev = m->next = NULL;
}

/* Caller holds registry_lock. */
static mapping *registry_find_locked(void *addr) {
  for (mapping *m = registry_head; m; m = m->next)
    if (m->addr == addr) return m;
  return NULL;
}

static void finalize_mapping(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  mapping *m = (mapping *)hint;
  pthread_mutex_lock(&registry_lock);
  if (!m->unmapped) {
    munmap(m->addr, m->length);
    m->unmapped = 1;
    registry_remove_locked(m);
  }
  pthread_mutex_unlock(&registry_lock);
  free(m);
}

napi_value wrap_mapping(napi_env env, void *addr, size_t length) {
  mapping *m = (mapping *)calloc(1, sizeof *m);
  if (!m) {
    munmap(addr, length);
    napi_throw_error(env, "ENOMEM", "vfun_shm: out of memory");
    return NULL;
  }
  m->addr = addr;
  m->length = length;
  registry_add(m);

  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, length, finalize_mapping, m, &ab) != napi_ok) {
    pthread_mutex_lock(&registry_lock);
    registry_remove_locked(m);
    pthread_mutex_unlock(&registry_lock);
    munmap(addr, length);
    free(m);
    if (!is_exception_pending(env))
      napi_throw_error(env, NULL, "vfun_shm: napi_create_external_arraybuffer failed (is the length too large?)");
    return NULL;
  }
  return ab;
}

static int get_arraybuffer(napi_env env, napi_value v, void **data, size_t *len) {
  if (!is_arraybuffer(env, v) || napi_get_arraybuffer_info(env, v, data, len) != napi_ok) {
    if (!is_exception_pending(env))
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an ArrayBuffer returned by open() or mapFd()");
    return 0;
  }
  return 1;
}

napi_value js_unmap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "unmap(ab) needs an ArrayBuffer");
    return NULL;
  }
  void *data;
  size_t len;
  if (!get_arraybuffer(env, argv[0], &data, &len)) return NULL;

  bool detached = false;
  CHECK_NAPI(env, napi_is_detached_arraybuffer(env, argv[0], &detached));
  if (detached) {
    CHECK_NAPI(env, napi_get_boolean(env, false, &result));
    return result;
  }

  pthread_mutex_lock(&registry_lock);
  mapping *m = data ? registry_find_locked(data) : NULL;
  if (!m || m->length != len) {
    pthread_mutex_unlock(&registry_lock);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "unmap: this ArrayBuffer is not a live mapping returned by open() or mapFd()");
    return NULL;
  }
  /* Detach first: if that fails nothing is unmapped and JS can keep using it. */
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
    pthread_mutex_unlock(&registry_lock);
    if (!is_exception_pending(env)) napi_throw_error(env, NULL, "unmap: napi_detach_arraybuffer failed");
    return NULL;
  }
  munmap(m->addr, m->length);
  m->unmapped = 1; /* the finalizer, when GC gets to the buffer, only frees the record */
  registry_remove_locked(m);
  pthread_mutex_unlock(&registry_lock);

  CHECK_NAPI(env, napi_get_boolean(env, true, &result));
  return result;
}

napi_value js_msync(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "msync(ab) needs an ArrayBuffer");
    return NULL;
  }
  void *data;
  size_t len;
  if (!get_arraybuffer(env, argv[0], &data, &len)) return NULL;
  pthread_mutex_lock(&registry_lock);
  mapping *m = data ? registry_find_locked(data) : NULL;
  int ok = m && m->length == len;
  pthread_mutex_unlock(&registry_lock);
  if (!ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "msync: this ArrayBuffer is not a live mapping returned by open() or mapFd() (unmapped?)");
    return NULL;
  }
  if (msync(data, len, MS_SYNC) != 0) {
    int e = errno;
    char msg[128];
    snprintf(msg, sizeof msg, "%s: msync: %s", errno_name(e), strerror(e));
    throw_sys_error(env, e, NULL, "msync", NULL, msg);
    return NULL;
  }
  return NULL; /* undefined */
}
