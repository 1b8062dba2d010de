/*
 * rtnetlink requests for berthd's bridge endpoints without an `ip` process:
 * the caller (src/host/network/rtnetlink.ts) encodes the messages; this file
 * only sends them on a NETLINK_ROUTE socket in the right network namespace
 * and collects the kernel's answer to each. The work runs on libuv's thread
 * pool (napi async work), so starts of many containers do not queue on the
 * JS thread; a namespace is entered on a short-lived thread of its own, so
 * no pool thread is ever left in a container's namespace.
 *
 * socketsIn: sockets bound inside a namespace (the embedded DNS listens on
 * 127.0.0.11:53 in each container's own, as Docker's resolver does), made on
 * such a thread too; a socket stays in the namespace it was made in, and its
 * fd is handed to Node (dgram and net adopt it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <node_api.h>
#include "napi-job.h"

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#define NS_PATH_MAX 512
#define MAX_MSGS 256
#define MAX_MSG_BYTES 4096

struct patch {
  uint32_t msg, off;
  char name[IF_NAMESIZE];
};

struct nl_work {
  napi_async_work work;
  napi_deferred deferred;
  char ns[NS_PATH_MAX]; /* "" = berthd's own namespace */
  bool create;          /* make a new namespace bound at `ns` first */
  bool keep_going;      /* send every message even after a failure */
  uint32_t nmsgs, npatches, ndone;
  uint8_t *msgs[MAX_MSGS];
  uint32_t lens[MAX_MSGS];
  struct patch *patches;
  int results[MAX_MSGS];
  int fatal;            /* errno of a failure before any message, with `what` */
  const char *what;
};

/* Sends each message and waits for its ACK; results[i] is 0 or the errno. */
static void run_msgs(struct nl_work *w) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    w->fatal = errno;
    w->what = "netlink socket";
    return;
  }
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    w->fatal = errno;
    w->what = "netlink bind";
    close(fd);
    return;
  }
  static __thread uint8_t buf[16384];
  for (uint32_t i = 0; i < w->nmsgs; i++) {
    struct nlmsghdr *h = (struct nlmsghdr *)w->msgs[i];
    int err = 0;
    for (uint32_t p = 0; p < w->npatches && !err; p++) {
      if (w->patches[p].msg != i) continue;
      unsigned idx = if_nametoindex(w->patches[p].name);
      if (idx == 0) err = ENODEV;
      else memcpy(w->msgs[i] + w->patches[p].off, &idx, 4);
    }
    if (!err) {
      h->nlmsg_seq = i + 1;
      h->nlmsg_pid = 0;
      h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
      if (send(fd, h, w->lens[i], 0) < 0) err = errno;
    }
    for (bool acked = err != 0; !acked;) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
        break;
      }
      for (struct nlmsghdr *r = (struct nlmsghdr *)buf; NLMSG_OK(r, (size_t)n); r = NLMSG_NEXT(r, n)) {
        if (r->nlmsg_seq != i + 1 || r->nlmsg_type != NLMSG_ERROR) continue;
        err = -((struct nlmsgerr *)NLMSG_DATA(r))->error;
        acked = true;
        break;
      }
    }
    w->results[i] = err;
    w->ndone = i + 1;
    if (err && !w->keep_going) break;
  }
  close(fd);
}

/* /run/netns as a shared mount, as `ip netns add` makes it: later mounts propagate. */
static void share_dir(const char *dir) {
  static bool done;
  if (done) return;
  mkdir(dir, 0755);
  if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0 && errno == EINVAL) {
    if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) == 0) mount("", dir, "none", MS_SHARED | MS_REC, NULL);
  }
  done = true;
}

/* The calling thread joins the namespace at `path`; 0, or the errno with `what` set. */
static int enter_netns(const char *path, const char **what) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *what = "open namespace";
    return errno;
  }
  int r = setns(fd, CLONE_NEWNET);
  int e = errno;
  close(fd);
  if (r != 0) {
    *what = "setns";
    return e;
  }
  return 0;
}

/* fn(arg) on a thread of its own, joined: it may die in a container's namespace, the pool's threads never enter one. 0, or pthread_create's error. */
static int on_own_thread(void *(*fn)(void *), void *arg) {
  pthread_t t;
  int e = pthread_create(&t, NULL, fn, arg);
  if (e) return e;
  pthread_join(t, NULL);
  return 0;
}

static void *in_netns(void *arg) {
  struct nl_work *w = arg;
  if (w->create) {
    char dir[NS_PATH_MAX];
    strcpy(dir, w->ns);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
      *slash = 0;
      share_dir(dir);
    }
    int fd = open(w->ns, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0) {
      w->fatal = errno;
      w->what = "create namespace file";
      return NULL;
    }
    close(fd);
    char self[64];
    snprintf(self, sizeof self, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
    if (unshare(CLONE_NEWNET) != 0 || mount(self, w->ns, "none", MS_BIND, NULL) != 0) {
      w->fatal = errno;
      w->what = "new network namespace";
      unlink(w->ns);
      return NULL;
    }
  } else if ((w->fatal = enter_netns(w->ns, &w->what)) != 0) {
    return NULL;
  }
  run_msgs(w);
  return NULL;
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct nl_work *w = data;
  if (!w->ns[0]) {
    run_msgs(w);
    return;
  }
  int e = on_own_thread(in_netns, w);
  if (e) {
    w->fatal = e;
    w->what = "pthread_create";
  }
}

static void free_work(struct nl_work *w) {
  if (!w) return;
  for (uint32_t i = 0; i < w->nmsgs; i++) free(w->msgs[i]);
  free(w->patches);
  free(w);
}

/* Settles a job's promise: rejected with "what ns: error" after a failure, else resolved with the n ints. */
static void settle_ints(napi_env env, napi_deferred d, int fatal, napi_status status, const char *what, const char *ns,
                        const int *vals, uint32_t n) {
  if (fatal || status != napi_ok) {
    int e = fatal ? fatal : EIO;
    char msg[NS_PATH_MAX + 128];
    snprintf(msg, sizeof msg, "%s%s%s: %s", what, ns[0] ? " " : "", ns, strerror(e));
    napi_reject_deferred(env, d, job_errno_error(env, e, msg));
    return;
  }
  napi_value arr;
  napi_create_array_with_length(env, n, &arr);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_create_int32(env, vals[i], &v);
    napi_set_element(env, arr, i, v);
  }
  napi_resolve_deferred(env, d, arr);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct nl_work *w = data;
  settle_ints(env, w->deferred, w->fatal, status, w->what ? w->what : "netlink", w->ns, w->results, w->ndone);
  napi_delete_async_work(env, w->work);
  free_work(w);
}

static napi_value fail(napi_env env, struct nl_work *w, const char *msg) {
  free_work(w);
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/*
 * nlExec(ns: string, create: boolean, msgs: Buffer[], patches: [msg, offset, ifname][], keepGoing: boolean)
 *   → Promise<number[]>: the errno of each message sent (0: done). Each patch
 * writes the index of the named interface (looked up in the namespace) as a
 * u32 at `offset` of message `msg` before it is sent.
 */
static napi_value js_nl_exec(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], promise;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return NULL;
  }
  struct nl_work *w = calloc(1, sizeof *w);
  if (!w) return fail(env, w, "out of memory");
  size_t n = 0;
  if (napi_get_value_string_utf8(env, argv[0], w->ns, sizeof w->ns, &n) != napi_ok || n >= sizeof w->ns - 1) return fail(env, w, "bad namespace path");
  napi_get_value_bool(env, argv[1], &w->create);
  napi_get_value_bool(env, argv[4], &w->keep_going);
  if (w->create && !w->ns[0]) return fail(env, w, "create needs a namespace path");
  uint32_t count = 0;
  if (napi_get_array_length(env, argv[2], &count) != napi_ok || count > MAX_MSGS) return fail(env, w, "bad message list");
  for (uint32_t i = 0; i < count; i++) {
    napi_value b = NULL;
    void *data;
    size_t len;
    bool isbuf = false;
    napi_get_element(env, argv[2], i, &b);
    napi_is_buffer(env, b, &isbuf);
    if (!isbuf || napi_get_buffer_info(env, b, &data, &len) != napi_ok || len < sizeof(struct nlmsghdr) || len > MAX_MSG_BYTES) return fail(env, w, "bad message");
    w->msgs[i] = malloc(len);
    if (!w->msgs[i]) return fail(env, w, "out of memory");
    memcpy(w->msgs[i], data, len);
    w->lens[i] = (uint32_t)len;
    w->nmsgs = i + 1;
    ((struct nlmsghdr *)w->msgs[i])->nlmsg_len = (uint32_t)len;
  }
  uint32_t np = 0;
  if (napi_get_array_length(env, argv[3], &np) != napi_ok || np > 4 * MAX_MSGS) return fail(env, w, "bad patch list");
  w->patches = calloc(np ? np : 1, sizeof *w->patches);
  if (!w->patches) return fail(env, w, "out of memory");
  for (uint32_t i = 0; i < np; i++) {
    napi_value p = NULL, v = NULL; /* NULL when an element cannot be read: refused below, never a stale value */
    uint32_t msg, off;
    size_t nl = 0;
    napi_get_element(env, argv[3], i, &p);
    napi_get_element(env, p, 0, &v);
    if (napi_get_value_uint32(env, v, &msg) != napi_ok || msg >= w->nmsgs) return fail(env, w, "bad patch");
    napi_get_element(env, p, 1, &v);
    if (napi_get_value_uint32(env, v, &off) != napi_ok || off + 4 > w->lens[msg]) return fail(env, w, "bad patch");
    char ifn[IF_NAMESIZE + 2];
    napi_get_element(env, p, 2, &v);
    if (napi_get_value_string_utf8(env, v, ifn, sizeof ifn, &nl) != napi_ok || nl == 0 || nl >= IF_NAMESIZE) return fail(env, w, "bad interface name");
    memcpy(w->patches[i].name, ifn, nl + 1);
    w->patches[i].msg = msg;
    w->patches[i].off = off;
    w->npatches = i + 1;
  }
  if (job_queue(env, "berth:netlink", execute, complete, w, &w->deferred, &w->work, &promise, "cannot queue netlink work") != 0) free_work(w);
  return promise;
}

/* ---- socketsIn ---- */

#define MAX_SOCKS 8

struct sock_work {
  napi_async_work work;
  napi_deferred deferred;
  char ns[NS_PATH_MAX];
  uint32_t n;
  struct { bool tcp; struct in_addr addr; uint16_t port; } s[MAX_SOCKS];
  int fds[MAX_SOCKS];
  int fatal;
  const char *what;
};

static void *socks_in_netns(void *arg) {
  struct sock_work *w = arg;
  if ((w->fatal = enter_netns(w->ns, &w->what)) != 0) return NULL;
  for (uint32_t i = 0; i < w->n; i++) {
    int fd = socket(AF_INET, (w->s[i].tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      w->fatal = errno;
      w->what = "socket";
      return NULL;
    }
    w->fds[i] = fd;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* bound even while lo is not up yet: 127.0.0.11 is local once it is */
    setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(w->s[i].port), .sin_addr = w->s[i].addr};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      w->fatal = errno;
      w->what = "bind";
      return NULL;
    }
    if (w->s[i].tcp && listen(fd, 128) != 0) {
      w->fatal = errno;
      w->what = "listen";
      return NULL;
    }
  }
  return NULL;
}

static void socks_execute(napi_env env, void *data) {
  (void)env;
  struct sock_work *w = data;
  int e = on_own_thread(socks_in_netns, w);
  if (e) {
    w->fatal = e;
    w->what = "pthread_create";
  }
  if (w->fatal) {
    for (uint32_t i = 0; i < w->n; i++) if (w->fds[i] >= 0) close(w->fds[i]);
  }
}

static void socks_complete(napi_env env, napi_status status, void *data) {
  struct sock_work *w = data;
  settle_ints(env, w->deferred, w->fatal, status, w->what ? w->what : "socket", w->ns, w->fds, w->n);
  napi_delete_async_work(env, w->work);
  free(w);
}

/*
 * socketsIn(ns: string, specs: ['udp' | 'tcp', ipv4: string, port: number][])
 *   → Promise<number[]>: a non-blocking, close-on-exec fd per spec, bound in
 * the namespace (and listening, for tcp). On any failure none is left open.
 */
static napi_value js_sockets_in(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sock_work *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_type_error(env, NULL, "out of memory");
    return NULL;
  }
  size_t n = 0;
  uint32_t count = 0;
  const char *bad = NULL;
  if (argc < 2) bad = "missing arguments";
  else if (napi_get_value_string_utf8(env, argv[0], w->ns, sizeof w->ns, &n) != napi_ok || n == 0 || n >= sizeof w->ns - 1) bad = "bad namespace path";
  else if (napi_get_array_length(env, argv[1], &count) != napi_ok || count == 0 || count > MAX_SOCKS) bad = "bad socket list";
  for (uint32_t i = 0; !bad && i < count; i++) {
    napi_value spec, v;
    char proto[8] = "", addr[INET_ADDRSTRLEN + 1] = "";
    size_t len = 0;
    uint32_t port = 0;
    /* each value read only when its element was: a spec that is not an array is refused, never read */
    if (napi_get_element(env, argv[1], i, &spec) != napi_ok || napi_get_element(env, spec, 0, &v) != napi_ok ||
        napi_get_value_string_utf8(env, v, proto, sizeof proto, &len) != napi_ok || (strcmp(proto, "udp") && strcmp(proto, "tcp"))) bad = "bad protocol";
    else if (napi_get_element(env, spec, 1, &v) != napi_ok || napi_get_value_string_utf8(env, v, addr, sizeof addr, &len) != napi_ok ||
             inet_pton(AF_INET, addr, &w->s[i].addr) != 1) bad = "bad address";
    else if (napi_get_element(env, spec, 2, &v) != napi_ok || napi_get_value_uint32(env, v, &port) != napi_ok || port > 65535) bad = "bad port";
    w->s[i].tcp = !strcmp(proto, "tcp");
    w->s[i].port = (uint16_t)port;
    w->fds[i] = -1;
    w->n = i + 1;
  }
  if (bad) {
    free(w);
    napi_throw_type_error(env, NULL, bad);
    return NULL;
  }
  if (job_queue(env, "berth:socketsIn", socks_execute, socks_complete, w, &w->deferred, &w->work, &promise, "cannot queue socket work") != 0) free(w);
  return promise;
}

void netlink_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"nlExec", NULL, js_nl_exec, NULL, NULL, NULL, napi_default, NULL},
    {"socketsIn", NULL, js_sockets_in, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
