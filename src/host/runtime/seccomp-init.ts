// Containers created without runc compiling their seccomp filter. runc's
// init compiles the profile with libseccomp in every `runc create` (~20 ms
// of CPU per container); berthd already compiles each profile once for
// berth-exec. When that filter is ready and the container qualifies,
// runc's config has no `linux.seccomp` and the process starts as
// berth-seccomp-init (native/fsroot/seccomp-init.c), bind-mounted
// read-only at /dev/.berth-init with the compiled filter appended: it loads
// the filter, sets the capability sets runc would have set and execs the
// command, all before the command's first instruction.
//
// Every later way into such a container must load the filter too:
// berth-exec loads it itself (from the container's profile, kept in the
// bundle's spec.json), and an exec through `runc exec` (TTY, or a
// fallback) runs behind the loader as well (wrapProcess).
//
// Only when nothing in the container can reach the loader while it holds
// CAP_SYS_ADMIN: its own pid namespace, no user namespace, no
// CAP_SYS_ADMIN or CAP_SYS_PTRACE, no security label; and only when the
// command is found in the image beforehand, so a missing command is still
// runc's create-time error (exit 127, container left Created).
// BERTH_SECCOMP_INIT=0 turns it off.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fsrootNative, O_PATH } from '../native/addon';
import { log } from '../../util/log';
import { CAP_NUMBERS } from './exec';
import type { OciCapabilities, OciProcess, OciSpec } from './spec-types';

export const INIT_PATH = '/dev/.berth-init';
/** What the loader itself needs: loading a filter without no_new_privs, and dropping from the bounding set. */
const LOADER_CAPS = ['CAP_SYS_ADMIN', 'CAP_SETPCAP'];
/** A container holding one of these could reach the loader (remount it, or trace it). */
const UNSAFE_CAPS = ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'];
const MAGIC = Buffer.from('BERTHBPF');
const KERNEL_DIRS = ['/proc', '/sys', '/dev'];

/** True when the spec (a bundle's config.json) starts its process behind the loader. */
export function createdWithInit(spec: OciSpec | undefined): boolean {
  return spec?.process?.args?.[0] === INIT_PATH;
}

export class SeccompInit {
  private readonly made = new Map<string, string>();
  private loaderBytes: Buffer | undefined;
  private loaderTag = '';

  /** `dir`: where the compiled filters are (the loader copies go beside them); `loader`: the built berth-seccomp-init. */
  constructor(private readonly dir: string, private readonly loader: string) {}

  /** The loader with the compiled filter `bpf` appended, made once per filter; undefined when it cannot be made. */
  private initFile(bpf: string): string | undefined {
    const have = this.made.get(bpf);
    // One stat: a file removed from the exec root behind berthd is made again, not bind-mounted missing.
    if (have && fs.existsSync(have)) return have;
    try {
      if (!this.loaderBytes) {
        this.loaderBytes = fs.readFileSync(this.loader);
        this.loaderTag = crypto.createHash('sha256').update(this.loaderBytes).digest('hex').slice(0, 12);
      }
      const file = path.join(this.dir, `${path.basename(bpf, '.bpf')}-${this.loaderTag}.init`);
      if (!fs.existsSync(file)) {
        const filter = fs.readFileSync(bpf);
        if (filter.length === 0 || filter.length % 8 !== 0 || filter.length / 8 > 4096) throw new Error(`bad filter size ${filter.length}`);
        const count = Buffer.alloc(4);
        count.writeUInt32LE(filter.length / 8);
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, Buffer.concat([this.loaderBytes, filter, count, MAGIC]), { mode: 0o555 });
        fs.chmodSync(tmp, 0o555);
        fs.renameSync(tmp, file);
      }
      this.made.set(bpf, file);
      return file;
    } catch (e) {
      log.warn('seccomp init: cannot make the loader: runc compiles filters', { err: String(e) });
      return undefined;
    }
  }

  /**
   * The config runc creates the container from: `spec` with its filter
   * (compiled at `bpf`) moved into the loader; or why runc keeps it.
   */
  wrap(spec: OciSpec, bpf: string): { spec: OciSpec } | { no: string } {
    const p = spec.process;
    const linux = spec.linux;
    if (!linux?.seccomp) return { no: 'no seccomp profile' };
    if (p.apparmorProfile || p.selinuxLabel || linux.mountLabel) return { no: 'a security label' };
    if (!linux.namespaces.some((n) => n.type === 'pid' && !n.path)) return { no: 'no pid namespace of its own' };
    if (linux.namespaces.some((n) => n.type === 'user')) return { no: 'a user namespace' };
    const caps = p.capabilities;
    if (!caps) return { no: 'no capabilities' };
    const bnd = new Set(caps.bounding);
    if (UNSAFE_CAPS.some((c) => bnd.has(c))) return { no: 'CAP_SYS_ADMIN or CAP_SYS_PTRACE' };
    const sets = [caps.bounding, caps.effective, caps.permitted, caps.inheritable ?? [], caps.ambient ?? []];
    if (sets.some((s) => s.some((c) => CAP_NUMBERS[c] === undefined || !bnd.has(c)))) return { no: 'capabilities outside the bounding set' };
    const devs = spec.mounts.filter((m) => path.posix.normalize(m.destination) === '/dev');
    if (devs.length !== 1 || devs[0].type !== 'tmpfs') return { no: '/dev is not the usual tmpfs' };
    if (spec.mounts.some((m) => path.posix.normalize(m.destination) === INIT_PATH)) return { no: `${INIT_PATH} is taken` };
    const why = commandFound(spec);
    if (why) return { no: why };
    const init = this.initFile(bpf);
    if (!init) return { no: 'no loader' };
    const wrapped: OciSpec = {
      ...spec,
      process: wrapProcess(p),
      mounts: [...spec.mounts, { destination: INIT_PATH, type: 'bind', source: init, options: ['bind', 'ro', 'nosuid', 'nodev'] }],
      linux: { ...linux },
    };
    delete wrapped.linux.seccomp;
    return { spec: wrapped };
  }
}

/**
 * A process run behind the loader: the loader first, told the sets the
 * process must end with; runc gives the loader what it needs on top (for a
 * non-root user through the ambient set, the only one an execve keeps).
 */
export function wrapProcess(p: OciProcess): OciProcess {
  const c: OciCapabilities = p.capabilities ?? { bounding: [], effective: [], permitted: [] };
  const union = (...sets: Array<string[] | undefined>) => [...new Set(sets.flatMap((s) => s ?? []))];
  const root = p.user.uid === 0;
  const masks = [c.bounding, c.effective, c.permitted, c.inheritable, c.ambient].map(capMask).join(':');
  return {
    ...p,
    args: [INIT_PATH, '--caps', masks, '--', ...p.args],
    capabilities: {
      bounding: union(c.bounding, LOADER_CAPS),
      effective: union(c.effective, LOADER_CAPS),
      permitted: union(c.permitted, c.ambient, LOADER_CAPS),
      inheritable: root ? c.inheritable : union(c.inheritable, c.permitted, c.ambient, LOADER_CAPS),
      ambient: root ? c.ambient : union(c.ambient, c.permitted, LOADER_CAPS),
    },
  };
}

/** A capability list as the hex mask berth-exec and the loader take. */
export function capMask(names: string[] | undefined): string {
  let m = 0n;
  for (const n of names ?? []) {
    const bit = CAP_NUMBERS[n];
    if (bit !== undefined) m |= 1n << BigInt(bit);
  }
  return m.toString(16);
}

/**
 * '' when runc's init would find the command (Go's LookPath) in the
 * container as it will be: looked up in the image's root with the kernel
 * resolving links inside it, and not under a mount that could hide it.
 * Otherwise why not, and runc looks it up itself (and reports it).
 */
function commandFound(spec: OciSpec): string {
  if (!spec.process.args[0]) return 'no command';
  // Go 1.19 refuses what a relative entry finds: leave those to runc.
  const candidates = lookupCandidates(spec.process);
  if (!candidates) return 'a relative command path or PATH entry';
  const mounts = spec.mounts.map((m) => ({ dest: path.posix.normalize(m.destination), m }));
  const under = (f: string, d: string) => f === d || f.startsWith(d === '/' ? '/' : `${d}/`);
  let root: number;
  try {
    root = fs.openSync(spec.root.path, O_PATH | fs.constants.O_DIRECTORY);
  } catch {
    return 'no root';
  }
  try {
    const n = fsrootNative();
    const rootReal = fs.readlinkSync(`/proc/self/fd/${root}`);
    for (const cand of candidates) {
      const bound = mounts.find((x) => x.dest === cand);
      // --init: a bind of a host executable onto this very path.
      if (bound) return bound.m.type === 'bind' && bound.m.source && hostExecutable(bound.m.source) ? '' : 'a mount over the command';
      let fd: number;
      try {
        fd = n.openInRoot(root, cand, O_PATH);
      } catch {
        continue;
      }
      try {
        const st = fs.fstatSync(fd);
        if (st.isDirectory() || (st.mode & 0o111) === 0) continue;
        const real = fs.readlinkSync(`/proc/self/fd/${fd}`);
        const inside = real.startsWith(`${rootReal}/`) ? real.slice(rootReal.length) : undefined;
        if (!inside) return 'the command resolves outside the root';
        for (const f of [cand, inside]) {
          if (KERNEL_DIRS.some((d) => under(f, d))) return 'a command under /proc, /sys or /dev';
          if (mounts.some((x) => !KERNEL_DIRS.some((d) => under(x.dest, d)) && under(f, x.dest))) return 'a mount over the command';
        }
        return '';
      } finally {
        fs.closeSync(fd);
      }
    }
    return 'command not found in the image';
  } catch (e) {
    return `lookup failed: ${String(e)}`;
  } finally {
    fs.closeSync(root);
  }
}

const START = 'exec failed: unable to start container process: ';

/**
 * The paths Go's exec.LookPath tries for the process's command, in order:
 * the name itself when it has a slash, else each PATH entry (the last PATH
 * wins, as runc sets the environment; an empty PATH is none, as
 * filepath.SplitList). undefined when one of them is relative: Go looks
 * from the cwd there, which neither lookup here models.
 */
function lookupCandidates(p: OciProcess): string[] | undefined {
  const file = p.args[0] ?? '';
  if (file.includes('/')) return file.startsWith('/') ? [file] : undefined;
  const value = ([...p.env].reverse().find((e) => e.startsWith('PATH=')) ?? 'PATH=').slice(5);
  const dirs = value === '' ? [] : value.split(':');
  if (dirs.some((d) => !d.startsWith('/'))) return undefined;
  return dirs.map((d) => path.posix.join(d, file));
}

/**
 * For an exec into a running container behind the loader: runc's own
 * start error when the command is certainly not there (looked up in the
 * container's root as it is now, /proc/<pid>/root, mounts and all), so
 * that nothing runs and the exec fails as a `runc exec` would. undefined
 * when it is there, or when this cannot tell (the loader then looks).
 */
export function execLookupError(initPid: number, p: OciProcess): string | undefined {
  const file = p.args[0] ?? '';
  const candidates = lookupCandidates(p);
  if (!candidates) return undefined;
  let root: number;
  try {
    root = fs.openSync(`/proc/${initPid}/root`, O_PATH | fs.constants.O_DIRECTORY);
  } catch {
    return undefined;
  }
  try {
    const n = fsrootNative();
    let err = '';
    for (const cand of candidates) {
      let fd: number;
      try {
        fd = n.openInRoot(root, cand, O_PATH);
      } catch (e) {
        err ||= String((e as NodeJS.ErrnoException).code);
        continue;
      }
      try {
        const st = fs.fstatSync(fd);
        if (!st.isDirectory() && (st.mode & 0o111) !== 0) return undefined;
        err ||= 'EACCES';
      } finally {
        fs.closeSync(fd);
      }
    }
    if (!file.includes('/')) return `${START}exec: "${file}": executable file not found in $PATH`;
    if (err === 'ENOENT') return `${START}exec: "${file}": stat ${file}: no such file or directory`;
    if (err === 'ENOTDIR') return `${START}exec: "${file}": stat ${file}: not a directory`;
    if (err === 'EACCES') return `${START}exec: "${file}": permission denied`;
    return undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(root);
  }
}

function hostExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}
