// `ip netns exec` gives its command a fresh /sys for the namespace, which
// hides the cgroup filesystems mounted under /sys/fs/cgroup. An engine
// started that way (one "host" per network namespace) would run containers
// without cgroups; so when none are mounted but PID 1 has some, mount the
// same filesystems again (in the private mount namespace ip made). A bind
// from PID 1's tree is refused across mount namespaces; a cgroup mount with
// the same options reaches the same hierarchy.
import fs from 'node:fs';
import path from 'node:path';
import { execHost } from '../exec';
import { log } from '../../util/log';

const CGROUP_ROOT = '/sys/fs/cgroup';

interface MountLine {
  mnt: string;
  fstype: string;
  superOpts: string;
}

/** The mounts at or under /sys/fs/cgroup, parents first (mountinfo's order). */
function cgroupTree(mountinfo: string): MountLine[] {
  const out: MountLine[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const mnt = (line.slice(0, sep).split(' ')[4] ?? '').replace(/\\040/g, ' ');
    const [fstype, , superOpts] = line.slice(sep + 3).split(' ');
    if (mnt === CGROUP_ROOT || mnt.startsWith(CGROUP_ROOT + '/')) out.push({ mnt, fstype, superOpts: superOpts ?? '' });
  }
  return out;
}

const isCgroup = (m: MountLine) => m.fstype === 'cgroup' || m.fstype === 'cgroup2';

/** The mount points of the cgroup hierarchies berthd sees (v1 controllers, named ones, the v2 tree). */
export function cgroupHierarchies(): string[] {
  let info: string;
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return [...new Set(cgroupTree(info).filter(isCgroup).map((m) => m.mnt))];
}

/** Makes /sys/fs/cgroup show the host's cgroups again; a no-op when it does. */
export async function ensureCgroupMounts(): Promise<void> {
  let own: MountLine[];
  let init: MountLine[];
  try {
    own = cgroupTree(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    init = cgroupTree(fs.readFileSync('/proc/1/mountinfo', 'utf8'));
  } catch {
    return;
  }
  if (own.some(isCgroup) || !init.some(isCgroup)) return;
  for (const m of init) {
    if (m.fstype !== 'tmpfs' && !isCgroup(m)) continue;
    fs.mkdirSync(m.mnt, { recursive: true });
    const opts = m.superOpts.split(',').filter((o) => o && o !== 'rw').join(',');
    await execHost('mount', ['-t', m.fstype, ...(opts ? ['-o', opts] : []), m.fstype, m.mnt], { timeout: 10_000 });
    if (m.mnt === CGROUP_ROOT && m.fstype === 'tmpfs') copySymlinks();
  }
  log.info('cgroup filesystems were hidden (a fresh /sys, as `ip netns exec` makes): mounted them again', { path: CGROUP_ROOT });
}

/** The tmpfs's symlinks (cpu,cpuacct → cpu and the like), as PID 1 sees them. */
function copySymlinks(): void {
  const src = `/proc/1/root${CGROUP_ROOT}`;
  let names: string[] = [];
  try { names = fs.readdirSync(src); } catch { return; }
  for (const n of names) {
    try {
      const p = path.join(src, n);
      if (fs.lstatSync(p).isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(p), path.join(CGROUP_ROOT, n));
    } catch { /* best effort */ }
  }
}
