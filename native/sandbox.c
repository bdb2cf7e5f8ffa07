/*
 * sandbox.c: sandboxSelf(opts), sandboxState().
 *
 * For a function service process: no_new_privs, not dumpable (a same-uid
 * process can then neither ptrace it nor open /proc/<pid>/mem or
 * /proc/<pid>/fd/...), a parent-death signal, and a seccomp filter that
 * answers EPERM to syscalls a service never needs (seccomp.c).
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include "args.h"
#include "errors.h"
#include "seccomp.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>

/* An optional signal-number property: absent/undefined -> -1. */
static int get_signal_prop(napi_env env, napi_value obj, const char *name, int *out) {
  bool has = false;
  napi_value v;
  napi_valuetype t;
  *out = -1;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok) return 0;
  if (!has) return 1;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_undefined) return 1;
  uint64_t sig;
  if (!get_index(env, v, name, &sig)) return 0;
  if (sig > (uint64_t)SIGRTMAX) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a signal number from 0 (none) to %d", name, SIGRTMAX);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (int)sig;
  return 1;
}

static int prctl_or_errno(int option, unsigned long arg) {
  return prctl(option, arg, 0, 0, 0) == 0 ? 0 : errno;
}

/* Whether the filter this process installed denies ftruncate (it holds for every thread: TSYNC). */
static int filter_denies_ftruncate = 0;

napi_value js_sandbox_self(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype t;
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "sandboxSelf(opts) needs { noNewPrivs?, nonDumpable?, parentDeathSignal?, denySyscalls?, allowFtruncate? }");
    return NULL;
  }
  int nnp, nondump, deny, pdeath, allow_ftruncate;
  if (!get_bool_prop(env, argv[0], "noNewPrivs", 0, &nnp)) return NULL;
  if (!get_bool_prop(env, argv[0], "allowFtruncate", 0, &allow_ftruncate)) return NULL;
  if (!get_bool_prop(env, argv[0], "nonDumpable", 0, &nondump)) return NULL;
  if (!get_bool_prop(env, argv[0], "denySyscalls", 0, &deny)) return NULL;
  if (!get_signal_prop(env, argv[0], "parentDeathSignal", &pdeath)) return NULL;

  /* Refuse what cannot be done before changing anything. */
  if (deny) {
#ifndef SANDBOX_AUDIT_ARCH
    throw_sys_error(env, ENOSYS, "ERR_UNSUPPORTED_ARCH", "seccomp", NULL,
                    "denySyscalls: the seccomp filter is written for x86_64 and aarch64 only");
    return NULL;
#endif
    if (!nnp && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                            "denySyscalls needs noNewPrivs: true (a seccomp filter requires no_new_privs)");
      return NULL;
    }
  }

  const char *step = NULL, *call = "prctl";
  int e = 0;
  if (nnp && (e = prctl_or_errno(PR_SET_NO_NEW_PRIVS, 1)) != 0) step = "prctl(PR_SET_NO_NEW_PRIVS, 1)";
  if (!e && nondump && (e = prctl_or_errno(PR_SET_DUMPABLE, 0)) != 0) step = "prctl(PR_SET_DUMPABLE, 0)";
  if (!e && pdeath >= 0 && (e = prctl_or_errno(PR_SET_PDEATHSIG, (unsigned long)pdeath)) != 0)
    step = "prctl(PR_SET_PDEATHSIG)";
#ifdef SANDBOX_AUDIT_ARCH
  if (!e && deny && (e = install_filter(&call, allow_ftruncate)) != 0)
    step = "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)";
  if (!e && deny && !allow_ftruncate) filter_denies_ftruncate = 1;
#endif
  if (e) {
    throw_errno(env, e, call, step);
    return NULL;
  }
  return NULL; /* undefined */
}

napi_value js_sandbox_state(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj, v;
  int pdeath = 0;
  int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  int seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  if (prctl(PR_GET_PDEATHSIG, (unsigned long)&pdeath, 0, 0, 0) != 0) pdeath = -1;
  CHECK_NAPI(env, napi_create_object(env, &obj));
  CHECK_NAPI(env, napi_get_boolean(env, nnp == 1, &v));
  CHECK_NAPI(env, napi_set_named_property(env, obj, "noNewPrivs", v));
  CHECK_NAPI(env, napi_get_boolean(env, dumpable == 1, &v));
  CHECK_NAPI(env, napi_set_named_property(env, obj, "dumpable", v));
  CHECK_NAPI(env, napi_create_int32(env, pdeath, &v));
  CHECK_NAPI(env, napi_set_named_property(env, obj, "parentDeathSignal", v));
  CHECK_NAPI(env, napi_create_int32(env, seccomp, &v));
  CHECK_NAPI(env, napi_set_named_property(env, obj, "seccomp", v));
  CHECK_NAPI(env, napi_get_boolean(env, filter_denies_ftruncate, &v));
  CHECK_NAPI(env, napi_set_named_property(env, obj, "ftruncateDenied", v));
  return obj;
}
