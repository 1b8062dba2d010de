/*
 * The overlay mount and umount2 on libuv's pool: an overlay unmount syncs
 * its upper filesystem and both take the namespace lock the kernel shares
 * with every other mount on the host, so on a busy host one call can take
 * milliseconds; the JS thread should not wait for it.
 *
 *   mountOverlayAsync(options, target) -> Promise<void>
 *   umountAsync(target, detach) -> Promise<void>
 *
 * A failure rejects with an Error whose `code` is the errno name (EBUSY...).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <node_api.h>
#include "napi-job.h"

#define MAX_PATH_ARG 4096

struct mount_work {
  napi_async_work work;
  napi_deferred deferred;
  int op; /* 0 mount overlay, 1 umount */
  int detach;
  char opts[MAX_PATH_ARG];
  char target[MAX_PATH_ARG];
  int err;
};

static void execute(napi_env env, void *data) {
  (void)env;
  struct mount_work *w = data;
  int r = w->op == 0 ? mount("overlay", w->target, "overlay", 0, w->opts) : umount2(w->target, w->detach ? MNT_DETACH : 0);
  w->err = r == 0 ? 0 : errno;
}

static void complete(napi_env env, napi_status status, void *data) {
  struct mount_work *w = data;
  if (status != napi_ok && !w->err) w->err = ECANCELED;
  if (w->err) {
    char msg[MAX_PATH_ARG + 64];
    snprintf(msg, sizeof msg, "%s %s: %s", w->op == 0 ? "mount overlay" : "umount", w->target, strerror(w->err));
    napi_reject_deferred(env, w->deferred, job_errno_error(env, w->err, msg));
  } else {
    job_resolve_undefined(env, w->deferred);
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

static int get_path(napi_env env, napi_value v, char *buf) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, MAX_PATH_ARG, &n) != napi_ok || n == 0 || n >= MAX_PATH_ARG - 1 || strlen(buf) != n) return -1;
  return 0;
}

static napi_value queue(napi_env env, struct mount_work *w) {
  napi_value promise;
  if (job_queue(env, "berth:mount", execute, complete, w, &w->deferred, &w->work, &promise, "cannot queue mount work") != 0) free(w);
  return promise;
}

static napi_value js_mount_overlay_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct mount_work *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (argc < 2 || get_path(env, argv[0], w->opts) || get_path(env, argv[1], w->target)) {
    free(w);
    napi_throw_type_error(env, NULL, "expected the options and a target path");
    return NULL;
  }
  w->op = 0;
  return queue(env, w);
}

static napi_value js_umount_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool detach = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct mount_work *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (argc < 2 || get_path(env, argv[0], w->target) || napi_get_value_bool(env, argv[1], &detach) != napi_ok) {
    free(w);
    napi_throw_type_error(env, NULL, "expected a target path and a boolean");
    return NULL;
  }
  w->op = 1;
  w->detach = detach;
  return queue(env, w);
}

void mount_async_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mountOverlayAsync", NULL, js_mount_overlay_async, NULL, NULL, NULL, napi_default, NULL},
    {"umountAsync", NULL, js_umount_async, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
