/*
 * map.c: open(path, length, flags) and mapFd(fd, length, writable) map a
 * regular file MAP_SHARED and hand the mapping to JS as an ArrayBuffer
 * (mapping.c keeps it); pageSize() for callers that size regions.
 */
#define _GNU_SOURCE
#include "map.h"

#include "args.h"
#include "errors.h"
#include "mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_valuetype t;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "open(path, length, flags) needs 3 arguments");
    return NULL;
  }

  /* path */
  CHECK_NAPI(env, napi_typeof(env, argv[0], &t));
  if (t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a string");
    return NULL;
  }
  size_t path_len = 0;
  CHECK_NAPI(env, napi_get_value_string_utf8(env, argv[0], NULL, 0, &path_len));
  if (path_len == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "path must not be empty");
    return NULL;
  }
  if (path_len >= PATH_MAX) {
    napi_throw_range_error(env, "ENAMETOOLONG", "path is longer than PATH_MAX");
    return NULL;
  }
  char path[PATH_MAX];
  CHECK_NAPI(env, napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len));
  if (strlen(path) != path_len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "path must not contain NUL bytes");
    return NULL;
  }

  /* length */
  size_t length;
  if (!get_length(env, argv[1], &length)) return NULL;

  /* flags */
  CHECK_NAPI(env, napi_typeof(env, argv[2], &t));
  if (t != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "flags must be an object { create?, writable, mode? }");
    return NULL;
  }
  int create, writable;
  if (!get_bool_prop(env, argv[2], "create", 0, &create)) return NULL;
  if (!get_bool_prop(env, argv[2], "writable", 0, &writable)) return NULL;
  uint32_t mode = 0600;
  {
    bool has = false;
    napi_value v;
    CHECK_NAPI(env, napi_has_named_property(env, argv[2], "mode", &has));
    if (has) {
      CHECK_NAPI(env, napi_get_named_property(env, argv[2], "mode", &v));
      CHECK_NAPI(env, napi_typeof(env, v, &t));
      if (t != napi_undefined) {
        uint64_t m64;
        if (!get_index(env, v, "flags.mode", &m64)) return NULL;
        if (m64 > 07777) {
          napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "flags.mode must be <= 0o7777");
          return NULL;
        }
        mode = (uint32_t)m64;
      }
    }
  }

  /*
   * O_NOFOLLOW: refuse a symlink as the last component. O_NONBLOCK: never
   * block opening a FIFO or device (we refuse those right after; it has no
   * effect on regular files). A created file needs a writable fd for
   * ftruncate even when the mapping is read-only.
   */
  int oflags = O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | ((writable || create) ? O_RDWR : O_RDONLY);
  if (create) oflags |= O_CREAT | O_EXCL;

  char msg[PATH_MAX + 256];
  int fd;
  do {
    fd = open(path, oflags, (mode_t)mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP)
      snprintf(msg, sizeof msg, "%s: open '%s': %s; symbolic links are refused (O_NOFOLLOW)", errno_name(e), path,
               strerror(e));
    else
      snprintf(msg, sizeof msg, "%s: open '%s'%s: %s", errno_name(e), path, create ? " (create, exclusive)" : "",
               strerror(e));
    throw_sys_error(env, e, NULL, "open", path, msg);
    return NULL;
  }

  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    snprintf(msg, sizeof msg, "%s: fstat '%s': %s", errno_name(e), path, strerror(e));
    close(fd);
    throw_sys_error(env, e, NULL, "fstat", path, msg);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    snprintf(msg, sizeof msg, "EINVAL: '%s' is not a regular file; refusing to map it", path);
    throw_sys_error(env, EINVAL, "ERR_NOT_REGULAR_FILE", "open", path, msg);
    return NULL;
  }

  if (create) {
    int r;
    do {
      r = ftruncate(fd, (off_t)length);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
      int e = errno;
      snprintf(msg, sizeof msg, "%s: ftruncate '%s' to %zu bytes: %s", errno_name(e), path, length, strerror(e));
      /* We created it (O_EXCL): remove it, unless someone swapped the name meanwhile. */
      struct stat now;
      close(fd);
      if (lstat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) unlink(path);
      throw_sys_error(env, e, NULL, "ftruncate", path, msg);
      return NULL;
    }
    st.st_size = (off_t)length;
  } else if ((uint64_t)st.st_size < (uint64_t)length) {
    close(fd);
    snprintf(msg, sizeof msg, "'%s' is %lld bytes, smaller than the %zu bytes requested; refusing to map past its end",
             path, (long long)st.st_size, length);
    throw_sys_error(env, 0, "ERR_FILE_TOO_SMALL", "open", path, msg);
    return NULL;
  }

  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void *addr = mmap(NULL, length, prot, MAP_SHARED, fd, 0);
  int mmap_errno = errno;
  close(fd); /* the mapping keeps its own reference to the file */
  if (addr == MAP_FAILED) {
    snprintf(msg, sizeof msg, "%s: mmap '%s' (%zu bytes, %s, MAP_SHARED): %s", errno_name(mmap_errno), path, length,
             writable ? "read-write" : "read-only", strerror(mmap_errno));
    if (create) {
      struct stat now;
      if (lstat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) unlink(path);
    }
    throw_sys_error(env, mmap_errno, NULL, "mmap", path, msg);
    return NULL;
  }

  return wrap_mapping(env, addr, length);
}

napi_value js_map_fd(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "mapFd(fd, length, writable) needs 3 arguments");
    return NULL;
  }
  int fd, writable;
  size_t length;
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  if (!get_length(env, argv[1], &length)) return NULL;
  if (!get_bool_arg(env, argv[2], "writable", &writable)) return NULL;

  char msg[256];
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    snprintf(msg, sizeof msg, "fstat fd %d", fd);
    throw_errno(env, e, "fstat", msg);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(msg, sizeof msg, "EINVAL: fd %d is not a regular file; refusing to map it", fd);
    throw_sys_error(env, EINVAL, "ERR_NOT_REGULAR_FILE", "mapFd", NULL, msg);
    return NULL;
  }
  if ((uint64_t)st.st_size < (uint64_t)length) {
    snprintf(msg, sizeof msg, "fd %d is %lld bytes, smaller than the %zu bytes requested; refusing to map past its end",
             fd, (long long)st.st_size, length);
    throw_sys_error(env, 0, "ERR_FILE_TOO_SMALL", "mapFd", NULL, msg);
    return NULL;
  }
  void *addr = mmap(NULL, length, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) {
    int e = errno;
    snprintf(msg, sizeof msg, "mmap fd %d (%zu bytes, %s, MAP_SHARED)", fd, length, writable ? "read-write" : "read-only");
    throw_errno(env, e, "mmap", msg);
    return NULL;
  }
  return wrap_mapping(env, addr, length);
}

napi_value js_page_size(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  long ps = sysconf(_SC_PAGESIZE);
  CHECK_NAPI(env, napi_create_int64(env, ps > 0 ? ps : 4096, &result));
  return result;
}
