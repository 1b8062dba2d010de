/*
 * berth-seccomp-init: the first program of a container whose seccomp
 * filter berthd has already compiled, so that `runc create` need not
 * compile it again (runc's init spends ~20 ms in libseccomp per container).
 *
 * berthd creates such a container without `linux.seccomp` in runc's config
 * and with this program first in the process args, bind-mounted read-only
 * at /dev/.berth-init from <exec-root>/seccomp/<filter>-<loader>.init: this
 * program with the compiled filter appended:
 *
 *   [ELF][struct sock_filter × n][uint32 n, little-endian][8 bytes "BERTHBPF"]
 *
 *   /dev/.berth-init --caps BND:EFF:PERM:INH:AMB (hex) -- ARGS...
 *
 * runc starts it with CAP_SYS_ADMIN and CAP_SETPCAP added (in the ambient
 * set too for a non-root user). It then does what runc's init would have
 * done, in runc's order: without no_new_privs, load the filter first (that
 * needs CAP_SYS_ADMIN); set the bounding set, the capability sets and the
 * ambient set to exactly the container's; look the command up as Go's
 * LookPath; with no_new_privs, load the filter last; execve. The
 * environment, uid/gids, cwd, rlimits and no_new_privs are runc's already.
 *
 * Freestanding (no libc, its own _start): until the filter is loaded this
 * runs with CAP_SYS_ADMIN on the container's environment, which the image
 * chose, and a libc's start-up reads it (glibc parses GLIBC_TUNABLES even
 * in a static program). Here nothing reads it but the PATH lookup, and it
 * is passed to the command untouched.
 *
 * berthd only does this when the container cannot reach this program's
 * window: its own pid namespace, no CAP_SYS_ADMIN or CAP_SYS_PTRACE, and
 * the command found beforehand (so "not found" stays runc's create error).
 * A failure here is written to stderr and exits 127 (not found), 126
 * (not executable) or 255.
 */
#include <stddef.h>
#include <stdint.h>
#include <asm/unistd.h>
#include <linux/capability.h>
#include <linux/fcntl.h>
#include <linux/filter.h>
#include <linux/limits.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <linux/stat.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "berth-seccomp-init: x86_64 and aarch64 only"
#endif

#define MAGIC "BERTHBPF"
#define MAX_INSNS 4096
#define START "exec failed: unable to start container process: "
/* errno values (asm-generic, the same on both architectures). */
#define E_PERM 1
#define E_NOENT 2
#define E_NOEXEC 8
#define E_NOMEM 12
#define E_ACCES 13
#define E_NOTDIR 20
#define E_ISDIR 21
#define E_INVAL 22
#define E_2BIG 7
#define E_LOOP 40
#define E_NAMETOOLONG 36

/* ---- system calls ---- */

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
#if defined(__x86_64__)
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
#else
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  ret = x0;
#endif
  return ret;
}
#define SYS(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

static __attribute__((noreturn)) void sys_exit(int code) {
  for (;;) SYS(__NR_exit_group, code, 0, 0, 0, 0);
}

/* ---- what libc would give ---- */

/* The compiler may emit calls to these for copies and zeroing. */
void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *dd = d;
  const unsigned char *ss = s;
  while (n--) *dd++ = *ss++;
  return d;
}
void *memmove(void *d, const void *s, size_t n) {
  unsigned char *dd = d;
  const unsigned char *ss = s;
  if (dd < ss) while (n--) *dd++ = *ss++;
  else while (n--) dd[n] = ss[n];
  return d;
}
int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (; n--; x++, y++) if (*x != *y) return *x - *y;
  return 0;
}
void *memset(void *d, int c, size_t n) {
  unsigned char *dd = d;
  while (n--) *dd++ = (unsigned char)c;
  return d;
}

static size_t slen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static int seq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static int has_slash(const char *s) {
  for (; *s; s++) if (*s == '/') return 1;
  return 0;
}

/* An errno as Go (runc) spells it. */
static const char *errstr(long e) {
  switch (e) {
    case E_PERM: return "operation not permitted";
    case E_NOENT: return "no such file or directory";
    case E_2BIG: return "argument list too long";
    case E_NOEXEC: return "exec format error";
    case E_NOMEM: return "cannot allocate memory";
    case E_ACCES: return "permission denied";
    case E_NOTDIR: return "not a directory";
    case E_ISDIR: return "is a directory";
    case E_INVAL: return "invalid argument";
    case E_NAMETOOLONG: return "file name too long";
    case E_LOOP: return "too many levels of symbolic links";
    default: return "system call failed";
  }
}

/* START, the parts, a newline on stderr; then exit with `code`. */
static __attribute__((noreturn)) void die_parts(int code, const char *const *parts) {
  static char msg[PATH_MAX * 2 + 256];
  size_t n = 0;
  for (const char *p = START; *p; p++) msg[n++] = *p;
  for (; *parts; parts++)
    for (const char *p = *parts; *p && n < sizeof msg - 1; p++) msg[n++] = *p;
  msg[n++] = '\n';
  SYS(__NR_write, 2, msg, n, 0, 0);
  sys_exit(code);
}
#define die(code, ...) die_parts(code, (const char *const[]){ __VA_ARGS__, 0 })

/* ---- the filter appended to our own file ---- */

static struct sock_filter insns[MAX_INSNS];
static struct sock_fprog prog;

static void read_filter(void) {
  long fd = SYS(__NR_openat, AT_FDCWD, "/proc/self/exe", O_RDONLY | O_CLOEXEC, 0, 0);
  if (fd < 0) die(255, "berth-seccomp-init: open /proc/self/exe: ", errstr(-fd));
  struct statx st;
  long r = SYS(__NR_statx, fd, "", AT_EMPTY_PATH, STATX_SIZE, &st);
  if (r < 0) die(255, "berth-seccomp-init: stat: ", errstr(-r));
  long size = (long)st.stx_size;
  unsigned char tail[12];
  if (size < (long)sizeof tail || sys6(__NR_pread64, fd, (long)tail, sizeof tail, size - (long)sizeof tail, 0, 0) != (long)sizeof tail)
    die(255, "berth-seccomp-init: no filter appended");
  for (int i = 0; i < 8; i++) if (tail[4 + i] != (unsigned char)MAGIC[i]) die(255, "berth-seccomp-init: no filter appended");
  uint32_t n = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
  long len = (long)n * (long)sizeof(struct sock_filter);
  if (n == 0 || n > MAX_INSNS || len + (long)sizeof tail > size) die(255, "berth-seccomp-init: bad filter length");
  if (sys6(__NR_pread64, fd, (long)insns, len, size - (long)sizeof tail - len, 0, 0) != len) die(255, "berth-seccomp-init: read filter");
  SYS(__NR_close, fd, 0, 0, 0, 0);
  prog.len = (unsigned short)n;
  prog.filter = insns;
}

static void load_filter(void) {
  long r = SYS(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog, 0, 0);
  if (r < 0) die(255, "error loading seccomp filter into kernel: ", errstr(-r));
}

/* ---- capabilities ---- */

static uint64_t hex(const char **p) {
  uint64_t v = 0;
  const char *s = *p;
  int digits = 0;
  for (;; s++, digits++) {
    char c = *s;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    if (digits >= 16) die(255, "berth-seccomp-init: bad --caps");
    v = v << 4 | (uint64_t)d;
  }
  if (!digits) die(255, "berth-seccomp-init: bad --caps");
  *p = s;
  return v;
}

/* The last capability this kernel knows (/proc/sys/kernel/cap_last_cap). */
static int last_cap(void) {
  char buf[16];
  long fd = SYS(__NR_openat, AT_FDCWD, "/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC, 0, 0);
  if (fd < 0) return 40;
  long n = SYS(__NR_read, fd, buf, sizeof buf - 1, 0, 0);
  SYS(__NR_close, fd, 0, 0, 0, 0);
  int v = 0;
  for (long i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) v = v * 10 + (buf[i] - '0');
  return v > 0 && v < 64 ? v : 40;
}

static void set_caps(uint64_t bnd, uint64_t eff, uint64_t perm, uint64_t inh, uint64_t amb) {
  int last = last_cap();
  uint64_t known = last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1;
  for (int i = 0; i <= last; i++) {
    if (bnd & (1ULL << i)) continue;
    long r = SYS(__NR_prctl, PR_CAPBSET_DROP, i, 0, 0, 0);
    if (r < 0 && r != -E_INVAL) die(255, "drop bounding capability: ", errstr(-r));
  }
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  eff &= known, perm &= known, inh &= known;
  struct __user_cap_data_struct d[2] = {
    { (uint32_t)eff, (uint32_t)perm, (uint32_t)inh },
    { (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) },
  };
  long r = SYS(__NR_capset, &h, d, 0, 0, 0);
  if (r < 0) die(255, "capset: ", errstr(-r));
  r = SYS(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (r < 0 && r != -E_INVAL) die(255, "clear ambient capabilities: ", errstr(-r));
  for (int i = 0; i <= last; i++) {
    if (!(amb & (1ULL << i))) continue;
    r = SYS(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0);
    if (r < 0) die(255, "raise ambient capability: ", errstr(-r));
  }
}

/* ---- Go's exec.LookPath, as runc's init runs it ---- */

/* 0 when executable; else the error (Go: a directory, or no execute bit for anyone, is "permission denied"). */
static long executable(const char *p) {
  struct statx st;
  long r = SYS(__NR_statx, AT_FDCWD, p, 0, STATX_TYPE | STATX_MODE, &st);
  if (r < 0) return -r;
  if ((st.stx_mode & S_IFMT) == S_IFDIR || !(st.stx_mode & 0111)) return E_ACCES;
  return 0;
}

static const char *look_path(const char *file, const char *path, char *buf, size_t size) {
  if (has_slash(file)) {
    long e = executable(file);
    if (!e) return file;
    if (e == E_NOENT || e == E_NOTDIR) die(127, "exec: \"", file, "\": stat ", file, ": ", errstr(e));
    die(126, "exec: \"", file, "\": ", errstr(e));
  }
  size_t flen = slen(file);
  for (const char *p = path; p && *p;) {
    const char *q = p;
    while (*q && *q != ':') q++;
    size_t dlen = (size_t)(q - p);
    const char *dir = dlen ? p : ".";
    if (!dlen) dlen = 1;
    if (dlen + 1 + flen < size) {
      memcpy(buf, dir, dlen);
      buf[dlen] = '/';
      memcpy(buf + dlen + 1, file, flen + 1);
      if (!executable(buf)) return buf;
    }
    if (!*q) break;
    p = q + 1;
  }
  die(127, "exec: \"", file, "\": executable file not found in $PATH");
}

/* ---- main ---- */

__attribute__((used)) static void cmain(long *sp) {
  /* Before anything else: no /proc/<pid>/mem or ptrace for the container while we hold CAP_SYS_ADMIN. */
  long r = SYS(__NR_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (r < 0) die(255, "prctl(PR_SET_DUMPABLE): ", errstr(-r));
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  if (argc < 5 || !seq(argv[1], "--caps") || !seq(argv[3], "--")) die(255, "usage: berth-seccomp-init --caps B:E:P:I:A -- ARGS...");
  uint64_t c[5];
  const char *p = argv[2];
  for (int i = 0; i < 5; i++) {
    c[i] = hex(&p);
    if (*p != (i < 4 ? ':' : 0)) die(255, "berth-seccomp-init: bad --caps");
    p++;
  }
  char **args = argv + 4;
  read_filter();
  long nnp = SYS(__NR_prctl, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (nnp < 0) die(255, "prctl(PR_GET_NO_NEW_PRIVS): ", errstr(-nnp));
  /* runc's order: without no_new_privs the filter needs CAP_SYS_ADMIN, so it goes first. */
  if (!nnp) load_filter();
  set_caps(c[0], c[1], c[2], c[3], c[4]);
  /* PATH as Go's os.Getenv sees it after runc set each entry: the last one wins. */
  const char *path = 0;
  for (char **e = envp; *e; e++)
    if ((*e)[0] == 'P' && (*e)[1] == 'A' && (*e)[2] == 'T' && (*e)[3] == 'H' && (*e)[4] == '=') path = *e + 5;
  static char buf[PATH_MAX];
  const char *exe = look_path(args[0], path, buf, sizeof buf);
  /* As late as possible: the fewest syscalls run under the filter. */
  if (nnp) load_filter();
  r = SYS(__NR_execve, exe, args, envp, 0, 0);
  die(r == -E_ACCES ? 126 : r == -E_NOENT ? 127 : 255, "exec ", exe, ": ", errstr(-r));
}

#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call cmain\n  hlt\n");
#else
__asm__(".text\n.global _start\n_start:\n  mov x29, #0\n  mov x0, sp\n  and sp, x0, #-16\n  bl cmain\n  brk #0\n");
#endif
