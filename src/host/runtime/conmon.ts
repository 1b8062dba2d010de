// One conmon per container. conmon runs `runc create`, holds the container's
// stdio, writes the k8s-file log, and writes the exit code to
// <exit-dir>/<id> when the container exits — also while berthd is down,
// because conmon double-forks into its own session and outlives us.
//
// Start path: spawn conmon (it reports the container pid on the sync pipe,
// _OCI_SYNCPIPE), then one `runc start`. Exits are learned from the exit dir
// through inotify (fs.watch), with a slow poll as a safety net.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Runc, type RuncState } from './runc';
import { SystemError, InvalidParameter } from '../../util/errors';
import { log } from '../../util/log';
import type { OciSpec } from './spec-types';

export interface CreateOptions {
  /** The OCI runtime conmon runs for this container (a name on PATH or a path); the default one otherwise. */
  runtime?: string;
  name: string;
  logPath: string;
  tty: boolean;
  stdin: boolean;
  /** Keep the container's stdin open when an attach client leaves (Docker: TTY or not StdinOnce). */
  leaveStdinOpen?: boolean;
}

export interface ExitInfo { code: number; at: Date }

export const CONMON = process.env.BERTH_CONMON || 'conmon';
const SYNC_TIMEOUT_MS = 60_000;

export class ConmonRuntime {
  readonly runc: Runc;
  readonly exitDir: string;
  readonly bundlesDir: string;
  readonly socketDir: string;
  private watcher?: fs.FSWatcher;
  private poller?: NodeJS.Timeout;
  readonly runtimePath: string;

  constructor(readonly execRoot: string, runtime = 'runc') {
    this.runtimePath = resolveBin(runtime);
    this.runc = new Runc(this.runtimePath, path.join(execRoot, 'runc'));
    this.exitDir = path.join(execRoot, 'exits');
    this.bundlesDir = path.join(execRoot, 'containers');
    // Short: conmon's attach socket path must fit in sun_path (108 bytes).
    this.socketDir = path.join(execRoot, 's');
  }

  init(): void {
    for (const d of [this.exitDir, this.bundlesDir, this.socketDir, this.runc.root]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  bundleDir(id: string): string {
    return path.join(this.bundlesDir, id);
  }

  /**
   * Writes the bundle and has conmon create the container (runc create).
   * Resolves with the container's pid once runc has created it.
   */
  async create(id: string, spec: OciSpec, o: CreateOptions): Promise<{ pid: number; conmonPid: number }> {
    const dir = this.bundleDir(id);
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await fsp.rm(path.join(this.exitDir, id), { force: true });
    await fsp.writeFile(path.join(dir, 'config.json'), JSON.stringify(spec));
    const cuuid = id.slice(0, 16);
    const args = [
      '--api-version', '1',
      '-c', id,
      '-u', cuuid,
      '-r', o.runtime ? resolveBin(o.runtime) : this.runtimePath,
      '-b', dir,
      '-p', path.join(dir, 'pidfile'),
      '-n', o.name,
      '--exit-dir', this.exitDir,
      '--socket-dir-path', this.socketDir,
      '-l', `k8s-file:${o.logPath}`,
      '--log-level', 'error',
      '--runtime-arg', '--root',
      '--runtime-arg', this.runc.root,
      '--conmon-pidfile', path.join(dir, 'conmon.pid'),
      '--no-sync-log',
    ];
    if (o.tty) args.push('-t');
    if (o.stdin) args.push('-i');
    if (o.stdin && o.leaveStdinOpen) args.push('--leave-stdin-open');
    const child = spawn(CONMON, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3' },
      detached: true,
      // conmon writes its `oom` marker in its working directory: keep it in the bundle.
      cwd: dir,
    });
    const sync = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => { if (stderr.length < 8192) stderr += b.toString(); });
    const msg = await new Promise<{ data: number; message?: string }>((resolve, reject) => {
      let buf = '';
      let spawnErr: Error | undefined;
      const timer = setTimeout(() => finish(new SystemError(`conmon did not report the container within ${SYNC_TIMEOUT_MS / 1000}s`)), SYNC_TIMEOUT_MS);
      const finish = (v: { data: number; message?: string } | Error) => {
        clearTimeout(timer);
        sync.removeAllListeners('data');
        sync.destroy();
        if (v instanceof Error) reject(v);
        else resolve(v);
      };
      child.once('error', (e) => { spawnErr = e; finish(new SystemError(`cannot run conmon: ${e.message}`)); });
      sync.on('data', (b: Buffer) => {
        buf += b.toString();
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        try {
          finish(JSON.parse(buf.slice(0, nl)));
        } catch {
          finish(new SystemError(`conmon: bad sync message: ${buf.slice(0, 200)}`));
        }
      });
      sync.on('end', () => {
        if (!spawnErr) finish(new SystemError(`conmon exited without reporting the container${stderr ? `: ${stderr.trim()}` : ''}`));
      });
      sync.on('error', () => { /* reported via end/close */ });
    });
    child.unref();
    if (msg.data < 0) {
      await this.runc.delete(id).catch(() => {});
      throw runtimeError(msg.message ?? 'runc create failed');
    }
    let conmonPid = 0;
    try {
      conmonPid = Number((await fsp.readFile(path.join(dir, 'conmon.pid'), 'utf8')).trim()) || 0;
    } catch { /* conmon writes it before forking the runtime; absent only if it died */ }
    return { pid: msg.data, conmonPid };
  }

  async start(id: string): Promise<void> {
    try {
      await this.runc.start(id);
    } catch (e) {
      throw runtimeError((e as Error).message);
    }
  }

  /** Sends a signal to the container's init (its pid, known to be ours while running). */
  signal(pid: number, signal: number): void {
    try {
      process.kill(pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw new SystemError(`cannot signal container: ${(e as Error).message}`);
    }
  }

  state(id: string): Promise<RuncState | undefined> {
    return this.runc.state(id);
  }

  /** The exit code conmon recorded, if the container has exited. */
  readExit(id: string): ExitInfo | undefined {
    const p = path.join(this.exitDir, id);
    try {
      const text = fs.readFileSync(p, 'utf8').trim();
      if (text === '') return undefined;
      const st = fs.statSync(p);
      const code = Number(text);
      return { code: Number.isFinite(code) ? code : 255, at: st.mtime };
    } catch {
      return undefined;
    }
  }

  conmonAlive(pid: number | undefined): boolean {
    if (!pid) return false;
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !/\) Z /.test(stat) && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'conmon';
    } catch {
      return false;
    }
  }

  /** Removes runc state, cgroups, the bundle and the exit file. */
  async cleanup(id: string): Promise<void> {
    await this.runc.delete(id);
    await fsp.rm(this.bundleDir(id), { recursive: true, force: true });
    await fsp.rm(path.join(this.exitDir, id), { force: true });
    await fsp.rm(path.join(this.socketDir, id.slice(0, 16)), { force: true });
  }

  /**
   * Calls `onExit(id)` when an exit file appears; `poll()` is also called
   * every `pollMs` so missed events (and conmons that died) are caught.
   */
  watch(onExit: (id: string) => void, poll: () => void, pollMs = 2000): void {
    try {
      this.watcher = fs.watch(this.exitDir, (_ev, name) => {
        if (name && /^[0-9a-f]{64}$/.test(String(name))) onExit(String(name));
      });
      this.watcher.on('error', (e) => log.warn('exit dir watch failed; polling', { err: String(e) }));
    } catch (e) {
      log.warn('cannot watch exit dir; polling', { err: String(e) });
      pollMs = Math.min(pollMs, 250);
    }
    this.poller = setInterval(poll, pollMs);
    this.poller.unref();
  }

  stopWatching(): void {
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
  }

  /** Removes this daemon's cgroup parent directories when they are empty. */
  removeCgroupParent(parent: string): void {
    let ctrls: string[] = [];
    try { ctrls = fs.readdirSync('/sys/fs/cgroup'); } catch { return; }
    for (const c of ctrls) {
      try { fs.rmdirSync(path.join('/sys/fs/cgroup', c, parent)); } catch { /* busy, absent or not a controller */ }
    }
  }
}

function resolveBin(name: string): string {
  if (name.includes('/')) return name;
  for (const d of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return name;
}

/**
 * runc's create/start errors, classified as Docker does: a missing or
 * non-executable command is the caller's fault (400), which the docker CLI
 * turns into exit codes 127/126.
 */
export function runtimeError(message: string): Error {
  // runc logs in logfmt: the message is quoted, with its own quotes escaped.
  const m = message.trim().replace(/^.*?level=error msg="(.*)"\s*$/s, '$1').replace(/\\"/g, '"');
  const text = `OCI runtime create failed: ${m}: unknown`;
  if (/executable file not found|no such file or directory|permission denied|not a directory/i.test(m)) return new InvalidParameter(text);
  return new SystemError(text);
}
