// One etcd member, a child of berthd: started, restarted when it dies, and
// stopped with berthd. `setpriv --pdeathsig KILL` makes the kernel kill it
// when berthd dies (even by SIGKILL), so no member outlives its daemon; its
// pid file lets `--cleanup` and the next start reap one that did anyway.
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { log } from '../util/log';

export interface EtcdMemberConfig {
  name: string;
  dataDir: string;
  logFile: string;
  pidFile: string;
  /** https://127.0.0.1:PORT — berthd is the only client, over loopback. */
  clientUrl: string;
  peerListenUrl: string;
  peerAdvertiseUrl: string;
  /** name=peerURL,... (used only when the data dir is new). */
  initialCluster: string;
  initialState: 'new' | 'existing';
  certFile: string;
  keyFile: string;
  caFile: string;
  /**
   * Short raft timers (FAST_TIMERS): for an init's lone member only, until
   * it is restarted with the normal ones (src/swarm/election-settle.ts).
   */
  fastElection?: boolean;
}

/** The raft timers, ms: heartbeat interval and election timeout. */
export const NORMAL_TIMERS = { heartbeat: 100, election: 1000 };
/**
 * A lone member's timers at init. etcd 3.4 fast-forwards a lone member's
 * ticks to one short of its election timeout, so its first election comes a
 * uniform 1..ET/heartbeat ticks after its start: 0.1–1.0 s with the normal
 * timers, all of which the first manager join waited for; 20–100 ms with
 * these (etcd's shortest ratio, 5 ticks; a 10 ms heartbeat doubled what the
 * leader sends and its peers answer while they still run them).
 */
export const FAST_TIMERS = { heartbeat: 20, election: 100 };

/** Raft entries between two snapshots of a member (etcd's default: 100000). */
export const SNAPSHOT_COUNT = 10_000;

/**
 * Go's collector target for the member (GOGC). etcd 3.4 allocates ~6 MiB of
 * channel buffers per peer up front (4096 raft messages each way), most of
 * its live heap in a small cluster; with Go's default 100 the heap may grow
 * to twice that before a collection. At 25 it stays within a quarter above
 * it; a collection of that heap is a few ms of a background thread.
 */
export const ETCD_GOGC = '25';

/** The member's environment: berthd's, with GOGC set unless the operator set one. */
export function etcdEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, GOGC: env.GOGC || ETCD_GOGC };
}

/** How long a member restarted for its timers gets to stop before SIGKILL. */
const RESTART_GRACE_MS = 300;

export class EtcdProcess {
  private child?: ChildProcess;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  private failures = 0;
  /** stop() was asked for by the owner: a restart in progress must not start the member again. */
  private closed = false;
  /** Called on every exit that berthd did not ask for (the member may have been removed). */
  onUnexpectedExit?: (code: number | null, signal: string | null) => void;

  constructor(readonly cfg: EtcdMemberConfig) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.stopping = false;
    this.closed = false;
    reapStaleMember(this.cfg.pidFile, this.cfg.dataDir);
    fs.mkdirSync(this.cfg.dataDir, { recursive: true, mode: 0o700 });
    const c = this.cfg;
    const timers = c.fastElection ? FAST_TIMERS : NORMAL_TIMERS;
    const args = [
      '--pdeathsig', 'KILL', '--', 'etcd',
      '--name', c.name,
      '--data-dir', c.dataDir,
      '--listen-client-urls', c.clientUrl,
      '--advertise-client-urls', c.clientUrl,
      '--listen-peer-urls', c.peerListenUrl,
      '--initial-advertise-peer-urls', c.peerAdvertiseUrl,
      '--initial-cluster', c.initialCluster,
      '--initial-cluster-state', c.initialState,
      '--cert-file', c.certFile, '--key-file', c.keyFile, '--trusted-ca-file', c.caFile, '--client-cert-auth',
      '--peer-cert-file', c.certFile, '--peer-key-file', c.keyFile, '--peer-trusted-ca-file', c.caFile, '--peer-client-cert-auth',
      '--heartbeat-interval', String(timers.heartbeat), '--election-timeout', String(timers.election),
      // berthd adds members one at a time and waits for each to serve a
      // linearizable read before the next; the strict check would also make
      // a join wait until the leader has seen every member for 5 s
      '--strict-reconfig-check=false',
      '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1000',
      // etcd keeps the raft log since its last snapshot in memory, 100000
      // entries by default (swarmkit snapshots every 10000); a member that
      // falls further behind than the 5000 entries kept after a snapshot is
      // sent the snapshot instead
      '--snapshot-count', String(SNAPSHOT_COUNT),
      '--logger', 'zap', '--log-level', 'warn',
    ];
    const out = fs.openSync(c.logFile, 'a', 0o600);
    const child = spawn('setpriv', args, { stdio: ['ignore', out, out], env: etcdEnv(process.env) });
    fs.closeSync(out);
    this.child = child;
    const started = Date.now();
    child.on('error', (e) => log.error('etcd could not be started', { err: e.message }));
    if (child.pid) fs.writeFileSync(c.pidFile, `${child.pid}\n`, { mode: 0o600 });
    log.info('etcd member started', { name: c.name, pid: child.pid, state: c.initialState, fast: !!c.fastElection });
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      log.warn('etcd member exited', { code, signal, log: c.logFile });
      this.onUnexpectedExit?.(code, signal);
      if (this.stopping) return;
      // back off: 0.5 s, 1 s, 2 s ... 5 s; a member that ran for a while starts over
      this.failures = Date.now() - started > 30_000 ? 0 : this.failures + 1;
      const delay = Math.min(5000, 250 * 2 ** this.failures);
      this.restartTimer = setTimeout(() => { if (!this.stopping) this.start(); }, delay);
    });
  }

  /** Stops the member (SIGTERM) and starts it again with the normal raft timers, on the same data. */
  async restartWithNormalTimers(): Promise<void> {
    // a follower's graceful stop took ~1 s (SIGTERM); its WAL is synced before it acks anything, so a kill loses nothing
    await this.halt(RESTART_GRACE_MS);
    if (this.closed) return;
    this.cfg.fastElection = false;
    this.start();
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    this.closed = true;
    await this.halt(graceMs);
  }

  private async halt(graceMs = 5000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(t);
    }
    this.child = undefined;
    try { fs.unlinkSync(this.cfg.pidFile); } catch { /* gone */ }
  }
}

/** Kills an etcd left running on `dataDir` by a daemon that died (its pid file names it). */
export function reapStaleMember(pidFile: string, dataDir: string): boolean {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return false;
  }
  try { fs.unlinkSync(pidFile); } catch { /* gone */ }
  if (!Number.isInteger(pid) || pid <= 1) return false;
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  // the pid may have been reused: only a process that is our etcd on this data dir
  if (!cmdline.includes('etcd') || !cmdline.split('\0').includes(dataDir)) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
