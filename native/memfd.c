/*
 * memfd.c: sealed memfds, memfdCreate(name, length) and memfdSeals(fd).
 *
 * A region handed to a tenant or a service is a memfd whose size is sealed
 * (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL): nobody holding the fd can
 * truncate it under a mapping (the SIGBUS a truncated mapped file raises)
 * nor grow it. Its memory is reserved at creation (fallocate), so running
 * out of memory is an error here rather than a fault on first touch.
 */
#define _GNU_SOURCE
#include "memfd.h"

#include "args.h"
#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U /* Linux 6.3 */
#endif
#define MEMFD_NAME_MAX 249 /* the kernel's limit (NAME_MAX minus "memfd:") */
#define MEMFD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/*
 * memfd_create with MFD_NOEXEC_SEAL where the kernel has it (6.3+: the file
 * can never be made executable, and vm.memfd_noexec=2 refuses memfds without
 * it); older kernels answer EINVAL to the unknown flag and get the plain call.
 */
static int memfd_open(const char *name) {
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  return fd;
}

/* Reserve by writing zeros page by page, for filesystems without fallocate. 0 or errno. */
static int reserve_by_writing(int fd, uint64_t length) {
  static const char zeros[4096];
  uint64_t off = 0;
  while (off < length) {
    size_t n = length - off < sizeof zeros ? (size_t)(length - off) : sizeof zeros;
    ssize_t w = pwrite(fd, zeros, n, (off_t)off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return ENOSPC;
    off += (uint64_t)w;
  }
  return 0;
}

/* Allocate every page of [0, length) now. 0 or errno; *call names the failing syscall. */
static int reserve_memory(int fd, uint64_t length, const char **call) {
  int r;
  do {
    r = fallocate(fd, 0, 0, (off_t)length);
  } while (r != 0 && errno == EINTR);
  if (r == 0) return 0;
  if (errno != EOPNOTSUPP) {
    *call = "fallocate";
    return errno;
  }
  *call = "pwrite";
  return reserve_by_writing(fd, length);
}

/* RAM + swap in bytes: an upper bound no reservation can pass. */
static uint64_t memory_ceiling(void) {
  struct sysinfo si;
  if (sysinfo(&si) != 0) return UINT64_MAX;
  return ((uint64_t)si.totalram + (uint64_t)si.totalswap) * (uint64_t)si.mem_unit;
}

napi_value js_memfd_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "memfdCreate(name, length) needs 2 arguments");
    return NULL;
  }
  size_t length;
  if (!get_length(env, argv[1], &length)) return NULL;
  char *name = get_utf8(env, argv[0], "name", MEMFD_NAME_MAX, 1, NULL);
  if (!name) return NULL;

  char what[MEMFD_NAME_MAX + 128];
  uint64_t ceiling = memory_ceiling();
  if ((uint64_t)length > ceiling) {
    char msg[MEMFD_NAME_MAX + 256];
    snprintf(msg, sizeof msg,
             "ENOMEM: memfd '%s' of %zu bytes: more than this machine's RAM + swap (%llu bytes); refusing to reserve it",
             name, length, (unsigned long long)ceiling);
    free(name);
    throw_sys_error(env, ENOMEM, NULL, NULL, NULL, msg);
    return NULL;
  }

  int fd = memfd_open(name);
  if (fd < 0) {
    int e = errno;
    snprintf(what, sizeof what, "memfd_create '%s'", name);
    free(name);
    throw_errno(env, e, "memfd_create", what);
    return NULL;
  }

  const char *call = "ftruncate";
  int e = 0, r;
  do {
    r = ftruncate(fd, (off_t)length);
  } while (r != 0 && errno == EINTR);
  if (r != 0) e = errno;
  if (e == 0) e = reserve_memory(fd, length, &call);
  if (e == 0 && fcntl(fd, F_ADD_SEALS, MEMFD_SEALS) != 0) {
    e = errno;
    call = "fcntl";
  }
  if (e != 0) {
    close(fd);
    if (strcmp(call, "fcntl") == 0)
      snprintf(what, sizeof what, "fcntl(F_ADD_SEALS) on memfd '%s'", name);
    else
      snprintf(what, sizeof what, "%s memfd '%s' to %zu bytes%s", call, name, length,
               strcmp(call, "ftruncate") == 0 ? "" : " (reserving its memory)");
    free(name);
    throw_errno(env, e, call, what);
    return NULL;
  }
  free(name);
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    if (!is_exception_pending(env)) napi_throw_error(env, NULL, "vfun_shm: napi_create_int32 failed");
    return NULL;
  }
  return result;
}

napi_value js_memfd_seals(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "memfdSeals(fd) needs a file descriptor");
    return NULL;
  }
  int fd;
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    int e = errno;
    char what[96];
    snprintf(what, sizeof what, "fcntl(fd %d, F_GET_SEALS)%s", fd, e == EINVAL ? " (not a memfd?)" : "");
    throw_errno(env, e, "fcntl", what);
    return NULL;
  }
  CHECK_NAPI(env, napi_create_int32(env, seals, &result));
  return result;
}
