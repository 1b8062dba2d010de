/*
 * A container's directories and small files made in one job on libuv's
 * pool: a create used to be ~17 file-system round trips one after another
 * (each a wake-up of the JS thread on a busy host); this is one.
 *
 *   fsBatchAsync(ops) -> Promise<void>
 *
 * ops, done in order, each an array:
 *   [0, path, mode, existOk]      mkdir(path, mode) (umask applies, as fs.mkdir);
 *                                 existOk: an existing directory is fine
 *   [1, path, data, mode]         a new file (O_CREAT|O_EXCL|O_NOFOLLOW) holding data
 *                                 (a string or Buffer), mode as open(2)'s (umask applies)
 *   [2, path, data, mode]         the same written to `path.tmp` and renamed over path
 *   [3, path, target]             symlink(target, path)
 *   [4, path, source]             a new empty file at path (mode 0) with `source` bind-mounted
 *                                 on it (a namespace file handed to a new name); the file goes
 *                                 again when the mount fails
 *   [5, path]                     umount2(path, MNT_DETACH) (not mounted is fine), then unlink
 *
 * The first failure stops the batch and rejects with an Error whose `code`
 * is the errno name and `index` the op's position; what the ops before it
 * made stays (the caller removes the container's directory).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <node_api.h>
#include "napi-job.h"

#define FSB_MAX_PATH 4096
#define FSB_MAX_OPS 256
#define FSB_MAX_DATA (1 << 20)

struct fsb_op {
  int kind;
  int mode;
  int exist_ok;
  char *path;
  char *data; /* file contents or link target */
  size_t len;
};

struct fsb_work {
  napi_async_work work;
  napi_deferred deferred;
  struct fsb_op *ops;
  uint32_t n;
  uint32_t failed; /* index of the failing op */
  int err;
};

static void fsb_free(struct fsb_work *w) {
  if (!w) return;
  for (uint32_t i = 0; i < w->n; i++) {
    free(w->ops[i].path);
    free(w->ops[i].data);
  }
  free(w->ops);
  free(w);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t r = write(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* A new file at `path` with the data; 0 or an errno. */
static int new_file(const char *path, const char *data, size_t len, int mode, int trunc) {
  int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (trunc ? O_TRUNC : O_EXCL);
  int fd = open(path, flags, (mode_t)mode);
  if (fd < 0) return errno;
  int err = 0;
  if (len > 0 && write_all(fd, data, len) < 0) err = errno;
  if (close(fd) < 0 && !err && errno != EINTR) err = errno;
  if (err) unlink(path);
  return err;
}

static int run_op(const struct fsb_op *op) {
  switch (op->kind) {
  case 0:
    if (mkdir(op->path, (mode_t)op->mode) == 0) return 0;
    if (errno == EEXIST && op->exist_ok) {
      struct stat st;
      if (lstat(op->path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
      return EEXIST;
    }
    return errno;
  case 1:
    return new_file(op->path, op->data, op->len, op->mode, 0);
  case 2: {
    char tmp[FSB_MAX_PATH + 8];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", op->path) >= (int)sizeof tmp) return ENAMETOOLONG;
    int err = new_file(tmp, op->data, op->len, op->mode, 1);
    if (err) return err;
    if (rename(tmp, op->path) < 0) {
      err = errno;
      unlink(tmp);
      return err;
    }
    return 0;
  }
  case 3:
    return symlink(op->data, op->path) == 0 ? 0 : errno;
  case 4: {
    int fd = open(op->path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) return errno;
    if (close(fd) < 0 && errno != EINTR) {
      int err = errno;
      unlink(op->path);
      return err;
    }
    if (mount(op->data, op->path, "none", MS_BIND, NULL) != 0) {
      int err = errno;
      unlink(op->path);
      return err;
    }
    return 0;
  }
  case 5:
    if (umount2(op->path, MNT_DETACH) != 0 && errno != EINVAL) return errno;
    return unlink(op->path) == 0 ? 0 : errno;
  }
  return EINVAL;
}

static void fsb_execute(napi_env env, void *data) {
  (void)env;
  struct fsb_work *w = data;
  for (uint32_t i = 0; i < w->n; i++) {
    int err = run_op(&w->ops[i]);
    if (err) {
      w->err = err;
      w->failed = i;
      return;
    }
  }
}

static void fsb_complete(napi_env env, napi_status status, void *data) {
  struct fsb_work *w = data;
  if (status != napi_ok && !w->err) {
    w->err = ECANCELED;
    w->failed = 0;
  }
  if (w->err) {
    char msg[FSB_MAX_PATH + 96];
    const char *p = w->n ? w->ops[w->failed].path : "";
    snprintf(msg, sizeof msg, "%s: %s", p, strerror(w->err));
    napi_value e = job_errno_error(env, w->err, msg), idx;
    napi_create_uint32(env, w->failed, &idx);
    napi_set_named_property(env, e, "index", idx);
    napi_reject_deferred(env, w->deferred, e);
  } else {
    job_resolve_undefined(env, w->deferred);
  }
  napi_delete_async_work(env, w->work);
  fsb_free(w);
}

/* A string (NUL-free, under FSB_MAX_PATH) copied out; NULL when not one. */
static char *get_str(napi_env env, napi_value v, size_t max, size_t *out_len) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n >= max) return NULL;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  if (napi_get_value_string_utf8(env, v, s, n + 1, &n) != napi_ok || strlen(s) != n) {
    free(s);
    return NULL;
  }
  if (out_len) *out_len = n;
  return s;
}

/* File data: a Buffer or a string, copied. */
static char *get_data(napi_env env, napi_value v, size_t *len) {
  bool isbuf = false;
  if (napi_is_buffer(env, v, &isbuf) == napi_ok && isbuf) {
    void *p;
    size_t n;
    if (napi_get_buffer_info(env, v, &p, &n) != napi_ok || n > FSB_MAX_DATA) return NULL;
    char *s = malloc(n ? n : 1);
    if (!s) return NULL;
    if (n) memcpy(s, p, n);
    *len = n;
    return s;
  }
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n > FSB_MAX_DATA) return NULL;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  if (napi_get_value_string_utf8(env, v, s, n + 1, &n) != napi_ok) {
    free(s);
    return NULL;
  }
  *len = n;
  return s;
}

static int get_int(napi_env env, napi_value v, int *out) {
  int32_t x;
  if (napi_get_value_int32(env, v, &x) != napi_ok) return -1;
  *out = x;
  return 0;
}

/* One op from its array; 0 or -1 (bad input). */
static int parse_op(napi_env env, napi_value arr, struct fsb_op *op) {
  bool isarr = false;
  uint32_t len = 0;
  if (napi_is_array(env, arr, &isarr) != napi_ok || !isarr || napi_get_array_length(env, arr, &len) != napi_ok || len < 2) return -1;
  napi_value f[4];
  for (uint32_t i = 0; i < len && i < 4; i++)
    if (napi_get_element(env, arr, i, &f[i]) != napi_ok) return -1;
  if (get_int(env, f[0], &op->kind) || op->kind < 0 || op->kind > 5) return -1;
  if (op->kind != 5 && len < 3) return -1;
  size_t plen = 0;
  op->path = get_str(env, f[1], FSB_MAX_PATH - 8, &plen);
  if (!op->path || plen == 0) return -1;
  switch (op->kind) {
  case 0: {
    bool ok = false;
    if (len < 4 || get_int(env, f[2], &op->mode) || napi_get_value_bool(env, f[3], &ok) != napi_ok) return -1;
    op->exist_ok = ok;
    return 0;
  }
  case 1:
  case 2:
    if (len < 4 || get_int(env, f[3], &op->mode)) return -1;
    op->data = get_data(env, f[2], &op->len);
    return op->data ? 0 : -1;
  case 3:
  case 4:
    op->data = get_str(env, f[2], FSB_MAX_PATH, &op->len);
    return op->data && op->len ? 0 : -1;
  case 5:
    return 0;
  }
  return -1;
}

static napi_value js_fs_batch_async(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool isarr = false;
  uint32_t n = 0;
  if (argc < 1 || napi_is_array(env, argv[0], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[0], &n) != napi_ok || n > FSB_MAX_OPS) {
    napi_throw_type_error(env, NULL, "expected an array of at most 256 ops");
    return NULL;
  }
  struct fsb_work *w = calloc(1, sizeof *w);
  if (!w || !(w->ops = calloc(n ? n : 1, sizeof *w->ops))) {
    free(w);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    w->n = i + 1; /* what fsb_free releases */
    if (napi_get_element(env, argv[0], i, &el) != napi_ok || parse_op(env, el, &w->ops[i])) {
      char msg[64];
      snprintf(msg, sizeof msg, "fsBatchAsync: op %u is not valid", i);
      fsb_free(w);
      napi_throw_type_error(env, NULL, msg);
      return NULL;
    }
  }
  w->n = n;
  napi_value promise;
  if (job_queue(env, "berth:fs-batch", fsb_execute, fsb_complete, w, &w->deferred, &w->work, &promise, "cannot queue fs batch") != 0) fsb_free(w);
  return promise;
}

void fs_batch_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"fsBatchAsync", NULL, js_fs_batch_async, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
