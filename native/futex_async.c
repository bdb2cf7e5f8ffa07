/*
 * futex_async.c: futexWaitAsync, a FUTEX_WAIT (shared) that sleeps on a
 * thread of libuv's pool instead of the calling thread, and settles a
 * Promise on the event loop when the word changed, a waker woke it, or the
 * timeout ran out. It is how a guest waits for an answer in a mapped region
 * without blocking its event loop: the mapping is an ArrayBuffer, not a
 * SharedArrayBuffer, so Atomics.waitAsync cannot take it, and V8's waitAsync
 * only hears Atomics.notify from the same process, never a futex wake from
 * the service's process.
 *
 * Lifetime: the job holds a reference to the ArrayBuffer while it waits, so
 * the garbage collector cannot unmap the region under the sleeping thread.
 * An explicit unmap() during the wait is the caller's to avoid (wake the
 * word first); if it happens anyway, the kernel sleeps on, or fails the
 * wait with EFAULT, and nothing here touches the memory after the syscall.
 *
 * Each wait in flight holds one of the pool's threads (UV_THREADPOOL_SIZE,
 * default 4) until it returns: callers wait in bounded slices.
 */
#define _GNU_SOURCE
#include "futex_async.h"

#include "errors.h"
#include "futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref buffer;
  uint32_t *word;
  uint32_t expected;
  int has_timeout;
  struct timespec timeout;
  int code;  /* WAIT_* */
  int error; /* errno of a failed wait, 0 if none */
} wait_job;

/* On a pool thread: the futex wait itself. No N-API here. */
static void execute_wait(napi_env env, void *data) {
  (void)env;
  wait_job *job = (wait_job *)data;
  long r = syscall(SYS_futex, job->word, FUTEX_WAIT, job->expected, job->has_timeout ? &job->timeout : NULL, NULL, 0);
  int e = errno;
  job->code = futex_wait_code(r, e);
  if (job->code < 0) job->error = e;
}

/* On the event loop: settle the promise, drop the buffer reference, free the job. */
static void complete_wait(napi_env env, napi_status status, void *data) {
  wait_job *job = (wait_job *)data;
  napi_value value;
  if (status != napi_ok || job->error != 0) {
    int e = job->error != 0 ? job->error : ECANCELED;
    char msg[128];
    snprintf(msg, sizeof msg, "%s: futex(FUTEX_WAIT): %s", errno_name(e), strerror(e));
    napi_value text, err, code;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, text, &err);
    napi_value syscall_name;
    napi_create_string_utf8(env, "futex", NAPI_AUTO_LENGTH, &syscall_name);
    napi_set_named_property(env, err, "syscall", syscall_name);
    napi_reject_deferred(env, job->deferred, err);
  } else {
    napi_create_int32(env, job->code, &value);
    napi_resolve_deferred(env, job->deferred, value);
  }
  napi_delete_reference(env, job->buffer);
  napi_delete_async_work(env, job->work);
  free(job);
}

napi_value js_futex_wait_async(napi_env env, napi_callback_info info) {
  futex_wait_args a;
  if (futex_read_wait_args(env, info, "futexWaitAsync", &a) != 0) return NULL;
  napi_value promise;
  wait_job *job = (wait_job *)calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, "ENOMEM", "vfun_shm: out of memory");
    return NULL;
  }
  job->word = a.word;
  job->expected = a.expected;
  job->has_timeout = a.has_timeout;
  job->timeout = a.timeout;
  napi_value name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) goto fail;
  /* A word that already differs, or a zero timeout, needs no thread: settle now. */
  int differs = __atomic_load_n(job->word, __ATOMIC_SEQ_CST) != job->expected;
  if (differs || (job->has_timeout && job->timeout.tv_sec == 0 && job->timeout.tv_nsec == 0)) {
    napi_value value;
    int code = differs ? WAIT_NOT_EQUAL : WAIT_TIMED_OUT;
    if (napi_create_int32(env, code, &value) != napi_ok || napi_resolve_deferred(env, job->deferred, value) != napi_ok) goto fail;
    free(job);
    return promise;
  }
  if (napi_create_reference(env, a.buffer, 1, &job->buffer) != napi_ok) goto fail;
  if (napi_create_string_utf8(env, "vfun_shm.futexWaitAsync", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute_wait, complete_wait, job, &job->work) != napi_ok) {
    napi_delete_reference(env, job->buffer);
    goto fail;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    napi_delete_reference(env, job->buffer);
    goto fail;
  }
  return promise;
fail:
  free(job);
  if (!is_exception_pending(env)) napi_throw_error(env, NULL, "vfun_shm: futexWaitAsync could not queue its wait");
  return NULL;
}
