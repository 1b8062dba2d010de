// What a stopped daemon may leave on the host besides its network: mounts
// under its roots, runc states, cgroup directories. `berthd --cleanup`
// (daemon/cleanup.ts) finds and removes them, always by exact path.
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

function pidAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Container ids under a runc --root and whether their init process is alive. */
export function runcStates(root: string): Array<{ id: string; alive: boolean }> {
  let ids: string[] = [];
  try {
    ids = fs.readdirSync(root);
  } catch {
    return [];
  }
  const out: Array<{ id: string; alive: boolean }> = [];
  for (const id of ids) {
    try {
      const st = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as { init_process_pid?: number };
      out.push({ id, alive: pidAlive(st.init_process_pid ?? 0) });
    } catch { /* not a container state */ }
  }
  return out;
}

export async function runcDelete(runtime: string, root: string, id: string): Promise<void> {
  await execHost(runtime, ['--root', root, 'delete', '--force', id], { allowFailure: true, timeout: 20_000 });
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
