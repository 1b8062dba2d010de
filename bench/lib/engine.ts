// One engine under test: a private daemon (own socket, data root, exec root,
// bridge) driven through the official docker CLI with DOCKER_HOST set.
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { run, waitFor, failureText, pool, type RunResult, type RunOptions } from './proc';
import { listProcs, memoryOf, processTree, type ProcInfo } from './host';

export const DOCKER_CLI = fs.existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker';

export interface MemorySnapshot {
  /** Sum of the daemon's process tree (monitors excluded), KiB. */
  daemonRssKiB: number;
  daemonProcs: string[];
  /** One entry per container monitor process. */
  monitors: { pid: number; rssKiB: number; pssKiB: number }[];
}

export abstract class Engine {
  /** Short key used in JSON: 'docker' | 'berth'. */
  abstract readonly key: string;
  abstract readonly title: string;
  version = '';
  /** Set when the daemon could not be started or prepared; every row then shows it. */
  brokenReason?: string;
  readonly socket: string;
  readonly logFile: string;
  readonly env: NodeJS.ProcessEnv;
  protected proc?: ChildProcess;
  private cleaned = false;
  /** Set once stop() began: the run was interrupted or is over. */
  stopped = false;

  /** `logFile` lives outside `root`, so it survives cleanup for the report. */
  constructor(readonly root: string, logFile: string) {
    fs.mkdirSync(root, { recursive: true });
    this.socket = path.join(root, 'engine.sock');
    this.logFile = logFile;
    const cfg = path.join(root, 'docker-config');
    fs.mkdirSync(cfg, { recursive: true });
    this.env = {
      ...process.env,
      DOCKER_HOST: `unix://${this.socket}`,
      DOCKER_CONFIG: cfg,
      DOCKER_CLI_HINTS: 'false',
      DOCKER_BUILDKIT: '0',
    };
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The docker CLI against this engine. */
  docker(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(DOCKER_CLI, args, { timeout: 60_000, ...opts, env: { ...this.env, ...opts.env } });
  }

  /** Like docker(), but a non-zero exit throws with the CLI's message. */
  async must(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.docker(args, opts);
    if (r.code !== 0) throw new Error(`docker ${args.slice(0, 3).join(' ')}: ${failureText(r)}`);
    return r;
  }

  /** Starts the daemon and waits until it answers /_ping. */
  abstract start(): Promise<void>;
  /** Whether a process is one of this engine's per-container monitors. */
  abstract isMonitor(p: ProcInfo): boolean;
  /** Removes whatever the engine left on the host; synchronous, never throws. */
  protected abstract cleanupHost(): void;

  protected spawnDaemon(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
    const log = fs.openSync(this.logFile, 'a');
    // Own process group: Ctrl-C reaches the harness only, which then stops
    // the daemons in order.
    this.proc = spawn(cmd, args, { stdio: ['ignore', log, log], detached: true, env });
    fs.closeSync(log);
  }

  protected async waitReady(timeout: number): Promise<void> {
    const proc = this.proc!;
    let exited = false;
    proc.once('exit', () => (exited = true));
    await waitFor(`${this.title} to answer /_ping`, timeout, async () => {
      if (exited) throw new Error(`${this.title} daemon exited during start:\n${this.logTail()}`);
      return this.ping();
    });
  }

  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.request({ socketPath: this.socket, path: '/_ping', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
      req.end();
    });
  }

  logTail(chars = 3000): string {
    try {
      const t = fs.readFileSync(this.logFile, 'utf8');
      return t.slice(-chars);
    } catch {
      return '';
    }
  }

  /** `docker load` of the busybox fixture archive. */
  async loadImage(archive: string): Promise<void> {
    await this.must(['load', '-i', archive], { timeout: 120_000 });
    const r = await this.must(['image', 'inspect', '--format', '{{.Id}}', 'busybox:latest']);
    if (!r.stdout.trim()) throw new Error('busybox:latest missing after docker load');
  }

  async containerIds(all = true): Promise<string[]> {
    const r = await this.must(['ps', '-q', '--no-trunc', ...(all ? ['-a'] : [])]);
    return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  }

  /**
   * Best effort: force-removes every container of this engine, within
   * `budgetMs` in all. An engine that stalls on removal (dockerd once did with
   * 1,000 containers) must not hold the report back: what is left then goes
   * with the daemon in stop()/cleanup(). Says whether every removal answered.
   */
  async removeAllContainers(budgetMs = 300_000): Promise<boolean> {
    const deadline = Date.now() + budgetMs;
    let ids: string[] = [];
    try {
      ids = await this.containerIds(true);
    } catch {
      return false;
    }
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += 25) chunks.push(ids.slice(i, i + 25));
    let done = true;
    await pool(chunks, 2, async (c) => {
      const left = deadline - Date.now();
      if (left < 1000) return void (done = false);
      const r = await this.docker(['rm', '-f', ...c], { timeout: Math.min(120_000, left) }).catch(() => undefined);
      if (r?.code !== 0) done = false;
    });
    return done;
  }

  memory(): MemorySnapshot {
    const procs = listProcs();
    const monitors = procs
      .filter((p) => this.isMonitor(p))
      .map((p) => ({ pid: p.pid, ...(memoryOf(p.pid) ?? { rssKiB: NaN, pssKiB: NaN }) }))
      .filter((m) => !Number.isNaN(m.rssKiB));
    const tree = this.pid ? processTree(procs, this.pid, (p) => this.isMonitor(p)) : [];
    let daemonRssKiB = 0;
    for (const p of tree) daemonRssKiB += memoryOf(p.pid)?.rssKiB ?? 0;
    return { daemonRssKiB, daemonProcs: tree.map((p) => p.comm), monitors };
  }

  /** Stops the daemon gracefully (bounded), then removes all host state. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.cleaned) return;
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      await this.removeAllContainers(90_000);
      await this.terminate();
    }
    this.cleanup();
  }

  async terminate(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await done;
    clearTimeout(t);
  }

  /** Synchronous last resort (also used from the exit handler). */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    try {
      if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
    this.cleanupHost();
  }
}
