/*
 * berth-exec: runs one process inside a running container as `runc exec`
 * (without a terminal) does, on the stdio it was given, and exits with the
 * process's status (128+signal when a signal killed it).
 *
 * berthd resolves everything beforehand (runc's state.json, the exec's OCI
 * process) and passes it as options. The process's environment comes from
 * --env-file (NUL-separated, written 0600 by berthd), never from our own:
 * we run as root on the host, where the dynamic loader must not see an
 * image's LD_PRELOAD, and /proc/<pid>/cmdline is readable by everyone.
 *
 *   berth-exec --init-pid P --init-start T --ns ipc,uts,net,pid,mnt
 *              [--cgroup DIR]... [--cwd D] [--user U:G[:g1,g2...]]
 *              [--caps BND:EFF:PERM:INH:AMB (hex)] [--nnp]
 *              [--rlimit RES:SOFT:HARD]... [--oom-score-adj N]
 *              [--seccomp FILE (compiled BPF)] [--keyring NAME]
 *              [--env-file F] --pid-file F --log F -- ARGS...
 *
 * Parent: opens /proc/P (checked against the init's start time), the
 * namespaces, every cgroup.procs and the filter before any setns; joins the
 * pid namespace; forks; forwards signals; writes the child's pid once it
 * has exec'd; exits with its status. A failure before the process runs is
 * written to --log as runc's JSON log line and the exit code is 255, as
 * runc's, so berthd reports it the same way.
 *
 * Child (no allocation): not dumpable, joins the cgroups then the other
 * namespaces (mnt last), rlimits, oom_score_adj, session keyring,
 * no_new_privs, then the order of runc's setns init: the seccomp filter
 * before the capability changes when no_new_privs is off (loading it needs
 * CAP_SYS_ADMIN), else last; bounding set, keep-caps, groups/gid/uid, cwd,
 * capsets, ambient; PATH lookup as Go's LookPath; execve.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define MAX_CGROUPS 32
#define MAX_RLIMITS 32
#define MAX_GROUPS 1024
#define MAX_NS 8

struct nsent { const char *name; int type; int fd; };

static struct {
  int init_pid;
  unsigned long long init_start;
  struct nsent ns[MAX_NS];
  int nns;
  int pid_ns; /* index in ns[] of the pid namespace, or -1 */
  const char *cgroups[MAX_CGROUPS];
  int cgfd[MAX_CGROUPS];
  int ncg;
  const char *cwd;
  int have_user;
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  int ngroups;
  int have_caps;
  uint64_t cap_bnd, cap_eff, cap_perm, cap_inh, cap_amb;
  int nnp;
  struct { int res; struct rlimit lim; } rl[MAX_RLIMITS];
  int nrl;
  int have_oom;
  char oom[24];
  const char *seccomp_path;
  struct sock_fprog filter;
  const char *keyring;
  const char *pid_file;
  const char *log_file;
  const char *env_file;
  char **envp;
  char **args;
} o = { .pid_ns = -1 };

static const struct { const char *name; int type; } NS_TYPES[] = {
  { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS }, { "net", CLONE_NEWNET },
  { "pid", CLONE_NEWPID }, { "cgroup", CLONE_NEWCGROUP }, { "mnt", CLONE_NEWNS },
};

/* ---- reporting (parent) ---- */

/* One runc-style JSON log line at level error, then exit 255. */
static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  char msg[2048], line[4400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t n = 0;
  n += (size_t)snprintf(line, sizeof line, "{\"level\":\"error\",\"msg\":\"");
  for (const char *p = msg; *p && n < sizeof line - 16; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') { line[n++] = '\\'; line[n++] = (char)c; }
    else if (c < 0x20) n += (size_t)snprintf(line + n, sizeof line - n, "\\u%04x", c);
    else line[n++] = (char)c;
  }
  n += (size_t)snprintf(line + n, sizeof line - n, "\"}\n");
  if (o.log_file) {
    int fd = open(o.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      if (write(fd, line, n) < 0) { /* nothing more to tell */ }
      close(fd);
    }
  }
  /* Also on stderr when there is no log (a person running it by hand). */
  if (!o.log_file) fprintf(stderr, "berth-exec: %s\n", msg);
  exit(255);
}

/* ---- options ---- */

static unsigned long long num(const char *s, const char *what, int base) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, base);
  if (errno || end == s || *end) fail("berth-exec: bad %s %s", what, s);
  return v;
}

static void parse_ns(char *list) {
  for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    size_t i;
    for (i = 0; i < sizeof NS_TYPES / sizeof NS_TYPES[0]; i++) if (!strcmp(t, NS_TYPES[i].name)) break;
    if (i == sizeof NS_TYPES / sizeof NS_TYPES[0]) fail("berth-exec: unknown namespace %s", t);
    if (o.nns >= MAX_NS) fail("berth-exec: too many namespaces");
    if (NS_TYPES[i].type == CLONE_NEWPID) o.pid_ns = o.nns;
    o.ns[o.nns++] = (struct nsent){ NS_TYPES[i].name, NS_TYPES[i].type, -1 };
  }
}

static void parse_user(char *s) {
  char *g = strchr(s, ':');
  if (!g) fail("berth-exec: bad --user %s", s);
  *g++ = 0;
  char *groups = strchr(g, ':');
  if (groups) *groups++ = 0;
  o.uid = (uid_t)num(s, "uid", 10);
  o.gid = (gid_t)num(g, "gid", 10);
  if (groups && *groups) {
    for (char *save = NULL, *t = strtok_r(groups, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (o.ngroups >= MAX_GROUPS) fail("berth-exec: too many groups");
      o.groups[o.ngroups++] = (gid_t)num(t, "gid", 10);
    }
  }
  o.have_user = 1;
}

static void parse_caps(char *s) {
  uint64_t *v[] = { &o.cap_bnd, &o.cap_eff, &o.cap_perm, &o.cap_inh, &o.cap_amb };
  int i = 0;
  for (char *save = NULL, *t = strtok_r(s, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
    if (i >= 5) fail("berth-exec: bad --caps");
    *v[i++] = num(t, "capability set", 16);
  }
  if (i != 5) fail("berth-exec: bad --caps");
  o.have_caps = 1;
}

static rlim_t rlim(const char *s) {
  return !strcmp(s, "inf") ? RLIM_INFINITY : (rlim_t)num(s, "rlimit", 10);
}

static void parse_rlimit(char *s) {
  char *a = strchr(s, ':');
  char *b = a ? strchr(a + 1, ':') : NULL;
  if (!a || !b) fail("berth-exec: bad --rlimit %s", s);
  *a++ = 0;
  *b++ = 0;
  if (o.nrl >= MAX_RLIMITS) fail("berth-exec: too many rlimits");
  o.rl[o.nrl].res = (int)num(s, "rlimit resource", 10);
  o.rl[o.nrl].lim.rlim_cur = rlim(a);
  o.rl[o.nrl].lim.rlim_max = rlim(b);
  o.nrl++;
}

/* A copy to cut up: argv stays as it was (ps, /proc/<pid>/cmdline). */
static char *copy_arg(const char *s) {
  char *c = strdup(s);
  if (!c) fail("berth-exec: out of memory");
  return c;
}

static void parse(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) { i++; break; }
    if (i + 1 >= argc && strcmp(a, "--nnp")) fail("berth-exec: %s needs a value", a);
    if (!strcmp(a, "--init-pid")) o.init_pid = (int)num(argv[++i], "pid", 10);
    else if (!strcmp(a, "--init-start")) o.init_start = num(argv[++i], "start time", 10);
    else if (!strcmp(a, "--ns")) parse_ns(copy_arg(argv[++i]));
    else if (!strcmp(a, "--cgroup")) {
      if (o.ncg >= MAX_CGROUPS) fail("berth-exec: too many cgroups");
      o.cgroups[o.ncg++] = argv[++i];
    }
    else if (!strcmp(a, "--cwd")) o.cwd = argv[++i];
    else if (!strcmp(a, "--user")) parse_user(copy_arg(argv[++i]));
    else if (!strcmp(a, "--caps")) parse_caps(copy_arg(argv[++i]));
    else if (!strcmp(a, "--nnp")) o.nnp = 1;
    else if (!strcmp(a, "--rlimit")) parse_rlimit(copy_arg(argv[++i]));
    else if (!strcmp(a, "--oom-score-adj")) {
      const char *s = argv[++i];
      char *end;
      errno = 0;
      long v = strtol(s, &end, 10);
      if (errno || end == s || *end || v < -1000 || v > 1000) fail("berth-exec: bad --oom-score-adj %s", s);
      snprintf(o.oom, sizeof o.oom, "%ld", v);
      o.have_oom = 1;
    }
    else if (!strcmp(a, "--seccomp")) o.seccomp_path = argv[++i];
    else if (!strcmp(a, "--keyring")) o.keyring = argv[++i];
    else if (!strcmp(a, "--pid-file")) o.pid_file = argv[++i];
    else if (!strcmp(a, "--log")) o.log_file = argv[++i];
    else if (!strcmp(a, "--env-file")) o.env_file = argv[++i];
    else fail("berth-exec: unknown option %s", a);
  }
  if (i >= argc) fail("berth-exec: no command");
  if (o.init_pid <= 0) fail("berth-exec: --init-pid is required");
  o.args = argv + i;
}

/* ---- parent helpers ---- */

/* Field 22 of /proc/P/stat (starttime), read through the pinned /proc/P. */
static unsigned long long start_time(int procfd) {
  char buf[1024];
  int fd = openat(procfd, "stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  /* Field 2 ends at ')'; each space after it starts the next field: 20 of them to reach field 22. */
  int spaces = 0;
  for (p++; *p && spaces < 20; p++) if (*p == ' ') spaces++;
  return strtoull(p, NULL, 10);
}

static void read_filter(void) {
  int fd = open(o.seccomp_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("berth-exec: open seccomp filter %s: %s", o.seccomp_path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) fail("berth-exec: stat seccomp filter: %s", strerror(errno));
  size_t len = (size_t)st.st_size;
  if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
    fail("berth-exec: seccomp filter %s: bad size %zu", o.seccomp_path, len);
  struct sock_filter *f = malloc(len);
  if (!f) fail("berth-exec: out of memory");
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, (char *)f + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("berth-exec: read seccomp filter: %s", n < 0 ? strerror(errno) : "short read");
    got += (size_t)n;
  }
  close(fd);
  o.filter.len = (unsigned short)(len / sizeof(struct sock_filter));
  o.filter.filter = f;
}

/* The process's environment: the NUL-separated entries of --env-file. */
static void read_env(void) {
  static char *none[] = { NULL };
  o.envp = none;
  if (!o.env_file) return;
  int fd = open(o.env_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("berth-exec: open %s: %s", o.env_file, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) fail("berth-exec: stat %s: %s", o.env_file, strerror(errno));
  size_t len = (size_t)st.st_size, got = 0;
  char *buf = malloc(len + 1);
  if (!buf) fail("berth-exec: out of memory");
  while (got < len) {
    ssize_t n = read(fd, buf + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("berth-exec: read %s: %s", o.env_file, n < 0 ? strerror(errno) : "short read");
    got += (size_t)n;
  }
  close(fd);
  buf[len] = 0;
  size_t count = 0;
  for (size_t i = 0; i < len; i++) if (buf[i] == 0) count++;
  char **env = calloc(count + 2, sizeof *env);
  if (!env) fail("berth-exec: out of memory");
  size_t k = 0;
  for (char *p = buf; p < buf + len; p += strlen(p) + 1) if (*p) env[k++] = p;
  env[k] = NULL;
  o.envp = env;
}

/* PATH of the process's environment (getenv would read ours). */
static const char *env_path(void) {
  for (char **e = o.envp; *e; e++) if (!strncmp(*e, "PATH=", 5)) return *e + 5;
  return NULL;
}

static void write_pid_file(pid_t pid) {
  char tmp[PATH_MAX], buf[24];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", o.pid_file) >= (int)sizeof tmp) return;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  int n = snprintf(buf, sizeof buf, "%d", (int)pid);
  ssize_t w = write(fd, buf, (size_t)n);
  close(fd);
  if (w != n || rename(tmp, o.pid_file) < 0) unlink(tmp);
}

/* ---- child: reports an error on the pipe and exits; no allocation ---- */

static int errpipe = -1;

/* The process's stdio: pipes we copy from/to ours, as runc exec does
 * (berthd's are socket pairs, which a process cannot reopen through
 * /proc/self/fd/N, i.e. /dev/stdout). */
static int io[3][2];

static void cfail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void cfail(const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n >= (int)sizeof msg) n = sizeof msg - 1;
  if (write(errpipe, msg, (size_t)n) < 0) { /* the parent sees EOF: exit status 255 below */ }
  _exit(255);
}

#define START "exec failed: unable to start container process: "

/* An errno as Go (runc) spells it: strerror with a lower-case first letter. */
static const char *gostr(int e) {
  static char buf[128];
  snprintf(buf, sizeof buf, "%s", strerror(e));
  if (buf[0] >= 'A' && buf[0] <= 'Z') buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
}

static void write_all(int fd, const char *s, const char *what) {
  size_t len = strlen(s);
  ssize_t n = write(fd, s, len);
  if (n != (ssize_t)len) cfail(START "write %s: %s", what, n < 0 ? gostr(errno) : "short write");
}

static int capset_all(uint64_t eff, uint64_t perm, uint64_t inh) {
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[2] = {
    { (uint32_t)eff, (uint32_t)perm, (uint32_t)inh },
    { (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) },
  };
  return (int)syscall(SYS_capset, &h, d);
}

static void load_filter(void) {
  if (!o.seccomp_path) return;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &o.filter) < 0)
    cfail(START "error loading seccomp filter into kernel: %s", gostr(errno));
}

/* The last capability this kernel knows (/proc/sys/kernel/cap_last_cap), read in the parent. */
static int last_cap = 40;

static void read_last_cap(void) {
  char buf[16];
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n > 0) {
    buf[n] = 0;
    int v = atoi(buf);
    if (v > 0 && v < 64) last_cap = v;
  }
}

/* stdio the user must own to reopen it (/proc/self/fd/N), as runc's fixStdioPermissions. */
static void fix_stdio(void) {
  struct stat null;
  if (stat("/dev/null", &null) < 0) cfail(START "stat /dev/null: %s", gostr(errno));
  for (int fd = 0; fd <= 2; fd++) {
    struct stat st;
    if (fstat(fd, &st) < 0) continue;
    if (S_ISCHR(st.st_mode) && st.st_rdev == null.st_rdev) continue;
    if (st.st_uid == o.uid) continue;
    if (fchown(fd, o.uid, st.st_gid) < 0 && errno != EINVAL && errno != EPERM)
      cfail(START "fchown stdio %d: %s", fd, gostr(errno));
  }
}

/* Go's exec.LookPath, as runc's init runs it: a name with a slash is taken as is. */
static int executable(const char *p, int *err) {
  struct stat st;
  if (stat(p, &st) < 0) { *err = errno; return 0; }
  /* Go: a directory, or no execute bit for anyone, is "permission denied". */
  if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) { *err = EACCES; return 0; }
  return 1;
}

static const char *look_path(const char *file, char *buf, size_t size) {
  int err = 0;
  if (strchr(file, '/')) {
    if (executable(file, &err)) return file;
    if (err == ENOENT || err == ENOTDIR)
      cfail(START "exec: \"%s\": stat %s: %s", file, file, gostr(err));
    cfail(START "exec: \"%s\": %s", file, err == EACCES ? "permission denied" : gostr(err));
  }
  const char *path = env_path();
  if (path && *path) {
    const char *p = path;
    for (;;) {
      const char *colon = strchr(p, ':');
      size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
      int n = dlen == 0 ? snprintf(buf, size, "./%s", file) : snprintf(buf, size, "%.*s/%s", (int)dlen, p, file);
      if (n > 0 && (size_t)n < size && executable(buf, &err)) return buf;
      if (!colon) break;
      p = colon + 1;
    }
  }
  cfail(START "exec: \"%s\": executable file not found in $PATH", file);
}

static void child(const sigset_t *oldmask) {
  /* Before anything of the container can see us: no /proc/<pid>/exe, no ptrace by the container. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) cfail(START "prctl(PR_SET_DUMPABLE): %s", gostr(errno));
  if (dup2(io[0][0], 0) < 0 || dup2(io[1][1], 1) < 0 || dup2(io[2][1], 2) < 0) cfail(START "dup2: %s", gostr(errno));
  for (int i = 0; i < o.ncg; i++) {
    if (write(o.cgfd[i], "0", 1) != 1) cfail(START "join cgroup %s: %s", o.cgroups[i], gostr(errno));
    close(o.cgfd[i]);
  }
  for (int i = 0; i < o.nrl; i++)
    if (setrlimit(o.rl[i].res, &o.rl[i].lim) < 0) cfail(START "setrlimit %d: %s", o.rl[i].res, gostr(errno));
  if (o.have_oom) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0) cfail(START "open oom_score_adj: %s", gostr(errno));
    write_all(fd, o.oom, "oom_score_adj");
    close(fd);
  }
  int mnt = -1;
  for (int i = 0; i < o.nns; i++) {
    if (o.ns[i].type == CLONE_NEWPID) continue;
    if (o.ns[i].type == CLONE_NEWNS) { mnt = i; continue; }
    if (setns(o.ns[i].fd, o.ns[i].type) < 0) cfail(START "setns %s: %s", o.ns[i].name, gostr(errno));
    close(o.ns[i].fd);
  }
  /* Last: it makes the container's root our root and cwd. */
  if (mnt >= 0) {
    if (setns(o.ns[mnt].fd, CLONE_NEWNS) < 0) cfail(START "setns mnt: %s", gostr(errno));
    close(o.ns[mnt].fd);
  }
  if (o.keyring) {
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, o.keyring) < 0 && errno != ENOSYS)
      cfail(START "unable to join session keyring: %s", gostr(errno));
  }
  if (o.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) cfail(START "prctl(PR_SET_NO_NEW_PRIVS): %s", gostr(errno));
  /* Without no_new_privs loading a filter needs CAP_SYS_ADMIN: before the caps go (runc's order). */
  if (!o.nnp) load_filter();
  /* Nothing of berthd's beyond stdio reaches the process. */
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    for (int fd = 3; fd < 1024; fd++) if (fd != errpipe) fcntl(fd, F_SETFD, FD_CLOEXEC);
  if (o.have_caps) {
    for (int c = 0; c <= last_cap; c++)
      if (!(o.cap_bnd & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
        cfail(START "drop bounding capability %d: %s", c, gostr(errno));
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) cfail(START "prctl(PR_SET_KEEPCAPS): %s", gostr(errno));
  int chdir_later = 0;
  if (o.cwd) {
    if (chdir(o.cwd) < 0) {
      if (errno != EACCES && errno != EPERM) cfail(START "chdir to cwd (\"%s\") set in config.json failed: %s", o.cwd, gostr(errno));
      chdir_later = 1;
    }
  }
  if (o.have_user) {
    fix_stdio();
    if (setgroups((size_t)o.ngroups, o.groups) < 0) cfail(START "setgroups: %s", gostr(errno));
    if (setresgid(o.gid, o.gid, o.gid) < 0) cfail(START "setgid %u: %s", o.gid, gostr(errno));
    if (setresuid(o.uid, o.uid, o.uid) < 0) cfail(START "setuid %u: %s", o.uid, gostr(errno));
  }
  if (chdir_later && chdir(o.cwd) < 0) cfail(START "chdir to cwd (\"%s\") set in config.json failed: %s", o.cwd, gostr(errno));
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) cfail(START "prctl(PR_SET_KEEPCAPS): %s", gostr(errno));
  if (o.have_caps) {
    uint64_t known = last_cap >= 63 ? ~0ULL : (1ULL << (last_cap + 1)) - 1;
    if (capset_all(o.cap_eff & known, o.cap_perm & known, o.cap_inh & known) < 0) cfail(START "capset: %s", gostr(errno));
    for (int c = 0; c <= last_cap; c++)
      if ((o.cap_amb & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
        cfail(START "raise ambient capability %d: %s", c, gostr(errno));
  }
  char found[PATH_MAX];
  const char *path = look_path(o.args[0], found, sizeof found);
  /* As late as possible: the fewest syscalls run under the filter. */
  if (o.nnp) load_filter();
  if (signal(SIGPIPE, SIG_DFL) == SIG_ERR || sigprocmask(SIG_SETMASK, oldmask, NULL) < 0) cfail(START "signals: %s", gostr(errno));
  execve(path, o.args, o.envp);
  cfail(START "exec %s: %s", path, gostr(errno));
}

static const int FORWARD[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP, SIGALRM };


static void write_full(int fd, const char *b, size_t n) {
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* the reader is gone: drop the rest */
    b += w;
    n -= (size_t)w;
  }
}

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

/* Copies stdin in and the outputs out, forwards signals, until the process has exited and its outputs are closed. */
static int relay(pid_t pid, int sfd) {
  static char inbuf[65536], buf[65536];
  size_t in_len = 0, in_off = 0;
  int in_open = 1, in_fd = io[0][1], outs[2] = { io[1][0], io[2][0] }, done = 0, code = 255;
  if (fcntl(in_fd, F_SETFL, O_NONBLOCK) < 0) fail("berth-exec: fcntl: %s", strerror(errno));
  while (!done || outs[0] >= 0 || outs[1] >= 0) {
    struct pollfd p[5];
    int n = 0, isig = -1, iin = -1, ipipe = -1, iout[2] = { -1, -1 };
    if (!done) { isig = n; p[n++] = (struct pollfd){ sfd, POLLIN, 0 }; }
    if (in_open && in_fd >= 0 && in_len == 0) { iin = n; p[n++] = (struct pollfd){ 0, POLLIN, 0 }; }
    if (in_fd >= 0 && in_len > 0) { ipipe = n; p[n++] = (struct pollfd){ in_fd, POLLOUT, 0 }; }
    for (int k = 0; k < 2; k++) if (outs[k] >= 0) { iout[k] = n; p[n++] = (struct pollfd){ outs[k], POLLIN, 0 }; }
    if (poll(p, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      fail("berth-exec: poll: %s", strerror(errno));
    }
    if (isig >= 0 && p[isig].revents) {
      struct signalfd_siginfo si;
      ssize_t r = read(sfd, &si, sizeof si);
      if (r == (ssize_t)sizeof si && (int)si.ssi_signo != SIGCHLD) kill(pid, (int)si.ssi_signo);
      int status;
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid && (WIFEXITED(status) || WIFSIGNALED(status))) {
        done = 1;
        code = exit_code(status);
        /* No one reads stdin any more. */
        in_open = 0;
        if (in_fd >= 0) { close(in_fd); in_fd = -1; }
      }
    }
    if (iin >= 0 && p[iin].revents) {
      ssize_t r = read(0, inbuf, sizeof inbuf);
      if (r > 0) { in_len = (size_t)r; in_off = 0; }
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_open = 0;
        close(in_fd); /* EOF for the process */
        in_fd = -1;
      }
    }
    if (ipipe >= 0 && p[ipipe].revents && in_fd >= 0) {
      ssize_t w = write(in_fd, inbuf + in_off, in_len - in_off);
      if (w > 0) {
        in_off += (size_t)w;
        if (in_off == in_len) in_len = 0;
      } else if (w < 0 && errno != EINTR && errno != EAGAIN) {
        /* The process closed its stdin. */
        in_len = 0;
        in_open = 0;
        close(in_fd);
        in_fd = -1;
      }
    }
    for (int k = 0; k < 2; k++) {
      if (iout[k] < 0 || !p[iout[k]].revents) continue;
      ssize_t r = read(outs[k], buf, sizeof buf);
      if (r > 0) write_full(k + 1, buf, (size_t)r);
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) { close(outs[k]); outs[k] = -1; }
    }
  }
  return code;
}

int main(int argc, char **argv) {
  parse(argc, argv);
  read_last_cap();
  char procpath[32];
  snprintf(procpath, sizeof procpath, "/proc/%d", o.init_pid);
  int procfd = open(procpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) fail("cannot exec in a stopped container: %s: %s", procpath, gostr(errno));
  if (o.init_start && start_time(procfd) != o.init_start) fail("cannot exec in a stopped container: init %d has gone", o.init_pid);
  for (int i = 0; i < o.nns; i++) {
    char p[32];
    snprintf(p, sizeof p, "ns/%s", o.ns[i].name);
    o.ns[i].fd = openat(procfd, p, O_RDONLY | O_CLOEXEC);
    if (o.ns[i].fd < 0) fail("cannot exec in a stopped container: open %s/%s: %s", procpath, p, gostr(errno));
  }
  for (int i = 0; i < o.ncg; i++) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/cgroup.procs", o.cgroups[i]) >= (int)sizeof p) fail("berth-exec: cgroup path too long");
    o.cgfd[i] = open(p, O_WRONLY | O_CLOEXEC);
    if (o.cgfd[i] < 0) fail("exec failed: open %s: %s", p, gostr(errno));
  }
  if (o.seccomp_path) read_filter();
  read_env();
  /* The pinned /proc/P proves the namespaces are the init's: check it again now they are open. */
  if (o.init_start && start_time(procfd) != o.init_start) fail("cannot exec in a stopped container: init %d has gone", o.init_pid);
  close(procfd);
  for (int i = 0; i < 3; i++) if (pipe2(io[i], O_CLOEXEC) < 0) fail("berth-exec: pipe: %s", strerror(errno));
  /* A write to the stdin pipe of a process that closed it is EPIPE, not a signal (the child resets this). */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) fail("berth-exec: signal: %s", strerror(errno));
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) fail("berth-exec: pipe: %s", gostr(errno));
  sigset_t mask, oldmask;
  sigemptyset(&mask);
  for (size_t i = 0; i < sizeof FORWARD / sizeof FORWARD[0]; i++) sigaddset(&mask, FORWARD[i]);
  sigaddset(&mask, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &mask, &oldmask) < 0) fail("berth-exec: sigprocmask: %s", gostr(errno));
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) fail("berth-exec: signalfd: %s", gostr(errno));
  if (o.pid_ns >= 0) {
    if (setns(o.ns[o.pid_ns].fd, CLONE_NEWPID) < 0) fail(START "setns pid: %s", gostr(errno));
    close(o.ns[o.pid_ns].fd);
  }
  pid_t pid = fork();
  if (pid < 0) fail(START "fork: %s", gostr(errno));
  if (pid == 0) {
    close(pfd[0]);
    close(sfd);
    errpipe = pfd[1];
    child(&oldmask);
  }
  close(pfd[1]);
  close(io[0][0]);
  close(io[1][1]);
  close(io[2][1]);
  for (int i = 0; i < o.nns; i++) if (i != o.pid_ns) close(o.ns[i].fd);
  for (int i = 0; i < o.ncg; i++) close(o.cgfd[i]);
  /* The error pipe: EOF when the process has exec'd, else the reason it could not be started. */
  char msg[2048];
  size_t got = 0;
  for (;;) {
    ssize_t n = read(pfd[0], msg + got, sizeof msg - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
    if (got == sizeof msg - 1) break;
  }
  close(pfd[0]);
  if (got) {
    msg[got] = 0;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    fail("%s", msg);
  }
  if (o.pid_file) write_pid_file(pid);
  return relay(pid, sfd);
}
