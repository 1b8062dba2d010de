// Builds the OCI runtime spec (config.json) for a container the way Docker
// does by default: namespaces, Docker's capability set, the default seccomp
// profile, masked/readonly /proc paths, cgroup resources and rlimits capped
// at the host's hard limits.
import fs from 'node:fs';
import { InvalidParameter } from '../../util/errors';
import { defaultSeccomp, customSeccomp } from './seccomp';
import { hostHasCaps } from './exec';
import { applyDevices, applyDeviceCgroupRules, applyInit, applyHostDevices, type DeviceMapping } from './spec-extra';
import type { ResolvedUser } from './users';
import type { OciMount, OciNamespace, OciResources, OciRlimit, OciSpec } from './spec-types';

export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const ALL_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The knobs the spec builder reads: Docker's Config/HostConfig fields. */
export interface SpecInput {
  id: string;
  rootfs: string;
  args: string[];
  env: string[];
  workingDir: string;
  tty: boolean;
  openStdin: boolean;
  hostname: string;
  domainname: string;
  user: ResolvedUser;
  /** Files bind-mounted at /etc/{hostname,hosts,resolv.conf} when present. */
  etcFiles: { hostname?: string; hosts?: string; resolvConf?: string };
  cgroupsPath: string;
  host: HostConfigLike;
}

export interface HostConfigLike {
  Privileged?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  SecurityOpt?: string[] | null;
  DeviceCgroupRules?: string[] | null;
  ReadonlyRootfs?: boolean;
  NetworkMode?: string;
  PidMode?: string;
  IpcMode?: string;
  UTSMode?: string;
  ShmSize?: number;
  OomScoreAdj?: number;
  Ulimits?: Array<{ Name: string; Soft: number; Hard: number }> | null;
  Sysctls?: Record<string, string> | null;
  Memory?: number;
  MemoryReservation?: number;
  MemorySwap?: number;
  MemorySwappiness?: number | null;
  OomKillDisable?: boolean | null;
  CpuShares?: number;
  CpuQuota?: number;
  CpuPeriod?: number;
  NanoCpus?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  MaskedPaths?: string[] | null;
  ReadonlyPaths?: string[] | null;
}

/** Normalizes a capability name (`net_admin`, `CAP_NET_ADMIN`) or throws Docker's error. */
export function normalizeCap(c: string): string {
  const up = c.toUpperCase();
  if (up === 'ALL') return 'ALL';
  const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPS.includes(name)) throw new InvalidParameter(`invalid capability: ${c}`);
  return name;
}

/** Docker's default set adjusted by --cap-add / --cap-drop (ALL allowed in both). */
export function effectiveCaps(h: HostConfigLike): string[] {
  if (h.Privileged) return [...ALL_CAPS];
  const add = (h.CapAdd ?? []).map(normalizeCap);
  const drop = (h.CapDrop ?? []).map(normalizeCap);
  let caps = add.includes('ALL') ? [...ALL_CAPS] : [...DEFAULT_CAPS];
  if (drop.includes('ALL')) caps = [];
  for (const c of drop) caps = caps.filter((x) => x !== c);
  for (const c of add) if (c !== 'ALL' && !caps.includes(c)) caps.push(c);
  return caps;
}

let hostLimitsCache: Map<string, number> | undefined;

/** Hard limits of this process (the daemon's), by RLIMIT_ name; Infinity for unlimited. */
export function hostHardLimits(): Map<string, number> {
  if (hostLimitsCache) return hostLimitsCache;
  const names: Record<string, string> = {
    'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA',
    'Max stack size': 'RLIMIT_STACK', 'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS',
    'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE', 'Max locked memory': 'RLIMIT_MEMLOCK',
    'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS', 'Max pending signals': 'RLIMIT_SIGPENDING',
    'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE', 'Max realtime priority': 'RLIMIT_RTPRIO',
    'Max realtime timeout': 'RLIMIT_RTTIME',
  };
  const m = new Map<string, number>();
  try {
    for (const line of fs.readFileSync('/proc/self/limits', 'utf8').split('\n').slice(1)) {
      const label = line.slice(0, 26).trim();
      const rest = line.slice(26).trim().split(/\s+/);
      const name = names[label];
      if (!name) continue;
      m.set(name, rest[1] === 'unlimited' ? Infinity : Number(rest[1]));
    }
  } catch { /* no /proc: leave empty, nothing is capped */ }
  hostLimitsCache = m;
  return m;
}

function rlimits(h: HostConfigLike): OciRlimit[] {
  const hard = hostHardLimits();
  const cap = (type: string, v: number) => Math.min(v, hard.get(type) ?? Infinity);
  const out = new Map<string, OciRlimit>();
  // Docker's containers inherit the engine's open-files limit (1048576); never above the host's hard limit.
  const nofile = cap('RLIMIT_NOFILE', 1048576);
  if (Number.isFinite(nofile)) out.set('RLIMIT_NOFILE', { type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile });
  for (const u of h.Ulimits ?? []) {
    const type = `RLIMIT_${String(u.Name).toUpperCase()}`;
    if (![...Object.values(RLIMIT_TYPES)].includes(type)) throw new InvalidParameter(`invalid ulimit type: ${u.Name}`);
    if (u.Soft > u.Hard) throw new InvalidParameter(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
    const hv = u.Hard < 0 ? Infinity : cap(type, u.Hard);
    const sv = u.Soft < 0 ? hv : Math.min(u.Soft, hv);
    const big = 2 ** 64 - 1;
    out.set(type, { type, hard: Number.isFinite(hv) ? hv : big, soft: Number.isFinite(sv) ? sv : big });
  }
  return [...out.values()];
}

const RLIMIT_TYPES = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS', 'RLIMIT_NPROC', 'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS', 'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
];

let swapCache: boolean | undefined;
function swapAccounting(): boolean {
  if (swapCache === undefined) {
    swapCache = fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') || fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  }
  return swapCache;
}

/** Docker's swap limit: MemorySwap as set, else twice the memory limit; 0 for none. */
export function memorySwapLimit(memory: number | undefined, swap: number | undefined): number {
  if (swap) return swap;
  return memory ? memory * 2 : 0;
}

/** cgroup resources from HostConfig (only what is set). */
export function resources(h: HostConfigLike): OciResources {
  const r: OciResources = { devices: [{ allow: false, access: 'rwm' }] };
  if (h.Privileged) r.devices = [{ allow: true, access: 'rwm' }];
  const mem: NonNullable<OciResources['memory']> = {};
  if (h.Memory) mem.limit = h.Memory;
  if (h.MemoryReservation) mem.reservation = h.MemoryReservation;
  // Left out when the kernel has no swap accounting.
  const swap = memorySwapLimit(h.Memory, h.MemorySwap);
  if (swap && swapAccounting()) mem.swap = swap;
  if (h.MemorySwappiness != null && h.MemorySwappiness >= 0) mem.swappiness = h.MemorySwappiness;
  if (h.OomKillDisable) mem.disableOOMKiller = true;
  if (Object.keys(mem).length) r.memory = mem;
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (h.CpuShares) cpu.shares = h.CpuShares;
  if (h.NanoCpus) {
    cpu.period = 100000;
    cpu.quota = Math.round((h.NanoCpus * 100000) / 1e9);
  }
  if (h.CpuQuota) cpu.quota = h.CpuQuota;
  if (h.CpuPeriod) cpu.period = h.CpuPeriod;
  if (h.CpusetCpus) cpu.cpus = h.CpusetCpus;
  if (h.CpusetMems) cpu.mems = h.CpusetMems;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (h.PidsLimit && h.PidsLimit > 0) r.pids = { limit: h.PidsLimit };
  if (h.BlkioWeight) r.blockIO = { weight: h.BlkioWeight };
  return r;
}

function defaultMounts(h: HostConfigLike): OciMount[] {
  const shm = h.ShmSize && h.ShmSize > 0 ? h.ShmSize : 64 * 1024 * 1024;
  const sysRo = h.Privileged ? [] : ['ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...sysRo] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', ...sysRo] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm}`] },
  ];
}

/** dockerd's parseSecurityOpt: its accepted forms and its two error texts. */
export function parseSecurityOpts(opts: string[]): { noNewPrivileges: boolean; seccomp: 'default' | 'unconfined' | string } {
  let noNewPrivileges = false;
  let seccomp = 'default';
  for (const o of opts) {
    if (o === 'no-new-privileges') { noNewPrivileges = true; continue; }
    if (o === 'disable') continue; // a label option; no LSM here
    const sep = o.includes('=') ? '=' : o.includes(':') ? ':' : '';
    if (!sep) throw new InvalidParameter(`invalid --security-opt 1: "${o}"`);
    const i = o.indexOf(sep);
    const k = o.slice(0, i);
    const v = o.slice(i + 1);
    if (k === 'no-new-privileges') {
      // Go's strconv.ParseBool
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) noNewPrivileges = true;
      else if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) noNewPrivileges = false;
      else throw new InvalidParameter(`invalid --security-opt 2: "${o}"`);
    } else if (k === 'seccomp') {
      seccomp = v;
    } else if (k === 'label' || k === 'apparmor' || k === 'systempaths') {
      /* accepted; no LSM on this host */
    } else {
      throw new InvalidParameter(`invalid --security-opt 2: "${o}"`);
    }
  }
  return { noNewPrivileges, seccomp };
}

/** Docker's environment: image+container env, then PATH default, HOSTNAME, HOME, TERM. */
export function containerEnv(env: string[], hostname: string, home: string, tty: boolean): string[] {
  const out = [...env];
  const has = (k: string) => out.some((e) => e === k || e.startsWith(`${k}=`));
  if (!has('PATH')) out.unshift(`PATH=${DEFAULT_PATH}`);
  if (!has('HOSTNAME')) out.unshift(`HOSTNAME=${hostname}`);
  if (tty && !has('TERM')) out.push('TERM=xterm');
  if (!has('HOME')) out.push(`HOME=${home || '/'}`);
  return out;
}

/**
 * The container's sysctls: the user's, over Docker 20.10's defaults for a
 * network namespace of its own — any user may bind ports below 1024 and open
 * ICMP echo sockets (`ping` without setuid or CAP_NET_RAW), as on Docker.
 */
function sysctls(h: HostConfigLike): Record<string, string> {
  const mode = h.NetworkMode ?? '';
  const own = mode !== 'host' && !mode.startsWith('container:');
  return {
    ...(own ? { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' } : {}),
    ...(h.Sysctls ?? {}),
  };
}

export function buildSpec(i: SpecInput): OciSpec {
  const h = i.host;
  const sysctl = sysctls(h);
  // Only what this host has: --privileged asks for all (as Docker, from our bounding set).
  const caps = hostHasCaps(effectiveCaps(h));
  const sec = parseSecurityOpts(h.SecurityOpt ?? []);
  const ns: OciNamespace[] = [{ type: 'mount' }];
  if (h.PidMode !== 'host') ns.push({ type: 'pid' });
  if (h.IpcMode !== 'host') ns.push({ type: 'ipc' });
  const hostNet = h.NetworkMode === 'host';
  if (h.UTSMode !== 'host' && !hostNet) ns.push({ type: 'uts' });
  // A new network namespace with only lo; the network hook may point it at a prepared netns.
  if (!hostNet) ns.push({ type: 'network' });

  const mounts = defaultMounts(h);
  if (i.etcFiles.hostname && !hostNet) mounts.push({ destination: '/etc/hostname', type: 'bind', source: i.etcFiles.hostname, options: ['rbind', 'rprivate'] });
  if (i.etcFiles.hosts) mounts.push({ destination: '/etc/hosts', type: 'bind', source: i.etcFiles.hosts, options: ['rbind', 'rprivate'] });
  if (i.etcFiles.resolvConf) mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: i.etcFiles.resolvConf, options: ['rbind', 'rprivate'] });

  const spec: OciSpec = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: i.tty,
      user: { uid: i.user.uid, gid: i.user.gid, ...(i.user.additionalGids.length ? { additionalGids: i.user.additionalGids } : {}) },
      args: i.args,
      env: containerEnv(i.env, i.hostname, i.user.home, i.tty),
      cwd: i.workingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: rlimits(h),
      noNewPrivileges: sec.noNewPrivileges,
      ...(h.OomScoreAdj ? { oomScoreAdj: h.OomScoreAdj } : {}),
    },
    root: { path: i.rootfs, readonly: !!h.ReadonlyRootfs },
    ...(hostNet || h.UTSMode === 'host' ? {} : { hostname: i.hostname }),
    ...(i.domainname && !hostNet ? { domainname: i.domainname } : {}),
    mounts,
    linux: {
      namespaces: ns,
      resources: resources(h),
      cgroupsPath: i.cgroupsPath,
      ...(Object.keys(sysctl).length ? { sysctl } : {}),
      ...(h.Privileged
        ? {}
        : {
            maskedPaths: h.MaskedPaths ?? MASKED_PATHS,
            readonlyPaths: h.ReadonlyPaths ?? READONLY_PATHS,
          }),
    },
  };
  if (!h.Privileged && sec.seccomp !== 'unconfined') {
    if (sec.seccomp === 'default' || sec.seccomp === '' || sec.seccomp === 'builtin') {
      const prof = defaultSeccomp(caps);
      if (prof) spec.linux.seccomp = prof;
    } else {
      spec.linux.seccomp = customSeccomp(sec.seccomp, caps);
    }
  }
  applyDevices(spec, (h as { Devices?: DeviceMapping[] | null }).Devices, !!h.Privileged);
  applyDeviceCgroupRules(spec, h.DeviceCgroupRules, !!h.Privileged);
  applyInit(spec, (h as { Init?: boolean | null }).Init);
  applyHostDevices(spec, !!h.Privileged);
  return spec;
}

/** Sets (or with `undefined`, removes) the network namespace of a spec: the network hook's netns. */
export function setNetns(spec: OciSpec, nsPath: string | undefined): void {
  const list = spec.linux.namespaces;
  const i = list.findIndex((n) => n.type === 'network');
  if (nsPath === undefined) {
    if (i >= 0) list.splice(i, 1);
    return;
  }
  if (i >= 0) list[i] = { type: 'network', path: nsPath };
  else list.push({ type: 'network', path: nsPath });
}

/** Replaces the spec's mount at `m.destination` (or adds it): the volume hook's mounts. */
export function putMount(spec: OciSpec, m: OciMount): void {
  const i = spec.mounts.findIndex((x) => x.destination === m.destination);
  if (i >= 0) spec.mounts[i] = m;
  else spec.mounts.push(m);
}
