// A non-TTY `docker exec` without runc: berth-exec (native/fsroot/exec.c)
// enters the running container as `runc exec` does and runs one process on
// berthd's pipes. Everything runc would work out inside its own process is
// resolved here: from runc's state.json (init pid and start time, which
// namespaces the container has, its cgroups, keyring) and from the exec's
// OCI process (args, env, cwd, user, capabilities, no_new_privs, rlimits,
// oom_score_adj). The container's seccomp profile is compiled to BPF once
// (berth-seccomp-bpf, libseccomp, as runc does including runc's ENOSYS stub)
// and only loaded by each exec; runc compiles it again in every `runc exec`.
//
// plan() says "runc" (with the reason) for what berth-exec does not handle:
// user namespaces and rootless, AppArmor/SELinux labels, seccomp flags or
// notify actions, a filter not compiled yet (compiles start at container
// create; the next exec uses it), a missing binary, BERTH_NATIVE_EXEC=0.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { nativeProgramPath } from '../native/addon';
import { execHost } from '../exec';
import { log } from '../../util/log';
import { capMask } from './seccomp-init';
import type { OciProcess, OciSeccomp, OciSpec } from './spec-types';

/** The parts of runc's state.json berth-exec needs. */
interface RuncExecState {
  init_process_pid?: number;
  init_process_start?: number;
  cgroup_paths?: Record<string, string>;
  rootless?: boolean;
  config?: {
    namespaces?: Array<{ type: string }>;
    no_new_keyring?: boolean;
    process_label?: string;
    apparmor_profile?: string;
    rootless_euid?: boolean;
  };
}

const NS_NAMES: Record<string, string> = { NEWIPC: 'ipc', NEWUTS: 'uts', NEWNET: 'net', NEWPID: 'pid', NEWCGROUP: 'cgroup', NEWNS: 'mnt' };

const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5, RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10, RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

// libseccomp's action values (seccomp.h) and comparison operators (enum scmp_compare).
const EPERM = 1;
const ENOSYS = 38;
const OPS: Record<string, number> = {
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7,
};

/** libseccomp's value for an OCI action (runc's getAction), or undefined when berth-exec cannot load it. */
function actionValue(action: string, errnoRet: number | undefined): number | undefined {
  const ret = ((errnoRet ?? EPERM) & 0xffff) >>> 0;
  switch (action) {
    case 'SCMP_ACT_KILL': case 'SCMP_ACT_KILL_THREAD': return 0;
    case 'SCMP_ACT_KILL_PROCESS': return 0x80000000;
    case 'SCMP_ACT_TRAP': return 0x00030000;
    case 'SCMP_ACT_ERRNO': return (0x00050000 | ret) >>> 0;
    case 'SCMP_ACT_TRACE': return (0x7ff00000 | ret) >>> 0;
    case 'SCMP_ACT_LOG': return 0x7ffc0000;
    case 'SCMP_ACT_ALLOW': return 0x7fff0000;
    default: return undefined; // SCMP_ACT_NOTIFY needs a listener: runc's business
  }
}

/** Exported for tests: berth-seccomp-bpf's input for an OCI profile, or undefined when it cannot be compiled here. */
export function seccompInput(s: OciSeccomp): string | undefined {
  if (s.flags?.length) return undefined;
  const def = actionValue(s.defaultAction, s.defaultErrnoRet);
  if (def === undefined) return undefined;
  const allowish = ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'].includes(s.defaultAction);
  const lines = [`default ${def.toString(16)}`, `enosys ${allowish || s.defaultErrnoRet === ENOSYS ? 0 : 1}`];
  for (const a of s.architectures ?? []) {
    if (!a.startsWith('SCMP_ARCH_')) return undefined;
    lines.push(`arch ${a.slice('SCMP_ARCH_'.length).toLowerCase()}`);
  }
  for (const r of s.syscalls ?? []) {
    const act = actionValue(r.action, r.errnoRet);
    if (act === undefined) return undefined;
    const args: string[] = [];
    for (const a of r.args ?? []) {
      const op = OPS[a.op];
      if (op === undefined || !Number.isInteger(a.index)) return undefined;
      args.push(String(a.index), String(op), BigInt(Math.trunc(a.value)).toString(), BigInt(Math.trunc(a.valueTwo ?? 0)).toString());
    }
    for (const name of r.names) {
      if (!/^[a-z0-9_]+$/.test(name)) continue;
      lines.push(`rule ${act.toString(16)} ${name} ${(r.args ?? []).length}${args.length ? ` ${args.join(' ')}` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Compiled filters by the hash of their input: a file path once ready. */
class FilterCache {
  private readonly ready = new Map<string, string>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly dir: string, private readonly compiler: string) {}

  /** The compiled filter's path, or undefined (then its compile is started). */
  get(input: string): string | undefined {
    const key = crypto.createHash('sha256').update(input).digest('hex').slice(0, 32);
    const have = this.ready.get(key);
    // One stat: a filter removed from the exec root behind berthd is compiled again.
    if (have && fs.existsSync(have)) return have;
    if (have) this.ready.delete(key);
    const file = path.join(this.dir, `${key}.bpf`);
    if (fs.existsSync(file)) {
      this.ready.set(key, file);
      return file;
    }
    if (!this.pending.has(key)) this.pending.set(key, this.compile(key, file, input));
    return undefined;
  }

  private async compile(key: string, file: string, input: string): Promise<void> {
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const r = await execHost(this.compiler, [file], { input, timeout: 60_000, allowFailure: true });
      if (r.code === 0) this.ready.set(key, file);
      else log.warn('seccomp filter compile failed: execs of this profile use runc', { err: r.stderr.trim() });
    } catch (e) {
      log.warn('seccomp filter compile failed: execs of this profile use runc', { err: String(e) });
    } finally {
      this.pending.delete(key);
    }
  }
}

export interface NativeExecRequest {
  containerId: string;
  /** runc's --root. */
  runcRoot: string;
  /** The container's bundle spec (its seccomp profile). */
  spec: OciSpec;
  /** The exec's OCI process. */
  process: OciProcess;
  /** The exec's own directory (the env file goes there). */
  dir: string;
  pidFile: string;
  logFile?: string;
}

/** A plan: berth-exec's argv, or why runc runs this exec. */
export type NativeExecPlan = { args: string[] } | { runc: string };

export class NativeExec {
  private readonly bin: string | undefined;
  private readonly filters: FilterCache | undefined;

  /** `cacheDir`: where compiled filters are kept (under the daemon's exec root). */
  constructor(cacheDir: string) {
    const off = process.env.BERTH_NATIVE_EXEC === '0';
    const bin = off ? undefined : nativeProgramPath('berth-exec');
    const compiler = off ? undefined : nativeProgramPath('berth-seccomp-bpf');
    this.bin = bin && compiler ? bin : undefined;
    this.filters = this.bin && compiler ? new FilterCache(cacheDir, compiler) : undefined;
  }

  get available(): boolean {
    return !!this.bin;
  }

  /** Why berth-exec is not used at all ('' when it is). */
  get unavailable(): string {
    if (this.bin) return '';
    return process.env.BERTH_NATIVE_EXEC === '0' ? 'BERTH_NATIVE_EXEC=0' : 'berth-exec is not built';
  }

  /** The compiled filter of a spec's profile, when it is ready (else its compile is started). */
  compiledFilter(spec: OciSpec): string | undefined {
    const s = spec.linux?.seccomp;
    const input = s && this.filters ? seccompInput(s) : undefined;
    return input ? this.filters!.get(input) : undefined;
  }

  /** The filter for a spec: its path, '' for none, undefined when it cannot be had (yet). */
  private filterFor(spec: OciSpec): string | undefined {
    return spec.linux?.seccomp ? this.compiledFilter(spec) : '';
  }

  plan(r: NativeExecRequest): NativeExecPlan {
    if (!this.bin) return { runc: this.unavailable };
    const p = r.process;
    if (p.terminal) return { runc: 'a TTY exec' };
    if (p.apparmorProfile || p.selinuxLabel || r.spec.linux?.mountLabel) return { runc: 'a security label' };
    let st: RuncExecState;
    try {
      st = JSON.parse(fs.readFileSync(path.join(r.runcRoot, r.containerId, 'state.json'), 'utf8')) as RuncExecState;
    } catch {
      return { runc: 'no runc state' };
    }
    const cfg = st.config ?? {};
    if (!st.init_process_pid) return { runc: 'no init pid' };
    if (st.rootless || cfg.rootless_euid) return { runc: 'rootless' };
    if (cfg.process_label || cfg.apparmor_profile) return { runc: 'a security label' };
    const ns: string[] = [];
    for (const n of cfg.namespaces ?? []) {
      if (n.type === 'NEWUSER') return { runc: 'a user namespace' };
      const name = NS_NAMES[n.type];
      if (!name) return { runc: `namespace ${n.type}` };
      ns.push(name);
    }
    const filter = this.filterFor(r.spec);
    if (filter === undefined) return { runc: 'the seccomp filter is not compiled (yet)' };
    const args = ['--init-pid', String(st.init_process_pid)];
    if (st.init_process_start) args.push('--init-start', String(st.init_process_start));
    if (ns.length) args.push('--ns', ns.join(','));
    for (const cg of new Set(Object.values(st.cgroup_paths ?? {}))) args.push('--cgroup', cg);
    if (p.cwd) args.push('--cwd', p.cwd);
    const u = p.user ?? { uid: 0, gid: 0 };
    args.push('--user', `${u.uid}:${u.gid}:${(u.additionalGids ?? []).join(',')}`);
    if (p.capabilities) {
      const c = p.capabilities;
      args.push('--caps', [c.bounding, c.effective, c.permitted, c.inheritable, c.ambient].map(capMask).join(':'));
    } else {
      args.push('--caps', '0:0:0:0:0');
    }
    if (p.noNewPrivileges) args.push('--nnp');
    for (const l of p.rlimits ?? []) {
      const res = RLIMITS[l.type];
      if (res === undefined) return { runc: `rlimit ${l.type}` };
      args.push('--rlimit', `${res}:${rlim(l.soft)}:${rlim(l.hard)}`);
    }
    if (p.oomScoreAdj !== undefined) args.push('--oom-score-adj', String(p.oomScoreAdj));
    if (filter) args.push('--seccomp', filter);
    if (!cfg.no_new_keyring) args.push('--keyring', `_ses.${r.containerId}`);
    const envFile = path.join(r.dir, 'env');
    fs.writeFileSync(envFile, p.env.filter((e) => e.includes('=') && !e.includes('\0')).map((e) => `${e}\0`).join(''), { mode: 0o600 });
    args.push('--env-file', envFile, '--pid-file', r.pidFile);
    if (r.logFile) args.push('--log', r.logFile);
    args.push('--', ...p.args);
    return { args };
  }

  /** Runs berth-exec with a plan's argv on pipes (stdin a pipe or /dev/null). */
  spawn(args: string[], stdin: boolean): ChildProcess {
    return spawn(this.bin!, args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: {} });
  }
}

/** An rlimit value: RLIM_INFINITY (2^64-1, which JSON gives as a rounded double) is "inf". */
function rlim(v: number): string {
  return v < 0 || v >= 2 ** 63 ? 'inf' : BigInt(Math.trunc(v)).toString();
}
