/*
 * lock.c: flock(fd, mode, wait) -> boolean.
 */
#define _GNU_SOURCE
#include "lock.h"

#include "args.h"
#include "errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

/* "exclusive" -> LOCK_EX, "shared" -> LOCK_SH, "unlock" -> LOCK_UN; -1 (thrown) otherwise. */
static int get_flock_op(napi_env env, napi_value v) {
  char mode[16];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, mode, sizeof mode, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mode must be 'exclusive', 'shared' or 'unlock'");
    return -1;
  }
  /* len == strlen: no embedded NUL. A longer string is cut to 15 bytes and matches nothing. */
  if (len == strlen(mode)) {
    if (strcmp(mode, "exclusive") == 0) return LOCK_EX;
    if (strcmp(mode, "shared") == 0) return LOCK_SH;
    if (strcmp(mode, "unlock") == 0) return LOCK_UN;
  }
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "mode must be 'exclusive', 'shared' or 'unlock'");
  return -1;
}

/*
 * flock(2) on an open fd. wait=false adds LOCK_NB and answers false when the
 * lock is held elsewhere (EWOULDBLOCK); wait=true blocks the calling thread
 * until the lock is granted. EINTR is retried; any other error throws.
 */
napi_value js_flock(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "flock(fd, mode, wait) needs 3 arguments");
    return NULL;
  }
  int fd;
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  int op = get_flock_op(env, argv[1]);
  if (op < 0) return NULL;
  bool wait;
  if (napi_get_value_bool(env, argv[2], &wait) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "wait must be a boolean");
    return NULL;
  }
  if (!wait) op |= LOCK_NB;

  int r;
  do {
    r = flock(fd, op);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    int e = errno;
    if (e == EWOULDBLOCK && !wait) {
      CHECK_NAPI(env, napi_get_boolean(env, false, &result));
      return result;
    }
    char msg[160];
    const char *what = (op & ~LOCK_NB) == LOCK_EX ? "exclusive" : (op & ~LOCK_NB) == LOCK_SH ? "shared" : "unlock";
    snprintf(msg, sizeof msg, "%s: flock(fd %d, %s%s): %s", errno_name(e), fd, what, wait ? "" : ", no wait",
             strerror(e));
    throw_sys_error(env, e, NULL, "flock", NULL, msg);
    return NULL;
  }
  CHECK_NAPI(env, napi_get_boolean(env, true, &result));
  return result;
}
