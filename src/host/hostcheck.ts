// What berthd needs from this host, checked without changing anything
// (`berth system check`): programs, filesystems, cgroups and kernel
// features, each with the fix when it is missing. Kernel features are found
// as loaded modules (/sys/module), built-in or loadable modules
// (/lib/modules) or the kernel's config (/proc/config.gz, /boot/config-*).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

export type CheckStatus = 'ok' | 'missing' | 'warn';

export interface HostCheck {
  name: string;
  status: CheckStatus;
  /** What was found (path, mode, version). */
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
  /** berthd cannot work without it (missing → `check` fails). */
  required: boolean;
}

/** A program as execHost finds it (PATH), with the daemon's extra dirs for runc/conmon. */
function findProgram(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean).concat(extraDirs);
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch { /* not here */ }
  }
  return undefined;
}

function read(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

let kernelConfigCache: string | undefined;
function kernelConfig(): string {
  if (kernelConfigCache !== undefined) return kernelConfigCache;
  kernelConfigCache = read(`/boot/config-${os.release()}`);
  if (!kernelConfigCache) {
    try {
      kernelConfigCache = zlib.gunzipSync(fs.readFileSync('/proc/config.gz')).toString();
    } catch {
      kernelConfigCache = '';
    }
  }
  return kernelConfigCache;
}

/** How a kernel feature is present: loaded, built in, loadable, or not at all (undefined when unknown). */
export function kernelFeature(module: string, configKey: string): 'loaded' | 'built in' | 'module' | 'missing' | 'unknown' {
  if (fs.existsSync(`/sys/module/${module}`)) return 'loaded';
  const cfg = new RegExp(`^${configKey}=(y|m)$`, 'm').exec(kernelConfig());
  if (cfg) return cfg[1] === 'y' ? 'built in' : 'module';
  const modDir = `/lib/modules/${os.release()}`;
  if (new RegExp(`/${module}\\.ko`).test(read(`${modDir}/modules.builtin`))) return 'built in';
  if (new RegExp(`/${module}\\.ko`).test(read(`${modDir}/modules.dep`))) return 'module';
  return kernelConfig() || fs.existsSync(modDir) ? 'missing' : 'unknown';
}

/** cgroup v1 (or hybrid: v1 controllers beside a unified mount), or v2 alone. */
export function cgroupMode(): 'v1' | 'hybrid' | 'v2' | 'none' {
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
  if (!fs.existsSync('/sys/fs/cgroup/memory')) return 'none';
  return fs.existsSync('/sys/fs/cgroup/unified') ? 'hybrid' : 'v1';
}

export function checkHost(): HostCheck[] {
  const out: HostCheck[] = [];
  const program = (name: string, pkg: string, required: boolean, extra: string[] = [], why = '') => {
    const p = findProgram(name, extra);
    out.push(p
      ? { name, status: 'ok', detail: p, required }
      : { name, status: required ? 'missing' : 'warn', detail: `not found${why ? ` (${why})` : ''}`, fix: `apt-get install ${pkg}`, required });
  };
  const uid = process.getuid?.() ?? 0;
  out.push(uid === 0
    ? { name: 'root', status: 'ok', detail: 'running as root', required: false }
    : { name: 'root', status: 'warn', detail: `uid ${uid}: berthd must run as root`, fix: 'start berthd as root (sudo, or scripts/install-service.sh)', required: false });
  const [major] = process.versions.node.split('.').map(Number);
  out.push(major >= 20
    ? { name: 'node', status: 'ok', detail: `v${process.versions.node}`, required: true }
    : { name: 'node', status: 'missing', detail: `v${process.versions.node} is too old`, fix: 'install Node.js 20 or newer (Debian: apt-get install nodejs from bookworm-backports, or NodeSource)', required: true });
  program('runc', 'runc', true, ['/usr/sbin', '/usr/bin']);
  program('conmon', 'conmon', true, ['/usr/sbin', '/usr/bin']);
  program('ip', 'iproute2', true);
  program('iptables', 'iptables', true);
  program('iptables-restore', 'iptables', true);
  program('script', 'util-linux', false, [], 'exec -t');
  program('ps', 'procps', false, [], 'top');
  program('setfattr', 'attr', false, [], 'overlay whiteouts in layers');
  const tini = ['/usr/bin/tini-static', '/usr/libexec/podman/catatonit', '/usr/bin/catatonit'].find((p) => fs.existsSync(p));
  out.push(tini
    ? { name: 'init (--init)', status: 'ok', detail: tini, required: false }
    : { name: 'init (--init)', status: 'warn', detail: 'no tini-static or catatonit', fix: 'apt-get install tini', required: false });
  const seccomp = '/usr/share/containers/seccomp.json';
  out.push(fs.existsSync(seccomp)
    ? { name: 'seccomp profile', status: 'ok', detail: seccomp, required: true }
    : { name: 'seccomp profile', status: 'missing', detail: `${seccomp} not found`, fix: 'apt-get install golang-github-containers-common', required: true });
  const overlayFs = /\toverlay$/m.test(read('/proc/filesystems'));
  const overlayMod = overlayFs ? 'loaded' : kernelFeature('overlay', 'CONFIG_OVERLAY_FS');
  out.push(overlayFs || overlayMod === 'loaded' || overlayMod === 'built in'
    ? { name: 'overlay', status: 'ok', detail: 'overlayfs available', required: true }
    : { name: 'overlay', status: 'missing', detail: `overlayfs ${overlayMod}`, fix: overlayMod === 'module' ? 'modprobe overlay' : 'a kernel with CONFIG_OVERLAY_FS', required: true });
  const mode = cgroupMode();
  const wanted = ['cpu', 'cpuacct', 'memory', 'pids', 'devices', 'freezer', 'blkio', 'cpuset'];
  const enabled = new Set(read('/proc/cgroups').split('\n').filter((l) => /\t1$/.test(l)).map((l) => l.split('\t')[0]));
  const lacking = wanted.filter((c) => !enabled.has(c));
  if (mode === 'v1' || mode === 'hybrid') {
    out.push(lacking.length === 0
      ? { name: 'cgroups', status: 'ok', detail: `${mode}, controllers ${wanted.join(' ')}`, required: true }
      : { name: 'cgroups', status: 'missing', detail: `${mode}, controllers not enabled: ${lacking.join(' ')}`, fix: `enable them on the kernel command line (cgroup_enable=${lacking.join(',')})`, required: true });
  } else {
    out.push({ name: 'cgroups', status: 'missing', detail: mode === 'v2' ? 'cgroup v2 only (unified)' : 'no cgroup filesystem mounted',
      fix: mode === 'v2' ? 'Berth drives cgroup v1 controllers: boot with systemd.unified_cgroup_hierarchy=0' : 'mount the cgroup v1 controllers under /sys/fs/cgroup (cgroupfs-mount)', required: true });
  }
  const feature = (name: string, module: string, key: string, required: boolean, use: string) => {
    const s = kernelFeature(module, key);
    const ok = s === 'loaded' || s === 'built in' || s === 'module';
    out.push(ok
      ? { name, status: 'ok', detail: `${s}${s === 'module' ? ` (loaded on first use; modprobe ${module})` : ''}`, required }
      : { name, status: required ? 'missing' : 'warn', detail: `${s === 'unknown' ? 'unknown (no kernel config or module list)' : 'not in this kernel'} — ${use}`, fix: `modprobe ${module}, or a kernel with ${key}`, required });
  };
  feature('bridge', 'bridge', 'CONFIG_BRIDGE', true, 'bridge networks');
  feature('veth', 'veth', 'CONFIG_VETH', true, 'container network interfaces');
  feature('netfilter nat', 'nf_nat', 'CONFIG_NF_NAT', true, 'published ports and masquerading');
  feature('br_netfilter', 'br_netfilter', 'CONFIG_BRIDGE_NETFILTER', false, 'iptables on bridged traffic');
  feature('vxlan', 'vxlan', 'CONFIG_VXLAN', false, 'overlay networks (not built in Berth yet)');
  feature('ipvs', 'ip_vs', 'CONFIG_IP_VS', false, 'service load balancing (not built in Berth yet)');
  const fwd = read('/proc/sys/net/ipv4/ip_forward').trim();
  out.push(fwd === '1'
    ? { name: 'ip_forward', status: 'ok', detail: 'on', required: false }
    : { name: 'ip_forward', status: 'warn', detail: 'off (berthd turns it on when it starts)', fix: 'sysctl -w net.ipv4.ip_forward=1', required: false });
  return out;
}
