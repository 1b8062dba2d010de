/*
 * A layer tar extracted on libuv's pool: parsing, path checks, creates and
 * the tar-split record in C, fed the tar's bytes in large batches, one pool
 * job at a time per extraction. The JS extractor (tar-apply.ts) did the
 * parsing, checks and bookkeeping on berthd's one JS thread (~1.5 s of a
 * 163 MB rootfs import); here the JS thread only hands over buffers, and the
 * diffID's hash runs on another pool thread beside this job.
 *
 * Only an empty root (a new layer) is extracted here: what is at a path is
 * known from an in-memory tree of what this extraction made (as
 * extract-tree.ts), never asked of the disk. The rules are tar-apply.ts's,
 * with its errors: names cleaned (no absolute path, `..` never above the
 * root), parents resolved in the tree with symlinks followed inside the root
 * (at most 40), missing parents made 0755, hard links only to an existing
 * non-directory of the layer, creates O_EXCL|O_NOFOLLOW, OCI whiteouts made
 * overlay whiteouts (`.wh.x` → char 0:0, `.wh..wh..opq` → opaque xattr), a
 * 0:0 char device taken as a whiteout, xattrs (PAX SCHILY.xattr.*) set with
 * lsetxattr on the entry's own path, only user./trusted./security./system.
 * and never trusted.overlay.*; directory times last. The parser follows
 * tar-stream 3 (which the JS path uses) where formats are loose.
 *
 *   tarExtractNew(root, layerDir, thread) -> handle
 *     root: the real path of the empty diff/ dir; layerDir: where
 *     split-files/ goes, '' for no tar-split; thread: files are made by a
 *     second thread of the extraction's own (see struct worker).
 *   tarExtractRunAsync(h, chunks: Buffer[], last) -> Promise<{ size?, split?, warnings }>
 *     Extracts the next bytes (kept alive until done). With `last`, checks
 *     the archive ended, sets directory times and returns the tar-split
 *     (the file's uncompressed bytes, magic first) and the sum of file sizes.
 *     Errors have `kind`: 'entry' (entry, why), 'xattr' (entry, xattr, why),
 *     'errno' (entry, code), 'opaque' (entry, detail), 'archive' (message).
 *   tarExtractClose(h)  frees it (an open file is closed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <node_api.h>

#define MAX_LINKS 40
#define MAX_LONG_HEADER (4 * 1024 * 1024)
#define XATTR_NAME_MAX_ 255
#define XATTR_SIZE_MAX_ 65536

/* ---- growable bytes ------------------------------------------------------ */

struct bytes {
  char *p;
  size_t len, cap;
};

static int bytes_add(struct bytes *b, const void *src, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) return -1;
    b->p = q;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, src, n);
  b->len += n;
  b->p[b->len] = 0;
  return 0;
}

/* ---- the tree of what this extraction made ------------------------------- */

enum kind { K_DIR, K_OTHER, K_LINK };

struct node {
  char *name;
  size_t namelen;
  enum kind kind;
  char *target; /* K_LINK */
  int sgid;     /* K_DIR: new entries take its group (and dirs its setgid bit) */
  long rec;     /* index of the tar-split file record whose content it holds, -1 none */
  struct node *parent, *child, *next, *prev, *hnext;
};

struct rec {
  uint64_t size;
  struct node *node; /* holds the content; NULL once set aside */
  long aside;        /* split-files/<n>, -1 none */
  size_t raw_off, raw_len; /* the raw bytes before this content */
};

struct dirtime {
  char *path;
  int64_t mtime;
};

struct xattr {
  char *name;
  char *value;
  size_t vlen;
};

enum state { S_HEADER, S_LONG, S_CONTENT, S_PAD };

/*
 * A second thread for file creates: a regular file without xattrs whose
 * content is wholly in the batch is handed to it (open, write, owner, mode,
 * mtime, close) while this job parses on and makes directories and links.
 * Anything that needs a file made earlier — a removal (and tar-split's
 * link aside), a hard link, the end of the batch (its buffers go), the
 * directory times, a failure — waits for it first (worker_flush).
 */
struct create {
  char *path, *entry;
  const unsigned char *data;
  size_t len;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  int do_chown, do_chmod, at_open;
  int64_t mtime;
};

struct worker {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t work, idle;
  struct create *q;
  size_t cap, head, tail;
  int stop, busy, err;
  char *err_entry;
};

struct ex {
  int busy, closed;
  struct worker *w; /* NULL: every create on the job's thread */
  const unsigned char *in_p; /* the batch's bytes after the header being applied */
  size_t in_n;
  char *root;
  size_t rootlen;
  char *layer_dir; /* NULL: no tar-split */
  mode_t umask_;
  int root_owned; /* creates as root give 0:0 */
  struct node *top;
  struct node **buckets;
  size_t nbuckets, nnodes;
  /* parser */
  enum state st;
  unsigned char hdr[512];
  size_t hdr_have;
  struct bytes longbuf;
  uint64_t need; /* S_LONG/S_CONTENT/S_PAD: bytes still to take */
  int long_type; /* 'L', 'K', 'x', 'g' */
  char *gnu_path, *gnu_link;
  int pax_set; /* a local PAX header waits for its entry */
  char *pax_path, *pax_link, *pax_size;
  int pax_has_path, pax_has_link, pax_has_size;
  char *g_path, *g_link, *g_size;
  int g_has_path, g_has_link, g_has_size;
  struct xattr *xattrs;
  size_t nxattrs;
  /* the entry whose content is being read */
  int fd;           /* its file, -1 when the content is skipped */
  long cur_rec;     /* its tar-split record, -1 when the bytes stay raw */
  char *cur_path, *cur_name;
  uid_t cur_uid;
  gid_t cur_gid;
  mode_t cur_mode;
  int cur_chown, cur_chmod;
  int64_t cur_mtime;
  uint64_t pad_after;
  /* results */
  uint64_t size;
  struct bytes raw; /* tar-split: every byte that is not a placed file's content */
  size_t raw_mark;  /* raw bytes before this offset are in records already */
  struct rec *recs;
  size_t nrecs, caprecs;
  long asides;
  struct dirtime *dirs;
  size_t ndirs, capdirs;
  struct bytes warnings; /* entry \0 name \0 error \0 ... */
  size_t nwarnings;
  /* the failure of a job */
  const char *err_kind;
  char *err_entry;
  char err_why[512];
  char *err_xattr;
  int err_errno;
};

static uint64_t hash_of(const struct node *parent, const char *name, size_t n) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)parent;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
  return h;
}

static struct node *child_of(struct ex *x, struct node *dir, const char *name, size_t n) {
  for (struct node *c = x->buckets[hash_of(dir, name, n) & (x->nbuckets - 1)]; c; c = c->hnext)
    if (c->parent == dir && c->namelen == n && memcmp(c->name, name, n) == 0) return c;
  return NULL;
}

static int grow_table(struct ex *x) {
  size_t nb = x->nbuckets * 2;
  struct node **b = calloc(nb, sizeof *b);
  if (!b) return -1;
  for (size_t i = 0; i < x->nbuckets; i++)
    for (struct node *c = x->buckets[i], *nx; c; c = nx) {
      nx = c->hnext;
      uint64_t h = hash_of(c->parent, c->name, c->namelen) & (nb - 1);
      c->hnext = b[h];
      b[h] = c;
    }
  free(x->buckets);
  x->buckets = b;
  x->nbuckets = nb;
  return 0;
}

static struct node *add_node(struct ex *x, struct node *dir, const char *name, size_t n, enum kind k, const char *target) {
  if (x->nnodes + 1 > x->nbuckets && grow_table(x)) return NULL;
  struct node *c = calloc(1, sizeof *c);
  if (!c || !(c->name = malloc(n + 1))) {
    free(c);
    return NULL;
  }
  memcpy(c->name, name, n);
  c->name[n] = 0;
  c->namelen = n;
  c->kind = k;
  c->rec = -1;
  if (target && !(c->target = strdup(target))) {
    free(c->name);
    free(c);
    return NULL;
  }
  c->parent = dir;
  c->next = dir->child;
  if (dir->child) dir->child->prev = c;
  dir->child = c;
  uint64_t h = hash_of(dir, name, n) & (x->nbuckets - 1);
  c->hnext = x->buckets[h];
  x->buckets[h] = c;
  x->nnodes++;
  return c;
}

static void free_subtree(struct node *c) {
  for (struct node *k = c->child, *nx; k; k = nx) {
    nx = k->next;
    free_subtree(k);
  }
  free(c->name);
  free(c->target);
  free(c);
}

/* Takes c (and what is under it) out of the tree and the table. */
static void unlink_node(struct ex *x, struct node *c) {
  for (struct node *k = c->child; k; k = k->next) unlink_node(x, k);
  struct node **pp = &x->buckets[hash_of(c->parent, c->name, c->namelen) & (x->nbuckets - 1)];
  while (*pp && *pp != c) pp = &(*pp)->hnext;
  if (*pp) *pp = c->hnext;
  x->nnodes--;
}

static void drop_node(struct ex *x, struct node *c) {
  unlink_node(x, c);
  if (c->prev) c->prev->next = c->next;
  else c->parent->child = c->next;
  if (c->next) c->next->prev = c->prev;
  free_subtree(c);
}

/* The absolute path of a node (malloc'd). */
static char *path_of(struct ex *x, struct node *c, const char *base, size_t blen) {
  size_t len = x->rootlen + (base ? blen + 1 : 0);
  for (struct node *p = c; p != x->top; p = p->parent) len += p->namelen + 1;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  s[len] = 0;
  size_t at = len;
  if (base) {
    at -= blen;
    memcpy(s + at, base, blen);
    s[--at] = '/';
  }
  for (struct node *p = c; p != x->top; p = p->parent) {
    at -= p->namelen;
    memcpy(s + at, p->name, p->namelen);
    s[--at] = '/';
  }
  memcpy(s, x->root, x->rootlen);
  return s;
}

/* ---- failures ------------------------------------------------------------ */

static int fail_entry(struct ex *x, const char *entry, const char *why) {
  x->err_kind = "entry";
  free(x->err_entry);
  x->err_entry = strdup(entry ? entry : "");
  snprintf(x->err_why, sizeof x->err_why, "%s", why);
  return -1;
}

static int fail_errno(struct ex *x, const char *entry, int err) {
  x->err_kind = "errno";
  free(x->err_entry);
  x->err_entry = strdup(entry ? entry : "");
  x->err_errno = err ? err : EIO;
  return -1;
}

static int fail_archive(struct ex *x, const char *msg) {
  x->err_kind = "archive";
  snprintf(x->err_why, sizeof x->err_why, "%s", msg);
  return -1;
}

static int fail_nomem(struct ex *x) { return fail_errno(x, "", ENOMEM); }

/* A failure JS words with a quoted detail: 'parent' (not a directory), 'linktarget' (not found), 'xattr'. */
static int fail_detail(struct ex *x, const char *kind, const char *entry, const char *detail) {
  fail_entry(x, entry, "");
  x->err_kind = kind;
  free(x->err_xattr);
  x->err_xattr = strdup(detail ? detail : "");
  return -1;
}

/* ---- the create thread ------------------------------------------------- */

static int create_file(const struct create *c) {
  int fd = open(c->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, c->at_open ? c->mode : 0600);
  if (fd < 0) return errno;
  int err = 0;
  size_t off = 0;
  while (off < c->len && !err) {
    ssize_t n = write(fd, c->data + off, c->len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) err = n < 0 ? errno : EIO;
    else off += (size_t)n;
  }
  if (!err && c->do_chown && fchown(fd, c->uid, c->gid) != 0) err = errno;
  if (!err && c->do_chmod && fchmod(fd, c->mode) != 0) err = errno;
  struct timespec ts[2] = {{c->mtime, 0}, {c->mtime, 0}};
  if (!err && futimens(fd, ts) != 0) err = errno;
  if (close(fd) != 0 && !err) err = errno;
  return err;
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (w->head == w->tail && !w->stop) pthread_cond_wait(&w->work, &w->mu);
    if (w->head == w->tail) break;
    struct create c = w->q[w->head];
    int skip = w->err != 0;
    w->busy = 1;
    pthread_mutex_unlock(&w->mu);
    int err = skip ? 0 : create_file(&c);
    pthread_mutex_lock(&w->mu);
    if (err && !w->err) {
      w->err = err;
      w->err_entry = c.entry;
      c.entry = NULL;
    }
    free(c.path);
    free(c.entry);
    w->head++;
    w->busy = 0;
    if (w->head == w->tail) pthread_cond_broadcast(&w->idle);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static struct worker *worker_start(void) {
  struct worker *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->work, NULL);
  pthread_cond_init(&w->idle, NULL);
  if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
    free(w);
    return NULL;
  }
  return w;
}

static void worker_stop(struct worker *w) {
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->work);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->th, NULL);
  for (size_t i = w->head; i < w->tail; i++) {
    free(w->q[i].path);
    free(w->q[i].entry);
  }
  free(w->q);
  free(w->err_entry);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->work);
  pthread_cond_destroy(&w->idle);
  free(w);
}

/* Takes c's strings. */
static int worker_push(struct worker *w, struct create *c) {
  pthread_mutex_lock(&w->mu);
  if (w->head == w->tail && !w->busy) w->head = w->tail = 0;
  if (w->tail == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 256;
    struct create *q = realloc(w->q, cap * sizeof *q);
    if (!q) {
      pthread_mutex_unlock(&w->mu);
      return -1;
    }
    w->q = q;
    w->cap = cap;
  }
  w->q[w->tail++] = *c;
  pthread_cond_signal(&w->work);
  pthread_mutex_unlock(&w->mu);
  return 0;
}

/* Waits until every handed-over create is made; -1 with the failure set when one failed. */
static int worker_flush(struct ex *x) {
  struct worker *w = x->w;
  if (!w) return 0;
  pthread_mutex_lock(&w->mu);
  while (w->head != w->tail || w->busy) pthread_cond_wait(&w->idle, &w->mu);
  int err = w->err;
  char *entry = w->err_entry;
  w->err = 0;
  w->err_entry = NULL;
  pthread_mutex_unlock(&w->mu);
  if (!err) return 0;
  fail_errno(x, entry, err);
  free(entry);
  return -1;
}

/* ---- names and parents --------------------------------------------------- */

/*
 * cleanEntryName: the components of `name` ('\0'-separated in *out, count in
 * *n); -1 with the failure set when it is absolute or climbs above the root.
 */
static int clean_name(struct ex *x, const char *name, size_t len, const char *label, char **out, size_t *n) {
  if (memchr(name, 0, len)) return fail_entry(x, label, "contains a NUL byte");
  if (len && name[0] == '/') {
    for (size_t i = 0; i < len; i++)
      if (name[i] != '/') return fail_entry(x, label, "absolute path not allowed in a layer");
  }
  char *buf = malloc(len + 1);
  if (!buf) return fail_nomem(x);
  size_t at = 0, cnt = 0;
  size_t *starts = malloc(sizeof(size_t) * (len / 2 + 2));
  if (!starts) {
    free(buf);
    return fail_nomem(x);
  }
  for (size_t i = 0; i <= len;) {
    size_t j = i;
    while (j < len && name[j] != '/') j++;
    size_t cl = j - i;
    if (cl == 0 || (cl == 1 && name[i] == '.')) {
    } else if (cl == 2 && name[i] == '.' && name[i + 1] == '.') {
      if (cnt == 0) {
        free(buf);
        free(starts);
        return fail_entry(x, label, "path escapes the layer root");
      }
      at = starts[--cnt];
    } else {
      starts[cnt++] = at;
      memcpy(buf + at, name + i, cl);
      at += cl;
      buf[at++] = 0;
    }
    i = j + 1;
  }
  free(starts);
  *out = buf;
  *n = cnt;
  return 0;
}

/* Makes a missing directory of the tree (0755, as tar-apply's resolveDir). */
static struct node *make_dir(struct ex *x, struct node *dir, const char *name, size_t n, const char *entry) {
  char *p = path_of(x, dir, name, n);
  if (!p) return fail_nomem(x), NULL;
  if (mkdir(p, 0755) != 0) {
    int e = errno;
    free(p);
    return fail_errno(x, entry, e), NULL;
  }
  free(p);
  struct node *c = add_node(x, dir, name, n, K_DIR, NULL);
  if (!c) return fail_nomem(x), NULL;
  c->sgid = dir->sgid; /* mkdir in a setgid directory is setgid */
  return c;
}

/*
 * resolveDir: the directory node at the `cnt` components in `parts`, symlinks
 * followed inside the root, missing directories made.
 */
static struct node *resolve_dir(struct ex *x, const char *parts, size_t cnt, const char *entry) {
  struct node *cur = x->top;
  /* The components still to walk, as one '/'-joined string (targets prepended). */
  struct bytes q = {0};
  for (size_t i = 0; i < cnt; i++) {
    size_t l = strlen(parts);
    if ((i && bytes_add(&q, "/", 1)) || bytes_add(&q, parts, l)) goto nomem;
    parts += l + 1;
  }
  size_t at = 0;
  int links = 0;
  while (q.p && at < q.len) {
    size_t j = at;
    while (j < q.len && q.p[j] != '/') j++;
    const char *c = q.p + at;
    size_t cl = j - at;
    at = j + 1;
    if (cl == 0 || (cl == 1 && c[0] == '.')) continue;
    if (cl == 2 && c[0] == '.' && c[1] == '.') {
      if (cur == x->top) {
        free(q.p);
        return fail_entry(x, entry, "path escapes the layer root through a symlink"), NULL;
      }
      cur = cur->parent;
      continue;
    }
    struct node *k = child_of(x, cur, c, cl);
    if (!k) {
      if (!(k = make_dir(x, cur, c, cl, entry))) {
        free(q.p);
        return NULL;
      }
      cur = k;
    } else if (k->kind == K_DIR) {
      cur = k;
    } else if (k->kind == K_LINK) {
      if (++links > MAX_LINKS) {
        free(q.p);
        return fail_entry(x, entry, "too many levels of symbolic links"), NULL;
      }
      const char *t = k->target ? k->target : "";
      if (t[0] == '/') cur = x->top;
      struct bytes nq = {0};
      if (bytes_add(&nq, t, strlen(t)) || (at < q.len && (bytes_add(&nq, "/", 1) || bytes_add(&nq, q.p + at, q.len - at)))) {
        free(nq.p);
        goto nomem;
      }
      free(q.p);
      q = nq;
      at = 0;
    } else {
      /* JS quotes the parent's relative path (detail). */
      char *rel = path_of(x, cur, c, cl);
      free(q.p);
      fail_detail(x, "parent", entry, rel ? rel + x->rootlen + 1 : "?");
      free(rel);
      return NULL;
    }
  }
  free(q.p);
  return cur;
nomem:
  free(q.p);
  return fail_nomem(x), NULL;
}

/* ---- removals (with tar-split's files set aside first) -------------------- */

static int set_aside(struct ex *x, struct node *c, const char *p) {
  if (!x->layer_dir || c->rec < 0) return 0;
  size_t dl = strlen(x->layer_dir);
  char *aside = malloc(dl + 40);
  if (!aside) return fail_nomem(x);
  snprintf(aside, dl + 40, "%s/split-files", x->layer_dir);
  if (x->asides == 0 && mkdir(aside, 0700) != 0 && errno != EEXIST) {
    int e = errno;
    free(aside);
    return fail_errno(x, "", e);
  }
  long n = x->asides++;
  snprintf(aside, dl + 40, "%s/split-files/%ld", x->layer_dir, n);
  int r = link(p, aside);
  int e = errno;
  free(aside);
  if (r != 0) return fail_errno(x, "", e);
  x->recs[c->rec].aside = n;
  x->recs[c->rec].node = NULL;
  c->rec = -1;
  return 0;
}

/* Removes what the tree has at c from the disk, children first. */
static int remove_disk(struct ex *x, struct node *c, const char *entry) {
  char *p = path_of(x, c, NULL, 0);
  if (!p) return fail_nomem(x);
  int r = 0;
  if (c->kind == K_DIR) {
    for (struct node *k = c->child; k && !r; k = k->next) r = remove_disk(x, k, entry);
    if (!r && rmdir(p) != 0) r = fail_errno(x, entry, errno);
  } else {
    r = set_aside(x, c, p);
    if (!r && unlink(p) != 0) r = fail_errno(x, entry, errno);
  }
  free(p);
  return r;
}

static int remove_existing(struct ex *x, struct node *c, const char *entry) {
  if (worker_flush(x) || remove_disk(x, c, entry)) return -1;
  drop_node(x, c);
  return 0;
}

/* ---- xattrs ---------------------------------------------------------------- */

static void warn(struct ex *x, const char *entry, const char *name, const char *error) {
  bytes_add(&x->warnings, entry, strlen(entry) + 1);
  bytes_add(&x->warnings, name, strlen(name) + 1);
  bytes_add(&x->warnings, error ? error : "", strlen(error ? error : "") + 1);
  x->nwarnings++;
}

static int fail_xattr(struct ex *x, const char *entry, const char *name, const char *why) {
  fail_detail(x, "xattr", entry, name);
  snprintf(x->err_why, sizeof x->err_why, "%s", why);
  return -1;
}

/* checkXattrName/checkXattrValue then lsetxattr, as tar-apply's applyXattrs. */
static int apply_xattrs(struct ex *x, const char *full, const char *entry) {
  static const char *ns[] = {"user.", "trusted.", "security.", "system."};
  for (size_t i = 0; i < x->nxattrs; i++) {
    const char *name = x->xattrs[i].name;
    size_t nl = strlen(name);
    if (nl == 0) return fail_xattr(x, entry, name, "has an empty name");
    if (nl > XATTR_NAME_MAX_) return fail_xattr(x, entry, name, "has a name longer than 255 bytes");
    for (size_t k = 0; k < nl; k++)
      if ((unsigned char)name[k] < 0x20 || name[k] == 0x7f) return fail_xattr(x, entry, name, "has a control character in its name");
    int known = 0;
    for (size_t k = 0; k < 4; k++)
      if (strncmp(name, ns[k], strlen(ns[k])) == 0 && nl > strlen(ns[k])) known = 1;
    if (!known || strncmp(name, "trusted.overlay.", 16) == 0) {
      if (strncmp(name, "trusted.overlay.", 16) != 0) warn(x, entry, name, NULL);
      continue;
    }
    if (x->xattrs[i].vlen > XATTR_SIZE_MAX_) return fail_xattr(x, entry, name, "is larger than 65536 bytes");
    if (lsetxattr(full, name, x->xattrs[i].value, x->xattrs[i].vlen, 0) != 0) warn(x, entry, name, strerror(errno));
  }
  return 0;
}

static void clear_xattrs(struct ex *x) {
  for (size_t i = 0; i < x->nxattrs; i++) {
    free(x->xattrs[i].name);
    free(x->xattrs[i].value);
  }
  free(x->xattrs);
  x->xattrs = NULL;
  x->nxattrs = 0;
}

/* ---- header fields (tar-stream's decoding) --------------------------------- */

static int64_t decode_num(const unsigned char *f, size_t len, int *bad) {
  if (f[0] & 0x80) {
    int neg;
    if (f[0] == 0x80) neg = 0;
    else if (f[0] == 0xff) neg = 1;
    else return 0;
    int64_t v = 0;
    for (size_t i = 1; i < len; i++) v = v * 256 + (neg ? 0xff - f[i] : f[i]);
    return neg ? -v : v;
  }
  size_t i = 0;
  while (i < len && f[i] == ' ') i++;
  size_t end = i;
  while (end < len && f[end] != ' ') end++;
  while (i < end && f[i] == 0) i++;
  if (i == end) return 0;
  int64_t v = 0;
  size_t d = 0;
  for (; i < end && f[i] >= '0' && f[i] <= '7'; i++, d++) v = v * 8 + (f[i] - '0');
  if (d == 0 && bad) *bad = 1;
  return v;
}

static char *field_str(const unsigned char *f, size_t len) {
  size_t n = 0;
  while (n < len && f[n]) n++;
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, f, n);
    s[n] = 0;
  }
  return s;
}

/* PAX records (strict, as pax.ts's parsePaxRecords); `loose` stops quietly at a bad one. */
static int parse_pax(struct ex *x, const char *b, size_t len, int global) {
  size_t off = 0;
  while (off < len) {
    if (b[off] == 0) break;
    size_t sp = off;
    while (sp < len && b[sp] != ' ') sp++;
    size_t digits = sp - off;
    uint64_t rl = 0;
    int ok = sp < len && digits >= 1 && digits <= 8;
    for (size_t i = off; ok && i < sp; i++) {
      if (b[i] < '0' || b[i] > '9') ok = 0;
      else rl = rl * 10 + (uint64_t)(b[i] - '0');
    }
    if (!ok || !(rl > digits + 1) || off + rl > len || b[off + rl - 1] != '\n') {
      if (global) return 0;
      return fail_archive(x, "malformed PAX record");
    }
    const char *rec = b + sp + 1;
    size_t rlen = off + rl - 1 - (sp + 1);
    const char *eq = memchr(rec, '=', rlen);
    if (!eq || eq == rec) {
      if (global) return 0;
      return fail_archive(x, "malformed PAX record");
    }
    size_t kl = (size_t)(eq - rec), vl = rlen - kl - 1;
    const char *v = eq + 1;
    char *val = malloc(vl + 1);
    if (!val) return fail_nomem(x);
    memcpy(val, v, vl);
    val[vl] = 0;
#define KEY(s) (kl == sizeof(s) - 1 && memcmp(rec, s, kl) == 0)
    char **slot = NULL;
    int *has = NULL;
    if (KEY("path")) slot = global ? &x->g_path : &x->pax_path, has = global ? &x->g_has_path : &x->pax_has_path;
    else if (KEY("linkpath")) slot = global ? &x->g_link : &x->pax_link, has = global ? &x->g_has_link : &x->pax_has_link;
    else if (KEY("size")) slot = global ? &x->g_size : &x->pax_size, has = global ? &x->g_has_size : &x->pax_has_size;
    if (slot && !global && slot != &x->pax_size && memchr(val, 0, vl)) {
      fail_entry(x, val, "contains a NUL byte");
      free(val);
      return -1;
    }
    if (slot) {
      free(*slot);
      *slot = val;
      *has = 1;
    } else if (!global && kl >= 13 && memcmp(rec, "SCHILY.xattr.", 13) == 0) {
      size_t nl = kl - 13;
      size_t i;
      for (i = 0; i < x->nxattrs; i++)
        if (strlen(x->xattrs[i].name) == nl && memcmp(x->xattrs[i].name, rec + 13, nl) == 0) break;
      if (i == x->nxattrs) {
        struct xattr *xs = realloc(x->xattrs, (x->nxattrs + 1) * sizeof *xs);
        if (!xs || !(xs[i].name = malloc(nl + 1))) {
          if (xs) x->xattrs = xs;
          free(val);
          return fail_nomem(x);
        }
        x->xattrs = xs;
        memcpy(xs[i].name, rec + 13, nl);
        xs[i].name[nl] = 0;
        xs[i].value = NULL;
        x->nxattrs++;
      } else {
        free(x->xattrs[i].value);
      }
      x->xattrs[i].value = val;
      x->xattrs[i].vlen = vl;
    } else {
      free(val);
    }
#undef KEY
    off += rl;
  }
  return 0;
}

/* ---- the tar-split record ------------------------------------------------- */

static long add_rec(struct ex *x, uint64_t size, struct node *c) {
  if (x->nrecs == x->caprecs) {
    size_t cap = x->caprecs ? x->caprecs * 2 : 1024;
    struct rec *r = realloc(x->recs, cap * sizeof *r);
    if (!r) return -1;
    x->recs = r;
    x->caprecs = cap;
  }
  struct rec *r = &x->recs[x->nrecs];
  r->size = size;
  r->node = c;
  r->aside = -1;
  r->raw_off = x->raw_mark;
  r->raw_len = x->raw.len - x->raw_mark;
  x->raw_mark = x->raw.len;
  c->rec = (long)x->nrecs;
  return (long)x->nrecs++;
}

static void put_be(struct bytes *b, uint64_t v, int n) {
  unsigned char t[8];
  for (int i = n - 1; i >= 0; i--, v >>= 8) t[i] = (unsigned char)(v & 0xff);
  bytes_add(b, t, (size_t)n);
}

static int put_raw(struct bytes *out, const char *p, size_t len) {
  if (!len) return 0;
  bytes_add(out, "R", 1);
  put_be(out, len, 4);
  return bytes_add(out, p, len);
}

/* The uncompressed tar-split file (tar-split.ts's format). */
static int make_split(struct ex *x, struct bytes *out) {
  uint64_t total = x->raw.len;
  if (bytes_add(out, "BERTHSPLIT1\n", 12)) return -1;
  for (size_t i = 0; i < x->nrecs; i++) {
    struct rec *r = &x->recs[i];
    if (put_raw(out, x->raw.p + r->raw_off, r->raw_len)) return -1;
    total += r->size;
    if (r->aside >= 0) {
      bytes_add(out, "A", 1);
      put_be(out, r->size, 8);
      put_be(out, (uint64_t)r->aside, 4);
    } else {
      char *p = path_of(x, r->node, NULL, 0);
      if (!p) return -1;
      const char *rel = p + x->rootlen + 1;
      bytes_add(out, "F", 1);
      put_be(out, r->size, 8);
      put_be(out, strlen(rel), 4);
      bytes_add(out, rel, strlen(rel));
      free(p);
    }
  }
  if (put_raw(out, x->raw.p + x->raw_mark, x->raw.len - x->raw_mark)) return -1;
  bytes_add(out, "E", 1);
  put_be(out, total, 8);
  return out->p ? 0 : -1;
}

/* ---- one entry ------------------------------------------------------------ */

struct hdr {
  char *name, *linkname;
  int type; /* tar-stream's typeflag number; -1 unknown */
  mode_t mode;
  uid_t uid;
  gid_t gid;
  int64_t size, mtime;
  unsigned major, minor;
};

static int finish_file(struct ex *x) {
  int r = 0;
  int fd = x->fd;
  x->fd = -1;
  if (x->cur_chown && fchown(fd, x->cur_uid, x->cur_gid) != 0) r = fail_errno(x, x->cur_name, errno);
  if (!r && x->cur_chmod && fchmod(fd, x->cur_mode) != 0) r = fail_errno(x, x->cur_name, errno);
  struct timespec ts[2] = {{x->cur_mtime, 0}, {x->cur_mtime, 0}};
  if (!r && futimens(fd, ts) != 0) r = fail_errno(x, x->cur_name, errno);
  if (close(fd) != 0 && !r) r = fail_errno(x, x->cur_name, errno);
  if (!r) r = apply_xattrs(x, x->cur_path, x->cur_name);
  clear_xattrs(x);
  return r;
}

static int whiteout(struct ex *x, struct node *dir, const char *base, size_t bl, const char *entry) {
  struct node *old = child_of(x, dir, base, bl);
  if (old && remove_existing(x, old, entry)) return -1;
  if (!add_node(x, dir, base, bl, K_OTHER, NULL)) return fail_nomem(x);
  char *p = path_of(x, dir, base, bl);
  if (!p) return fail_nomem(x);
  int r = mknod(p, S_IFCHR, makedev(0, 0)) == 0 ? 0 : fail_errno(x, entry, errno);
  free(p);
  return r;
}

/* chown is skipped when a create as root gives the owner already. */
static int needs_chown(struct ex *x, struct node *dir, uid_t uid, gid_t gid) {
  return !(x->root_owned && uid == 0 && gid == 0 && !dir->sgid);
}

/*
 * applyEntry. Sets x->fd / x->cur_rec for a file whose content follows;
 * returns -1 with the failure set.
 */
static int apply_entry(struct ex *x, struct hdr *h) {
  const char *entry = h->name;
  char *parts = NULL;
  size_t cnt = 0;
  if (clean_name(x, h->name, strlen(h->name), entry, &parts, &cnt)) return -1;
  if (cnt == 0) {
    free(parts);
    clear_xattrs(x);
    return 0; /* the root itself */
  }
  /* The base name is the last component. */
  const char *base = parts;
  for (size_t i = 0; i + 1 < cnt; i++) base += strlen(base) + 1;
  size_t bl = strlen(base);
  int r = -1;
  char *full = NULL;
  struct node *dir = resolve_dir(x, parts, cnt - 1, entry);
  if (!dir) goto out;

  if (bl >= 4 && memcmp(base, ".wh.", 4) == 0) {
    if (strcmp(base, ".wh..wh..opq") == 0) {
      char *pp = path_of(x, dir, NULL, 0);
      if (!pp) { fail_nomem(x); goto out; }
      if (lsetxattr(pp, "trusted.overlay.opaque", "y", 1, 0) != 0) {
        x->err_kind = "opaque";
        free(x->err_entry);
        x->err_entry = strdup(entry);
        snprintf(x->err_why, sizeof x->err_why, "%s", strerror(errno));
        free(pp);
        goto out;
      }
      free(pp);
    } else if (!(bl >= 8 && memcmp(base, ".wh..wh.", 8) == 0)) {
      const char *hid = base + 4;
      size_t hl = bl - 4;
      if (hl == 0 || (hl == 1 && hid[0] == '.') || (hl == 2 && hid[0] == '.' && hid[1] == '.')) {
        fail_entry(x, entry, "invalid whiteout name");
        goto out;
      }
      if (whiteout(x, dir, hid, hl, entry)) goto out;
    }
    r = 0;
    clear_xattrs(x);
    goto out;
  }

  struct node *existing = child_of(x, dir, base, bl);
  if (!(full = path_of(x, dir, base, bl))) { fail_nomem(x); goto out; }
  mode_t mode = h->mode & 07777;
  int plain = (mode & ~(mode_t)0777) == 0 && (mode & x->umask_) == 0 && !dir->sgid;
  switch (h->type) {
  case 5: { /* directory */
    if (existing && existing->kind != K_DIR) {
      if (remove_existing(x, existing, entry)) goto out;
      existing = NULL;
    }
    int chmod_needed = 1;
    if (!existing) {
      if (mkdir(full, plain ? mode : 0700) != 0) { fail_errno(x, entry, errno); goto out; }
      if (!(existing = add_node(x, dir, base, bl, K_DIR, NULL))) { fail_nomem(x); goto out; }
      chmod_needed = !plain;
    }
    if (needs_chown(x, dir, h->uid, h->gid) && lchown(full, h->uid, h->gid) != 0) { fail_errno(x, entry, errno); goto out; }
    if (chmod_needed && chmod(full, mode) != 0) { fail_errno(x, entry, errno); goto out; }
    existing->sgid = (mode & S_ISGID) != 0;
    if (x->ndirs == x->capdirs) {
      size_t cap = x->capdirs ? x->capdirs * 2 : 256;
      struct dirtime *d = realloc(x->dirs, cap * sizeof *d);
      if (!d) { fail_nomem(x); goto out; }
      x->dirs = d;
      x->capdirs = cap;
    }
    if (!(x->dirs[x->ndirs].path = strdup(full))) { fail_nomem(x); goto out; }
    x->dirs[x->ndirs++].mtime = h->mtime;
    break;
  }
  case 0:
  case 7: { /* file */
    if (existing && remove_existing(x, existing, entry)) goto out;
    struct node *c = add_node(x, dir, base, bl, K_OTHER, NULL);
    if (!c) { fail_nomem(x); goto out; }
    x->size += (uint64_t)h->size;
    if (x->w && x->nxattrs == 0 && (uint64_t)h->size <= x->in_n) {
      /* Its content is in this batch: the create thread makes it. */
      struct create cr = {full, strdup(entry), x->in_p, (size_t)h->size, mode, h->uid, h->gid,
                          needs_chown(x, dir, h->uid, h->gid), !plain, plain, h->mtime};
      if (!cr.entry || worker_push(x->w, &cr)) { free(cr.entry); fail_nomem(x); goto out; }
      full = NULL;
      if (h->size > 0 && x->layer_dir && (x->cur_rec = add_rec(x, (uint64_t)h->size, c)) < 0) { fail_nomem(x); goto out; }
      r = 0;
      goto out;
    }
    int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, plain ? mode : 0600);
    if (fd < 0) { fail_errno(x, entry, errno); goto out; }
    x->fd = fd;
    x->cur_uid = h->uid;
    x->cur_gid = h->gid;
    x->cur_mode = mode;
    x->cur_mtime = h->mtime;
    x->cur_chown = needs_chown(x, dir, h->uid, h->gid);
    x->cur_chmod = !plain;
    free(x->cur_path);
    free(x->cur_name);
    x->cur_path = full;
    full = NULL;
    x->cur_name = strdup(entry);
    if (h->size > 0 && x->layer_dir) {
      if ((x->cur_rec = add_rec(x, (uint64_t)h->size, c)) < 0) { fail_nomem(x); goto out; }
    }
    if (h->size == 0) {
      r = finish_file(x);
      goto out;
    }
    r = 0;
    goto out; /* xattrs once the content is written */
  }
  case 2: { /* symlink */
    if (existing && remove_existing(x, existing, entry)) goto out;
    const char *t = h->linkname ? h->linkname : "";
    if (!add_node(x, dir, base, bl, K_LINK, t)) { fail_nomem(x); goto out; }
    if (symlink(t, full) != 0) { fail_errno(x, entry, errno); goto out; }
    if (needs_chown(x, dir, h->uid, h->gid) && lchown(full, h->uid, h->gid) != 0) { fail_errno(x, entry, errno); goto out; }
    struct timespec ts[2] = {{h->mtime, 0}, {h->mtime, 0}};
    if (utimensat(AT_FDCWD, full, ts, AT_SYMLINK_NOFOLLOW) != 0) { fail_errno(x, entry, errno); goto out; }
    break;
  }
  case 1: { /* hard link */
    const char *ln = h->linkname ? h->linkname : "";
    char *lparts = NULL;
    size_t lcnt = 0;
    if (clean_name(x, ln, strlen(ln), entry, &lparts, &lcnt)) goto out;
    if (lcnt == 0) {
      free(lparts);
      fail_entry(x, entry, "hardlink to the layer root");
      goto out;
    }
    const char *lbase = lparts;
    for (size_t i = 0; i + 1 < lcnt; i++) lbase += strlen(lbase) + 1;
    struct node *ldir = resolve_dir(x, lparts, lcnt - 1, entry);
    struct node *tn = ldir ? child_of(x, ldir, lbase, strlen(lbase)) : NULL;
    char *tp = ldir ? path_of(x, ldir, lbase, strlen(lbase)) : NULL;
    free(lparts);
    if (!ldir) { free(tp); goto out; }
    if (!tp) { fail_nomem(x); goto out; }
    if (!tn) {
      free(tp);
      fail_detail(x, "linktarget", entry, ln);
      goto out;
    }
    if (tn->kind == K_DIR) {
      free(tp);
      fail_entry(x, entry, "hardlink to a directory");
      goto out;
    }
    if (tn == existing) {
      free(tp);
      break;
    }
    enum kind tk = tn->kind;
    char *tt = tn->target ? strdup(tn->target) : NULL;
    if (existing && remove_existing(x, existing, entry)) { free(tp); free(tt); goto out; }
    struct node *c = add_node(x, dir, base, bl, tk, tt);
    free(tt);
    if (!c) { free(tp); fail_nomem(x); goto out; }
    if (worker_flush(x)) { free(tp); goto out; }
    if (link(tp, full) != 0) { free(tp); fail_errno(x, entry, errno); goto out; }
    free(tp);
    break;
  }
  case 3:
  case 4:
  case 6: { /* devices, fifo */
    if (h->type == 3 && h->major == 0 && h->minor == 0) {
      if (whiteout(x, dir, base, bl, entry)) goto out;
      r = 0;
      clear_xattrs(x);
      goto out;
    }
    if (existing && remove_existing(x, existing, entry)) goto out;
    if (!add_node(x, dir, base, bl, K_OTHER, NULL)) { fail_nomem(x); goto out; }
    mode_t t = h->type == 6 ? S_IFIFO : h->type == 3 ? S_IFCHR : S_IFBLK;
    if (mknod(full, t, h->type == 6 ? 0 : makedev(h->major, h->minor)) != 0) { fail_errno(x, entry, errno); goto out; }
    if (lchown(full, h->uid, h->gid) != 0 || chmod(full, mode) != 0) { fail_errno(x, entry, errno); goto out; }
    struct timespec ts[2] = {{h->mtime, 0}, {h->mtime, 0}};
    if (utimensat(AT_FDCWD, full, ts, 0) != 0) { fail_errno(x, entry, errno); goto out; }
    break;
  }
  default:
    fail_entry(x, entry, "unsupported type (unknown type flag)");
    goto out;
  }
  r = apply_xattrs(x, full, entry);
  clear_xattrs(x);
out:
  free(parts);
  free(full);
  return r;
}

/* ---- the byte stream -------------------------------------------------------- */

static int is_zero_block(const unsigned char *b) {
  unsigned sum = 8 * 32;
  for (int i = 0; i < 148; i++) sum += b[i];
  for (int i = 156; i < 512; i++) sum += b[i];
  return sum == 8 * 32;
}

static void clear_long(struct ex *x) {
  free(x->gnu_path);
  free(x->gnu_link);
  free(x->pax_path);
  free(x->pax_link);
  free(x->pax_size);
  x->gnu_path = x->gnu_link = x->pax_path = x->pax_link = x->pax_size = NULL;
  x->pax_has_path = x->pax_has_link = x->pax_has_size = 0;
  x->pax_set = 0;
}

static int skip_after(struct ex *x, uint64_t size) {
  uint64_t pad = (512 - (size & 511)) & 511;
  x->need = pad;
  x->st = pad ? S_PAD : S_HEADER;
  return 0;
}

/* A whole 512-byte header is in x->hdr. */
static int on_long_done(struct ex *x);

static int on_header(struct ex *x) {
  unsigned char *b = x->hdr;
  x->hdr_have = 0;
  if (is_zero_block(b)) return 0;
  unsigned sum = 8 * 32;
  for (int i = 0; i < 148; i++) sum += b[i];
  for (int i = 156; i < 512; i++) sum += b[i];
  if ((int64_t)sum != decode_num(b + 148, 8, NULL))
    return fail_archive(x, "Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?");
  int typeflag = b[156] == 0 ? 0 : b[156] - '0';
  int ustar = memcmp(b + 257, "ustar\0", 6) == 0;
  int gnu = memcmp(b + 257, "ustar ", 6) == 0;
  if (!ustar && !gnu) return fail_archive(x, "Invalid tar header: unknown format.");
  int badsize = 0;
  int64_t size = decode_num(b + 124, 12, &badsize);
  if (typeflag == 28 || typeflag == 30 || typeflag == 27 || typeflag == 72 || typeflag == 55) {
    if (badsize || size < 0) return fail_archive(x, "Invalid header");
    if (size > MAX_LONG_HEADER) return fail_archive(x, "Header exceeds max size");
    x->long_type = typeflag;
    x->longbuf.len = 0;
    x->need = (uint64_t)size;
    x->pad_after = (uint64_t)size;
    x->st = S_LONG;
    return size == 0 ? on_long_done(x) : 0;
  }
  struct hdr h = {0};
  char *name = field_str(b, 100);
  if (!name) return fail_nomem(x);
  if (ustar && b[345]) {
    char *pre = field_str(b + 345, 155);
    char *j = pre ? malloc(strlen(pre) + strlen(name) + 2) : NULL;
    if (!j) {
      free(pre);
      free(name);
      return fail_nomem(x);
    }
    sprintf(j, "%s/%s", pre, name);
    free(pre);
    free(name);
    name = j;
  }
  if (typeflag == 0 && name[0] && name[strlen(name) - 1] == '/') typeflag = 5;
  h.type = (typeflag >= 0 && typeflag <= 7) ? typeflag : -1;
  h.linkname = b[157] ? field_str(b + 157, 100) : NULL;
  h.mode = (mode_t)decode_num(b + 100, 8, NULL);
  h.uid = (uid_t)decode_num(b + 108, 8, NULL);
  h.gid = (gid_t)decode_num(b + 116, 8, NULL);
  h.mtime = decode_num(b + 136, 12, NULL);
  h.major = (unsigned)decode_num(b + 329, 8, NULL);
  h.minor = (unsigned)decode_num(b + 337, 8, NULL);
  /* _applyLongHeaders: GNU names, then PAX (globals merged only into a local header). */
  if (x->gnu_path) { free(name); name = x->gnu_path; x->gnu_path = NULL; }
  if (x->gnu_link) { free(h.linkname); h.linkname = x->gnu_link; x->gnu_link = NULL; }
  if (x->pax_set) {
    const char *pp = x->pax_has_path ? x->pax_path : x->g_has_path ? x->g_path : NULL;
    const char *pl = x->pax_has_link ? x->pax_link : x->g_has_link ? x->g_link : NULL;
    const char *ps = x->pax_has_size ? x->pax_size : x->g_has_size ? x->g_size : NULL;
    if (pp && *pp) { free(name); name = strdup(pp); }
    if (pl && *pl) { free(h.linkname); h.linkname = strdup(pl); }
    if (ps && *ps) {
      const char *s = ps;
      while (*s == ' ' || *s == '\t' || *s == '\n') s++;
      if (*s == '+') s++;
      int64_t v = 0, d = 0;
      for (; *s >= '0' && *s <= '9'; s++, d++) v = v * 10 + (*s - '0');
      size = d ? v : -1;
      badsize = 0;
    }
  }
  clear_long(x);
  h.name = name;
  if (!name) return fail_nomem(x);
  if (badsize || size < 0) {
    free(h.name);
    free(h.linkname);
    return fail_archive(x, "Invalid header");
  }
  h.size = size;
  x->fd = -1;
  x->cur_rec = -1;
  int r = apply_entry(x, &h);
  free(h.name);
  free(h.linkname);
  if (r) return -1;
  /* A directory's content is not read (tar-stream parses it as headers). */
  if (h.size == 0 || h.type == 5) {
    x->st = S_HEADER;
    return 0;
  }
  x->need = (uint64_t)h.size;
  x->pad_after = (uint64_t)h.size;
  x->st = S_CONTENT;
  return 0;
}

static int on_long_done(struct ex *x) {
  char *s = x->longbuf.p ? x->longbuf.p : "";
  size_t n = x->longbuf.len;
  if (x->long_type == 28 || x->long_type == 30 || x->long_type == 27) {
    size_t k = strnlen(s, n);
    char *v = malloc(k + 1);
    if (!v) return fail_nomem(x);
    memcpy(v, s, k);
    v[k] = 0;
    char **slot = x->long_type == 27 ? &x->gnu_link : &x->gnu_path;
    free(*slot);
    *slot = v;
  } else if (x->long_type == 55) {
    free(x->g_path); free(x->g_link); free(x->g_size);
    x->g_path = x->g_link = x->g_size = NULL;
    x->g_has_path = x->g_has_link = x->g_has_size = 0;
    if (parse_pax(x, s, n, 1)) return -1;
  } else {
    free(x->pax_path); free(x->pax_link); free(x->pax_size);
    x->pax_path = x->pax_link = x->pax_size = NULL;
    x->pax_has_path = x->pax_has_link = x->pax_has_size = 0;
    clear_xattrs(x);
    x->pax_set = 1;
    if (parse_pax(x, s, n, 0)) return -1;
  }
  return skip_after(x, x->pad_after);
}

/* Feeds n bytes at p through the state machine. */
static int feed(struct ex *x, const unsigned char *p, size_t n) {
  while (n > 0) {
    size_t k;
    switch (x->st) {
    case S_HEADER:
      k = 512 - x->hdr_have;
      if (k > n) k = n;
      memcpy(x->hdr + x->hdr_have, p, k);
      if (x->layer_dir && bytes_add(&x->raw, p, k)) return fail_nomem(x);
      x->hdr_have += k;
      p += k, n -= k;
      x->in_p = p;
      x->in_n = n;
      if (x->hdr_have == 512 && on_header(x)) return -1;
      break;
    case S_LONG:
      k = x->need < n ? (size_t)x->need : n;
      if (bytes_add(&x->longbuf, p, k)) return fail_nomem(x);
      if (x->layer_dir && bytes_add(&x->raw, p, k)) return fail_nomem(x);
      x->need -= k;
      p += k, n -= k;
      if (x->need == 0 && on_long_done(x)) return -1;
      break;
    case S_CONTENT:
      k = x->need < n ? (size_t)x->need : n;
      if (x->fd >= 0) {
        size_t off = 0;
        while (off < k) {
          ssize_t w = write(x->fd, p + off, k - off);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) return fail_errno(x, x->cur_name, w < 0 ? errno : EIO);
          off += (size_t)w;
        }
      }
      if (x->cur_rec < 0 && x->layer_dir && bytes_add(&x->raw, p, k)) return fail_nomem(x);
      x->need -= k;
      p += k, n -= k;
      if (x->need == 0) {
        if (x->fd >= 0 && finish_file(x)) return -1;
        clear_xattrs(x);
        x->cur_rec = -1;
        skip_after(x, x->pad_after);
      }
      break;
    case S_PAD:
      k = x->need < n ? (size_t)x->need : n;
      if (x->layer_dir && bytes_add(&x->raw, p, k)) return fail_nomem(x);
      x->need -= k;
      p += k, n -= k;
      if (x->need == 0) x->st = S_HEADER;
      break;
    }
  }
  return 0;
}

/* The end of the input: the archive must be whole; then directory times. */
static int finish(struct ex *x) {
  if (worker_flush(x)) return -1;
  if (!(x->st == S_HEADER && x->hdr_have == 0)) return fail_archive(x, "Unexpected end of data");
  for (size_t i = x->ndirs; i-- > 0;) {
    /* Only a path that is still a directory of the tree (parents all dirs). */
    const char *rel = x->dirs[i].path + x->rootlen;
    struct node *cur = x->top;
    while (cur && *rel) {
      while (*rel == '/') rel++;
      const char *e = strchr(rel, '/');
      size_t l = e ? (size_t)(e - rel) : strlen(rel);
      if (!l) break;
      cur = child_of(x, cur, rel, l);
      if (cur && cur->kind != K_DIR) cur = NULL;
      rel += l;
    }
    if (!cur) continue;
    struct timespec ts[2] = {{x->dirs[i].mtime, 0}, {x->dirs[i].mtime, 0}};
    utimensat(AT_FDCWD, x->dirs[i].path, ts, 0); /* best effort, as tar-apply */
  }
  return 0;
}

/* ---- N-API -------------------------------------------------------------------- */

static mode_t read_umask(void) {
  mode_t m = 0777;
  FILE *f = fopen("/proc/self/status", "re");
  if (!f) return m;
  char line[256];
  unsigned int v;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Umask: %o", &v) == 1) {
      m = (mode_t)(v & 0777);
      break;
    }
  fclose(f);
  return m;
}

static void ex_free(struct ex *x) {
  if (x->w) worker_stop(x->w);
  if (x->fd >= 0) close(x->fd);
  if (x->top) {
    for (struct node *k = x->top->child, *nx; k; k = nx) {
      nx = k->next;
      free_subtree(k);
    }
    free(x->top);
  }
  free(x->buckets);
  free(x->root);
  free(x->layer_dir);
  free(x->longbuf.p);
  clear_long(x);
  free(x->g_path); free(x->g_link); free(x->g_size);
  clear_xattrs(x);
  free(x->cur_path);
  free(x->cur_name);
  free(x->raw.p);
  free(x->recs);
  for (size_t i = 0; i < x->ndirs; i++) free(x->dirs[i].path);
  free(x->dirs);
  free(x->warnings.p);
  free(x->err_entry);
  free(x->err_xattr);
  free(x);
}

static void ex_finalize(napi_env env, void *data, void *hint) {
  struct ex *x = data;
  if (x->busy) x->closed = 1; /* the running job frees it */
  else ex_free(x);
}

static struct ex *get_ex(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

static char *get_string(napi_env env, napi_value v) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n > 4000) return NULL;
  char *s = malloc(n + 1);
  if (!s || napi_get_value_string_utf8(env, v, s, n + 1, &n) != napi_ok || strlen(s) != n) {
    free(s);
    return NULL;
  }
  return s;
}

static napi_value js_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool thread = false;
  if (argc >= 3) napi_get_value_bool(env, argv[2], &thread);
  char *root = argc >= 2 ? get_string(env, argv[0]) : NULL;
  char *ld = argc >= 2 ? get_string(env, argv[1]) : NULL;
  struct ex *x = calloc(1, sizeof *x);
  struct stat st;
  if (!root || !ld || !x || root[0] != '/' || lstat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
    free(root);
    free(ld);
    free(x);
    napi_throw_type_error(env, NULL, "expected (real path of an existing root dir, layer dir or '')");
    return NULL;
  }
  x->root = root;
  x->rootlen = strlen(root);
  while (x->rootlen > 1 && root[x->rootlen - 1] == '/') root[--x->rootlen] = 0;
  if (ld[0]) x->layer_dir = ld;
  else free(ld);
  x->fd = -1;
  x->cur_rec = -1;
  x->umask_ = read_umask();
  x->root_owned = geteuid() == 0 && getegid() == 0;
  x->nbuckets = 4096;
  x->buckets = calloc(x->nbuckets, sizeof *x->buckets);
  x->top = calloc(1, sizeof *x->top);
  if (!x->buckets || !x->top) {
    ex_free(x);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (thread && !(x->w = worker_start())) {
    ex_free(x);
    napi_throw_error(env, NULL, "cannot start the create thread");
    return NULL;
  }
  x->top->kind = K_DIR;
  x->top->sgid = (st.st_mode & S_ISGID) != 0 || st.st_gid != 0;
  x->top->rec = -1;
  if (x->layer_dir && bytes_add(&x->raw, "", 0)) {
    ex_free(x);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_value out;
  if (napi_create_external(env, x, ex_finalize, NULL, &out) != napi_ok) {
    ex_free(x);
    return NULL;
  }
  return out;
}

struct run_work {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref chunks_ref;
  struct ex *x;
  const unsigned char **ptrs;
  size_t *lens;
  uint32_t n;
  int last, failed, closed_after;
  struct bytes split;
};

static void run_execute(napi_env env, void *data) {
  struct run_work *w = data;
  struct ex *x = w->x;
  for (uint32_t i = 0; i < w->n && !w->failed; i++)
    if (feed(x, w->ptrs[i], w->lens[i])) w->failed = 1;
  /* The batch's buffers go when the job ends: every create from them is made first. */
  if (worker_flush(x) && !w->failed) w->failed = 1;
  if (!w->failed && w->last) {
    if (finish(x)) w->failed = 1;
    else if (x->layer_dir && make_split(x, &w->split)) {
      fail_nomem(x);
      w->failed = 1;
    }
  }
}

static void set_str(napi_env env, napi_value o, const char *k, const char *v) {
  napi_value s;
  napi_create_string_utf8(env, v ? v : "", NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, k, s);
}

static void free_split(napi_env env, void *data, void *hint) { free(data); }

static void run_complete(napi_env env, napi_status status, void *data) {
  struct run_work *w = data;
  struct ex *x = w->x;
  napi_delete_reference(env, w->chunks_ref);
  x->busy = 0;
  if (status != napi_ok || w->failed) {
    napi_value m, e;
    const char *kind = w->failed ? x->err_kind : "archive";
    if (!w->failed) snprintf(x->err_why, sizeof x->err_why, "extraction cancelled");
    char msg[700];
    if (kind && strcmp(kind, "errno") == 0) {
      const char *code = strerrorname_np(x->err_errno);
      snprintf(msg, sizeof msg, "extract %s: %s", x->err_entry ? x->err_entry : "", strerror(x->err_errno));
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
      napi_create_error(env, NULL, m, &e);
      set_str(env, e, "code", code ? code : "EIO");
    } else {
      snprintf(msg, sizeof msg, "%s", x->err_why);
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
      napi_create_error(env, NULL, m, &e);
    }
    set_str(env, e, "kind", kind ? kind : "archive");
    set_str(env, e, "entry", x->err_entry);
    set_str(env, e, "why", x->err_why);
    if (x->err_xattr) set_str(env, e, "detail", x->err_xattr);
    napi_reject_deferred(env, w->deferred, e);
  } else {
    napi_value o, arr;
    napi_create_object(env, &o);
    napi_create_array_with_length(env, x->nwarnings, &arr);
    const char *p = x->warnings.p;
    for (size_t i = 0; i < x->nwarnings; i++) {
      napi_value t;
      napi_create_array_with_length(env, 3, &t);
      for (uint32_t k = 0; k < 3; k++) {
        napi_value s;
        napi_create_string_utf8(env, p, NAPI_AUTO_LENGTH, &s);
        napi_set_element(env, t, k, s);
        p += strlen(p) + 1;
      }
      napi_set_element(env, arr, (uint32_t)i, t);
    }
    x->warnings.len = 0;
    x->nwarnings = 0;
    napi_set_named_property(env, o, "warnings", arr);
    if (w->last) {
      napi_value sz;
      napi_create_double(env, (double)x->size, &sz);
      napi_set_named_property(env, o, "size", sz);
      if (w->split.p) {
        napi_value b;
        if (napi_create_external_buffer(env, w->split.len, w->split.p, free_split, NULL, &b) == napi_ok) {
          w->split.p = NULL;
          napi_set_named_property(env, o, "split", b);
        }
      }
    }
    napi_resolve_deferred(env, w->deferred, o);
  }
  free(w->split.p);
  napi_delete_async_work(env, w->work);
  if (x->closed) ex_free(x);
  free(w->ptrs);
  free(w->lens);
  free(w);
}

static napi_value js_run(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct ex *x = argc >= 3 ? get_ex(env, argv[0]) : NULL;
  bool isarr = false, last = false;
  uint32_t n = 0;
  if (!x || x->closed || napi_is_array(env, argv[1], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[1], &n) != napi_ok ||
      napi_get_value_bool(env, argv[2], &last) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (handle, Buffer[], last)");
    return NULL;
  }
  if (x->busy) {
    napi_throw_error(env, NULL, "one extraction job at a time");
    return NULL;
  }
  struct run_work *w = calloc(1, sizeof *w);
  if (w) {
    w->ptrs = calloc(n ? n : 1, sizeof *w->ptrs);
    w->lens = calloc(n ? n : 1, sizeof *w->lens);
  }
  if (!w || !w->ptrs || !w->lens) {
    if (w) { free(w->ptrs); free(w->lens); }
    free(w);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value b;
    bool isbuf = false;
    void *data = NULL;
    if (napi_get_element(env, argv[1], i, &b) != napi_ok || napi_is_buffer(env, b, &isbuf) != napi_ok || !isbuf ||
        napi_get_buffer_info(env, b, &data, &w->lens[i]) != napi_ok) {
      free(w->ptrs);
      free(w->lens);
      free(w);
      napi_throw_type_error(env, NULL, "expected Buffers");
      return NULL;
    }
    w->ptrs[i] = data;
  }
  w->n = n;
  w->x = x;
  w->last = last;
  napi_create_reference(env, argv[1], 1, &w->chunks_ref);
  napi_value name, promise;
  napi_create_string_utf8(env, "berth:tarExtract", NAPI_AUTO_LENGTH, &name);
  napi_create_promise(env, &w->deferred, &promise);
  x->busy = 1;
  if (napi_create_async_work(env, NULL, name, run_execute, run_complete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    x->busy = 0;
    napi_delete_reference(env, w->chunks_ref);
    napi_value m, e;
    napi_create_string_utf8(env, "cannot queue the extraction", NAPI_AUTO_LENGTH, &m);
    napi_create_error(env, NULL, m, &e);
    napi_reject_deferred(env, w->deferred, e);
    free(w->ptrs);
    free(w->lens);
    free(w);
  }
  return promise;
}

/* Closes an open file and ends the create thread now (the handle's memory goes with its JS object). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct ex *x = argc >= 1 ? get_ex(env, argv[0]) : NULL;
  if (x && !x->busy && x->fd >= 0) {
    close(x->fd);
    x->fd = -1;
  }
  if (x && !x->busy && x->w) {
    worker_stop(x->w);
    x->w = NULL;
  }
  return NULL;
}

void tar_extract_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"tarExtractNew", NULL, js_new, NULL, NULL, NULL, napi_default, NULL},
    {"tarExtractRunAsync", NULL, js_run, NULL, NULL, NULL, napi_default, NULL},
    {"tarExtractClose", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
