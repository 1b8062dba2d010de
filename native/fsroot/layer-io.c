/*
 * Layer extraction on libuv's pool: a rootfs import is
 * thousands of small files, each an open(O_CREAT|O_EXCL) + write + fchown +
 * fchmod + futimens + close that block in the filesystem. Done on the JS
 * thread they serialize with tar parsing; here files go to the pool in
 * batches (several in flight), overlapped with the rest of the pipeline.
 *
 *   createBatchAsync([[path, data | linkTarget, mode, uid, gid, mtimeSec, mtimeNsec], ...]) -> Promise<void>
 *     Creates each `path` (which must not exist; a symlink there is not
 *     followed): a file with `data` (a Buffer, kept alive until done), or a
 *     symlink to `linkTarget` (a string; mode ignored), then owner, mode and
 *     mtime; in order, in one pool job, stopping at the first failure, whose
 *     error has `code` and `index`.
 *   (The diffID's sha256 on the pool is commit-copy.c's tar hash.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <node_api.h>

#define MAX_PATH_ARG 4096

/* ---- shared: reject/resolve ---------------------------------------------- */

static void settle(napi_env env, napi_deferred d, int err, const char *what, const char *p) {
  if (err) {
    char msg[MAX_PATH_ARG + 96];
    const char *name = strerrorname_np(err);
    snprintf(msg, sizeof msg, "%s %s: %s", what, p, strerror(err));
    napi_value m, c, e;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &c);
    napi_create_error(env, c, m, &e);
    napi_set_named_property(env, e, "code", c);
    napi_reject_deferred(env, d, e);
  } else {
    napi_value u;
    napi_get_undefined(env, &u);
    napi_resolve_deferred(env, d, u);
  }
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  return napi_get_value_int64(env, v, out) == napi_ok ? 0 : -1;
}

/* ---- one create (a file or a symlink), run by a batch on the pool -------- */

/* What to make, and how it failed (err, what). `data` stays the caller's Buffer, kept alive by the batch. */
struct create_item {
  const char *data;
  size_t len;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  struct timespec times[2];
  int err;
  const char *what;
  int symlink; /* make a symlink to `target` instead of a file */
  /* Both malloc'd to their length (two fixed 4 KiB arrays made a batch of
   * 32 a 256 KiB allocation to map, fault in and unmap on the JS thread). */
  char *path;
  char *target;
};

static void free_items(struct create_item *items, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    free(items[i].path);
    free(items[i].target);
  }
  free(items);
}

/* A JS string as a malloc'd C string of at most MAX_PATH_ARG - 2 bytes, no NUL inside; NULL when not. */
static char *get_str(napi_env env, napi_value v, int allow_empty) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n >= MAX_PATH_ARG - 1 || (n == 0 && !allow_empty)) return NULL;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  size_t got = 0;
  if (napi_get_value_string_utf8(env, v, s, n + 1, &got) != napi_ok || got != n || strlen(s) != n) {
    free(s);
    return NULL;
  }
  return s;
}

static void symlink_execute(struct create_item *w) {
  w->what = "symlink";
  if (symlink(w->target, w->path) != 0) {
    w->err = errno;
    return;
  }
  if (fchownat(AT_FDCWD, w->path, w->uid, w->gid, AT_SYMLINK_NOFOLLOW) != 0) { w->err = errno; w->what = "chown"; return; }
  if (utimensat(AT_FDCWD, w->path, w->times, AT_SYMLINK_NOFOLLOW) != 0) { w->err = errno; w->what = "utimes"; }
}

/*
 * The process umask, read once at load from /proc (umask(2) cannot be read
 * without setting it); 0777 (never trusted) when it cannot be read.
 */
static mode_t proc_umask = 0777;

static void read_umask(void) {
  FILE *f = fopen("/proc/self/status", "re");
  if (!f) return;
  char line[256];
  unsigned int m;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Umask: %o", &m) == 1) {
      proc_umask = (mode_t)(m & 0777);
      break;
    }
  fclose(f);
}

static void create_execute(struct create_item *w) {
  if (w->symlink) {
    symlink_execute(w);
    return;
  }
  w->what = "open";
  /* A plain mode the umask leaves whole is given at open: no fchmod (one
   * syscall of six per file). Special bits are set after fchown, which
   * clears them. */
  int at_open = (w->mode & ~(mode_t)0777) == 0 && (w->mode & proc_umask) == 0;
  int fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, at_open ? w->mode : 0600);
  if (fd < 0) {
    w->err = errno;
    return;
  }
  size_t off = 0;
  while (off < w->len) {
    ssize_t n = write(fd, w->data + off, w->len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      w->err = errno;
      w->what = "write";
      break;
    }
    if (n == 0) {
      w->err = EIO;
      w->what = "write";
      break;
    }
    off += (size_t)n;
  }
  if (!w->err && fchown(fd, w->uid, w->gid) != 0) { w->err = errno; w->what = "chown"; }
  if (!w->err && !at_open && fchmod(fd, w->mode) != 0) { w->err = errno; w->what = "chmod"; }
  if (!w->err && futimens(fd, w->times) != 0) { w->err = errno; w->what = "utimes"; }
  if (close(fd) != 0 && !w->err) { w->err = errno; w->what = "close"; }
}

/* ---- createBatchAsync ---------------------------------------------------- */

/*
 * Several creates in one pool job: each job queued wakes a pool thread, and
 * on a loaded host the wake-up preempted the JS thread once per file.
 */
struct batch_work {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref items_ref;
  uint32_t n;
  uint32_t failed; /* index of the item that failed */
  struct create_item *items;
};

static void batch_execute(napi_env env, void *data) {
  struct batch_work *b = data;
  for (uint32_t i = 0; i < b->n; i++) {
    create_execute(&b->items[i]);
    if (b->items[i].err) {
      b->failed = i;
      return;
    }
  }
}

static void batch_complete(napi_env env, napi_status status, void *data) {
  struct batch_work *b = data;
  napi_delete_reference(env, b->items_ref);
  struct create_item *f = b->failed < b->n ? &b->items[b->failed] : NULL;
  if (status != napi_ok && !f) {
    settle(env, b->deferred, ECANCELED, "create", "batch");
  } else if (f) {
    char msg[MAX_PATH_ARG + 96];
    const char *name = strerrorname_np(f->err);
    snprintf(msg, sizeof msg, "%s %s: %s", f->what, f->path, strerror(f->err));
    napi_value m, c, e, idx;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &c);
    napi_create_error(env, c, m, &e);
    napi_set_named_property(env, e, "code", c);
    napi_create_uint32(env, b->failed, &idx);
    napi_set_named_property(env, e, "index", idx);
    napi_reject_deferred(env, b->deferred, e);
  } else {
    settle(env, b->deferred, 0, "", "");
  }
  napi_delete_async_work(env, b->work);
  free_items(b->items, b->n);
  free(b);
}

/* One item: [path, data (Buffer) | target (string), mode, uid, gid, mtimeSec, mtimeNsec]. */
static int batch_item(napi_env env, napi_value arr, struct create_item *w) {
  napi_value v[7];
  for (uint32_t k = 0; k < 7; k++) if (napi_get_element(env, arr, k, &v[k]) != napi_ok) return -1;
  int64_t mode, uid, gid, sec, nsec;
  bool isbuf = false;
  void *buf = NULL;
  if (!(w->path = get_str(env, v[0], 0))) return -1;
  if (napi_is_buffer(env, v[1], &isbuf) != napi_ok) return -1;
  if (isbuf) {
    if (napi_get_buffer_info(env, v[1], &buf, &w->len) != napi_ok) return -1;
    w->data = buf;
  } else {
    if (!(w->target = get_str(env, v[1], 1))) return -1;
    w->symlink = 1;
  }
  if (get_i64(env, v[2], &mode) || get_i64(env, v[3], &uid) || get_i64(env, v[4], &gid) || get_i64(env, v[5], &sec) ||
      get_i64(env, v[6], &nsec) || mode < 0 || mode > 07777 || uid < 0 || uid > 0xfffffffeLL || gid < 0 || gid > 0xfffffffeLL ||
      nsec < 0 || nsec > 999999999)
    return -1;
  w->mode = (mode_t)mode;
  w->uid = (uid_t)uid;
  w->gid = (gid_t)gid;
  w->times[0].tv_sec = w->times[1].tv_sec = (time_t)sec;
  w->times[0].tv_nsec = w->times[1].tv_nsec = (long)nsec;
  return 0;
}

static napi_value js_create_batch_async(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool isarr = false;
  uint32_t n = 0;
  if (argc < 1 || napi_is_array(env, argv[0], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[0], &n) != napi_ok || n == 0 || n > 4096) {
    napi_throw_type_error(env, NULL, "expected an array of 1 to 4096 creates");
    return NULL;
  }
  struct batch_work *b = calloc(1, sizeof *b);
  struct create_item *items = calloc(n, sizeof *items);
  if (!b || !items) {
    free(b);
    free(items);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  b->items = items;
  b->n = n;
  b->failed = n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value it;
    bool itarr = false;
    uint32_t len = 0;
    if (napi_get_element(env, argv[0], i, &it) != napi_ok || napi_is_array(env, it, &itarr) != napi_ok || !itarr ||
        napi_get_array_length(env, it, &len) != napi_ok || len != 7 || batch_item(env, it, &items[i])) {
      free_items(items, n);
      free(b);
      napi_throw_type_error(env, NULL, "expected [path, data or link target, mode, uid, gid, mtime seconds, nanoseconds] per create");
      return NULL;
    }
  }
  /* The array keeps every item's Buffer alive until the job is done (the caller does not change it). */
  if (napi_create_reference(env, argv[0], 1, &b->items_ref) != napi_ok) {
    free_items(items, n);
    free(b);
    napi_throw_error(env, NULL, "cannot keep the data");
    return NULL;
  }
  napi_value name, promise;
  napi_create_string_utf8(env, "berth:createBatch", NAPI_AUTO_LENGTH, &name);
  napi_create_promise(env, &b->deferred, &promise);
  if (napi_create_async_work(env, NULL, name, batch_execute, batch_complete, b, &b->work) != napi_ok ||
      napi_queue_async_work(env, b->work) != napi_ok) {
    napi_delete_reference(env, b->items_ref);
    settle(env, b->deferred, ENOMEM, "queue", "batch");
    free_items(items, n);
    free(b);
  }
  return promise;
}

void layer_io_register(napi_env env, napi_value exports) {
  read_umask();
  napi_property_descriptor props[] = {
    {"createBatchAsync", NULL, js_create_batch_async, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
