/* The N-API plumbing every async job of the addon shares: a promise, the
 * job queued on libuv's pool, and the errors it rejects with. Each file
 * keeps its own work struct, execute and complete callbacks. */
#ifndef BERTH_NAPI_JOB_H
#define BERTH_NAPI_JOB_H

#include <node_api.h>
#include <string.h>

/* An Error with `msg` and the property code = `code` (as Node's fs errors). */
static inline napi_value job_error(napi_env env, const char *code, const char *msg) {
  napi_value m, c, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_set_named_property(env, e, "code", c);
  return e;
}

/* job_error with errno's name (EIO when it has none) as the code. */
static inline napi_value job_errno_error(napi_env env, int err, const char *msg) {
  const char *name = strerrorname_np(err);
  return job_error(env, name ? name : "EIO", msg);
}

static inline void job_resolve_undefined(napi_env env, napi_deferred d) {
  napi_value u;
  napi_get_undefined(env, &u);
  napi_resolve_deferred(env, d, u);
}

/* Makes the promise and queues the job (`resource` names it in async
 * hooks). 0: queued, the complete callback settles and frees it. -1: not
 * queued; the promise is already rejected (ENOMEM, `what`) and the caller
 * frees `data`. */
static inline int job_queue(napi_env env, const char *resource, napi_async_execute_callback execute,
                            napi_async_complete_callback complete, void *data, napi_deferred *deferred,
                            napi_async_work *work, napi_value *promise, const char *what) {
  napi_value name;
  napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &name);
  napi_create_promise(env, deferred, promise);
  if (napi_create_async_work(env, NULL, name, execute, complete, data, work) != napi_ok ||
      napi_queue_async_work(env, *work) != napi_ok) {
    napi_reject_deferred(env, *deferred, job_error(env, "ENOMEM", what));
    return -1;
  }
  return 0;
}

#endif
