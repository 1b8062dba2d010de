/*
 * A commit's layer made by copying a container's upper dir on libuv's pool,
 * hashed as the tar it stands for (the diffID) without that tar being
 * written or parsed: for 100 MB the stream path (read into fresh JS
 * buffers, hash, tar parse, write) cost ~300 ms of CPU; read + sha256 +
 * write of the same bytes in one loop here ~100 ms.
 *
 *   tarHashNew() -> handle
 *   tarCopyAsync(handle, ops) -> Promise<void>
 *     `ops` in order, in one pool job: a Buffer is bytes of the tar (headers,
 *     padding) and only hashed; [src, dst, size, mode, uid, gid, mtimeSec,
 *     mtimeNsec] is a file body: exactly `size` bytes of `src` (opened
 *     O_NOFOLLOW; zeros when it is gone or shorter, cut when longer, as the
 *     tar packer does) hashed and written to the new file `dst`
 *     (O_CREAT|O_EXCL|O_NOFOLLOW), then its owner, mode and mtime. One job
 *     at a time per handle; the first failure stops it, with `code` and `index`.
 *   tarHashDigest(handle) -> hex string (the handle is spent)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <node_api.h>
#include "napi-job.h"
#include <openssl/evp.h>

#define COPY_BUF (1 << 20)
#define MAX_PATH_ARG 4096

struct tar_hash {
  EVP_MD_CTX *ctx;
  int busy;
  int done;
};

struct copy_op {
  const unsigned char *raw; /* a Buffer of the ops array (kept alive by ops_ref), or NULL */
  size_t raw_len;
  char *src;
  char *dst;
  int64_t size, mode, uid, gid, sec, nsec;
};

struct copy_job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref ops_ref;
  napi_ref handle_ref;
  struct tar_hash *h;
  struct copy_op *ops;
  size_t n;
  int err;
  size_t failed_at;
  const char *what;
};

static void hash_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct tar_hash *h = data;
  if (h->ctx) EVP_MD_CTX_free(h->ctx);
  free(h);
}

static struct tar_hash *get_hash(napi_env env, napi_value v) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

static napi_value js_tar_hash_new(napi_env env, napi_callback_info info) {
  (void)info;
  struct tar_hash *h = calloc(1, sizeof *h);
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

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One file body; returns 0 or an errno, with *what naming the step. */
static int copy_one(struct tar_hash *h, const struct copy_op *op, unsigned char *buf, const char **what) {
  int src = open(op->src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (src < 0 && errno != ENOENT) {
    *what = "open";
    return errno;
  }
  if (src >= 0) {
    struct stat st;
    if (fstat(src, &st) != 0) {
      int e = errno;
      close(src);
      *what = "stat";
      return e;
    }
    if (!S_ISREG(st.st_mode)) {
      close(src);
      *what = "read (no longer a regular file)";
      return EINVAL;
    }
  }
  int dst = open(op->dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (dst < 0) {
    int e = errno;
    if (src >= 0) close(src);
    *what = "create";
    return e;
  }
  int err = 0;
  uint64_t left = (uint64_t)op->size;
  int eof = src < 0;
  while (left > 0) {
    size_t want = left < COPY_BUF ? (size_t)left : COPY_BUF;
    ssize_t n;
    if (!eof) {
      n = read(src, buf, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
        *what = "read";
        break;
      }
      if (n == 0) eof = 1;
    }
    if (eof) {
      /* Shorter than its header says (truncated while committed): zeros, as the packer pads. */
      memset(buf, 0, want);
      n = (ssize_t)want;
    }
    if (EVP_DigestUpdate(h->ctx, buf, (size_t)n) != 1) {
      err = EIO;
      *what = "sha256";
      break;
    }
    if (write_all(dst, buf, (size_t)n) != 0) {
      err = errno;
      *what = "write";
      break;
    }
    left -= (uint64_t)n;
  }
  if (!err && fchown(dst, (uid_t)op->uid, (gid_t)op->gid) != 0) {
    err = errno;
    *what = "chown";
  }
  if (!err && fchmod(dst, (mode_t)op->mode) != 0) {
    err = errno;
    *what = "chmod";
  }
  if (!err) {
    struct timespec ts[2] = {{.tv_sec = op->sec, .tv_nsec = op->nsec}, {.tv_sec = op->sec, .tv_nsec = op->nsec}};
    if (futimens(dst, ts) != 0) {
      err = errno;
      *what = "utimes";
    }
  }
  if (close(dst) != 0 && !err) {
    err = errno;
    *what = "close";
  }
  if (src >= 0) close(src);
  return err;
}

static void copy_execute(napi_env env, void *data) {
  (void)env;
  struct copy_job *j = data;
  unsigned char *buf = NULL;
  for (size_t i = 0; i < j->n; i++) {
    const struct copy_op *op = &j->ops[i];
    if (!op->src) {
      if (EVP_DigestUpdate(j->h->ctx, op->raw, op->raw_len) != 1) {
        j->err = EIO;
        j->what = "sha256";
        j->failed_at = i;
        break;
      }
      continue;
    }
    if (!buf && !(buf = malloc(COPY_BUF))) {
      j->err = ENOMEM;
      j->what = "copy";
      j->failed_at = i;
      break;
    }
    int e = copy_one(j->h, op, buf, &j->what);
    if (e) {
      j->err = e;
      j->failed_at = i;
      break;
    }
  }
  free(buf);
}

static void free_job(struct copy_job *j) {
  for (size_t i = 0; i < j->n; i++) {
    free(j->ops[i].src);
    free(j->ops[i].dst);
  }
  free(j->ops);
  free(j);
}

static void copy_complete(napi_env env, napi_status status, void *data) {
  struct copy_job *j = data;
  if (status != napi_ok && !j->err) {
    j->err = ECANCELED;
    j->what = "copy";
  }
  j->h->busy = 0;
  if (j->err) {
    char msg[MAX_PATH_ARG + 128];
    const struct copy_op *op = j->failed_at < j->n ? &j->ops[j->failed_at] : NULL;
    snprintf(msg, sizeof msg, "%s %s: %s", j->what ? j->what : "copy", op && op->src ? op->src : "", strerror(j->err));
    napi_value e = job_errno_error(env, j->err, msg), idx;
    napi_create_uint32(env, (uint32_t)j->failed_at, &idx);
    napi_set_named_property(env, e, "index", idx);
    napi_reject_deferred(env, j->deferred, e);
  } else {
    job_resolve_undefined(env, j->deferred);
  }
  napi_delete_reference(env, j->ops_ref);
  napi_delete_reference(env, j->handle_ref);
  napi_delete_async_work(env, j->work);
  free_job(j);
}

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0 || len >= MAX_PATH_ARG) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  if (napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

/* Reads ops[i] into op; 0 or -1 (bad shape). */
static int parse_op(napi_env env, napi_value v, struct copy_op *op) {
  bool isbuf = false, isarr = false;
  if (napi_is_buffer(env, v, &isbuf) != napi_ok) return -1;
  if (isbuf) {
    void *p = NULL;
    size_t len = 0;
    if (napi_get_buffer_info(env, v, &p, &len) != napi_ok) return -1;
    op->raw = p;
    op->raw_len = len;
    return 0;
  }
  if (napi_is_array(env, v, &isarr) != napi_ok || !isarr) return -1;
  uint32_t n = 0;
  if (napi_get_array_length(env, v, &n) != napi_ok || n != 8) return -1;
  napi_value f[8];
  for (uint32_t k = 0; k < 8; k++)
    if (napi_get_element(env, v, k, &f[k]) != napi_ok) return -1;
  op->src = get_string(env, f[0]);
  op->dst = get_string(env, f[1]);
  if (!op->src || !op->dst) return -1;
  int64_t *nums[6] = {&op->size, &op->mode, &op->uid, &op->gid, &op->sec, &op->nsec};
  for (int k = 0; k < 6; k++)
    if (napi_get_value_int64(env, f[2 + k], nums[k]) != napi_ok) return -1;
  if (op->size < 0 || op->uid < 0 || op->gid < 0 || op->nsec < 0 || op->nsec > 999999999) return -1;
  return 0;
}

static napi_value js_tar_copy_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct tar_hash *h = argc >= 2 ? get_hash(env, argv[0]) : NULL;
  bool isarr = false;
  uint32_t n = 0;
  if (!h || napi_is_array(env, argv[1], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[1], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a tar hash handle and an array of ops");
    return NULL;
  }
  if (h->busy || h->done) {
    napi_throw_error(env, NULL, h->done ? "tar hash: digest already taken" : "tar hash: a copy is still running");
    return NULL;
  }
  struct copy_job *j = calloc(1, sizeof *j);
  if (!j || (n && !(j->ops = calloc(n, sizeof *j->ops)))) {
    free(j);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  j->h = h;
  j->n = n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, argv[1], i, &v) != napi_ok || parse_op(env, v, &j->ops[i]) != 0) {
      free_job(j);
      napi_throw_type_error(env, NULL, "tarCopyAsync: an op is neither a Buffer nor [src, dst, size, mode, uid, gid, sec, nsec]");
      return NULL;
    }
  }
  if (napi_create_reference(env, argv[1], 1, &j->ops_ref) != napi_ok) {
    free_job(j);
    napi_throw_error(env, NULL, "cannot keep the ops");
    return NULL;
  }
  if (napi_create_reference(env, argv[0], 1, &j->handle_ref) != napi_ok) {
    napi_delete_reference(env, j->ops_ref);
    free_job(j);
    napi_throw_error(env, NULL, "cannot keep the handle");
    return NULL;
  }
  napi_value promise;
  if (job_queue(env, "berth:tarCopy", copy_execute, copy_complete, j, &j->deferred, &j->work, &promise, "tarCopy: cannot queue the job") != 0) {
    /* Not queued (rejected already): nothing else owns the job. */
    napi_delete_reference(env, j->ops_ref);
    napi_delete_reference(env, j->handle_ref);
    free_job(j);
    return promise;
  }
  h->busy = 1;
  return promise;
}

static napi_value js_tar_hash_digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct tar_hash *h = argc >= 1 ? get_hash(env, argv[0]) : NULL;
  if (!h) {
    napi_throw_type_error(env, NULL, "expected a tar hash handle");
    return NULL;
  }
  if (h->busy || h->done) {
    napi_throw_error(env, NULL, h->done ? "tar hash: digest already taken" : "tar hash: a copy is still running");
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

void commit_copy_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"tarHashNew", NULL, js_tar_hash_new, NULL, NULL, NULL, napi_default, NULL},
    {"tarCopyAsync", NULL, js_tar_copy_async, NULL, NULL, NULL, napi_default, NULL},
    {"tarHashDigest", NULL, js_tar_hash_digest, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
