// runc, run through execHost with the daemon's own --root (each daemon, and
// so each test daemon, keeps its container states apart).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execHost, HostExecError } from '../exec';
import { SystemError } from '../../util/errors';
import type { OciResources } from './spec-types';
import { processStart } from '../process/start-time';

export interface RuncState { status: string; pid: number; start?: number }

export class Runc {
  constructor(readonly bin: string, readonly root: string) {}

  private args(a: string[]): string[] {
    return ['--root', this.root, ...a];
  }

  async start(id: string): Promise<void> {
    if (await this.startByFifo(id)) return;
    await execHost(this.bin, this.args(['start', id]), { timeout: 30_000 });
  }

  /**
   * What `runc start` does, without a process: runc init waits to write one
   * byte into <state>/exec.fifo and then execs the user's process; runc
   * start reads the fifo and removes it. Returns false (runc does it, with
   * its own errors) when there is no fifo or poststart hooks must run.
   */
  private async startByFifo(id: string): Promise<boolean> {
    const dir = path.join(this.root, id);
    const fifo = path.join(dir, 'exec.fifo');
    let st: RuncStateFile;
    try {
      // runc create has just written it (page cache): read at once rather than
      // queue a pool job behind a burst's mounts and namespaces.
      st = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
    } catch {
      return false;
    }
    if (!fs.existsSync(fifo) || !st.init_process_pid || (st.config?.hooks?.poststart ?? []).length) return false;
    // Opening the read end blocks until init opens the write end; should init
    // be dead, a write end of our own releases the open (then nothing is read).
    const guard = setInterval(() => {
      if (initAlive(st.init_process_pid!, st.init_process_start)) return;
      try {
        fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      } catch { /* our reader is not waiting yet: next tick */ }
    }, 100);
    try {
      const fh = await fsp.open(fifo, 'r');
      let data: Buffer;
      try {
        data = await fh.readFile();
      } finally {
        await fh.close();
      }
      if (data.length === 0) throw new HostExecError(this.bin, this.args(['start', id]), 1, 'container process is already dead');
    } finally {
      clearInterval(guard);
    }
    fs.rmSync(fifo, { force: true });
    return true;
  }

  async kill(id: string, signal: string | number): Promise<void> {
    await execHost(this.bin, this.args(['kill', id, String(signal)]), { timeout: 10_000 });
  }

  /** Removes runc's state and the container's cgroups; no error when already gone. */
  async delete(id: string): Promise<void> {
    // No state directory: runc has nothing to delete (it would only say so).
    if (!fs.existsSync(path.join(this.root, id))) return;
    if (await this.deleteStopped(id)) return;
    const r = await execHost(this.bin, this.args(['delete', '--force', id]), { timeout: 30_000, allowFailure: true });
    if (r.code !== 0 && !/does not exist|not exist|no such/i.test(r.stderr)) {
      throw new HostExecError(this.bin, this.args(['delete', '--force', id]), r.code, r.stderr);
    }
  }

  /**
   * What `runc delete` does for a container whose init has exited, without
   * a process: remove its (empty) cgroups, then its state directory. Returns
   * false — and changes nothing runc would still need — whenever anything is
   * unusual (init alive, poststop hooks, RDT, a busy cgroup): runc does it then.
   */
  private async deleteStopped(id: string): Promise<boolean> {
    const dir = path.join(this.root, id);
    let st: RuncStateFile;
    try {
      st = JSON.parse(await fsp.readFile(path.join(dir, 'state.json'), 'utf8'));
    } catch {
      return false;
    }
    if (!st.init_process_pid || initAlive(st.init_process_pid, st.init_process_start)) return false;
    if (st.intel_rdt_path || Object.values(st.config?.hooks ?? {}).some((h) => Array.isArray(h) && h.length)) return false;
    for (const p of new Set(Object.values(st.cgroup_paths ?? {}))) {
      if (!p.startsWith('/sys/fs/cgroup/') || !removeCgroup(p)) return false;
    }
    await fsp.rm(dir, { recursive: true, force: true });
    return true;
  }

  /** Freezes the container (`docker pause`, the freezer cgroup). */
  async pause(id: string): Promise<void> {
    await this.control(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.control(['resume', id]);
  }

  /** Live resource changes (`docker update`); devices stay as created. */
  async update(id: string, r: OciResources): Promise<void> {
    const { devices: _d, ...rest } = r;
    await this.control(['update', '--resources', '-', id], JSON.stringify(rest));
  }

  /** A command beyond the lifecycle; its failure in Docker's words ("Cannot pause container: ..."). */
  private async control(a: string[], input?: string): Promise<void> {
    const r = await execHost(this.bin, this.args(a), { timeout: 15_000, allowFailure: true, input });
    if (r.code !== 0) {
      const m = r.stderr.trim().replace(/^.*?level=error msg="(.*)"\s*$/s, '$1');
      throw new SystemError(`Cannot ${a[0]} container: ${m || `exit ${r.code}`}`);
    }
  }

  /** The init's start time runc recorded (its own check of the pid), if the record names `pid`. */
  private initStart(id: string, pid: number): number | undefined {
    try {
      const st = JSON.parse(fs.readFileSync(path.join(this.root, id, 'state.json'), 'utf8')) as RuncStateFile;
      return st.init_process_pid === pid ? st.init_process_start : undefined;
    } catch {
      return undefined;
    }
  }

  async state(id: string): Promise<RuncState | undefined> {
    const known = stateFromFiles(this.root, id);
    if (known !== 'unknown') return known;
    const r = await execHost(this.bin, this.args(['state', id]), { timeout: 10_000, allowFailure: true });
    if (r.code !== 0) return undefined;
    try {
      const s = JSON.parse(r.stdout) as { status: string; pid: number };
      return { status: s.status, pid: s.pid, start: this.initStart(id, s.pid) };
    } catch {
      return undefined;
    }
  }
}

/** The parts of runc's <root>/<id>/state.json used here. */
interface RuncStateFile {
  init_process_pid?: number;
  init_process_start?: number;
  cgroup_paths?: Record<string, string>;
  intel_rdt_path?: string;
  config?: { hooks?: Record<string, unknown[]> };
}

/** Whether the process `pid` that started at `start` (clock ticks, /proc stat field 22) still exists. */
function initAlive(pid: number, start: number | undefined): boolean {
  const at = processStart(pid);
  return at !== undefined && (start === undefined || at === start);
}

/**
 * What `runc state` answers, read as runc itself decides it (its
 * container.Status): the init gone (pid and start time, as runc checks
 * them) is stopped, a frozen freezer cgroup paused, the exec fifo still
 * there created, else running. No process: a daemon restarted with 1,000
 * containers ran `runc state` for each, one after the other (~29 ms
 * each). 'unknown' when anything is not as expected: runc is asked then.
 */
export function stateFromFiles(root: string, id: string): RuncState | undefined | 'unknown' {
  const dir = path.join(root, id);
  let st: RuncStateFile;
  try {
    st = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as RuncStateFile;
  } catch (e) {
    // no state directory: runc would say "does not exist" (undefined); anything else: ask runc
    return (e as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync(dir) ? undefined : 'unknown';
  }
  const pid = st.init_process_pid;
  if (!pid || st.init_process_start === undefined) return 'unknown';
  const start = st.init_process_start;
  if (!initAlive(pid, start)) return { status: 'stopped', pid: 0, start };
  const frozen = frozenState(st.cgroup_paths ?? {});
  if (frozen === undefined) return 'unknown';
  if (frozen) return { status: 'paused', pid, start };
  if (fs.existsSync(path.join(dir, 'exec.fifo'))) return { status: 'created', pid, start };
  return { status: 'running', pid, start };
}

/**
 * Whether the container's cgroup is frozen: v1's freezer.state FROZEN, or
 * v2's cgroup.freeze 1; undefined when neither can be read (runc decides).
 */
function frozenState(paths: Record<string, string>): boolean | undefined {
  const read = (f: string): string | undefined => {
    try {
      return fs.readFileSync(f, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  if (paths.freezer) {
    const v = read(path.join(paths.freezer, 'freezer.state'));
    return v === undefined ? undefined : v === 'FROZEN';
  }
  const unified = paths[''];
  if (unified) {
    const v = read(path.join(unified, 'cgroup.freeze'));
    return v === undefined ? undefined : v === '1';
  }
  return undefined;
}

/** rmdir of a cgroup and its sub-cgroups, deepest first; false if one is busy (processes left). */
function removeCgroup(p: string): boolean {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(p, { withFileTypes: true });
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
  for (const e of entries) if (e.isDirectory() && !removeCgroup(path.join(p, e.name))) return false;
  try {
    fs.rmdirSync(p);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
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
