// Restart policies (no, on-failure[:N], always, unless-stopped) with
// Docker's back-off: the first restart waits 100 ms, each next one twice as
// long (at most a minute), back to 100 ms once the container ran for 10 s.
// While waiting the container is `restarting`. A stop or kill by the user
// (extra.manualStop) ends it; at daemon start `always` containers, and
// `unless-stopped` ones not stopped by the user, are started again.
import type { ContainerService } from './service';
import type { ContainerRecord } from './types';
import { log } from '../util/log';

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
const RESET_AFTER_MS = 10_000;

export class RestartManager {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly delays = new Map<string, number>();

  constructor(private readonly svc: ContainerService) {}

  private wants(c: ContainerRecord, code: number): boolean {
    const p = c.hostConfig.RestartPolicy ?? { Name: 'no', MaximumRetryCount: 0 };
    if (c.extra.manualStop || c.hostConfig.AutoRemove) return false;
    switch (p.Name) {
      case 'always':
      case 'unless-stopped':
        return true;
      case 'on-failure':
        return code !== 0 && (!p.MaximumRetryCount || c.restartCount < p.MaximumRetryCount);
      default:
        return false;
    }
  }

  /** The container just exited (state already recorded). */
  onExit(c: ContainerRecord): void {
    if (!this.wants(c, c.state.ExitCode)) {
      this.delays.delete(c.id);
      return;
    }
    const ran = Date.parse(c.state.FinishedAt) - Date.parse(c.state.StartedAt);
    let delay = this.delays.get(c.id);
    delay = delay === undefined || ran >= RESET_AFTER_MS ? FIRST_DELAY_MS : Math.min(delay * 2, MAX_DELAY_MS);
    this.delays.set(c.id, delay);
    c.state = { ...c.state, Status: 'restarting', Restarting: true };
    this.svc.persist(c);
    this.schedule(c.id, delay);
  }

  private schedule(id: string, delay: number): void {
    clearTimeout(this.timers.get(id));
    const t = setTimeout(() => {
      this.timers.delete(id);
      void this.fire(id);
    }, delay);
    t.unref();
    this.timers.set(id, t);
  }

  private async fire(id: string): Promise<void> {
    let c: ContainerRecord;
    try {
      c = this.svc.get(id);
    } catch {
      return;
    }
    if (!c.state.Restarting || c.extra.manualStop) return;
    c.restartCount++;
    this.svc.persist(c);
    try {
      await this.svc.start(id, { policy: true });
    } catch (e) {
      log.warn('restart failed', { id, err: String(e) });
      const cur = this.svc.all().find((x) => x.id === id);
      if (!cur || cur.state.Running) return;
      cur.state = { ...cur.state, Status: 'exited', Restarting: false };
      this.svc.persist(cur);
      if (this.wants(cur, cur.state.ExitCode || 1)) this.onExit(cur);
    }
  }

  /** A user stop/kill/remove: no more restarts; a waiting container is exited. */
  cancel(c: ContainerRecord): void {
    clearTimeout(this.timers.get(c.id));
    this.timers.delete(c.id);
    this.delays.delete(c.id);
    if (c.state.Restarting) {
      c.state = { ...c.state, Status: 'exited', Restarting: false };
      this.svc.persist(c);
    }
  }

  /** Daemon start: bring back always / unless-stopped containers (and restarts interrupted by the crash). */
  onDaemonStart(): void {
    for (const c of this.svc.all()) {
      if (c.state.Running) continue;
      // As Docker: `always` comes back even after a user stop; unless-stopped only if not stopped by the user.
      const p = c.hostConfig.RestartPolicy ?? { Name: 'no', MaximumRetryCount: 0 };
      const auto = p.Name === 'always' || (!c.extra.manualStop && (p.Name === 'unless-stopped'
        || (p.Name === 'on-failure' && c.state.ExitCode !== 0 && (!p.MaximumRetryCount || c.restartCount < p.MaximumRetryCount))));
      if (c.state.Restarting || (auto && c.state.Status !== 'created' && !c.hostConfig.AutoRemove)) {
        c.extra.manualStop = false;
        c.state = { ...c.state, Status: 'restarting', Restarting: true };
        this.svc.persist(c);
        this.schedule(c.id, FIRST_DELAY_MS);
      }
    }
  }

  stopAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
