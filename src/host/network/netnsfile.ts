// A network namespace's file in /run/netns is a bind mount of the namespace
// made in berthd's mount namespace. A berthd started in another mount
// namespace (a fresh one each time under `ip netns exec`, as the cluster
// tests and issue 14's layout run it) finds the file left empty: it is on
// the same /run, but the mount stayed with the old mount namespace, and a
// setns() on it fails with EINVAL. As long as a process lives in the
// namespace (a container's init, an overlay's holder), the file can be made
// a mount of it again from /proc/<pid>/ns/net, as `ip netns attach` does.
import fs from 'node:fs';
import { execHost } from '../exec';
import { processStart } from '../process/start-time';
import { netnsPath, removeNetnsFile } from './ip';

/** Same inode and device: the file at `a` is (a mount of) the namespace `b` refers to. */
export function sameNs(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a);
    const y = fs.statSync(b);
    return x.ino === y.ino && x.dev === y.dev;
  } catch {
    return false;
  }
}

/** The network namespace of process `pid`, as a path. */
export function netnsOfPid(pid: number): string {
  return `/proc/${pid}/ns/net`;
}

/**
 * Makes /run/netns/<name> a mount of the network namespace of process
 * `pid`, which must still be the process that started at `start` (clock
 * ticks) before and after: a pid recycled meanwhile is never trusted. A file
 * that already is that namespace is left alone; a stale one (an empty file,
 * another mount) is detached and replaced. Returns whether the file is that
 * namespace now.
 */
export async function mountNetnsOf(name: string, pid: number, start: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1 || processStart(pid) !== start) return false;
  const nsFile = netnsPath(name);
  const target = netnsOfPid(pid);
  if (sameNs(nsFile, target)) return true;
  await removeNetnsFile(name);
  const r = await execHost('ip', ['netns', 'attach', name, String(pid)], { allowFailure: true, timeout: 10_000 });
  // the process may have ended (and its pid been taken) meanwhile: then the mount is of nothing of ours
  if (r.code === 0 && sameNs(nsFile, target) && processStart(pid) === start) return true;
  await removeNetnsFile(name);
  return false;
}
