// Where a container's cgroup lives on this host, for cgroup v1 (one
// hierarchy per controller, as on these machines) and v2 (unified).
import fs from 'node:fs';
import path from 'node:path';
import { cgroupVersion } from '../sysinfo';

let v1Mounts: Map<string, string> | undefined;

/** controller name → v1 mount point, read once from /proc/self/mountinfo. */
export function v1ControllerMounts(): Map<string, string> {
  if (v1Mounts) return v1Mounts;
  v1Mounts = new Map();
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOpts] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup') continue;
    const mnt = line.slice(0, sep).split(' ')[4];
    for (const opt of (superOpts ?? '').split(',')) {
      if (['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb', 'net_cls', 'perf_event'].includes(opt)) {
        if (!v1Mounts.has(opt)) v1Mounts.set(opt, mnt);
      }
    }
  }
  return v1Mounts;
}

/**
 * The directory of `cgroupsPath` (as written in the OCI spec, e.g.
 * `/berth-x/<id>`) for one controller; on v2 every controller shares one.
 */
export function cgroupDir(cgroupsPath: string, controller: string): string | undefined {
  if (cgroupVersion() === '2') return path.join('/sys/fs/cgroup', cgroupsPath);
  const mnt = v1ControllerMounts().get(controller);
  return mnt ? path.join(mnt, cgroupsPath) : undefined;
}

export function readCgroupFile(dir: string | undefined, file: string): string | undefined {
  if (!dir) return undefined;
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

/** The pids in a container's cgroup (for top and pause checks). */
export function cgroupPids(cgroupsPath: string): number[] {
  const dir = cgroupDir(cgroupsPath, cgroupVersion() === '2' ? '' : 'pids') ?? cgroupDir(cgroupsPath, 'memory');
  const raw = readCgroupFile(dir, 'cgroup.procs') ?? '';
  return raw
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}
