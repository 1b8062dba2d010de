/*
 * berth-seccomp-bpf: compiles a container's seccomp profile to the classic
 * BPF program runc would load for it, once, so that berth-exec only loads
 * it (runc compiles it again inside every `runc exec`).
 *
 * Input (stdin), one item a line, made by berthd from the OCI profile:
 *   default <action>                      (libseccomp action value, hex)
 *   enosys  0|1                           (1: prepend runc's -ENOSYS stub)
 *   arch <libseccomp arch name>           (x86_64, x86, x32, aarch64, ...)
 *   rule <action> <syscall> <nargs> [<index> <op> <value> <valueTwo>]...
 * Output: the struct sock_filter array, host endian, in the file named by
 * the one argument (written to <file>.tmp, then renamed).
 *
 * Rules are added as runc 1.1 adds them: a rule with the default action is
 * left out, an unknown syscall name is skipped, several conditions on one
 * argument become one rule each (libseccomp cannot AND them), else one
 * conditional rule. Like runc, the program starts with a stub that returns
 * ENOSYS for syscall numbers above the highest one the profile names (per
 * architecture; x32 apart from x86_64), unless the default action allows,
 * logs or traces, or already returns ENOSYS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <seccomp.h>

#define MAX_ARCH 8
#define MAX_NAMES 4096
#define MAX_INSNS 4096

static void die(const char *fmt, const char *a, int err) {
  fprintf(stderr, "berth-seccomp-bpf: ");
  fprintf(stderr, fmt, a);
  if (err) fprintf(stderr, ": %s", strerror(err));
  fputc('\n', stderr);
  exit(1);
}

static uint32_t archs[MAX_ARCH];
static int narch;
static char *names[MAX_NAMES];
static int nnames;

/* The highest syscall number the profile names for one libseccomp arch; -1 when none. */
static long last_syscall(uint32_t arch) {
  long max = -1;
  for (int i = 0; i < nnames; i++) {
    int nr = seccomp_syscall_resolve_name_arch(arch, names[i]);
    if (nr >= 0 && nr > max) max = nr;
  }
  return max;
}

struct prog { struct sock_filter insn[MAX_INSNS]; int n; };

static void emit(struct prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) {
  if (p->n >= MAX_INSNS) die("%s", "program too long", 0);
  p->insn[p->n++] = (struct sock_filter){ code, jt, jf, k };
}

/* Jump offsets to ENOSYS / FILTER are patched once the stub's length is known. */
enum { TO_NEXT = 0, TO_ENOSYS = 0xfe, TO_FILTER = 0xff };

static void jgt_enosys_else_filter(struct prog *p, uint32_t nr) {
  emit(p, BPF_JMP | BPF_JGT | BPF_K, TO_ENOSYS, TO_FILTER, nr);
}

static void stub(struct prog *p) {
  long amd64 = -1, x32 = -1, i386 = -1;
  int have_amd64 = 0, have_x32 = 0, have_i386 = 0;
  for (int i = 0; i < narch; i++) {
    if (archs[i] == SCMP_ARCH_X86_64) { have_amd64 = 1; amd64 = last_syscall(archs[i]); }
    else if (archs[i] == SCMP_ARCH_X32) { have_x32 = 1; x32 = last_syscall(archs[i]); }
    else if (archs[i] == SCMP_ARCH_X86) { have_i386 = 1; i386 = last_syscall(archs[i]); }
  }
  if (have_amd64 && amd64 < 0) have_amd64 = 0;
  if (have_x32 && x32 < 0) have_x32 = 0;
  if (have_i386 && i386 < 0) have_i386 = 0;
  /* Other architectures go straight to the filter (berthd only lists x86 ones on x86 hosts). */
  emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 4); /* seccomp_data.arch */
  int jx86_64 = -1, ji386 = -1;
  if (have_amd64 || have_x32) { jx86_64 = p->n; emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, AUDIT_ARCH_X86_64); }
  if (have_i386) { ji386 = p->n; emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, AUDIT_ARCH_I386); }
  emit(p, BPF_JMP | BPF_JA, 0, 0, 0); /* to the filter: patched */
  int ja_filter = p->n - 1;
  if (jx86_64 >= 0) {
    p->insn[jx86_64].jt = (uint8_t)(p->n - jx86_64 - 1);
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 0); /* seccomp_data.nr */
    if (have_amd64 && have_x32) {
      emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x40000000);
      jgt_enosys_else_filter(p, (uint32_t)x32);
      jgt_enosys_else_filter(p, (uint32_t)amd64);
    } else if (have_amd64) {
      emit(p, BPF_JMP | BPF_JSET | BPF_K, TO_FILTER, 0, 0x40000000);
      jgt_enosys_else_filter(p, (uint32_t)amd64);
    } else {
      emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, TO_FILTER, 0x40000000);
      jgt_enosys_else_filter(p, (uint32_t)x32);
    }
  }
  if (ji386 >= 0) {
    p->insn[ji386].jt = (uint8_t)(p->n - ji386 - 1);
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, 0);
    jgt_enosys_else_filter(p, (uint32_t)i386);
  }
  emit(p, BPF_RET | BPF_K, 0, 0, SCMP_ACT_ERRNO(ENOSYS));
  int enosys = p->n - 1, filter = p->n;
  p->insn[ja_filter].k = (uint32_t)(filter - ja_filter - 1);
  for (int i = 0; i < p->n; i++) {
    struct sock_filter *f = &p->insn[i];
    if (BPF_CLASS(f->code) != BPF_JMP || BPF_OP(f->code) == BPF_JA) continue;
    if (f->jt == TO_ENOSYS) f->jt = (uint8_t)(enosys - i - 1);
    else if (f->jt == TO_FILTER) f->jt = (uint8_t)(filter - i - 1);
    if (f->jf == TO_ENOSYS) f->jf = (uint8_t)(enosys - i - 1);
    else if (f->jf == TO_FILTER) f->jf = (uint8_t)(filter - i - 1);
  }
}

static uint32_t hex(const char *s) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s ? s : "", &end, 16);
  if (!s || errno || end == s || *end || v > 0xffffffffUL) die("bad number %s", s ? s : "(none)", 0);
  return (uint32_t)v;
}

static uint64_t u64(const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s ? s : "", &end, 10);
  if (!s || errno || end == s || *end) die("bad number %s", s ? s : "(none)", 0);
  return v;
}

int main(int argc, char **argv) {
  if (argc != 2) die("%s", "usage: berth-seccomp-bpf OUTPUT < profile", 0);
  char line[65536];
  scmp_filter_ctx ctx = NULL;
  uint32_t def = 0;
  int enosys = 0;
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char *save = NULL;
    char *kw = strtok_r(line, " ", &save);
    if (!kw) continue;
    if (!strcmp(kw, "default")) {
      if (ctx) die("%s", "default given twice", 0);
      def = hex(strtok_r(NULL, " ", &save));
      ctx = seccomp_init(def);
      if (!ctx) die("%s", "seccomp_init failed", 0);
      int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
      if (r < 0) die("%s", "seccomp_attr_set", -r);
    } else if (!ctx) {
      die("%s", "default must come first", 0);
    } else if (!strcmp(kw, "enosys")) {
      enosys = hex(strtok_r(NULL, " ", &save)) != 0;
    } else if (!strcmp(kw, "arch")) {
      const char *name = strtok_r(NULL, " ", &save);
      uint32_t a = name ? seccomp_arch_resolve_name(name) : 0;
      if (!a) die("unknown architecture %s", name ? name : "", 0);
      int r = seccomp_arch_add(ctx, a);
      if (r < 0 && r != -EEXIST) die("seccomp_arch_add %s", name, -r);
      if (narch < MAX_ARCH) archs[narch++] = a;
    } else if (!strcmp(kw, "rule")) {
      uint32_t act = hex(strtok_r(NULL, " ", &save));
      char *name = strtok_r(NULL, " ", &save);
      if (!name) die("%s", "rule without a syscall", 0);
      int nargs = (int)u64(strtok_r(NULL, " ", &save));
      if (nargs > 6 * 4) die("%s", "too many conditions", 0);
      struct scmp_arg_cmp cmp[24];
      int count[6] = { 0 };
      for (int i = 0; i < nargs; i++) {
        unsigned idx = (unsigned)u64(strtok_r(NULL, " ", &save));
        if (idx > 5) die("bad argument index in rule for %s", name, 0);
        cmp[i].arg = idx;
        cmp[i].op = (enum scmp_compare)u64(strtok_r(NULL, " ", &save));
        cmp[i].datum_a = u64(strtok_r(NULL, " ", &save));
        cmp[i].datum_b = u64(strtok_r(NULL, " ", &save));
        count[idx]++;
      }
      if (nnames < MAX_NAMES) names[nnames++] = strdup(name);
      if (act == def) continue;
      int nr = seccomp_syscall_resolve_name(name);
      if (nr == __NR_SCMP_ERROR) continue;
      int multi = 0;
      for (int i = 0; i < 6; i++) if (count[i] > 1) multi = 1;
      int r = 0;
      if (nargs == 0) r = seccomp_rule_add_array(ctx, act, nr, 0, NULL);
      else if (multi) for (int i = 0; i < nargs && r >= 0; i++) r = seccomp_rule_add_array(ctx, act, nr, 1, &cmp[i]);
      else r = seccomp_rule_add_array(ctx, act, nr, (unsigned)nargs, cmp);
      if (r < 0) die("adding the rule for %s", name, -r);
    } else {
      die("unknown line %s", kw, 0);
    }
  }
  if (!ctx) die("%s", "no default action", 0);
  /* libseccomp's program, through a temporary file (seccomp_export_bpf writes to an fd). */
  FILE *tmp = tmpfile();
  if (!tmp) die("%s", "tmpfile", errno);
  int r = seccomp_export_bpf(ctx, fileno(tmp));
  if (r < 0) die("%s", "seccomp_export_bpf", -r);
  static struct prog p;
  if (enosys) stub(&p);
  rewind(tmp);
  struct sock_filter f;
  while (fread(&f, sizeof f, 1, tmp) == 1) {
    if (p.n >= MAX_INSNS) die("%s", "program too long", 0);
    p.insn[p.n++] = f;
  }
  if (p.n > BPF_MAXINSNS) die("%s", "program longer than BPF_MAXINSNS", 0);
  char tmpname[4096];
  if (snprintf(tmpname, sizeof tmpname, "%s.tmp", argv[1]) >= (int)sizeof tmpname) die("%s", "output path too long", 0);
  FILE *out = fopen(tmpname, "we");
  if (!out) die("cannot create %s", tmpname, errno);
  if (fwrite(p.insn, sizeof p.insn[0], (size_t)p.n, out) != (size_t)p.n || fclose(out)) die("write %s", tmpname, errno);
  if (rename(tmpname, argv[1]) < 0) die("rename to %s", argv[1], errno);
  seccomp_release(ctx);
  return 0;
}
