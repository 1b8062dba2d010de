// The container service: records, lifecycle (create/start/stop/kill/rm),
// logs and attach from conmon's log file, wait, rename, prune, commit,
// export, and live restore after a daemon restart. Runtime work goes through
// the ContainerRuntime seam (host/runtime); files under the container dir are ours.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { critical, refillReserve, reserveHeld, type Db } from '../store/db';
import type { EventBus } from '../events/bus';
import type { Overlay2 } from '../host/storage/overlay2';
import type { ImageService } from '../image/service';
import type { ContainerServiceOptions } from './options';
import type { ImageConfig, ImageRecord } from '../image/types';
import { applyChanges } from '../image/changes';
import { fullString, isValidTag, parseNormalized, withDefaultTag } from '../common/reference';
import { Filters } from '../common/filters';
import { timestampMs } from '../common/time';
import { ConmonRuntime } from '../host/runtime/conmon';
import { cgroupParentOf, type ContainerRuntime } from '../host/runtime/runtime';
import { buildSpec } from '../host/runtime/spec';
import { resolveUser } from '../host/runtime/users';
import { resolveInRoot } from '../host/rootfs';
import { Conflict, InvalidParameter, NotFound, NotModified, SystemError } from '../util/errors';
import { newId } from '../util/ids';
import { log } from '../util/log';
import { ContainerStore } from './store';
import { RestartManager } from './restart';
import { validateName, randomName } from './names';
import { mergeImageConfig, verifyContainerSettings, withHostDefaults } from './config';
import { LogReader, frame, formatTimestamp, type LogEntry } from './logs';
import { LogManager } from './logs-manager';
import { inspectLogPath, settingsOf } from './logs-driver';
import { inspectJson, listJson, ZERO_TIME } from './view';
import { ListRows } from './list-rows';
import { parseSignal } from './signals';
import { checkCreateBody } from './wire-types';
import type { ContainerConfig, ContainerHook, ContainerRecord, HostConfig } from './types';
import { within } from '../util/within';

export type { ContainerHook, ContainerRecord } from './types';

export interface ContainerServiceDeps {
  db: Db;
  events: EventBus;
  storage: Overlay2;
  images: ImageService;
  config: ContainerServiceOptions;
}

/** Monitors (conmon) checked for life per poll; more running containers take turns. */
const MONITOR_CHECKS = 100;

/** GET /containers/json's parameters. */
export interface ListOptions {
  all: boolean; limit?: number; size: boolean; filters: Record<string, string[]>;
  /** Only these keys of each entry (Berth's `berth-fields`: the berth CLI asks for what its table shows). */
  fields?: Set<string>;
}

export interface ContainerCounts { total: number; running: number; paused: number; stopped: number }

export interface LogOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  timestamps: boolean;
  tail?: number;
  /** ns since epoch; entries before are skipped. */
  sinceNs?: bigint;
  untilNs?: bigint;
  /** Without 8-byte stream headers even without a TTY (the websocket attach). */
  raw?: boolean;
}

/** Where a stream goes: bytes out, and the end of the stream. */
export interface StreamSink {
  write(b: Buffer): void;
  end(): void;
}

/** How long a SIGKILL kill waits for the exit to be recorded (moby waits 10 s too). */
const KILL_WAIT_MS = 10_000;

const HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

export class ContainerService {
  private readonly hooks: ContainerHook[] = [];
  private readonly byId = new Map<string, ContainerRecord>();
  private store!: ContainerStore;
  readonly runtime: ContainerRuntime;
  private readonly notify = new EventEmitter();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly containersDir: string;

  constructor(readonly deps: ContainerServiceDeps) {
    this.notify.setMaxListeners(0);
    const dflt = deps.config.defaultRuntime || 'runc';
    // One cgroup parent per daemon (under each v1 controller).
    this.runtime = new ConmonRuntime(deps.config.execRoot, deps.config.runtimes?.[dflt] ?? dflt, { cgroupParent: cgroupParentOf(deps.config.chainPrefix) });
    this.containersDir = path.join(deps.config.dataRoot, 'containers');
    this.logFiles = new LogManager((id) => this.dir(id));
  }

  /** Log drivers: conmon's spool → json-file/local files. */
  readonly logFiles: LogManager;

  /** Restart policies and their back-off. */
  readonly restarts = new RestartManager(this);

  /** For sibling modules (ops, exec, restart): run under the container's lock, persist, publish. */
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T> { return this.locked(id, fn); }
  persist(c: ContainerRecord): void { this.save(c); }
  publish(c: ContainerRecord, action: string, extra: Record<string, string> = {}): void { this.event(c, action, extra); }

  /**
   * The freezer and the recorded state together under the container's lock,
   * then the event: `docker pause`/`unpause` (ops.ts, which passes its
   * checks) and commit's pause around reading the rw layer.
   */
  async setPaused(c: ContainerRecord, paused: boolean, check: () => void = () => {}): Promise<void> {
    await this.locked(c.id, async () => {
      check();
      if (paused) await this.runtime.pause(c.id);
      else await this.runtime.resume(c.id);
      c.state = paused
        ? { ...c.state, Paused: true, Status: 'paused' }
        : { ...c.state, Paused: false, Status: c.state.Running ? 'running' : c.state.Status };
      this.save(c);
    });
    this.event(c, paused ? 'pause' : 'unpause');
  }

  /** Network/volume services plug in here (see ContainerHook). */
  addHook(h: ContainerHook): void { this.hooks.push(h); }

  // ---- startup / shutdown -------------------------------------------------------

  /** Load records, reconcile with conmon exit files and runc, watch for exits. */
  async init(): Promise<void> {
    this.store = new ContainerStore(this.deps.db);
    this.runtime.init();
    await fsp.mkdir(this.containersDir, { recursive: true, mode: 0o710 });
    for (const c of this.store.all()) this.byId.set(c.id, c);
    await this.sweepTrash();
    await this.removeOrphans();
    (this.deps.images as any).setUsageChecker?.((imageId: string) =>
      [...this.byId.values()].filter((c) => c.imageId === imageId).map((c) => ({ id: c.id, running: c.state.Running })));
    this.runtime.watch((id) => void this.onExitFile(id), () => void this.poll());
    for (const c of [...this.byId.values()]) {
      try {
        await this.reconcile(c);
      } catch (e) {
        log.error('reconcile failed', { id: c.id, err: String(e) });
      }
      // Output conmon wrote while berthd was down goes into the driver's files.
      if (!this.byId.has(c.id)) continue;
      if (c.state.Running) this.logFiles.onRunning(c);
      else await this.logFiles.catchUp(c).catch((e) => log.warn('log catch-up failed', { id: c.id, err: String(e) }));
    }
    this.restarts.onDaemonStart();
  }

  /** Daemon is stopping: stop watching; containers keep running under conmon. */
  async shutdown(): Promise<void> {
    this.runtime.stopWatching();
    this.restarts.stopAll();
    // Background removals finish (what a timeout cuts short, the next start-up's sweep does).
    await this.settled(10_000);
    // Only succeeds when no container cgroup is left under it.
    this.runtime.releaseCgroupParent();
  }

  /**
   * A crash between making a container's directory and recording it leaves
   * a directory no record names: remove it (ids are 64 hex; other users of
   * the containers dir, like the builder's views, use other names).
   */
  private async removeOrphans(): Promise<void> {
    let names: string[] = [];
    try {
      names = await fsp.readdir(this.containersDir);
    } catch { return; }
    for (const n of names) {
      if (!/^[0-9a-f]{64}$/.test(n) || this.byId.has(n)) continue;
      log.warn('removing container directory without a record', { id: n });
      await this.runtime.delete(n).catch(() => {});
      await this.deps.storage.removeRw(n).catch(() => {});
      await fsp.rm(this.dir(n), { recursive: true, force: true }).catch(() => {});
    }
  }

  /** The default OCI runtime's commit, for /info. */
  runtimeCommit(): Promise<string> {
    return this.runtime.commit();
  }

  counts(): ContainerCounts {
    let running = 0, paused = 0, stopped = 0;
    for (const c of this.byId.values()) {
      if (c.state.Paused) paused++;
      else if (c.state.Running) running++;
      else stopped++;
    }
    return { total: this.byId.size, running, paused, stopped };
  }

  /** A container found running at startup: still alive, or exited while we were away. */
  private async reconcile(c: ContainerRecord): Promise<void> {
    if (c.state.Status === 'removing') {
      await this.finishRemove(c, false).catch((e) => log.warn('finishing removal failed', { id: c.id, err: String(e) }));
      return;
    }
    if (!c.state.Running) {
      // A crash during start (between the mount and recording `running`) leaves
      // the runc container, the overlay mount, the netns and veths, port rules:
      // release all of it, as the failed start would have. The record stays
      // Created (or Exited), as Docker leaves it.
      await this.releaseHalfStarted(c);
      if (c.hostConfig.AutoRemove && c.state.Status === 'exited') await this.autoRemove(c);
      return;
    }
    const exit = this.runtime.readExit(c.id);
    if (exit) return this.handleExit(c.id);
    const st = await this.runtime.state(c.id);
    if (st && (st.status === 'running' || st.status === 'paused') && this.runtime.monitorAlive(c.conmonPid)) {
      log.info('container still running', { id: c.id, pid: st.pid });
      for (const h of this.hooks) await h.afterRestore?.(c, { pid: st.pid, start: st.start }).catch((e) => log.warn('afterRestore hook failed', { id: c.id, err: String(e) }));
      return;
    }
    return this.handleExit(c.id);
  }

  private async releaseHalfStarted(c: ContainerRecord): Promise<void> {
    if (this.runtime.exists(c.id)) await this.runtime.delete(c.id).catch(() => {});
    for (const h of this.hooks) await h.afterStop?.(c).catch((e) => log.warn('afterStop hook failed', { id: c.id, err: String(e) }));
    await this.deps.storage.unmount(c.id).catch((e) => log.warn('unmount failed', { id: c.id, err: String(e) }));
  }

  private onExitFile(id: string): void {
    // A start in progress holds the lock; handleExit runs after it and sees the new state.
    if (this.byId.has(id) && this.runtime.readExit(id)) void this.handleExit(id);
  }

  /**
   * Safety net for missed inotify events and conmons that died. Exit files:
   * one directory read for all. Monitors: a /proc read each, so at most
   * MONITOR_CHECKS per poll, in turn — with 1,000 containers, checking all
   * of them every 2 s held the event loop ~20-30 ms each time (a `ps` that
   * met it waited); now each monitor is looked at every 20 s there.
   */
  private async poll(): Promise<void> {
    const exited = this.runtime.exitFileIds();
    const running: ContainerRecord[] = [];
    for (const c of this.byId.values()) {
      if (!c.state.Running) continue;
      if (exited.has(c.id) && this.runtime.readExit(c.id)) void this.handleExit(c.id);
      else if (c.conmonPid) running.push(c);
    }
    const n = Math.min(running.length, MONITOR_CHECKS);
    for (let i = 0; i < n; i++) {
      const c = running[(this.monitorTurn + i) % running.length];
      if (!this.runtime.monitorAlive(c.conmonPid)) void this.handleExit(c.id);
    }
    this.monitorTurn = running.length ? (this.monitorTurn + n) % running.length : 0;
  }

  private monitorTurn = 0;

  // ---- lookup -----------------------------------------------------------------

  /** By full id, name, or unique id prefix — as Docker resolves them. */
  get(ref: string): ContainerRecord {
    const r = ref.replace(/^\//, '');
    const byId = this.byId.get(r);
    if (byId) return byId;
    for (const c of this.byId.values()) if (c.name === r) return c;
    if (/^[a-f0-9]+$/.test(r)) {
      const hits = [...this.byId.values()].filter((c) => c.id.startsWith(r));
      if (hits.length > 1) throw new InvalidParameter(`multiple IDs found with provided prefix: ${ref}`);
      if (hits.length === 1) return hits[0];
    }
    throw new NotFound(`No such container: ${ref}`);
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  /** Generated names of creates in flight (see create). */
  private readonly drawnNames = new Set<string>();

  private nameOwner(name: string): ContainerRecord | undefined {
    for (const c of this.byId.values()) if (c.name === name) return c;
    return undefined;
  }

  private dir(id: string): string {
    return path.join(this.containersDir, id);
  }

  private attrs(c: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...(c.config.Labels ?? {}), image: c.config.Image, name: c.name, ...extra };
  }

  private event(c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.deps.events.publish('container', action, c.id, this.attrs(c, extra));
  }

  private save(c: ContainerRecord): void {
    this.store.save(c);
    this.byId.set(c.id, c);
  }

  /**
   * A state change that must not be lost to a full disk (exit, removal):
   * may use the data root's reserve; if even that fails, the state is kept
   * in memory (waiters are still told) and the error logged.
   */
  private saveCritical(c: ContainerRecord): void {
    this.byId.set(c.id, c);
    try {
      critical(this.deps.db, () => this.store.save(c));
    } catch (e) {
      log.error('could not record container state', { id: c.id, status: c.state.Status, err: String(e) });
    }
  }

  /** Serializes lifecycle steps of one container. */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chain = prev.then(() => mine);
    this.locks.set(id, chain);
    await prev.catch(() => {});
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === chain) this.locks.delete(id);
    }
  }

  // ---- create -----------------------------------------------------------------

  async create(body: any, name?: string): Promise<{ Id: string; Warnings: string[] }> {
    if (!body || typeof body !== 'object') throw new InvalidParameter('config cannot be empty in order to create a container');
    checkCreateBody(body);
    let cname = '';
    if (name) {
      cname = validateName(name);
      const owner = this.nameOwner(cname);
      if (owner) throw nameConflict(cname, owner.id);
    }
    if (!body.Image) throw new InvalidParameter('No image specified');
    const img = this.deps.images.resolve(String(body.Image));
    const dc = this.deps.config;
    const hostConfig = withHostDefaults(body.HostConfig ?? {}, { defaultRuntime: dc.defaultRuntime, logDriver: dc.logDriver, logOpts: dc.logOpts });
    const warnings = verifyContainerSettings(hostConfig, { config: body, runtimes: dc.runtimes ?? { runc: 'runc' } });
    const config = mergeImageConfig(body, img);
    const [p, ...args] = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    if (p === undefined || p === '') throw new InvalidParameter('No command specified');

    const id = newId();
    let generated = false;
    if (!cname) {
      // Reserved until the record is saved: concurrent creates must not draw the same name.
      for (let i = 0; ; i++) {
        cname = randomName(i > 5 ? 1 : 0);
        if (!this.nameOwner(cname) && !this.drawnNames.has(cname)) break;
      }
      this.drawnNames.add(cname);
      generated = true;
    }
    if (!config.Hostname) config.Hostname = id.slice(0, 12);
    const dir = this.dir(id);
    const c: ContainerRecord = {
      id,
      name: cname,
      created: new Date().toISOString(),
      imageId: img.id,
      path: p,
      args,
      config,
      hostConfig,
      networkingConfig: body.NetworkingConfig ?? null,
      state: {
        Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false,
        Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME,
      },
      restartCount: 0,
      logPath: inspectLogPath(dir, id, settingsOf(hostConfig.LogConfig, '').driver),
      hostnamePath: path.join(dir, 'hostname'),
      hostsPath: path.join(dir, 'hosts'),
      resolvConfPath: path.join(dir, 'resolv.conf'),
      networkSettings: {},
      mounts: [],
      imageConfig: (img.config.config ?? {}) as Record<string, any>,
      extra: {},
    };
    const done: ContainerHook[] = [];
    const t0 = Date.now();
    const phases: Record<string, number> = {};
    const mark = (k: string) => (phases[k] = Date.now() - t0);
    try {
      // The layer's directories and the /etc files share the container's directory: made together (one
      // pool job with the addon; each round trip costs a wake-up on a busy host), removed on failure.
      await this.deps.storage.createRw(id, this.deps.images.chainIds(img), [
        { path: c.hostnamePath, data: `${config.Hostname}\n` },
        { path: c.hostsPath, data: HOSTS },
        { path: c.resolvConfPath, data: resolvConf(hostConfig) },
      ]);
      mark('files');
      for (const h of this.hooks) {
        if (h.onCreate) await h.onCreate(c);
        done.push(h);
      }
      mark('hooks');
      // The name may have been taken while we awaited.
      const owner = this.nameOwner(cname);
      if (owner) throw nameConflict(cname, owner.id);
      this.save(c);
      mark('db');
    } catch (e) {
      for (const h of done.reverse()) await h.onRemove?.(c, { removeVolumes: true }).catch(() => {});
      await this.deps.storage.removeRw(id).catch(() => {});
      await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
      throw e;
    } finally {
      if (generated) this.drawnNames.delete(cname);
    }
    this.event(c, 'create');
    log.debug('container created', { id, ms: phases });
    return { Id: id, Warnings: warnings };
  }

  // ---- start ------------------------------------------------------------------

  /** `policy`: a restart by the restart policy (keeps RestartCount and the user's stop mark). */
  async start(ref: string, o: { policy?: boolean } = {}): Promise<void> {
    const c0 = this.get(ref);
    try {
      await this.locked(c0.id, async () => {
        const c = this.get(c0.id);
        if (c.state.Running) throw new NotModified();
        if (!o.policy) {
          this.restarts.cancel(c);
          c.restartCount = 0;
          c.extra.manualStop = false;
        }
        if (c.state.Status === 'removing' || c.state.Dead) throw new Conflict(`cannot start a container in state ${c.state.Status}`);
        await this.startLocked(c);
      });
    } catch (e) {
      // Docker removes an --rm container whose start failed (its client waits for `removed`).
      if (!(e instanceof NotModified) && c0.hostConfig.AutoRemove && this.byId.has(c0.id) && !this.byId.get(c0.id)!.state.Running) {
        await this.autoRemove(c0);
      }
      throw e;
    }
  }

  /** The OCI runtime program of a container's HostConfig.Runtime (dockerd's --add-runtime names). */
  private runtimeFor(c: ContainerRecord): string {
    const name = c.hostConfig.Runtime || this.deps.config.defaultRuntime || 'runc';
    const runtimes = this.deps.config.runtimes ?? { runc: 'runc' };
    if (!Object.prototype.hasOwnProperty.call(runtimes, name)) throw new InvalidParameter(`Unknown runtime specified ${name}`);
    return runtimes[name];
  }

  private async startLocked(c: ContainerRecord): Promise<void> {
    const t0 = Date.now();
    const phases: Record<string, number> = {};
    const mark = (k: string) => (phases[k] = Date.now() - t0);
    // Hooks' rootfs-independent work (the network namespace) overlaps the mount.
    const early = this.hooks.filter((h) => h.prepare);
    const prepared = early.map((h) => h.prepare!(c).then(() => undefined, (e: Error) => e));
    let rootfs: string;
    try {
      rootfs = await this.deps.storage.mount(c.id);
    } catch (e) {
      await Promise.all(prepared);
      for (const h of early.reverse()) await h.afterStop?.(c).catch(() => {});
      throw e;
    }
    mark('mount');
    let created = false;
    const started: ContainerHook[] = [...early];
    try {
      const failed = (await Promise.all(prepared)).find((e) => e);
      if (failed) throw failed;
      const user = resolveUser(rootfs, c.config.User, (c.hostConfig.GroupAdd ?? []).map(String));
      const workdir = c.config.WorkingDir || '/';
      if (workdir !== '/') {
        const p = resolveInRoot(rootfs, workdir);
        if (!fs.existsSync(p)) {
          await fsp.mkdir(p, { recursive: true, mode: 0o755 });
          await fsp.chown(p, user.uid, user.gid).catch(() => {});
        }
      }
      const spec = buildSpec({
        id: c.id,
        rootfs,
        args: [c.path, ...c.args],
        env: c.config.Env ?? [],
        workingDir: workdir,
        tty: !!c.config.Tty,
        openStdin: !!c.config.OpenStdin,
        hostname: c.config.Hostname,
        domainname: c.config.Domainname,
        user,
        etcFiles: { hostname: c.hostnamePath, hosts: c.hostsPath, resolvConf: c.resolvConfPath },
        cgroupsPath: this.runtime.cgroupPath(c.id),
        host: c.hostConfig,
      });
      for (const h of this.hooks) {
        if (!started.includes(h)) started.push(h);
        if (h.beforeStart) await h.beforeStart(c, spec, { dir: this.dir(c.id), rootfs });
      }
      mark('hooks');
      const runtime = this.runtimeFor(c);
      created = true;
      const { pid, conmonPid, ms: createMs } = await this.runtime.create(c.id, spec, {
        runtime,
        name: c.name,
        logPath: this.logFiles.spoolPath(c),
        tty: !!c.config.Tty,
        stdin: !!c.config.OpenStdin,
        leaveStdinOpen: !!c.config.Tty || !c.config.StdinOnce,
      });
      mark('create');
      for (const [k, v] of Object.entries(createMs ?? {})) phases[`create.${k}`] = v;
      for (const h of started) if (h.beforeRun) await h.beforeRun(c);
      await this.runtime.start(c.id);
      mark('start');
      c.state = {
        ...c.state,
        Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false,
        Pid: pid, ExitCode: 0, Error: '', StartedAt: new Date().toISOString(), FinishedAt: ZERO_TIME,
      };
      c.conmonPid = conmonPid;
      // The process runs now (it may already have filled the disk): this record must land.
      this.saveCritical(c);
      this.logFiles.onRunning(c);
    } catch (e) {
      if (created) await this.runtime.delete(c.id).catch(() => {});
      for (const h of started.reverse()) await h.afterStop?.(c).catch(() => {});
      await this.deps.storage.unmount(c.id).catch(() => {});
      const msg = (e as Error).message;
      c.state = { ...c.state, Error: msg, ExitCode: /executable file not found|no such file or directory/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : 128 };
      if (c.state.Status === 'running') c.state.Status = 'exited';
      // The caller gets the start's error, not a failure to record it (disk full).
      this.saveCritical(c);
      throw e;
    }
    this.event(c, 'start');
    log.debug('container started', { id: c.id, ms: phases });
    // Exited before it was recorded as running (inotify came while we held the lock).
    if (this.runtime.readExit(c.id)) setImmediate(() => void this.handleExit(c.id));
  }

  // ---- exits ------------------------------------------------------------------

  /** The container's process is gone: record it, clean up, tell waiters. Never rejects. */
  private async handleExit(id: string): Promise<void> {
    try {
      await this.recordExit(id);
    } catch (e) {
      log.error('handling a container exit failed', { id, err: String(e) });
    }
  }

  private async recordExit(id: string): Promise<void> {
    await this.locked(id, async () => {
      const c = this.byId.get(id);
      if (!c || !c.state.Running) return;
      const exit = this.runtime.readExit(id);
      const code = exit?.code ?? 255;
      const oom = this.runtime.oomKilled(id);
      if (oom) this.event(c, 'oom');
      const t0 = Date.now();
      const ms: Record<string, number> = {};
      const timed = <T>(k: string, p: Promise<T>) => p.finally(() => { ms[k] = Date.now() - t0; });
      // An --rm container's runtime state, mount and deferred hooks go with its removal, in the background.
      const rm = !!c.hostConfig.AutoRemove;
      // Independent of each other (the container's processes are gone): in parallel, to keep `docker run` short.
      await Promise.all([
        rm ? undefined : timed('runtime', this.runtime.delete(id).catch((e) => log.warn('runtime cleanup failed', { id, err: String(e) }))),
        timed('hooks', (async () => {
          for (const h of this.hooks) {
            if (rm && h.deferRemove) continue;
            await h.afterStop?.(c).catch((e) => log.warn('afterStop hook failed', { id, err: String(e) }));
          }
        })()),
        rm ? undefined : timed('unmount', this.deps.storage.unmount(id).catch((e) => log.warn('unmount failed', { id, err: String(e) }))),
        // Before waiters hear of the exit: `wait` then `logs` (docker-py's run()) must see all output.
        timed('logs', this.logFiles.onExit(c).catch((e) => log.warn('log conversion failed', { id, err: String(e) }))),
      ]);
      log.debug('container exit cleaned up', { id, ms });
      c.state = {
        ...c.state,
        Status: 'exited', Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: code, OOMKilled: oom,
        Error: exit ? '' : c.state.Error, FinishedAt: (exit?.at ?? new Date()).toISOString(),
      };
      c.conmonPid = undefined;
      this.saveCritical(c);
      const startedMs = Date.parse(c.state.StartedAt);
      this.event(c, 'die', { exitCode: String(code), execDuration: String(Math.max(0, Math.round((Date.now() - startedMs) / 1000))) });
      this.notify.emit(`exit:${id}`, code);
    });
    const c = this.byId.get(id);
    if (c && c.hostConfig.AutoRemove && !c.state.Running) await this.autoRemove(c);
    else if (c && !c.state.Running && this.byId.has(c.id)) this.restarts.onExit(c);
  }

  private async autoRemove(c: ContainerRecord): Promise<void> {
    try {
      await this.remove(c.id, { force: false, volumes: true });
    } catch (e) {
      if (e instanceof NotFound) return;
      log.warn('auto-remove failed', { id: c.id, err: String(e) });
      // The exit left the runtime state, mount and network to the removal: release them now.
      await this.locked(c.id, async () => {
        const cur = this.byId.get(c.id);
        if (cur && !cur.state.Running) await this.releaseHalfStarted(cur);
      }).catch(() => {});
    }
  }

  /** Resolves with the exit code at the container's next exit (or -1 if removed first). */
  private nextExit(id: string, timeoutMs?: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const onExit = (code: number) => finish(code);
      const onRemoved = () => finish(-1);
      const finish = (v: number | undefined) => {
        if (timer) clearTimeout(timer);
        this.notify.off(`exit:${id}`, onExit);
        this.notify.off(`removed:${id}`, onRemoved);
        resolve(v);
      };
      this.notify.on(`exit:${id}`, onExit);
      this.notify.on(`removed:${id}`, onRemoved);
      if (timeoutMs !== undefined && timeoutMs >= 0) timer = setTimeout(() => finish(undefined), timeoutMs);
    });
  }

  // ---- stop / kill / restart ----------------------------------------------------

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.get(ref);
    const sig = parseSignal(signal);
    if (c.state.Restarting) {
      c.extra.manualStop = true;
      this.restarts.cancel(c);
      return;
    }
    if (!c.state.Running) throw new Conflict(`Container ${c.id} is not running`);
    if (c.state.Paused) throw new Conflict(`Container ${c.id} is paused, unpause the container before stopping or killing`);
    c.extra.manualStop = true;
    this.save(c);
    // As moby's daemon.Kill: SIGKILL returns once the exit is recorded (an
    // immediate rm or inspect must see it stopped); other signals at once.
    const exited = sig === 9 ? this.nextExit(c.id, KILL_WAIT_MS) : undefined;
    await this.runtime.kill(c.id, sig);
    this.event(c, 'kill', { signal: String(sig) });
    if (exited && (await exited) === undefined && this.byId.get(c.id)?.state.Running) {
      // conmon did not tell us in time: look for ourselves.
      const st = await this.runtime.state(c.id);
      if (!st || st.status === 'stopped') await this.handleExit(c.id);
    }
  }

  /** Stop signal, then SIGKILL after the timeout (seconds; -1 waits forever). */
  async stop(ref: string, timeout?: number, signal?: string): Promise<void> {
    const c = this.get(ref);
    if (c.state.Restarting) {
      c.extra.manualStop = true;
      this.restarts.cancel(c);
      this.event(c, 'stop');
      return;
    }
    if (!c.state.Running) throw new NotModified();
    c.extra.manualStop = true;
    this.save(c);
    if (c.state.Paused) throw new Conflict(`Container ${c.id} is paused, unpause the container before stopping or killing`);
    await this.stopRunning(c, timeout, signal);
    this.event(c, 'stop');
  }

  private async stopRunning(c: ContainerRecord, timeout?: number, signal?: string): Promise<void> {
    const sig = parseSignal(signal || c.config.StopSignal || 'SIGTERM');
    const t = timeout ?? (typeof c.config.StopTimeout === 'number' ? c.config.StopTimeout : 10);
    const exited = this.nextExit(c.id, t < 0 ? undefined : t * 1000);
    if (sig !== 9) {
      await this.runtime.kill(c.id, sig);
      this.event(c, 'kill', { signal: String(sig) });
      if ((await exited) !== undefined) return;
    }
    if (!this.get(c.id).state.Running) return;
    const killed = this.nextExit(c.id, 30_000);
    await this.runtime.kill(c.id, 9);
    this.event(c, 'kill', { signal: '9' });
    if ((await killed) === undefined && this.get(c.id).state.Running) {
      // conmon should have told us; look for ourselves.
      await this.handleExit(c.id);
    }
  }

  async restart(ref: string, timeout?: number, signal?: string): Promise<void> {
    const c = this.get(ref);
    if (c.state.Running) {
      await this.stopRunning(c, timeout, signal);
      this.event(c, 'stop');
    }
    await this.start(c.id);
    this.event(this.get(c.id), 'restart');
  }

  // ---- remove -----------------------------------------------------------------

  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const c = this.get(ref);
    if (c.state.Paused) {
      if (!opts.force) throw new Conflict(`You cannot remove a paused container ${c.id}. Unpause and then stop the container before attempting removal or force remove`);
      // A frozen process cannot die: thaw it first.
      await this.runtime.resume(c.id).catch(() => {});
      c.state = { ...c.state, Paused: false, Status: 'running' };
    }
    if (c.state.Running) {
      if (!opts.force) {
        throw new Conflict(`You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`);
      }
      await this.stopRunning(c, 0, 'SIGKILL');
    }
    await this.locked(c.id, async () => {
      const cur = this.byId.get(c.id);
      if (!cur) throw new NotFound(`No such container: ${ref}`);
      if (cur.state.Running) throw new Conflict(`You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`);
      if (cur.state.Status === 'removing' && this.removing.has(c.id)) throw new Conflict(`removal of container ${c.id} is already in progress`);
      this.removing.add(c.id);
      try {
        cur.state = { ...cur.state, Status: 'removing' };
        this.saveCritical(cur);
        await this.finishRemove(cur, opts.volumes);
      } catch (e) {
        // Docker marks a container whose removal failed as dead; `rm` can be tried again.
        if (this.byId.has(cur.id)) {
          cur.state = { ...cur.state, Status: 'dead', Dead: true, Error: (e as Error).message };
          this.saveCritical(cur);
        }
        throw e;
      } finally {
        this.removing.delete(c.id);
      }
    });
  }

  private readonly removing = new Set<string>();

  /**
   * The removal a client waits for ends when the container is logically gone:
   * its directory (writable layer, config, logs) renamed into the trash in
   * one rename, its record deleted, its name and id free, `destroy` sent.
   * Unmounting, the runtime state and cgroups, the network (deferRemove hooks)
   * and deleting the files follow in the background (teardown); the trash
   * entry, deleted last, is what start-up's sweepTrash finishes after a crash.
   */
  private async finishRemove(c: ContainerRecord, volumes: boolean): Promise<void> {
    const t0 = Date.now();
    const ms: Record<string, number> = {};
    const mark = (k: string) => { ms[k] = Date.now() - t0; };
    this.restarts.cancel(c);
    await this.drained(c.id);
    for (const h of this.hooks) {
      if (!h.deferRemove) await h.onRemove?.(c, { removeVolumes: volumes }).catch((e) => log.warn('onRemove hook failed', { id: c.id, err: String(e) }));
    }
    mark('hooks');
    this.logFiles.forget(c.id);
    let trashed = false;
    // Without the space reserve the disk is (or was) full: free the space first, then write, as a synchronous removal.
    if (reserveHeld(this.deps.db)) {
      try {
        trashed = await this.deps.storage.trashRw(c.id);
      } catch (e) {
        log.warn('cannot move a container directory to the trash; removing it in place', { id: c.id, err: String(e) });
      }
    }
    if (!trashed) await this.teardown(c, volumes, false);
    mark('files');
    try {
      critical(this.deps.db, () => this.store.delete(c.id));
    } catch (e) {
      if (!trashed) throw e;
      // A full disk past the reserve: free the trashed files now, then once more.
      await this.deps.storage.removeTrashed(c.id, true).catch((e2) => log.warn('cannot remove a trash entry', { id: c.id, err: String(e2) }));
      try {
        critical(this.deps.db, () => this.store.delete(c.id));
      } catch (e2) {
        // The record stays (marked dead by remove): free the rest all the same.
        void this.teardown(c, volumes, true);
        throw e2;
      }
    }
    mark('db');
    log.debug('container removed', { id: c.id, ms });
    this.byId.delete(c.id);
    refillReserve(this.deps.db);
    this.event(c, 'destroy');
    this.notify.emit(`removed:${c.id}`);
    if (trashed) {
      const p = this.teardown(c, volumes, true).finally(() => this.teardowns.delete(c.id));
      this.teardowns.set(c.id, p);
    }
  }

  /** Background removals (finishRemove), by container id. */
  private readonly teardowns = new Map<string, Promise<void>>();

  /**
   * What a removal leaves to after its answer: the runtime state (and cgroups),
   * the deferRemove hooks, then the files (from the trash, or in place when
   * they could not be moved). Never rejects.
   */
  private async teardown(c: ContainerRecord, volumes: boolean, trashed: boolean): Promise<void> {
    const t0 = Date.now();
    const id = c.id;
    await Promise.all([
      this.runtime.delete(id).catch((e) => log.warn('runtime cleanup failed', { id, err: String(e) })),
      trashed ? this.deps.storage.unmountTrashed(id).catch((e) => log.warn('unmount failed', { id, err: String(e) })) : undefined,
      (async () => {
        for (const h of this.hooks) {
          if (h.deferRemove) await h.onRemove?.(c, { removeVolumes: volumes }).catch((e) => log.warn('onRemove hook failed', { id, err: String(e) }));
        }
      })(),
    ]);
    try {
      if (trashed) await this.deps.storage.removeTrashed(id);
      else await Promise.all([this.deps.storage.removeRw(id), fsp.rm(this.dir(id), { recursive: true, force: true })]);
    } catch (e) {
      // Left for the next start-up's sweep (a trash entry) or `berthd --cleanup`.
      log.warn('removing a container\'s files failed', { id, err: String(e) });
    }
    if (trashed) {
      refillReserve(this.deps.db);
      log.debug('container torn down', { id, ms: Date.now() - t0 });
    }
  }

  /** Start-up: finish the removals a crash or a stop interrupted (trash entries; their records are gone). */
  private async sweepTrash(): Promise<void> {
    for (const n of this.deps.storage.trashed()) {
      if (!/^[0-9a-f]{64}$/.test(n)) {
        await this.deps.storage.removeTrashed(n).catch((e) => log.warn('cannot remove a trash entry', { name: n, err: String(e) }));
        continue;
      }
      log.info('finishing the removal of a container', { id: n });
      const stub = this.byId.get(n) ?? ({ id: n, name: '', config: {}, hostConfig: {}, state: {}, extra: {} } as unknown as ContainerRecord);
      await this.teardown(stub, false, true);
    }
  }

  /** Resolves when every background removal begun so far has finished (daemon stop, tests). */
  async settled(timeoutMs = 30_000): Promise<void> {
    await within(Promise.all(this.teardowns.values()), timeoutMs);
  }

  // ---- wait -------------------------------------------------------------------

  /**
   * `not-running` answers at once for a stopped container; `next-exit` waits
   * for the next exit; `removed` waits until the container is gone.
   */
  async wait(ref: string, condition = 'not-running', abort?: AbortSignal): Promise<{ StatusCode: number; Error: null | { Message: string } }> {
    if (!['', 'not-running', 'next-exit', 'removed'].includes(condition)) throw new InvalidParameter(`invalid condition: "${condition}"`);
    const c = this.get(ref);
    if ((condition === 'not-running' || condition === '') && !c.state.Running) return { StatusCode: c.state.ExitCode, Error: null };
    const id = c.id;
    let lastCode = c.state.ExitCode;
    return new Promise((resolve) => {
      const onExit = (code: number) => {
        lastCode = code;
        if (condition !== 'removed') finish();
      };
      const onRemoved = () => finish();
      const finish = () => {
        this.notify.off(`exit:${id}`, onExit);
        this.notify.off(`removed:${id}`, onRemoved);
        resolve({ StatusCode: lastCode, Error: null });
      };
      this.notify.on(`exit:${id}`, onExit);
      this.notify.on(`removed:${id}`, onRemoved);
      abort?.addEventListener('abort', () => {
        this.notify.off(`exit:${id}`, onExit);
        this.notify.off(`removed:${id}`, onRemoved);
      });
    });
  }

  // ---- logs and attach -----------------------------------------------------------

  /** Output of a container as Docker streams it (frames unless TTY). */
  /** `raw`: no 8-byte stream headers even without a TTY (the websocket attach). */
  private encoder(c: ContainerRecord, opts: { stdout: boolean; stderr: boolean; timestamps: boolean; raw?: boolean }): (e: LogEntry) => Buffer | undefined {
    const tty = !!c.config.Tty;
    return (e) => {
      if ((e.stream === 'stdout' && !opts.stdout) || (e.stream === 'stderr' && !opts.stderr)) return undefined;
      let data = e.full ? Buffer.concat([e.text, Buffer.from('\n')]) : e.text;
      if (opts.timestamps) data = Buffer.concat([Buffer.from(`${formatTimestamp(e.timeNs)} `), data]);
      return tty || opts.raw ? data : frame(e.stream, data);
    };
  }

  async logs(ref: string, o: LogOptions, sink: StreamSink, closed: Promise<void>): Promise<void> {
    const c = this.get(ref);
    const enc = this.encoder(c, o);
    const want = (e: LogEntry) => (o.sinceNs === undefined || e.timeNs >= o.sinceNs) && (o.untilNs === undefined || e.timeNs <= o.untilNs);
    // Past entries, grouped into messages so tail counts lines.
    const messages: LogEntry[][] = [];
    const cur: Partial<Record<string, LogEntry[]>> = {};
    const { entries, followFrom: endOffset } = await this.logFiles.history(c);
    for (const e of entries) {
      if (!want(e)) continue;
      const list = (cur[e.stream] ??= []);
      list.push(e);
      if (e.full) {
        messages.push(list);
        cur[e.stream] = undefined;
      }
    }
    for (const l of Object.values(cur)) if (l?.length) messages.push(l);
    const chosen = o.tail !== undefined && o.tail >= 0 ? messages.slice(Math.max(0, messages.length - o.tail)) : messages;
    for (const m of chosen) for (const e of m) {
      const b = enc(e);
      if (b) sink.write(b);
    }
    const live = this.byId.get(c.id);
    if (!o.follow || !live || !live.state.Running || (o.untilNs !== undefined && o.untilNs <= BigInt(Date.now()) * 1_000_000n)) {
      sink.end();
      return;
    }
    await this.streamUntilExit(c, endOffset, (e) => (want(e) ? enc(e) : undefined), sink, closed);
  }

  /** Follows the log file from `offset` until the container's next exit (or the client leaves). */
  private async streamUntilExit(c: ContainerRecord, offset: number, enc: (e: LogEntry) => Buffer | undefined, sink: StreamSink, closed: Promise<void>): Promise<void> {
    const reader = new LogReader(this.logFiles.spoolPath(c), offset, (e) => {
      const b = enc(e);
      if (b) sink.write(b);
    });
    const exit = this.nextExit(c.id);
    reader.follow();
    const how = await Promise.race([exit.then(() => 'exit'), closed.then(() => 'closed')]);
    // The last read is by path: a removal (docker run --rm's, right after the
    // exit) moves the directory only once it is done (drained).
    const last = reader.stop(how === 'exit');
    const streams = this.draining.get(c.id) ?? new Set<Promise<void>>();
    this.draining.set(c.id, streams.add(last));
    try {
      await last;
    } finally {
      streams.delete(last);
      if (!streams.size && this.draining.get(c.id) === streams) this.draining.delete(c.id);
    }
    sink.end();
  }

  /** Attach streams doing their last read of a container's log spool, by container id. */
  private readonly draining = new Map<string, Set<Promise<void>>>();

  /** Resolves once every attach stream of the container has read its output to the end (bounded). */
  private async drained(id: string, timeoutMs = 5_000): Promise<void> {
    // An attach hears of the exit a few promise steps after it is recorded: let those run first.
    await new Promise((r) => setImmediate(r));
    const streams = this.draining.get(id);
    if (streams?.size) await within(Promise.all(streams), timeoutMs);
  }

  /**
   * Attach without stdin: the container's output from now until it exits.
   * Attaching to a container that is not running waits for it to start
   * (docker run attaches before it starts the container).
   */
  async attach(ref: string, o: { stdout: boolean; stderr: boolean; logs: boolean; raw?: boolean }, sink: StreamSink, closed: Promise<void>): Promise<void> {
    const c = this.get(ref);
    this.event(c, 'attach');
    const enc = this.encoder(c, { ...o, timestamps: false });
    let offset = LogReader.sizeOf(this.logFiles.spoolPath(c));
    // logs=1: the past from the log driver (none has none), then live from where it ends.
    if (o.logs && this.logFiles.readable(c)) {
      const past = await this.logFiles.history(c);
      for (const e of past.entries) {
        const b = enc(e);
        if (b) sink.write(b);
      }
      offset = past.followFrom;
    }
    await this.streamUntilExit(c, offset, enc, sink, closed);
  }

  // ---- rename / prune / list / inspect ---------------------------------------------

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.get(ref);
    if (!newName) throw new InvalidParameter('Neither old nor new names may be empty');
    const n = validateName(newName);
    if (n === c.name) throw new InvalidParameter('Renaming a container with the same name as its current name');
    const owner = this.nameOwner(n);
    if (owner) throw nameConflict(n, owner.id);
    const old = c.name;
    await this.locked(c.id, async () => {
      c.name = n;
      this.save(c);
    });
    this.event(c, 'rename', { oldName: `/${old}` });
  }

  async prune(filters: Record<string, string[]>): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    const pf = new Filters(filters).validate(['until', 'label', 'label!']);
    const untils = pf.get('until');
    const untilMs = untils.length ? Math.min(...untils.map((u) => timestampMs(u))) : undefined;
    const deleted: string[] = [];
    let space = 0;
    for (const c of [...this.byId.values()]) {
      if (c.state.Running || c.state.Paused || c.state.Restarting) continue;
      if (untilMs !== undefined && Date.parse(c.created) >= untilMs) continue;
      if (!pf.matchLabels(c.config.Labels)) continue;
      const size = await dirSize(this.deps.storage.upperPath(c.id)).catch(() => 0);
      try {
        await this.remove(c.id, { force: false, volumes: false });
        deleted.push(c.id);
        space += size;
      } catch (e) {
        log.warn('prune: remove failed', { id: c.id, err: String(e) });
      }
    }
    this.deps.events.publish('container', 'prune', '', { reclaimed: String(space) });
    return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: space };
  }

  private graph(c: ContainerRecord): { upper: string; merged: string; work: string; lower: string } {
    const st = this.deps.storage;
    let lower = '';
    try {
      const init = st.initPath(c.id);
      lower = [...(init ? [init] : []), ...st.lowers(c.id).slice().reverse().map((x) => st.layerPath(x))].join(':');
    } catch { /* layer gone */ }
    return { upper: st.upperPath(c.id), merged: st.mergedPath(c.id), work: path.join(this.dir(c.id), 'work'), lower };
  }

  private async sizes(c: ContainerRecord): Promise<{ rw: number; rootFs: number }> {
    const rw = await dirSize(this.deps.storage.upperPath(c.id)).catch(() => 0);
    const img = this.deps.images.get(c.imageId);
    return { rw, rootFs: rw + (img?.size ?? 0) };
  }

  async inspect(ref: string, size = false): Promise<Record<string, unknown>> {
    const c = this.get(ref);
    const out = inspectJson(c, this.graph(c), size ? await this.sizes(c) : undefined);
    const links = c.hostConfig.Links ?? [];
    // moby shows links from its link graph: "/<child name>:/<parent name>/<alias>".
    if (links.length) out.HostConfig = { ...(out.HostConfig as object), Links: links.map((l) => this.linkName(c, l)) };
    return out;
  }

  private linkName(c: ContainerRecord, link: string): string {
    const [target, alias] = splitLinkSpec(link);
    let name = target;
    try {
      name = this.get(target).name;
    } catch { /* gone: keep what was given */ }
    return `/${name}:/${c.name}/${alias}`;
  }

  /**
   * `docker rm --link /parent/alias` (moby's rmLink): the parent forgets the
   * link; both containers stay. Takes effect in the parent's environment and
   * hosts file at its next start, as in Docker.
   */
  async removeLink(name: string): Promise<void> {
    const full = name.startsWith('/') ? name : `/${name}`;
    const i = full.lastIndexOf('/');
    const parentName = full.slice(0, i);
    const alias = full.slice(i + 1);
    if (parentName === '') {
      this.get(full); // a missing container is a 404 first, as moby's GetContainer
      throw new SystemError('Conflict, cannot remove the default link name of the container');
    }
    const notFound = new NotFound(`No such container: ${name}`);
    let parent: ContainerRecord;
    try {
      parent = this.get(parentName);
    } catch {
      throw notFound;
    }
    await this.locked(parent.id, async () => {
      const links = parent.hostConfig.Links ?? [];
      const kept = links.filter((l) => splitLinkSpec(l)[1] !== alias);
      if (kept.length === links.length) throw notFound;
      parent.hostConfig.Links = kept.length ? kept : null;
      for (const ep of Object.values(parent.networkingConfig?.EndpointsConfig ?? {}) as Array<{ Links?: string[] | null }>) {
        if (ep?.Links) ep.Links = ep.Links.filter((l) => splitLinkSpec(l)[1] !== alias);
      }
      this.save(parent);
    });
  }

  async list(o: ListOptions): Promise<Array<Record<string, unknown>>> {
    const out: Array<Record<string, unknown>> = [];
    for (const { c, image } of this.select(o)) out.push(listJson(c, image, o.size ? await this.sizes(c) : undefined));
    return out;
  }

  /** GET /containers/json's body: list()'s JSON, with each entry's text kept between lists (list-rows.ts). */
  async listBody(o: ListOptions): Promise<Buffer> {
    const f = o.fields;
    if (o.size) return Buffer.from(`${JSON.stringify((await this.list(o)).map((e) => (f ? Object.fromEntries(Object.entries(e).filter(([k]) => f.has(k))) : e)))}\n`);
    return this.listRows.body(this.select(o), Date.now(), f);
  }

  private readonly listRows = new ListRows();

  /** The containers a list shows, newest first, with the image name each shows. */
  private select(o: ListOptions): Array<{ c: ContainerRecord; image: string }> {
    const f = o.filters;
    const lf = new Filters(f).validate(['status', 'name', 'label', 'id', 'ancestor', 'exited', 'before', 'since', 'network', 'volume', 'health', 'isolation', 'is-task', 'publish', 'expose']);
    for (const s of f.status ?? []) {
      if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(s)) {
        throw new InvalidParameter(`invalid filter 'status=${s}'`);
      }
    }
    // as moby's foldFilter: exit codes must be integers, health one of four words
    const exitCodes = (f.exited ?? []).map((x) => {
      if (!/^[+-]?\d+$/.test(x)) throw new InvalidParameter(`strconv.Atoi: parsing ${JSON.stringify(x)}: invalid syntax`);
      return Number(x);
    });
    for (const h of f.health ?? []) {
      if (!['starting', 'healthy', 'unhealthy', 'none'].includes(h)) throw new InvalidParameter(`Unrecognised filter value for health: ${h}`);
    }
    let list = [...this.byId.values()].sort((a, b) => (b.created < a.created ? -1 : b.created > a.created ? 1 : 0));
    const before = f.before?.length ? this.get(f.before[0]) : undefined;
    const since = f.since?.length ? this.get(f.since[0]) : undefined;
    const ancestors = (f.ancestor ?? []).map((a) => this.ancestorIds(a));
    const all = o.all || (o.limit !== undefined && o.limit > 0) || !!f.status;
    list = list.filter((c) => {
      if (!all && !c.state.Running) return false;
      if (f.status && !f.status.includes(c.state.Status)) return false;
      if (f.name && !filterMatch(f.name, `/${c.name}`) && !filterMatch(f.name, c.name)) return false;
      if (f.id && !filterMatch(f.id, c.id)) return false;
      if (!lf.matchKVList('label', c.config.Labels)) return false;
      if (exitCodes.length && (c.state.Running || c.state.StartedAt === ZERO_TIME || !exitCodes.includes(c.state.ExitCode))) return false;
      if (f.health && !f.health.includes((c.extra.health as { Status?: string } | undefined)?.Status ?? 'none')) return false;
      if (before && c.created >= before.created) return false;
      if (since && c.created <= since.created) return false;
      if (ancestors.length && !ancestors.some((set) => set.has(c.imageId))) return false;
      if (f.network && !f.network.some((n) => Object.keys(c.networkSettings?.Networks ?? {}).includes(n) || Object.values(c.networkSettings?.Networks ?? {}).some((v: any) => v?.NetworkID?.startsWith(n)))) return false;
      if (f.volume && !f.volume.some((v) => (c.mounts ?? []).some((m) => m.Name === v || m.Destination === v || m.Source === v))) return false;
      return true;
    });
    if (o.limit !== undefined && o.limit > 0) list = list.slice(0, o.limit);
    // containers share a few image names: each resolved once per list (1,000 resolves were most of a 1,000-row list)
    const resolved = new Map<string, ImageRecord | undefined>();
    return list.map((c) => ({ c, image: this.imageName(c, resolved) }));
  }

  /** Image ids an `ancestor=` filter matches: the image and its descendants. */
  private ancestorIds(ref: string): Set<string> {
    const set = new Set<string>();
    const img = this.deps.images.tryResolve(ref);
    if (!img) return set;
    const queue = [img.id];
    while (queue.length) {
      const id = queue.shift()!;
      if (set.has(id)) continue;
      set.add(id);
      for (const ch of this.deps.images.children(id)) queue.push(ch.id);
    }
    return set;
  }

  /** What `docker ps` shows as IMAGE: the name used, or the id if the tag moved. */
  private imageName(c: ContainerRecord, resolved?: Map<string, ImageRecord | undefined>): string {
    const ref = c.config.Image;
    let img = resolved?.get(ref);
    if (!img && !resolved?.has(ref)) {
      img = this.deps.images.tryResolve(ref);
      resolved?.set(ref, img);
    }
    if (img && img.id === c.imageId) return c.config.Image;
    return c.imageId;
  }

  // ---- filesystem: changes / commit (export: archive.ts) -------------------------------------------

  async changes(ref: string): Promise<Array<{ Path: string; Kind: number }>> {
    const c = this.get(ref);
    return this.deps.storage.changes(c.id);
  }

  /** `docker commit`: the container's rw layer on top of its image. */
  async commit(ref: string, o: { repo?: string; tag?: string; comment?: string; author?: string; pause?: boolean; changes?: string[]; config?: Partial<ContainerConfig> }): Promise<{ Id: string }> {
    const c = this.get(ref);
    // The name is checked before any work, so a bad one leaves no untagged image behind.
    const tags = o.repo ? [commitTag(o.repo, o.tag)] : [];
    const parent = this.deps.images.get(c.imageId);
    // Docker's Config.Image is the container's (the image as it was named at create), as is ContainerConfig.
    let cfg: ImageConfig = { ...stripContainerOnly(c.config), Image: c.config.Image, ...(o.config ?? {}) } as ImageConfig;
    if (o.changes?.length) cfg = applyChanges(cfg, o.changes);
    // Docker freezes a running container while its rw layer is read (pause
    // defaults to true), so the image is one instant of it; one that cannot
    // be frozen is committed as it is (moby ignores that error too).
    const freeze = o.pause !== false && c.state.Running && !c.state.Paused;
    const frozen = freeze && await this.setPaused(c, true, () => {
      if (!c.state.Running || c.state.Paused || c.state.Restarting) throw new Conflict(`Container ${c.id} is not running`);
    }).then(() => true, () => false);
    try {
      const img = await this.deps.images.createImage({
        parent,
        layerTar: this.deps.storage.diffTar(c.id),
        layerUpper: this.deps.storage.upperDir(c.id),
        config: cfg,
        history: { created_by: [c.path, ...c.args].join(' '), ...(o.comment ? { comment: o.comment } : {}), ...(o.author ? { author: o.author } : {}) },
        tags,
        author: o.author,
        comment: o.comment,
        container: c.id,
        containerConfig: { ...stripContainerOnly(c.config), Image: c.config.Image } as ImageConfig,
      });
      // moby logs commit before its deferred unpause: pause, commit, unpause.
      this.event(c, 'commit', { comment: o.comment ?? '' });
      return { Id: img.id };
    } finally {
      if (frozen) await this.setPaused(c, false, () => { if (!c.state.Paused) throw new Conflict(`Container ${c.id} is not paused`); }).catch(() => {});
    }
  }
}

// ---- helpers ---------------------------------------------------------------------

/** moby's filters.Match: an exact value or an unanchored regular expression (a bad one matches nothing). */
function filterMatch(values: string[], source: string): boolean {
  return values.some((v) => v === source || !!filterRegExp(v)?.test(source));
}

/** Filter values compiled once (a list tests each against every container); null: not a valid expression. */
const filterRegExps = new Map<string, RegExp | null>();
function filterRegExp(v: string): RegExp | null {
  let re = filterRegExps.get(v);
  if (re === undefined) {
    try { re = new RegExp(v); } catch { re = null; }
    if (filterRegExps.size >= 256) filterRegExps.clear();
    filterRegExps.set(v, re);
  }
  return re;
}

/** `repo` (which may carry a tag) and `tag` as dockerd's commit names the image; Docker's errors for bad ones. */
function commitTag(repo: string, tag?: string): string {
  let ref = parseNormalized(repo);
  if (ref.digest !== undefined) throw new InvalidParameter('cannot commit to digest reference');
  if (tag) {
    if (!isValidTag(tag)) throw new InvalidParameter(`invalid tag format`);
    ref = { ...ref, tag };
  }
  return fullString(withDefaultTag(ref));
}

function nameConflict(name: string, id: string): Conflict {
  return new Conflict(`Conflict. The container name "/${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`);
}

/** The host's resolv.conf without loopback nameservers (unreachable from a container), as Docker does. */
function resolvConf(h: HostConfig): string {
  let host = '';
  try {
    host = fs.readFileSync('/etc/resolv.conf', 'utf8');
  } catch { /* none */ }
  const lines = host.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$|::1$)/.test(l));
  let out = lines.filter((l) => l.trim() !== '');
  if (h.Dns?.length) out = out.filter((l) => !/^\s*nameserver\s/.test(l)).concat(h.Dns.map((d) => `nameserver ${d}`));
  if (h.DnsSearch?.length) out = out.filter((l) => !/^\s*(search|domain)\s/.test(l)).concat([`search ${h.DnsSearch.join(' ')}`]);
  if (h.DnsOptions?.length) out = out.filter((l) => !/^\s*options\s/.test(l)).concat([`options ${h.DnsOptions.join(' ')}`]);
  if (!out.some((l) => /^\s*nameserver\s/.test(l))) out.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return out.join('\n') + '\n';
}

function stripContainerOnly(c: ContainerConfig): Partial<ContainerConfig> {
  const { Hostname: _h, Domainname: _d, Image: _i, ...rest } = c;
  return { Hostname: '', Domainname: '', ...rest, Image: '' };
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) total += (await fsp.lstat(p)).size;
    }
  };
  await walk(dir);
  return total;
}

/** "target:alias", "/target:/parent/alias" or "target" → [target name, alias]. */
function splitLinkSpec(l: string): [string, string] {
  const i = l.indexOf(':');
  const target = (i < 0 ? l : l.slice(0, i)).replace(/^\//, '');
  const alias = i < 0 ? target : l.slice(i + 1).replace(/^.*\//, '');
  return [target, alias];
}
