/*
 * spawnDetached(file, argv, env, cwd, stdio) -> Promise<[pid, fd0, fd1, ...]>
 *
 * Starts a program with posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), no
 * copy of the daemon's address space) on a libuv pool thread, so berthd's JS
 * thread never waits for the child to exec. The child gets its own session
 * (setsid), every signal at its default action, an empty signal mask, `cwd`
 * as its working directory and `env` as its whole environment.
 *
 * stdio[i] says what the child's fd i is: 0 = /dev/null, 1 = a pipe the
 * parent reads, 2 = a pipe the parent writes. The parent's ends are returned
 * (in fd order; -1 for /dev/null slots), each O_CLOEXEC, so no other child
 * inherits them. The child is not reaped here: the caller calls reap(pid)
 * (waitpid WNOHANG) once it knows the child has exited.
 *
 * reap(pid) -> exit status (>= 0), -1 while it runs, or throws (ECHILD...).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <node_api.h>
#include "napi-job.h"

#define MAX_STDIO 8
#define MAX_ARGS 512
#define MAX_STR 65536
#define HIGH_FD 16 /* child ends are moved at or above this, clear of 0..MAX_STDIO */

struct spawn_work {
  napi_async_work work;
  napi_deferred deferred;
  char *file;
  char **argv;
  char **envp;
  char *cwd;
  int nstdio;
  int stdio[MAX_STDIO];
  int parent_fd[MAX_STDIO];
  pid_t pid;
  int err;
  const char *what;
};

static void free_strv(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

static void free_work(struct spawn_work *w) {
  if (!w) return;
  free(w->file);
  free(w->cwd);
  free_strv(w->argv);
  free_strv(w->envp);
  free(w);
}

static void close_fd(int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

/* dup fd to the lowest free number >= HIGH_FD, close-on-exec; closes fd. */
static int move_high(int fd) {
  int h = fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
  int e = errno;
  close(fd);
  errno = e;
  return h;
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct spawn_work *w = data;
  int child_fd[MAX_STDIO];
  for (int i = 0; i < MAX_STDIO; i++) child_fd[i] = w->parent_fd[i] = -1;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int have_fa = 0, have_attr = 0;
  w->err = 0;

  for (int i = 0; i < w->nstdio; i++) {
    if (w->stdio[i] == 0) {
      int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (fd < 0 || (child_fd[i] = move_high(fd)) < 0) {
        w->err = errno;
        w->what = "open /dev/null";
        goto out;
      }
      continue;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      w->err = errno;
      w->what = "pipe2";
      goto out;
    }
    /* stdio 1: the child writes p[1], we read p[0]; 2: the other way. */
    int mine = w->stdio[i] == 1 ? p[0] : p[1];
    int theirs = w->stdio[i] == 1 ? p[1] : p[0];
    w->parent_fd[i] = mine;
    if ((child_fd[i] = move_high(theirs)) < 0) {
      w->err = errno;
      w->what = "fcntl";
      goto out;
    }
  }

  if ((w->err = posix_spawn_file_actions_init(&fa)) != 0) {
    w->what = "posix_spawn_file_actions_init";
    goto out;
  }
  have_fa = 1;
  for (int i = 0; i < w->nstdio && !w->err; i++) w->err = posix_spawn_file_actions_adddup2(&fa, child_fd[i], i);
  if (!w->err && w->cwd && w->cwd[0]) w->err = posix_spawn_file_actions_addchdir_np(&fa, w->cwd);
  if (w->err) {
    w->what = "posix_spawn_file_actions";
    goto out;
  }
  if ((w->err = posix_spawnattr_init(&attr)) != 0) {
    w->what = "posix_spawnattr_init";
    goto out;
  }
  have_attr = 1;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  if ((w->err = posix_spawnattr_setsigmask(&attr, &none)) != 0 || (w->err = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
      (w->err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0) {
    w->what = "posix_spawnattr";
    goto out;
  }
  if ((w->err = posix_spawn(&w->pid, w->file, &fa, &attr, w->argv, w->envp)) != 0) w->what = "posix_spawn";

out:
  if (have_fa) posix_spawn_file_actions_destroy(&fa);
  if (have_attr) posix_spawnattr_destroy(&attr);
  for (int i = 0; i < MAX_STDIO; i++) close_fd(&child_fd[i]);
  if (w->err)
    for (int i = 0; i < MAX_STDIO; i++) close_fd(&w->parent_fd[i]);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct spawn_work *w = data;
  if (status != napi_ok && !w->err) {
    w->err = ECANCELED;
    w->what = "spawn";
    for (int i = 0; i < MAX_STDIO; i++) close_fd(&w->parent_fd[i]);
  }
  if (w->err) {
    napi_value msg, code, err;
    char text[512];
    snprintf(text, sizeof text, "%s %s: %s", w->what ? w->what : "spawn", w->file, strerror(w->err));
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_int32(env, w->err, &code);
    napi_create_error(env, NULL, msg, &err);
    napi_set_named_property(env, err, "errno", code);
    napi_reject_deferred(env, w->deferred, err);
  } else {
    napi_value arr, v;
    napi_create_array_with_length(env, (size_t)w->nstdio + 1, &arr);
    napi_create_int32(env, w->pid, &v);
    napi_set_element(env, arr, 0, v);
    for (int i = 0; i < w->nstdio; i++) {
      napi_create_int32(env, w->parent_fd[i], &v);
      napi_set_element(env, arr, (uint32_t)i + 1, v);
    }
    napi_resolve_deferred(env, w->deferred, arr);
  }
  napi_delete_async_work(env, w->work);
  free_work(w);
}

static napi_value fail(napi_env env, struct spawn_work *w, const char *msg) {
  free_work(w);
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static char *get_str(napi_env env, napi_value v) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n > MAX_STR) return NULL;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  if (napi_get_value_string_utf8(env, v, s, n + 1, &n) != napi_ok || strlen(s) != n) {
    free(s); /* not a string, or a NUL inside */
    return NULL;
  }
  return s;
}

static char **get_strv(napi_env env, napi_value arr) {
  uint32_t n = 0;
  bool is_arr = false;
  if (napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, arr, &n) != napi_ok || n > MAX_ARGS) return NULL;
  char **v = calloc(n + 1, sizeof *v);
  if (!v) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, arr, i, &e) != napi_ok || !(v[i] = get_str(env, e))) {
      free_strv(v);
      return NULL;
    }
  }
  return v;
}

static napi_value js_spawn_detached(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], promise;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return NULL;
  }
  struct spawn_work *w = calloc(1, sizeof *w);
  if (!w) return fail(env, w, "out of memory");
  if (!(w->file = get_str(env, argv[0])) || w->file[0] != '/') return fail(env, w, "bad program path (absolute path expected)");
  if (!(w->argv = get_strv(env, argv[1])) || !w->argv[0]) return fail(env, w, "bad argument list");
  if (!(w->envp = get_strv(env, argv[2]))) return fail(env, w, "bad environment");
  if (!(w->cwd = get_str(env, argv[3]))) return fail(env, w, "bad working directory");
  uint32_t n = 0;
  bool is_arr = false;
  if (napi_is_array(env, argv[4], &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, argv[4], &n) != napi_ok || n > MAX_STDIO) return fail(env, w, "bad stdio list");
  w->nstdio = (int)n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    uint32_t k = 99;
    napi_get_element(env, argv[4], i, &e);
    if (napi_get_value_uint32(env, e, &k) != napi_ok || k > 2) return fail(env, w, "bad stdio entry (0, 1 or 2)");
    w->stdio[i] = (int)k;
  }
  for (int i = 0; i < MAX_STDIO; i++) w->parent_fd[i] = -1;
  if (job_queue(env, "berth:spawn", execute, complete, w, &w->deferred, &w->work, &promise, "cannot queue spawn work") != 0) free_work(w);
  return promise;
}

static napi_value js_reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], res;
  int32_t pid = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "bad pid");
    return NULL;
  }
  int st = 0;
  pid_t r;
  do r = waitpid(pid, &st, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    char text[128];
    snprintf(text, sizeof text, "waitpid %d: %s", pid, strerror(errno));
    napi_throw_error(env, NULL, text);
    return NULL;
  }
  int out = r == 0 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  napi_create_int32(env, out, &res);
  return res;
}

void spawn_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"spawnDetached", NULL, js_spawn_detached, NULL, NULL, NULL, napi_default, NULL},
    {"reap", NULL, js_reap, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
