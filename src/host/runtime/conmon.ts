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
import { PassThrough, type Readable } from 'node:stream';
import { detachedSpawner } from '../native/spawn';
import { fsBatchNative, nativeProgramPath, type FsBatchOp } from '../native/addon';
import { Runc, runcDelete, runcStates } from './runc';
import { SystemError, InvalidParameter } from '../../util/errors';
import { isDebug, log } from '../../util/log';
import { runtimeCommit } from '../sysinfo';
import { readStats, type RawStats } from '../cgroups/stats';
import { cgroupPids } from '../cgroups/paths';
import { oomKilled } from '../cgroups/oom';
import { attachSocketPath, connectAttach, resizeViaConmon, type AttachConn } from './attach';
import { spawnConmonExec, spawnExec, pipedExec, readPidFile, runcStartError } from './exec';
import { NativeExec } from './native-exec';
import { procStat } from '../process/start-time';
import { SeccompInit, createdWithInit, execLookupError, wrapProcess } from './seccomp-init';
import { cgroupPathOf, type ContainerRuntime, type CreateOptions, type Created, type ExecOptions, type ExecProcess, type ExitInfo, type RuntimeState } from './runtime';
import type { OciProcess, OciResources, OciSpec } from './spec-types';

export type { CreateOptions, ExitInfo } from './runtime';

const CONMON = process.env.BERTH_CONMON || 'conmon';
const SYNC_TIMEOUT_MS = 60_000;

export class ConmonRuntime implements ContainerRuntime {
  private readonly runc: Runc;
  readonly exitDir: string;
  readonly bundlesDir: string;
  readonly socketDir: string;
  private watcher?: fs.FSWatcher;
  private poller?: NodeJS.Timeout;
  private readonly runtimePath: string;
  private readonly cgroupParent: string;
  private readonly native: NativeExec;
  /** Creates containers whose filter is compiled without runc compiling it again (./seccomp-init.ts). */
  private readonly seccompInit: SeccompInit | undefined;

  /** `runtime`: the default OCI runtime program; `cgroupParent`: where containers' cgroups go (cgroupParentOf). */
  constructor(readonly execRoot: string, runtime = 'runc', o: { cgroupParent?: string } = {}) {
    this.runtimePath = resolveBin(runtime);
    this.runc = new Runc(this.runtimePath, runtimeRoot(execRoot));
    this.exitDir = path.join(execRoot, 'exits');
    this.bundlesDir = path.join(execRoot, 'containers');
    // Short: conmon's attach socket path must fit in sun_path (108 bytes).
    this.socketDir = path.join(execRoot, 's');
    this.cgroupParent = o.cgroupParent ?? 'berth';
    this.native = new NativeExec(path.join(execRoot, 'seccomp'));
    const loader = process.env.BERTH_SECCOMP_INIT === '0' || !this.native.available ? undefined : nativeProgramPath('berth-seccomp-init');
    this.seccompInit = loader ? new SeccompInit(path.join(execRoot, 'seccomp'), loader) : undefined;
  }

  init(): void {
    for (const d of [this.exitDir, this.bundlesDir, this.socketDir, this.runc.root]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  commit(): Promise<string> {
    return runtimeCommit(this.runtimePath);
  }

  cgroupPath(id: string): string {
    return cgroupPathOf(this.cgroupParent, id);
  }

  bundleDir(id: string): string {
    return path.join(this.bundlesDir, id);
  }

  /**
   * Writes the bundle and has conmon create the container (runc create).
   * Resolves with the container's pid once runc has created it.
   */
  async create(id: string, spec: OciSpec, o: CreateOptions): Promise<Created> {
    const dir = this.bundleDir(id);
    const t0 = performance.now();
    const ms: Record<string, number> = {};
    const mark = (k: string) => { ms[k] = Math.round(performance.now() - t0); };
    // Its execs (and later creates) load the compiled seccomp filter: compiled once per profile.
    const bpf = this.native.compiledFilter(spec);
    const runtime = o.runtime ? resolveBin(o.runtime) : this.runtimePath;
    // runc only: the loader stands in for what runc's init does (tested against it).
    const init = bpf && this.seccompInit && path.basename(runtime) === 'runc' ? this.seccompInit.wrap(spec, bpf) : undefined;
    if (init && 'no' in init) log.debug('runc compiles the seccomp filter', { id, reason: init.no });
    // The bundle keeps the container's own spec (spec.json) beside what runc was given.
    if (init && 'spec' in init) await writeBundle(dir, JSON.stringify(init.spec), JSON.stringify(spec));
    else await writeBundle(dir, JSON.stringify(spec));
    // A stale exit record (a restart): one unlink, not worth a pool round trip.
    fs.rmSync(path.join(this.exitDir, id), { force: true });
    const cuuid = id.slice(0, 16);
    const args = [
      '--api-version', '1',
      '-c', id,
      '-u', cuuid,
      '-r', runtime,
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
    mark('bundle');
    const child = await launchConmon(args, dir);
    mark('spawn');
    const sync = child.sync;
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { if (stderr.length < 8192) stderr += b.toString(); });
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
      child.onError((e) => { spawnErr = e; finish(new SystemError(`cannot run conmon: ${e.message}`)); });
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
    mark('sync');
    if (msg.data < 0) {
      await this.runc.delete(id).catch(() => {});
      throw runtimeError(msg.message ?? 'runc create failed');
    }
    let conmonPid = 0;
    try {
      // A few bytes conmon has just written: read at once, where a pool job
      // waits behind a burst's mounts and namespaces (~0.3 s for 20 starts).
      conmonPid = Number(fs.readFileSync(path.join(dir, 'conmon.pid'), 'utf8').trim()) || 0;
    } catch { /* conmon writes it before forking the runtime; absent only if it died */ }
    mark('pidfile');
    return { pid: msg.data, conmonPid, ms };
  }

  async start(id: string): Promise<void> {
    try {
      await this.runc.start(id);
    } catch (e) {
      throw runtimeError((e as Error).message);
    }
  }

  /**
   * Sends a signal to the container's init: its pid from the bundle's pid
   * file (known to be ours while the container runs), without a process;
   * `runc kill` only when there is no pid file.
   */
  async kill(id: string, signal: number): Promise<void> {
    const pid = readPidFile(path.join(this.bundleDir(id), 'pidfile'));
    if (!pid) {
      await this.runc.kill(id, signal).catch(() => { /* not running */ });
      return;
    }
    try {
      process.kill(pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw new SystemError(`cannot signal container: ${(e as Error).message}`);
    }
  }

  state(id: string): Promise<RuntimeState | undefined> {
    return this.runc.state(id);
  }

  pause(id: string): Promise<void> {
    return this.runc.pause(id);
  }

  resume(id: string): Promise<void> {
    return this.runc.resume(id);
  }

  update(id: string, r: OciResources): Promise<void> {
    return this.runc.update(id, r);
  }

  stats(id: string, pid: number): RawStats | undefined {
    return readStats(this.cgroupPath(id), pid);
  }

  pids(id: string): number[] {
    return cgroupPids(this.cgroupPath(id));
  }

  oomKilled(id: string): boolean {
    return oomKilled(this.cgroupPath(id), this.bundleDir(id));
  }

  exists(id: string): boolean {
    return fs.existsSync(this.bundleDir(id));
  }

  /** The container's spec: its bundle's spec.json when runc was given another config, else config.json. */
  spec(id: string): OciSpec | undefined {
    for (const f of ['spec.json', 'config.json']) {
      try {
        return JSON.parse(fs.readFileSync(path.join(this.bundleDir(id), f), 'utf8')) as OciSpec;
      } catch { /* the next */ }
    }
    return undefined;
  }

  /** The config runc created the container from. */
  private runcConfig(id: string): OciSpec | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.bundleDir(id), 'config.json'), 'utf8')) as OciSpec;
    } catch {
      return undefined;
    }
  }

  /**
   * The process.json `runc exec` runs: behind the loader when the container
   * was created behind it (runc's config then has no filter to give it), or
   * runc's start error when the command is certainly not in the container.
   */
  private runcProcess(id: string, o: ExecOptions): { path: string } | { error: string } {
    if (!createdWithInit(this.runcConfig(id))) return { path: o.processPath };
    const proc = JSON.parse(fs.readFileSync(o.processPath, 'utf8')) as OciProcess;
    const pid = readPidFile(path.join(this.bundleDir(id), 'pidfile'));
    const error = pid ? execLookupError(pid, proc) : undefined;
    if (error) return { error };
    const p = path.join(o.dir, 'process-init.json');
    fs.writeFileSync(p, JSON.stringify(wrapProcess(proc)), { mode: 0o600 });
    return { path: p };
  }

  /**
   * Without a TTY: berth-exec in the foreground on our pipes (see
   * ./native-exec.ts), or `runc exec` where berth-exec does not apply. With
   * one: a conmon in exec mode holds the pty (see ./exec.ts).
   */
  exec(id: string, o: ExecOptions): ExecProcess {
    const pidFile = path.join(o.dir, 'pid');
    const logFile = o.startErrors ? path.join(o.dir, 'runc.log') : undefined;
    const plain = o.tty ? undefined : this.spawnPlain(id, o, pidFile, logFile);
    const viaRunc = plain ? undefined : this.runcProcess(id, o);
    if (viaRunc && 'error' in viaRunc) return failedExec(viaRunc.error, o.tty);
    const base = { runc: this.runc.bin, root: this.runc.root, containerId: id, processPath: viaRunc?.path ?? o.processPath, pidFile, tty: o.tty, stdin: o.stdin, logFile };
    const p = plain ?? (o.tty
      ? spawnConmonExec({ ...base, conmon: CONMON, runtimePath: this.runtimePath, execId: o.execId, dir: o.dir, socketDir: this.socketDir })
      : spawnExec(base));
    return {
      stdin: p.stdin,
      stdout: p.stdout,
      stderr: p.stderr,
      exited: p.exited,
      started: () => fs.existsSync(pidFile),
      pid: () => readPidFile(pidFile),
      startError: () => (logFile && !fs.existsSync(pidFile) ? runcStartError(logFile) : undefined),
      kill: () => {
        const pid = readPidFile(pidFile);
        if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        p.child.kill('SIGKILL');
      },
      // A TTY exec's conmon leaves its attach socket link (to the exec's dir).
      release: async () => { if (o.tty) await fsp.rm(path.join(this.socketDir, o.execId.slice(0, 16)), { force: true }).catch(() => {}); },
    };
  }

  /** berth-exec for a non-TTY exec, or undefined when runc must run it. */
  private spawnPlain(id: string, o: ExecOptions, pidFile: string, logFile: string | undefined): ReturnType<typeof pipedExec> | undefined {
    if (!this.native.available) {
      log.debug('exec through runc', { id, reason: this.native.unavailable });
      return undefined;
    }
    const spec = this.spec(id);
    let proc: OciProcess;
    try {
      proc = JSON.parse(fs.readFileSync(o.processPath, 'utf8')) as OciProcess;
    } catch {
      return undefined;
    }
    if (!spec) return undefined;
    const plan = this.native.plan({ containerId: id, runcRoot: this.runc.root, spec, process: proc, dir: o.dir, pidFile, logFile });
    if ('runc' in plan) {
      log.debug('exec through runc', { id, reason: plan.runc });
      return undefined;
    }
    const t0 = performance.now();
    const p = pipedExec(this.native.spawn(plan.args, o.stdin));
    if (isDebug()) void p.exited.then((code) => log.debug('berth-exec', { id, code, ms: Math.round(performance.now() - t0) }));
    return p;
  }

  attach(id: string): Promise<AttachConn> {
    return connectAttach(attachSocketPath(this.socketDir, id));
  }

  resize(id: string, height: number, width: number): void {
    resizeViaConmon(this.bundleDir(id), height, width);
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

  exitFileIds(): Set<string> {
    try {
      return new Set(fs.readdirSync(this.exitDir));
    } catch {
      return new Set();
    }
  }

  monitorAlive(pid: number | undefined): boolean {
    return this.conmonAlive(pid);
  }

  conmonAlive(pid: number | undefined): boolean {
    if (!pid) return false;
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    // one read: a conmon (not a reused pid) that is not a zombie
    const st = procStat(pid);
    return !!st && st.comm === 'conmon' && st.state !== 'Z';
  }

  /** Removes runc state, cgroups, the bundle and the exit file. */
  async delete(id: string): Promise<void> {
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

  /** The same as delete(). */
  cleanup(id: string): Promise<void> {
    return this.delete(id);
  }

  releaseCgroupParent(): void {
    this.removeCgroupParent(this.cgroupParent);
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

/** An exec the runtime refused before running anything: `error` is its start error (exit 255, as runc's). */
function failedExec(error: string, tty: boolean): ExecProcess {
  const stdout = new PassThrough();
  stdout.end();
  const stderr = tty ? undefined : new PassThrough();
  stderr?.end();
  return {
    stdout,
    stderr,
    exited: Promise.resolve(255),
    started: () => false,
    pid: () => 0,
    startError: () => error,
    kill: () => {},
    release: async () => {},
  };
}

/**
 * A fresh bundle directory holding config.json: one pool job (fsBatchAsync)
 * when the addon has it — in a burst of starts each pool round trip waits
 * behind the others' mounts and namespaces — Node's calls otherwise
 * (BERTH_FS_BATCH=0). A restart's old bundle is removed first.
 */
async function writeBundle(dir: string, config: string, spec?: string): Promise<void> {
  if (fs.existsSync(dir)) await fsp.rm(dir, { recursive: true, force: true });
  const files: Array<[string, string]> = [['config.json', config], ...(spec ? [['spec.json', spec] as [string, string]] : [])];
  const batch = fsBatchNative();
  if (batch) {
    await batch.fsBatchAsync([[0, dir, 0o700, false], ...files.map(([f, text]) => [1, path.join(dir, f), text, 0o644] as FsBatchOp)]);
    return;
  }
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [f, text] of files) await fsp.writeFile(path.join(dir, f), text);
}

interface LaunchedConmon {
  /** conmon's sync pipe (_OCI_SYNCPIPE, its fd 3). */
  sync: Readable & { destroy(): void };
  stderr: Readable;
  onError(cb: (e: Error) => void): void;
  unref(): void;
}

/**
 * Starts conmon (detached, its own session, its working directory the
 * bundle: it writes its `oom` marker there): by the addon's posix_spawn on
 * libuv's pool when it has one, so the JS thread does not wait for the exec;
 * by child_process otherwise (or BERTH_NATIVE_SPAWN=0).
 */
let conmonPath: string | undefined;

async function launchConmon(args: string[], cwd: string): Promise<LaunchedConmon> {
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3' };
  const native = detachedSpawner();
  if (native) {
    let c;
    try {
      c = await native(conmonPath ??= resolveBin(CONMON), args, { env, cwd, stdio: ['null', 'null', 'read', 'read'] });
    } catch (e) {
      throw new SystemError(`cannot run conmon: ${(e as Error).message}`);
    }
    return { sync: c.stdio[3]!, stderr: c.stdio[2]!, onError: () => { /* spawn errors rejected above */ }, unref: () => { /* no handle: reaped by the spawner */ } };
  }
  const child = spawn(CONMON, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env, detached: true, cwd });
  return {
    sync: child.stdio[3] as Readable & { destroy(): void },
    stderr: child.stderr!,
    onError: (cb) => { child.once('error', cb); },
    unref: () => child.unref(),
  };
}

/** The OCI runtime's --root under an exec root (its container states). */
export function runtimeRoot(execRoot: string): string {
  return path.join(execRoot, 'runc');
}

/** Container states the runtime left under an exec root, and whether each one's init lives (`berthd --cleanup`). */
export function leftoverStates(execRoot: string): Array<{ id: string; alive: boolean }> {
  return runcStates(runtimeRoot(execRoot));
}

/** Deletes one leftover state with the runtime program `runtime`. */
export async function deleteLeftover(execRoot: string, runtime: string, id: string): Promise<void> {
  await runcDelete(runtime, runtimeRoot(execRoot), id);
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
