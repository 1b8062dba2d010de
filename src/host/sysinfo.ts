// Facts about the host for /info and /version, read once from /proc and /sys.
import fs from 'node:fs';
import os from 'node:os';
import { execHost } from './exec';

export interface HostInfo {
  kernelVersion: string;
  operatingSystem: string;
  osVersion: string;
  architecture: string; // uname -m (x86_64)
  goArch: string; // OCI/Go name (amd64)
  ncpu: number;
  memTotal: number;
  cgroupVersion: '1' | '2';
  cgroupDriver: 'cgroupfs';
  hostname: string;
}

function readOsRelease(): Record<string, string> {
  try {
    const out: Record<string, string> = {};
    for (const line of fs.readFileSync('/etc/os-release', 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line);
      if (m) out[m[1]] = m[2].replace(/^"|"$/g, '');
    }
    return out;
  } catch {
    return {};
  }
}

export function goArch(machine = os.arch()): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
  return map[machine] ?? machine;
}

/**
 * cgroup v2 only when the unified hierarchy is mounted at /sys/fs/cgroup
 * itself; hybrid hosts (v2 mounted with no controllers) count as v1.
 */
export function cgroupVersion(): '1' | '2' {
  try {
    return fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
  } catch {
    return '1';
  }
}

let cached: HostInfo | undefined;

export function hostInfo(): HostInfo {
  if (cached) return cached;
  const rel = readOsRelease();
  cached = {
    kernelVersion: os.release(),
    operatingSystem: rel.PRETTY_NAME ?? 'Linux',
    osVersion: rel.VERSION_ID ?? '',
    architecture: os.machine(),
    goArch: goArch(),
    ncpu: os.cpus().length,
    memTotal: os.totalmem(),
    cgroupVersion: cgroupVersion(),
    cgroupDriver: 'cgroupfs',
    hostname: os.hostname(),
  };
  return cached;
}

/** The filesystem type backing a directory (for Info's "Backing Filesystem"). */
export function backingFs(dir: string): string {
  try {
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n');
    let best = '';
    let type = 'unknown';
    for (const line of mounts) {
      const [, mnt, fstype] = line.split(' ');
      if (!mnt) continue;
      if ((dir === mnt || dir.startsWith(mnt.endsWith('/') ? mnt : mnt + '/')) && mnt.length > best.length) {
        best = mnt;
        type = fstype;
      }
    }
    return type;
  } catch {
    return 'unknown';
  }
}

const commits = new Map<string, Promise<string>>();

/** `commit:` of `<runtime> --version` (docker info's "runc version"), asked once per binary; '' if it cannot run. */
export function runtimeCommit(bin: string): Promise<string> {
  let p = commits.get(bin);
  if (!p) {
    p = execHost(bin, ['--version'], { timeout: 5_000, allowFailure: true })
      .then((r) => /^commit:\s*(\S+)/m.exec(r.stdout)?.[1] ?? '')
      .catch(() => '');
    commits.set(bin, p);
  }
  return p;
}
