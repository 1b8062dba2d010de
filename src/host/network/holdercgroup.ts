// The cgroup of the overlay namespaces' holders (see nsholder): one of their
// own, beside berthd's in every hierarchy, so that a stop of berthd's cgroup
// (systemd's KillMode=control-group) or a kill of its process group leaves
// them — and so the overlays' namespaces — alive, as the containers' are.
import fs from 'node:fs';
import path from 'node:path';
import { cgroupHierarchies } from '../cgroups/mounts';

/** A v1 cpuset cgroup takes no process until it has CPUs and memory nodes: its parent's. */
function inheritCpuset(dir: string, root: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const own = path.join(dir, f);
    try {
      if (fs.readFileSync(own, 'utf8').trim() !== '') continue;
      fs.writeFileSync(own, fs.readFileSync(path.join(root, f), 'utf8').trim());
    } catch {
      /* not a cpuset hierarchy */
    }
  }
}

/**
 * Moves process `pid` into cgroup `name` (made at the top of every
 * hierarchy if missing). Best effort per hierarchy: one that refuses (a
 * confined daemon, a read-only mount) keeps it where it was. Returns the
 * hierarchies it moved in.
 */
export function leaveCgroups(pid: number, name: string): string[] {
  const moved: string[] = [];
  for (const root of cgroupHierarchies()) {
    const dir = path.join(root, name);
    try {
      fs.mkdirSync(dir, { recursive: true });
      inheritCpuset(dir, root);
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
      moved.push(root);
    } catch {
      /* this hierarchy keeps it */
    }
  }
  return moved;
}

/** Removes cgroup `name` from every hierarchy where it is empty (a holder just killed may take a moment to leave it). */
export function removeCgroup(name: string): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const root of cgroupHierarchies()) {
    const dir = path.join(root, name);
    for (let i = 0; i < 20 && fs.existsSync(dir); i++) {
      try {
        fs.rmdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break;
        Atomics.wait(pause, 0, 0, 10);
      }
    }
  }
}
