// Docker's default seccomp profile, read from Debian's containers-common
// (/usr/share/containers/seccomp.json, the same profile in Docker's JSON
// form) and turned into the OCI form for this host's architecture and the
// container's capabilities (rules gated on caps/arches/kernel apply or not).
import fs from 'node:fs';
import os from 'node:os';
import type { OciSeccomp, OciSeccompSyscall } from './spec-types';
import { InvalidParameter } from '../../util/errors';

const PROFILE_PATHS = ['/usr/share/containers/seccomp.json', '/etc/containers/seccomp.json'];

interface DockerRule {
  names?: string[];
  name?: string;
  action: string;
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo?: number; op: string }> | null;
  includes?: { arches?: string[]; caps?: string[]; minKernel?: string };
  excludes?: { arches?: string[]; caps?: string[]; minKernel?: string };
}

interface DockerProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: Array<{ architecture: string; subArchitectures?: string[] }>;
  syscalls: DockerRule[];
}

let cached: DockerProfile | null | undefined;

function loadProfile(): DockerProfile | null {
  if (cached !== undefined) return cached;
  cached = null;
  for (const p of PROFILE_PATHS) {
    try {
      cached = JSON.parse(fs.readFileSync(p, 'utf8')) as DockerProfile;
      break;
    } catch { /* next */ }
  }
  return cached;
}

/** True when a default profile is available on this host. */
export function haveDefaultProfile(): boolean {
  return loadProfile() !== null;
}

const SECCOMP_ARCH: Record<string, string> = {
  x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM', ia32: 'SCMP_ARCH_X86',
  s390x: 'SCMP_ARCH_S390X', ppc64: 'SCMP_ARCH_PPC64LE', mips64el: 'SCMP_ARCH_MIPSEL64',
};
const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le' };

function kernelAtLeast(min: string): boolean {
  const parse = (v: string) => v.split(/[.-]/).slice(0, 2).map((x) => parseInt(x, 10) || 0);
  const [a, b] = parse(os.release());
  const [c, d] = parse(min);
  return a !== c ? a > c : b >= d;
}

/** The default profile for a container holding `caps` (CAP_* names); undefined when none is installed. */
export function defaultSeccomp(caps: string[]): OciSeccomp | undefined {
  const prof = loadProfile();
  if (!prof) return undefined;
  const out = convertProfile(prof, caps);
  harden(out.syscalls!, new Set(caps));
  return out;
}

/** A profile the client sent (`--security-opt seccomp=<file>`: the CLI sends the file's JSON). */
export function customSeccomp(json: string, caps: string[]): OciSeccomp {
  let prof: DockerProfile;
  try {
    prof = JSON.parse(json) as DockerProfile;
  } catch (e) {
    throw new InvalidParameter(`Decoding seccomp profile failed: ${(e as Error).message}`);
  }
  if (!prof || typeof prof.defaultAction !== 'string') throw new InvalidParameter('Decoding seccomp profile failed: defaultAction is required');
  return convertProfile({ ...prof, syscalls: prof.syscalls ?? [] }, caps);
}

function convertProfile(prof: DockerProfile, caps: string[]): OciSeccomp {
  const arch = SECCOMP_ARCH[process.arch];
  const goArch = GO_ARCH[process.arch] ?? process.arch;
  const archEntry = prof.archMap?.find((a) => a.architecture === arch);
  const architectures = archEntry ? [archEntry.architecture, ...(archEntry.subArchitectures ?? [])] : arch ? [arch] : [];
  const capSet = new Set(caps);
  const syscalls: OciSeccompSyscall[] = [];
  for (const r of prof.syscalls) {
    const inc = r.includes ?? {};
    const exc = r.excludes ?? {};
    if (inc.arches?.length && !inc.arches.includes(goArch)) continue;
    if (exc.arches?.length && exc.arches.includes(goArch)) continue;
    if (inc.caps?.length && !inc.caps.every((c) => capSet.has(c))) continue;
    if (exc.caps?.length && exc.caps.some((c) => capSet.has(c))) continue;
    if (inc.minKernel && !kernelAtLeast(inc.minKernel)) continue;
    const names = r.names ?? (r.name ? [r.name] : []);
    if (!names.length) continue;
    const s: OciSeccompSyscall = { names, action: r.action };
    if (r.errnoRet !== undefined) s.errnoRet = r.errnoRet;
    if (r.args?.length) s.args = r.args.map((a) => ({ index: a.index, value: a.value, ...(a.valueTwo ? { valueTwo: a.valueTwo } : {}), op: a.op }));
    syscalls.push(s);
  }
  return {
    defaultAction: prof.defaultAction,
    ...(prof.defaultErrnoRet !== undefined ? { defaultErrnoRet: prof.defaultErrnoRet } : {}),
    architectures,
    syscalls,
  };
}

/**
 * containers-common's profile is podman's, which (for rootless user
 * namespaces) allows mount, unshare, keyctl, reboot and namespace-creating
 * clone to everyone. Docker gates those on capabilities; do the same so a
 * Berth container gets Docker's attack surface.
 */
const GATED: Array<{ cap: string; names: string[] }> = [
  { cap: 'CAP_SYS_ADMIN', names: ['mount', 'umount', 'umount2', 'unshare', 'setns', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'move_mount', 'open_tree', 'pivot_root', 'quotactl', 'quotactl_fd', 'lookup_dcookie', 'syslog', 'sethostname', 'setdomainname', 'mount_setattr'] },
  { cap: 'CAP_SYS_BOOT', names: ['reboot'] },
  { cap: 'CAP_SYS_MODULE', names: ['init_module', 'finit_module', 'delete_module'] },
  { cap: 'CAP_DAC_READ_SEARCH', names: ['open_by_handle_at'] },
  { cap: 'CAP_SYS_TIME', names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'adjtimex', 'clock_adjtime', 'clock_adjtime64'] },
  { cap: 'CAP_SYS_PACCT', names: ['acct'] },
  { cap: 'CAP_SYS_NICE', names: ['get_mempolicy', 'mbind', 'set_mempolicy'] },
  { cap: 'CAP_SYSLOG', names: ['syslog'] },
];
/** Never allowed by Docker's default profile (the kernel keyring is not namespaced). */
const ALWAYS_DENIED = ['keyctl', 'add_key', 'request_key'];
const CLONE_NEW_FLAGS = 0x7e020000; // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

function harden(syscalls: OciSeccompSyscall[], caps: Set<string>): void {
  const deny = new Set(ALWAYS_DENIED);
  for (const g of GATED) if (!caps.has(g.cap)) for (const n of g.names) deny.add(n);
  // syslog is allowed with either CAP_SYS_ADMIN or CAP_SYSLOG.
  if (caps.has('CAP_SYS_ADMIN') || caps.has('CAP_SYSLOG')) deny.delete('syslog');
  const sysAdmin = caps.has('CAP_SYS_ADMIN');
  if (!sysAdmin) {
    deny.add('clone');
    deny.add('clone3');
  }
  for (const s of syscalls) {
    if (s.action !== 'SCMP_ACT_ALLOW') continue;
    s.names = s.names.filter((n) => !deny.has(n));
  }
  for (let i = syscalls.length - 1; i >= 0; i--) if (syscalls[i].names.length === 0) syscalls.splice(i, 1);
  const denied = [...deny].filter((n) => n !== 'clone' && n !== 'clone3');
  if (denied.length) syscalls.push({ names: denied, action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
  if (!sysAdmin) {
    // clone without namespace flags only (the flags are argument 1 on s390x, 0 elsewhere).
    const index = process.arch === 's390x' ? 1 : 0;
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index, value: CLONE_NEW_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    // clone3 passes flags in memory seccomp cannot see: ENOSYS makes libc fall back to clone.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  }
}
