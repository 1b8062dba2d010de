/*
 * A pulled layer's bytes on libuv's pool, one job per batch of socket
 * chunks: the blob's temp file written and hashed (the blob digest), the
 * bytes gunzipped and the tar hashed (the diffID), the tar handed back for
 * extraction. In JS each of those was a stream stage whose every chunk was
 * a pool job and a wake-up of the JS thread (~0.3 s of berthd's CPU per
 * 100 MB pull on 2 cores); here one job per batch does all four.
 *
 *   layerSinkNew(fd) -> handle
 *     fd: the blob's temp file, open for appending (the caller closes it).
 *   layerSinkRunAsync(handle, fresh, last, maxOut) -> Promise<result>
 *     `fresh` (Buffers, not changed until the promise settles) is appended
 *     to the file and the blob hash, then queued for gunzip; queued input is
 *     gunzipped until `maxOut` tar bytes are out (0: none; -1: queued input
 *     is dropped and the tar is no longer made). `last`: no input follows;
 *     the blob digest is taken. One job at a time per handle.
 *     result: { out: Buffer[], held, consumed, blob?, tar?, tarSize? }
 *       held: queued input bytes not yet gunzipped; consumed: input bytes
 *       gunzipped so far; blob: hex, in the first `last` run; tar and
 *       tarSize once `last` and nothing is held (the tar is complete).
 *     A layer whose first two bytes are not gzip's magic is a plain tar (its
 *     bytes are the tar). Like Node's gunzip, a member may be followed by
 *     another (its first byte 0x1f); other trailing bytes are ignored. A
 *     truncated or corrupt stream fails the job with code Z_DATA_ERROR or
 *     Z_BUF_ERROR; a failed write with the errno's code.
 *   layerSinkClose(handle): releases the queued input (also done on GC).
 *
 * Two chains side by side (what a pull uses): the blob's file write and
 * hash, and the gunzip and the tar's hash, are separate jobs that run at
 * once on two pool threads (they share no state).
 *   layerSinkNew(fd, noCheck): noCheck true skips gzip's CRC-32 and length
 *     check (the caller verifies the blob's sha256 before it uses the
 *     layer, and the tar's against the config's diffID).
 *   layerSinkWriteAsync(handle, fresh, last) -> Promise<{ blob? }>: `fresh`
 *     appended to the file and the blob hash; `last` takes the digest.
 *     One write job at a time.
 *   layerSinkGunzipAsync(handle, fresh, last, maxOut) -> Promise<result>:
 *     as layerSinkRunAsync without the file and the blob hash. One gunzip
 *     job at a time; it may run beside a write job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <zlib.h>

#define OUT_CHUNK (1 << 20)

enum mode { UNDECIDED, GZIP, RAW };

struct in_buf {
  napi_ref ref;
  const unsigned char *p;
  size_t len;
};

struct sink {
  int fd;
  EVP_MD_CTX *blob, *tar;
  z_stream z;
  int z_ready;
  enum mode mode;
  int member_end; /* a gzip member ended; the next byte says whether another follows */
  int ended;      /* no more tar: trailing input is ignored */
  int dropped;    /* maxOut -1 was asked: input is no longer gunzipped */
  int busy, closed, blob_done, tar_done;
  int wbusy;    /* a write job runs (its own chain) */
  int no_check; /* gzip's CRC-32 and length not checked */
  int in_last;  /* the gunzip chain got its last input */
  char blob_hex[65], tar_hex[65];
  uint64_t tar_size, consumed, held;
  struct in_buf *q;
  size_t qn, qcap, qhead, qoff;
};

struct out_chunk {
  unsigned char *p;
  size_t len;
};

struct job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref handle_ref;
  struct sink *s;
  size_t fresh_from, fresh_to; /* queue indices of this run's fresh input */
  int last;
  int write_only, gunzip_only;
  struct in_buf *wbufs; /* a write job's input (its own references) */
  size_t nw;
  int64_t max_out;
  struct out_chunk *outs;
  size_t nout, outcap;
  int err; /* errno, or 0 */
  int zerr; /* zlib's code, or 0 */
  const char *what;
  char zmsg[160];
};

static void hex_of(EVP_MD_CTX *c, char out[65], int *ok) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(c, md, &n) != 1 || n != 32) {
    *ok = 0;
    return;
  }
  for (unsigned int i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
  *ok = 1;
}

static void release_queue(napi_env env, struct sink *s, size_t upto) {
  for (size_t i = 0; i < upto && i < s->qn; i++) {
    if (s->q[i].ref) napi_delete_reference(env, s->q[i].ref);
    s->q[i].ref = NULL;
  }
}

static void sink_free(napi_env env, struct sink *s) {
  release_queue(env, s, s->qn);
  free(s->q);
  s->q = NULL;
  s->qn = s->qcap = s->qhead = 0;
  if (s->z_ready) inflateEnd(&s->z);
  s->z_ready = 0;
  if (s->blob) EVP_MD_CTX_free(s->blob);
  if (s->tar) EVP_MD_CTX_free(s->tar);
  s->blob = s->tar = NULL;
}

static void sink_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  struct sink *s = data;
  sink_free(env, s);
  free(s);
}

static struct sink *get_sink(napi_env env, napi_value v) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

static napi_value js_sink_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  bool no_check = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      (argc >= 2 && napi_get_value_bool(env, argv[1], &no_check) != napi_ok)) {
    napi_throw_type_error(env, NULL, "layerSinkNew: expected a file descriptor (and noCheck)");
    return NULL;
  }
  struct sink *s = calloc(1, sizeof *s);
  if (!s) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  s->fd = fd;
  s->no_check = no_check;
  s->blob = EVP_MD_CTX_new();
  s->tar = EVP_MD_CTX_new();
  if (!s->blob || !s->tar || EVP_DigestInit_ex(s->blob, EVP_sha256(), NULL) != 1 || EVP_DigestInit_ex(s->tar, EVP_sha256(), NULL) != 1) {
    sink_free(env, s);
    free(s);
    napi_throw_error(env, NULL, "sha256: cannot initialize");
    return NULL;
  }
  napi_value ext;
  if (napi_create_external(env, s, sink_finalize, NULL, &ext) != napi_ok) {
    sink_free(env, s);
    free(s);
    napi_throw_error(env, NULL, "layer sink: cannot make a handle");
    return NULL;
  }
  return ext;
}

/* ---- on the pool ---------------------------------------------------------- */

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* A fresh output chunk, or NULL (job->err set). */
static struct out_chunk *new_out(struct job *j) {
  if (j->nout == j->outcap) {
    size_t cap = j->outcap ? j->outcap * 2 : 8;
    struct out_chunk *o = realloc(j->outs, cap * sizeof *o);
    if (!o) {
      j->err = ENOMEM;
      j->what = "allocate";
      return NULL;
    }
    j->outs = o;
    j->outcap = cap;
  }
  unsigned char *p = malloc(OUT_CHUNK);
  if (!p) {
    j->err = ENOMEM;
    j->what = "allocate";
    return NULL;
  }
  j->outs[j->nout] = (struct out_chunk){p, 0};
  return &j->outs[j->nout++];
}

static int tar_update(struct job *j, const unsigned char *p, size_t n) {
  if (n == 0) return 0;
  if (EVP_DigestUpdate(j->s->tar, p, n) != 1) {
    j->err = EIO;
    j->what = "sha256";
    return -1;
  }
  j->s->tar_size += n;
  return 0;
}

/* The first byte queued at or after the read position, or -1. */
static int peek_byte(struct sink *s, size_t skip) {
  size_t i = s->qhead, off = s->qoff;
  while (i < s->qn) {
    if (off + skip < s->q[i].len) return s->q[i].p[off + skip];
    skip -= s->q[i].len - off;
    off = 0;
    i++;
  }
  return -1;
}

static void advance(struct sink *s, size_t n) {
  s->qoff += n;
  s->consumed += n;
  s->held -= n;
  while (s->qhead < s->qn && s->qoff >= s->q[s->qhead].len) {
    s->qoff -= s->q[s->qhead].len;
    s->qhead++;
  }
}

static void fail_z(struct job *j, int code, const char *msg) {
  j->zerr = code;
  snprintf(j->zmsg, sizeof j->zmsg, "%s", msg ? msg : (code == Z_BUF_ERROR ? "unexpected end of file" : "invalid data"));
}

static void gunzip(struct job *j) {
  struct sink *s = j->s;
  size_t produced = 0;
  struct out_chunk *o = NULL;
  if (s->mode == UNDECIDED) {
    int a = peek_byte(s, 0), b = peek_byte(s, 1);
    if (b < 0 && !j->last) return; /* two bytes decide */
    if (a == 0x1f && b == 0x8b) {
      memset(&s->z, 0, sizeof s->z);
      if (inflateInit2(&s->z, 15 + 16) != Z_OK) {
        fail_z(j, Z_MEM_ERROR, "cannot initialize");
        return;
      }
      s->z_ready = 1;
      s->mode = GZIP;
      /* The blob's sha256 and the diffID cover these bytes already. */
      if (s->no_check && inflateValidate(&s->z, 0) != Z_OK) {
        fail_z(j, Z_STREAM_ERROR, "cannot turn the check off");
        return;
      }
    } else {
      s->mode = RAW;
    }
  }
  while (s->qhead < s->qn && produced < (uint64_t)j->max_out) {
    if (s->ended) { /* trailing bytes: ignored */
      advance(s, s->q[s->qhead].len - s->qoff);
      continue;
    }
    if (s->member_end) {
      int c = peek_byte(s, 0);
      if (c != 0x1f) {
        s->ended = 1;
        continue;
      }
      if (inflateReset(&s->z) != Z_OK) {
        fail_z(j, Z_STREAM_ERROR, "cannot reset");
        return;
      }
      s->member_end = 0;
    }
    if (!o || o->len == OUT_CHUNK) {
      if (!(o = new_out(j))) return;
    }
    const unsigned char *in = s->q[s->qhead].p + s->qoff;
    size_t avail = s->q[s->qhead].len - s->qoff;
    size_t room = OUT_CHUNK - o->len;
    if (s->mode == RAW) {
      size_t n = avail < room ? avail : room;
      memcpy(o->p + o->len, in, n);
      if (tar_update(j, o->p + o->len, n)) return;
      o->len += n;
      produced += n;
      advance(s, n);
      continue;
    }
    s->z.next_in = (unsigned char *)in;
    s->z.avail_in = avail > UINT32_MAX ? UINT32_MAX : (uInt)avail;
    s->z.next_out = o->p + o->len;
    s->z.avail_out = (uInt)room;
    uInt in_before = s->z.avail_in;
    int r = inflate(&s->z, Z_NO_FLUSH);
    size_t used = in_before - s->z.avail_in;
    size_t made = room - s->z.avail_out;
    if (tar_update(j, o->p + o->len, made)) return;
    o->len += made;
    produced += made;
    advance(s, used);
    if (r == Z_STREAM_END) {
      s->member_end = 1;
    } else if (r == Z_BUF_ERROR) {
      if (used == 0 && made == 0) { /* cannot happen with input and room; do not spin */
        fail_z(j, Z_BUF_ERROR, s->z.msg);
        return;
      }
    } else if (r != Z_OK) {
      fail_z(j, r == Z_NEED_DICT ? Z_DATA_ERROR : r, s->z.msg);
      return;
    }
  }
  /* An empty last chunk is dropped. */
  if (j->nout && j->outs[j->nout - 1].len == 0) {
    free(j->outs[j->nout - 1].p);
    j->nout--;
  }
  if (j->last && s->qhead == s->qn && !s->tar_done) {
    if (s->mode == GZIP && !s->member_end && !s->ended) {
      fail_z(j, Z_BUF_ERROR, "unexpected end of file");
      return;
    }
    int ok = 0;
    hex_of(s->tar, s->tar_hex, &ok);
    if (!ok) {
      j->err = EIO;
      j->what = "sha256";
      return;
    }
    s->tar_done = 1;
  }
}

/*
 * Element i of a JS array as a Buffer held by a reference (its bytes stay put
 * while a job reads them); 0 when it is not a Buffer.
 */
static int buffer_at(napi_env env, napi_value arr, uint32_t i, struct in_buf *out) {
  napi_value v;
  bool isbuf = false;
  void *p = NULL;
  size_t len = 0;
  napi_ref ref = NULL;
  if (napi_get_element(env, arr, i, &v) != napi_ok || napi_is_buffer(env, v, &isbuf) != napi_ok || !isbuf ||
      napi_get_buffer_info(env, v, &p, &len) != napi_ok || napi_create_reference(env, v, 1, &ref) != napi_ok)
    return 0;
  *out = (struct in_buf){ref, p, len};
  return 1;
}

/* The blob chain's part of a job: bytes appended to the file and hashed. */
static int blob_append(struct job *j, const unsigned char *p, size_t len) {
  int e = write_all(j->s->fd, p, len);
  if (e) {
    j->err = e;
    j->what = "write";
    return -1;
  }
  if (EVP_DigestUpdate(j->s->blob, p, len) != 1) {
    j->err = EIO;
    j->what = "sha256";
    return -1;
  }
  return 0;
}

/* With the last bytes: the blob's digest. */
static int blob_finish(struct job *j) {
  struct sink *s = j->s;
  if (!j->last || s->blob_done) return 0;
  int ok = 0;
  hex_of(s->blob, s->blob_hex, &ok);
  if (!ok) {
    j->err = EIO;
    j->what = "sha256";
    return -1;
  }
  s->blob_done = 1;
  return 0;
}

static void write_execute(napi_env env, void *data) {
  (void)env;
  struct job *j = data;
  for (size_t i = 0; i < j->nw; i++) {
    if (blob_append(j, j->wbufs[i].p, j->wbufs[i].len)) return;
  }
  blob_finish(j);
}

static void run_execute(napi_env env, void *data) {
  (void)env;
  struct job *j = data;
  struct sink *s = j->s;
  if (j->gunzip_only) {
    if (j->max_out < 0) s->dropped = 1;
    if (s->dropped) {
      if (s->qhead < s->qn) advance(s, (size_t)s->held);
      return;
    }
    gunzip(j);
    return;
  }
  for (size_t i = j->fresh_from; i < j->fresh_to; i++) {
    if (blob_append(j, s->q[i].p, s->q[i].len)) return;
  }
  if (blob_finish(j)) return;
  if (j->max_out < 0) s->dropped = 1;
  if (s->dropped) {
    if (s->qhead < s->qn) advance(s, (size_t)s->held);
    return;
  }
  gunzip(j);
}

/* ---- back on the JS thread ------------------------------------------------ */

static void free_out(napi_env env, void *data, void *hint) {
  int64_t adj;
  free(data);
  napi_adjust_external_memory(env, -(int64_t)(uintptr_t)hint, &adj);
}

static void reject(napi_env env, napi_deferred d, const char *code, const char *msg) {
  napi_value m, c, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_set_named_property(env, e, "code", c);
  napi_reject_deferred(env, d, e);
}

static void set_num(napi_env env, napi_value obj, const char *k, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, k, n);
}

static void run_complete(napi_env env, napi_status status, void *data) {
  struct job *j = data;
  struct sink *s = j->s;
  s->busy = 0;
  if (!j->gunzip_only) s->wbusy = 0;
  /* Input read to its end is no longer needed: drop the references. */
  release_queue(env, s, s->qhead);
  if (s->qhead > 0) {
    memmove(s->q, s->q + s->qhead, (s->qn - s->qhead) * sizeof *s->q);
    s->qn -= s->qhead;
    s->qhead = 0;
  }
  if (status != napi_ok) {
    reject(env, j->deferred, "ECANCELED", "layer sink: job cancelled");
  } else if (j->err) {
    char msg[256];
    const char *name = strerrorname_np(j->err);
    snprintf(msg, sizeof msg, "layer sink: %s: %s", j->what ? j->what : "?", strerror(j->err));
    reject(env, j->deferred, name ? name : "EIO", msg);
  } else if (j->zerr) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", j->zmsg);
    reject(env, j->deferred, j->zerr == Z_BUF_ERROR ? "Z_BUF_ERROR" : j->zerr == Z_MEM_ERROR ? "Z_MEM_ERROR" : "Z_DATA_ERROR", msg);
  } else {
    napi_value res, arr;
    napi_create_object(env, &res);
    napi_create_array_with_length(env, j->nout, &arr);
    size_t kept = 0;
    for (size_t i = 0; i < j->nout; i++) {
      napi_value b;
      if (napi_create_external_buffer(env, j->outs[i].len, j->outs[i].p, free_out, (void *)(uintptr_t)j->outs[i].len, &b) != napi_ok) {
        /* Every output must reach the caller (the tar is hashed already). */
        for (size_t k = i; k < j->nout; k++) free(j->outs[k].p);
        j->nout = 0;
        free(j->outs);
        j->outs = NULL;
        reject(env, j->deferred, "ENOMEM", "layer sink: cannot hand out the tar bytes");
        goto done;
      }
      int64_t adj;
      napi_adjust_external_memory(env, (int64_t)j->outs[i].len, &adj);
      j->outs[i].p = NULL; /* owned by the Buffer now */
      napi_set_element(env, arr, (uint32_t)kept++, b);
    }
    napi_set_named_property(env, res, "out", arr);
    set_num(env, res, "held", (double)s->held);
    set_num(env, res, "consumed", (double)s->consumed);
    /* (A write job may be running beside a gunzip-only one: its state is its own.) */
    if (!j->gunzip_only && s->blob_done) {
      napi_value h;
      napi_create_string_utf8(env, s->blob_hex, 64, &h);
      napi_set_named_property(env, res, "blob", h);
    }
    if (s->tar_done) {
      napi_value h;
      napi_create_string_utf8(env, s->tar_hex, 64, &h);
      napi_set_named_property(env, res, "tar", h);
      set_num(env, res, "tarSize", (double)s->tar_size);
    }
    napi_resolve_deferred(env, j->deferred, res);
  }
done:
  for (size_t i = 0; i < j->nout; i++) free(j->outs[i].p);
  free(j->outs);
  napi_delete_reference(env, j->handle_ref);
  napi_delete_async_work(env, j->work);
  free(j);
}

/* ---- the write chain ------------------------------------------------------ */

static void write_complete(napi_env env, napi_status status, void *data) {
  struct job *j = data;
  struct sink *s = j->s;
  s->wbusy = 0;
  for (size_t i = 0; i < j->nw; i++) napi_delete_reference(env, j->wbufs[i].ref);
  free(j->wbufs);
  if (status != napi_ok) {
    reject(env, j->deferred, "ECANCELED", "layer sink: job cancelled");
  } else if (j->err) {
    char msg[256];
    const char *name = strerrorname_np(j->err);
    snprintf(msg, sizeof msg, "layer sink: %s: %s", j->what ? j->what : "?", strerror(j->err));
    reject(env, j->deferred, name ? name : "EIO", msg);
  } else {
    napi_value res;
    napi_create_object(env, &res);
    if (s->blob_done) {
      napi_value h;
      napi_create_string_utf8(env, s->blob_hex, 64, &h);
      napi_set_named_property(env, res, "blob", h);
    }
    napi_resolve_deferred(env, j->deferred, res);
  }
  napi_delete_reference(env, j->handle_ref);
  napi_delete_async_work(env, j->work);
  free(j);
}

/* Queues a write job; its promise (rejected when it could not be queued: *ok is 0). */
static napi_value queue_write(napi_env env, napi_value handle, struct job *j, int *ok) {
  napi_value name, promise;
  *ok = 0;
  napi_create_promise(env, &j->deferred, &promise);
  if (napi_create_reference(env, handle, 1, &j->handle_ref) != napi_ok) {
    reject(env, j->deferred, "ENOMEM", "layer sink: cannot keep the handle");
    return promise;
  }
  napi_create_string_utf8(env, "berth:layerSink", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, write_execute, write_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    reject(env, j->deferred, "ENOMEM", "layer sink: cannot queue the job");
    napi_delete_reference(env, j->handle_ref);
    return promise;
  }
  *ok = 1;
  return promise;
}

static napi_value js_sink_write_async(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sink *s = argc >= 3 ? get_sink(env, argv[0]) : NULL;
  bool isarr = false, last = false;
  uint32_t n = 0;
  if (!s || napi_is_array(env, argv[1], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[1], &n) != napi_ok ||
      napi_get_value_bool(env, argv[2], &last) != napi_ok) {
    napi_throw_type_error(env, NULL, "layerSinkWriteAsync: expected (handle, Buffer[], last)");
    return NULL;
  }
  if (s->wbusy || s->closed || !s->blob) {
    napi_throw_error(env, NULL, s->wbusy ? "layer sink: a write job is still running" : "layer sink: closed");
    return NULL;
  }
  if (s->blob_done && n > 0) {
    napi_throw_error(env, NULL, "layer sink: input after the last");
    return NULL;
  }
  struct job *j = calloc(1, sizeof *j);
  if (!j || (n && !(j->wbufs = calloc(n, sizeof *j->wbufs)))) {
    free(j);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  j->s = s;
  j->last = last;
  j->write_only = 1;
  for (uint32_t i = 0; i < n; i++) {
    if (!buffer_at(env, argv[1], i, &j->wbufs[j->nw])) {
      for (size_t k = 0; k < j->nw; k++) napi_delete_reference(env, j->wbufs[k].ref);
      free(j->wbufs);
      free(j);
      napi_throw_type_error(env, NULL, "layerSinkWriteAsync: input must be Buffers");
      return NULL;
    }
    j->nw++;
  }
  int ok;
  napi_value promise = queue_write(env, argv[0], j, &ok);
  if (!ok) {
    for (size_t k = 0; k < j->nw; k++) napi_delete_reference(env, j->wbufs[k].ref);
    free(j->wbufs);
    free(j);
    return promise;
  }
  s->wbusy = 1;
  return promise;
}

/* ---- the gunzip chain (or both in one job) -------------------------------- */

static napi_value run_async(napi_env env, napi_callback_info info, int gunzip_only) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sink *s = argc >= 4 ? get_sink(env, argv[0]) : NULL;
  bool isarr = false, last = false;
  uint32_t n = 0;
  int64_t max_out = 0;
  if (!s || napi_is_array(env, argv[1], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[1], &n) != napi_ok ||
      napi_get_value_bool(env, argv[2], &last) != napi_ok || napi_get_value_int64(env, argv[3], &max_out) != napi_ok || max_out < -1) {
    napi_throw_type_error(env, NULL, "layerSinkRunAsync: expected (handle, Buffer[], last, maxOut)");
    return NULL;
  }
  if (s->busy || (!gunzip_only && s->wbusy) || s->closed || !s->blob) {
    napi_throw_error(env, NULL, s->busy || s->wbusy ? "layer sink: a job is still running" : "layer sink: closed");
    return NULL;
  }
  if ((gunzip_only ? s->in_last : s->blob_done) && n > 0) {
    napi_throw_error(env, NULL, "layer sink: input after the last");
    return NULL;
  }
  if (s->qn + n > s->qcap) {
    size_t cap = s->qcap ? s->qcap : 16;
    while (cap < s->qn + n) cap *= 2;
    struct in_buf *q = realloc(s->q, cap * sizeof *q);
    if (!q) {
      napi_throw_error(env, NULL, "out of memory");
      return NULL;
    }
    s->q = q;
    s->qcap = cap;
  }
  struct job *j = calloc(1, sizeof *j);
  if (!j) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  j->s = s;
  j->last = last;
  j->gunzip_only = gunzip_only;
  j->max_out = max_out;
  j->fresh_from = s->qn;
  size_t added = 0;
  for (uint32_t i = 0; i < n; i++) {
    struct in_buf b;
    if (!buffer_at(env, argv[1], i, &b)) {
      for (size_t k = j->fresh_from; k < j->fresh_from + added; k++) napi_delete_reference(env, s->q[k].ref);
      free(j);
      napi_throw_type_error(env, NULL, "layerSinkRunAsync: input must be Buffers");
      return NULL;
    }
    if (b.len == 0) {
      napi_delete_reference(env, b.ref);
      continue;
    }
    s->q[s->qn + added] = b;
    added++;
  }
  s->qn += added;
  j->fresh_to = s->qn;
  for (size_t k = j->fresh_from; k < j->fresh_to; k++) s->held += s->q[k].len;
  if (napi_create_reference(env, argv[0], 1, &j->handle_ref) != napi_ok) {
    free(j);
    napi_throw_error(env, NULL, "layer sink: cannot keep the handle");
    return NULL;
  }
  napi_value name, promise;
  napi_create_string_utf8(env, "berth:layerSink", NAPI_AUTO_LENGTH, &name);
  napi_create_promise(env, &j->deferred, &promise);
  if (napi_create_async_work(env, NULL, name, run_execute, run_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    reject(env, j->deferred, "ENOMEM", "layer sink: cannot queue the job");
    napi_delete_reference(env, j->handle_ref);
    free(j);
    return promise;
  }
  s->busy = 1;
  if (!gunzip_only) s->wbusy = 1;
  if (last) s->in_last = 1;
  return promise;
}

static napi_value js_sink_run_async(napi_env env, napi_callback_info info) {
  return run_async(env, info, 0);
}

static napi_value js_sink_gunzip_async(napi_env env, napi_callback_info info) {
  return run_async(env, info, 1);
}

static napi_value js_sink_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sink *s = argc >= 1 ? get_sink(env, argv[0]) : NULL;
  if (!s) {
    napi_throw_type_error(env, NULL, "layerSinkClose: expected a handle");
    return NULL;
  }
  if (s->busy || s->wbusy) {
    napi_throw_error(env, NULL, "layer sink: a job is still running");
    return NULL;
  }
  s->closed = 1;
  sink_free(env, s);
  return NULL;
}

void layer_sink_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"layerSinkNew", NULL, js_sink_new, NULL, NULL, NULL, napi_default, NULL},
    {"layerSinkRunAsync", NULL, js_sink_run_async, NULL, NULL, NULL, napi_default, NULL},
    {"layerSinkClose", NULL, js_sink_close, NULL, NULL, NULL, napi_default, NULL},
    {"layerSinkWriteAsync", NULL, js_sink_write_async, NULL, NULL, NULL, napi_default, NULL},
    {"layerSinkGunzipAsync", NULL, js_sink_gunzip_async, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
