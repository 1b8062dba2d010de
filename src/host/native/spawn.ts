// Starting a program without blocking the JS thread: the addon's
// posix_spawn (vfork-style, no copy of the daemon) runs on libuv's pool,
// where Node's child_process.spawn waits on the main thread until the
// child has exec'd (a fork of a ~100 MB process, milliseconds on a busy
// host). For programs that detach (conmon): own session, no ChildProcess
// object; the direct child is reaped here once it exits.
import net from 'node:net';
import { fsrootNative } from './addon';

/** What the child's fd i is: /dev/null, a pipe we read, a pipe we write. */
export type StdioKind = 'null' | 'read' | 'write';

export interface DetachedChild {
  pid: number;
  /** The parent's end of each pipe, by the child's fd number (undefined for /dev/null). */
  stdio: Array<net.Socket | undefined>;
  /** Resolves with the direct child's exit status (128 + signal when killed). */
  exited: Promise<number>;
}

type SpawnFn = (file: string, argv: string[], env: string[], cwd: string, stdio: number[]) => Promise<number[]>;
type ReapFn = (pid: number) => number;

export type DetachedSpawner = (file: string, args: string[], o: { env: Record<string, string>; cwd: string; stdio: StdioKind[] }) => Promise<DetachedChild>;

let chosen: DetachedSpawner | null | undefined;

/** The addon's spawner, or null when it cannot load (or BERTH_NATIVE_SPAWN=0): callers use child_process. */
export function detachedSpawner(): DetachedSpawner | null {
  if (chosen !== undefined) return chosen;
  chosen = null;
  if (process.env.BERTH_NATIVE_SPAWN === '0') return chosen;
  try {
    const n = fsrootNative() as unknown as { spawnDetached?: SpawnFn; reap?: ReapFn };
    if (typeof n.spawnDetached === 'function' && typeof n.reap === 'function') {
      const spawnFn = n.spawnDetached;
      const reap = n.reap;
      chosen = (file, args, o) => spawnWith(spawnFn, reap, file, args, o);
    }
  } catch {
    /* no addon */
  }
  return chosen;
}

const KIND: Record<StdioKind, number> = { null: 0, read: 1, write: 2 };

async function spawnWith(spawnFn: SpawnFn, reap: ReapFn, file: string, args: string[], o: { env: Record<string, string>; cwd: string; stdio: StdioKind[] }): Promise<DetachedChild> {
  const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  const res = await spawnFn(file, [file, ...args], env, o.cwd, o.stdio.map((k) => KIND[k]));
  const pid = res[0];
  const stdio = o.stdio.map((k, i) => {
    const fd = res[i + 1];
    if (k === 'null' || fd < 0) return undefined;
    const s = new net.Socket({ fd, readable: k === 'read', writable: k === 'write' });
    s.on('error', () => { /* the reader sees end/close */ });
    return s;
  });
  const exited = reapWhenDone(reap, pid);
  // A pipe's end usually means the child is gone: look right away.
  for (const s of stdio) s?.once('close', () => kick.get(pid)?.());
  return { pid, stdio, exited };
}

const kick = new Map<number, () => void>();

/**
 * waitpid(WNOHANG) on the JS thread (one system call) at growing intervals,
 * and whenever a pipe of the child closes, until the child has exited.
 */
function reapWhenDone(reap: ReapFn, pid: number): Promise<number> {
  return new Promise((resolve) => {
    let delay = 5;
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      let st: number;
      try {
        st = reap(pid);
      } catch {
        st = 255; // ECHILD: reaped elsewhere
      }
      if (st >= 0) {
        kick.delete(pid);
        resolve(st);
        return;
      }
      timer = setTimeout(check, delay);
      timer.unref();
      delay = Math.min(delay * 2, 1000);
    };
    kick.set(pid, check);
    check();
  });
}
