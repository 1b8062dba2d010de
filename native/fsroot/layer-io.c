/*
 * Layer extraction and hashing on libuv's pool: a rootfs import is
 * thousands of small files, each an open(O_CREAT|O_EXCL) + write + fchown +
 * fchmod + futimens + close that block in the filesystem; a commit is the
 * sha256 of 100 MB. Done on the JS thread they serialize with tar parsing;
 * here files go to the pool in batches (several in flight) and each hash
 * update one job, overlapped with the rest of the pipeline.
 *
 *   createBatchAsync([[path, data | linkTarget, mode, uid, gid, mtimeSec, mtimeNsec], ...]) -> Promise<void>
 *     Creates each `path` (which must not exist; a symlink there is not
 *     followed): a file with `data` (a Buffer, kept alive until done), or a
 *     symlink to `linkTarget` (a string; mode ignored), then owner, mode and
 *     mtime; in order, in one pool job, stopping at the first failure, whose
 *     error has `code` and `index`.
 *   sha256New() -> handle
 *   sha256UpdateAsync(handle, data) -> Promise<void>  (one at a time per handle:
 *     the caller chains them; `data` is kept alive until done)
 *   sha256UpdateVAsync(handle, [data, ...]) -> Promise<void>  (the same, several
 *     Buffers in order, not copied into one)
 *   sha256Digest(handle) -> hex string (the handle is spent)
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
#include <openssl/evp.h>

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

/* ---- sha256 ----------------------------------------------------------------- */

struct hash_state {
  EVP_MD_CTX *ctx;
  int busy; /* an update is on the pool */
  int done;
};

struct hash_part {
  const char *data;
  size_t len;
};

struct hash_work {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref data_ref;
  napi_ref handle_ref;
  struct hash_state *h;
  const char *data;
  size_t len;
  /* sha256UpdateVAsync: the parts in order (data/len unused) */
  struct hash_part *parts;
  uint32_t nparts;
  int err;
};

static void hash_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct hash_state *h = data;
  if (h->ctx) EVP_MD_CTX_free(h->ctx);
  free(h);
}

static napi_value js_sha256_new(napi_env env, napi_callback_info info) {
  (void)info;
  struct hash_state *h = calloc(1, sizeof *h);
  if (!h) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  h->ctx = EVP_MD_CTX_new();
  if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
    if (h->ctx) EVP_MD_CTX_free(h->ctx);
    free(h);
    napi_throw_error(env, NULL, "sha256: cannot initialize");
    return NULL;
  }
  napi_value ext;
  if (napi_create_external(env, h, hash_finalize, NULL, &ext) != napi_ok) {
    EVP_MD_CTX_free(h->ctx);
    free(h);
    napi_throw_error(env, NULL, "sha256: cannot make a handle");
    return NULL;
  }
  return ext;
}

static struct hash_state *get_hash(napi_env env, napi_value v) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

static void hash_execute(napi_env env, void *data) {
  (void)env;
  struct hash_work *w = data;
  if (w->parts) {
    for (uint32_t i = 0; i < w->nparts && !w->err; i++)
      if (EVP_DigestUpdate(w->h->ctx, w->parts[i].data, w->parts[i].len) != 1) w->err = EIO;
    return;
  }
  if (EVP_DigestUpdate(w->h->ctx, w->data, w->len) != 1) w->err = EIO;
}

static void hash_complete(napi_env env, napi_status status, void *data) {
  struct hash_work *w = data;
  if (status != napi_ok && !w->err) w->err = ECANCELED;
  w->h->busy = 0;
  napi_delete_reference(env, w->data_ref);
  napi_delete_reference(env, w->handle_ref);
  settle(env, w->deferred, w->err, "sha256", "update");
  napi_delete_async_work(env, w->work);
  free(w->parts);
  free(w);
}

static napi_value queue_hash(napi_env env, napi_value *argv, struct hash_work *w);

static napi_value js_sha256_update_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct hash_state *h = argc >= 2 ? get_hash(env, argv[0]) : NULL;
  bool isbuf = false;
  void *buf = NULL;
  size_t len = 0;
  if (!h || napi_is_buffer(env, argv[1], &isbuf) != napi_ok || !isbuf || napi_get_buffer_info(env, argv[1], &buf, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a sha256 handle and a Buffer");
    return NULL;
  }
  if (h->busy || h->done) {
    napi_throw_error(env, NULL, h->done ? "sha256: digest already taken" : "sha256: an update is still running");
    return NULL;
  }
  struct hash_work *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  w->h = h;
  w->data = buf;
  w->len = len;
  return queue_hash(env, argv, w);
}

/*
 * sha256UpdateVAsync(handle, [Buffer, ...]): the buffers hashed in order in
 * one pool job, without first copying them into one (an upload's 64 KiB
 * chunks were concatenated into 1 MiB on the JS thread: 163 MB per import).
 */
static napi_value js_sha256_update_v_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct hash_state *h = argc >= 2 ? get_hash(env, argv[0]) : NULL;
  bool isarr = false;
  uint32_t n = 0;
  if (!h || napi_is_array(env, argv[1], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0 || n > 4096) {
    napi_throw_type_error(env, NULL, "expected a sha256 handle and an array of 1 to 4096 Buffers");
    return NULL;
  }
  if (h->busy || h->done) {
    napi_throw_error(env, NULL, h->done ? "sha256: digest already taken" : "sha256: an update is still running");
    return NULL;
  }
  struct hash_work *w = calloc(1, sizeof *w);
  struct hash_part *parts = calloc(n, sizeof *parts);
  if (!w || !parts) {
    free(w);
    free(parts);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    bool isbuf = false;
    void *buf = NULL;
    if (napi_get_element(env, argv[1], i, &v) != napi_ok || napi_is_buffer(env, v, &isbuf) != napi_ok || !isbuf ||
        napi_get_buffer_info(env, v, &buf, &parts[i].len) != napi_ok) {
      free(w);
      free(parts);
      napi_throw_type_error(env, NULL, "expected a sha256 handle and an array of 1 to 4096 Buffers");
      return NULL;
    }
    parts[i].data = buf;
  }
  w->h = h;
  w->parts = parts;
  w->nparts = n;
  /* The array keeps its Buffers alive until the job is done (the caller does not change it). */
  return queue_hash(env, argv, w);
}

/* Queues `w` (data in argv[1], kept alive by a reference; handle argv[0]); frees it on failure. */
static napi_value queue_hash(napi_env env, napi_value *argv, struct hash_work *w) {
  struct hash_state *h = w->h;
  if (napi_create_reference(env, argv[1], 1, &w->data_ref) != napi_ok) {
    free(w->parts);
    free(w);
    napi_throw_error(env, NULL, "cannot keep the data");
    return NULL;
  }
  if (napi_create_reference(env, argv[0], 1, &w->handle_ref) != napi_ok) {
    napi_delete_reference(env, w->data_ref);
    free(w->parts);
    free(w);
    napi_throw_error(env, NULL, "cannot keep the handle");
    return NULL;
  }
  napi_value name, promise;
  napi_create_string_utf8(env, "berth:sha256", NAPI_AUTO_LENGTH, &name);
  napi_create_promise(env, &w->deferred, &promise);
  if (napi_create_async_work(env, NULL, name, hash_execute, hash_complete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    napi_delete_reference(env, w->data_ref);
    napi_delete_reference(env, w->handle_ref);
    settle(env, w->deferred, ENOMEM, "sha256", "queue");
    free(w->parts);
    free(w);
    return promise;
  }
  h->busy = 1;
  return promise;
}

static napi_value js_sha256_digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct hash_state *h = argc >= 1 ? get_hash(env, argv[0]) : NULL;
  if (!h) {
    napi_throw_type_error(env, NULL, "expected a sha256 handle");
    return NULL;
  }
  if (h->busy || h->done) {
    napi_throw_error(env, NULL, h->done ? "sha256: digest already taken" : "sha256: an update is still running");
    return NULL;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1) {
    napi_throw_error(env, NULL, "sha256: cannot finish");
    return NULL;
  }
  h->done = 1;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned int i = 0; i < mdlen; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  napi_value s;
  napi_create_string_utf8(env, hex, 2 * mdlen, &s);
  return s;
}

void layer_io_register(napi_env env, napi_value exports) {
  read_umask();
  napi_property_descriptor props[] = {
    {"createBatchAsync", NULL, js_create_batch_async, NULL, NULL, NULL, napi_default, NULL},
    {"sha256New", NULL, js_sha256_new, NULL, NULL, NULL, napi_default, NULL},
    {"sha256UpdateAsync", NULL, js_sha256_update_async, NULL, NULL, NULL, napi_default, NULL},
    {"sha256UpdateVAsync", NULL, js_sha256_update_v_async, NULL, NULL, NULL, napi_default, NULL},
    {"sha256Digest", NULL, js_sha256_digest, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
