// What a stopped daemon may leave on the host besides its network: mounts
// under its roots, cgroup directories (the runtime's states:
// runtime/conmon.ts). `berthd --cleanup` (daemon/cleanup.ts) finds and
// removes them, always by exact path.
import fs from 'node:fs';
import path from 'node:path';
import { execHost } from './exec';

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const root = path.resolve(dir);
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === root || m.startsWith(root + '/'))
    .sort((a, b) => b.length - a.length);
}

export async function unmountLazy(mountPoint: string): Promise<void> {
  await execHost('umount', ['-l', mountPoint], { allowFailure: true, timeout: 15_000 });
}

/**
 * Removes a daemon's cgroup parent (e.g. `berth-bt1a2b3c`) under every
 * cgroup hierarchy, children first. Returns the directories still busy.
 */
export function removeCgroupParent(parent: string): string[] {
  const busy: string[] = [];
  const rm = (dir: string): void => {
    let kids: fs.Dirent[] = [];
    try {
      kids = fs.readdirSync(dir, { withFileTypes: true }).filter((k) => k.isDirectory());
    } catch {
      return;
    }
    for (const k of kids) rm(path.join(dir, k.name));
    try {
      fs.rmdirSync(dir);
    } catch {
      busy.push(dir);
    }
  };
  const base = '/sys/fs/cgroup';
  const top = [base];
  try {
    for (const c of fs.readdirSync(base)) top.push(path.join(base, c));
  } catch { /* no cgroupfs */ }
  for (const t of top) {
    const dir = path.join(t, parent);
    if (fs.existsSync(dir)) rm(dir);
  }
  return busy;
}
