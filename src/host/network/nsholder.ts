// A network namespace's holder: a tiny process living in it, started in its
// own session (outside berthd's process group), whose pid and start time are
// recorded under the exec root. The namespace's file in /run/netns is a bind
// mount of berthd's mount namespace; a berthd restarted in another one (as
// under `ip netns exec`) sees only the empty file. Through the holder it
// mounts the same namespace again (`ip netns attach`), so an overlay's data
// plane survives a restart whatever mount namespace berthd runs in. A holder
// whose pid is gone or was recycled (another start time) is never trusted:
// its namespace is taken as gone and made anew.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { mountNetnsOf, sameNs } from './netnsfile';
import { processStart } from '../process/start-time';
import { leaveCgroups, removeCgroup } from './holdercgroup';

export interface Holder { pid: number; start: number }

function holderFile(dir: string, ns: string): string {
  return path.join(dir, `${ns}.json`);
}

/** The namespace's recorded holder, if that very process still lives. */
export function liveHolder(dir: string, ns: string): Holder | undefined {
  let h: Holder;
  try {
    h = JSON.parse(fs.readFileSync(holderFile(dir, ns), 'utf8')) as Holder;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(h.pid) || h.pid <= 1 || processStart(h.pid) !== h.start) return undefined;
  return h;
}

/**
 * Makes `/run/netns/<ns>` in berthd's mount namespace the holder's namespace
 * (a stale file left by a mount of another mount namespace is replaced).
 * False: no live holder (the namespace is to be made anew).
 */
export async function reattach(dir: string, ns: string): Promise<boolean> {
  const h = liveHolder(dir, ns);
  return !!h && mountNetnsOf(ns, h.pid, h.start);
}

/**
 * Starts a holder in the namespace mounted at `nsFile` and records it. It is
 * moved into cgroup `cgroup` of every hierarchy, out of berthd's: a stop of
 * berthd's cgroup (systemd's KillMode=control-group) or of its process group
 * does not end it; berthd's own removals do (stopHolder).
 */
export async function startHolder(dir: string, ns: string, nsFile: string, cgroup: string): Promise<Holder> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const child = spawn('nsenter', [`--net=${nsFile}`, '--', 'sleep', 'infinity'], { stdio: 'ignore', detached: true });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => resolve(child.pid!));
  });
  child.unref();
  // the start time is read once nsenter has entered (it execs sleep in place): a bounded wait for it
  const target = (): boolean => sameNs(nsFile, `/proc/${pid}/ns/net`);
  for (let i = 0; i < 200 && !target(); i++) await new Promise((r) => setTimeout(r, 10));
  const start = processStart(pid);
  if (start === undefined || !target()) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    throw new Error(`the holder of network namespace ${ns} did not start`);
  }
  const h = { pid, start };
  leaveCgroups(pid, cgroup);
  const tmp = `${holderFile(dir, ns)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(h), { mode: 0o600 });
  fs.renameSync(tmp, holderFile(dir, ns));
  return h;
}

/** Ends the namespace's holder (only the recorded process itself) and forgets it; the holders' cgroup goes with the last. */
export function stopHolder(dir: string, ns: string, cgroup: string): void {
  const h = liveHolder(dir, ns);
  if (h) {
    try { process.kill(h.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  try { fs.unlinkSync(holderFile(dir, ns)); } catch { /* none */ }
  // (busy while another holder, or this one not yet reaped by init, is in it: the next stop removes it)
  if (heldNamespaces(dir).length === 0) removeCgroup(cgroup);
}

/** The namespaces with a holder record under `dir` (cleanup). */
export function heldNamespaces(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
  } catch {
    return [];
  }
}
