// Healthchecks (HEALTHCHECK of the image or --health-*): while a container
// runs, a probe runs every interval as an exec; State.Health keeps the
// status (starting → healthy/unhealthy), the failing streak and the last
// five results, and each change of status is a `health_status: <s>` event.
// Failures inside the start period do not count. Monitors follow the
// container's start/die events, and are resumed at daemon start.
import type { EventBus } from '../events/bus';
import type { ContainerService } from './service';
import type { ExecService } from './exec';
import type { ContainerRecord } from './types';
import { log } from '../util/log';

export interface HealthLogEntry { Start: string; End: string; ExitCode: number; Output: string }
export interface Health { Status: 'starting' | 'healthy' | 'unhealthy'; FailingStreak: number; Log: HealthLogEntry[] }

interface Check { test: string[]; intervalMs: number; timeoutMs: number; startPeriodMs: number; retries: number }

const NS_PER_MS = 1e6;

/** The effective check of a container, or undefined for none / NONE. */
export function healthcheckOf(c: ContainerRecord): Check | undefined {
  const h = c.config.Healthcheck as { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number } | undefined;
  const img = (c.imageConfig?.Healthcheck ?? {}) as typeof h & object;
  const t = h?.Test?.length ? h.Test : img?.Test;
  if (!t || !t.length || t[0] === 'NONE') return undefined;
  let test: string[];
  if (t[0] === 'CMD') test = t.slice(1);
  else if (t[0] === 'CMD-SHELL') test = ['/bin/sh', '-c', t.slice(1).join(' ')];
  else test = ['/bin/sh', '-c', t.join(' ')];
  if (!test.length) return undefined;
  const pick = (k: 'Interval' | 'Timeout' | 'StartPeriod' | 'Retries') => (h?.[k] || img?.[k] || 0) as number;
  return {
    test,
    intervalMs: pick('Interval') ? pick('Interval') / NS_PER_MS : 30_000,
    timeoutMs: pick('Timeout') ? pick('Timeout') / NS_PER_MS : 30_000,
    startPeriodMs: pick('StartPeriod') / NS_PER_MS,
    retries: pick('Retries') || 3,
  };
}

export class HealthService {
  private readonly monitors = new Map<string, { stop: () => void }>();
  private unsubscribe?: () => void;

  constructor(private readonly containers: ContainerService, private readonly execs: ExecService, private readonly events: EventBus) {}

  init(): void {
    this.unsubscribe = this.events.subscribe((ev) => {
      if (ev.Type !== 'container') return;
      if (ev.Action === 'start') this.startMonitor(ev.Actor.ID, true);
      else if (ev.Action === 'die' || ev.Action === 'destroy' || ev.Action === 'pause') this.stopMonitor(ev.Actor.ID);
      else if (ev.Action === 'unpause') this.startMonitor(ev.Actor.ID, false);
    });
    for (const c of this.containers.all()) if (c.state.Running && !c.state.Paused) this.startMonitor(c.id, false);
  }

  shutdown(): void {
    this.unsubscribe?.();
    for (const m of this.monitors.values()) m.stop();
    this.monitors.clear();
  }

  private startMonitor(id: string, fresh: boolean): void {
    let c: ContainerRecord;
    try {
      c = this.containers.get(id);
    } catch {
      return;
    }
    const check = healthcheckOf(c);
    this.stopMonitor(id);
    if (!check) return;
    if (fresh || !c.extra.health) {
      c.extra.health = { Status: 'starting', FailingStreak: 0, Log: [] } satisfies Health;
      this.containers.persist(c);
    }
    const startedAt = Date.parse(c.state.StartedAt);
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      await this.probe(id, check, startedAt).catch((e) => log.debug('health probe failed', { id, err: String(e) }));
      if (!stopped) {
        timer = setTimeout(() => void tick(), check.intervalMs);
        timer.unref();
      }
    };
    timer = setTimeout(() => void tick(), check.intervalMs);
    timer.unref();
    this.monitors.set(id, { stop: () => { stopped = true; clearTimeout(timer); } });
  }

  private stopMonitor(id: string): void {
    this.monitors.get(id)?.stop();
    this.monitors.delete(id);
  }

  private async probe(id: string, check: Check, startedAt: number): Promise<void> {
    const start = new Date();
    const r = await this.execs.runProbe(id, check.test, check.timeoutMs);
    let c: ContainerRecord;
    try {
      c = this.containers.get(id);
    } catch {
      return;
    }
    if (!c.state.Running) return;
    const h = (c.extra.health as Health | undefined) ?? { Status: 'starting', FailingStreak: 0, Log: [] };
    const before = h.Status;
    h.Log = [...h.Log, { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: r.code, Output: r.output }].slice(-5);
    if (r.code === 0) {
      h.Status = 'healthy';
      h.FailingStreak = 0;
    } else if (Date.now() - startedAt >= check.startPeriodMs || h.Status !== 'starting') {
      h.FailingStreak++;
      if (h.FailingStreak >= check.retries) h.Status = 'unhealthy';
    }
    c.extra.health = h;
    this.containers.persist(c);
    if (h.Status !== before) this.containers.publish(c, `health_status: ${h.Status}`);
  }
}
