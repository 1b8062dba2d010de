// The orchestrator: on the leader only, a loop (every LOOP_MS, or at once
// when the service API on this node changed something, or the store's change
// feed reports a service, node, liveness or cluster change) that reads services,
// tasks and nodes from etcd and writes the tasks that make them agree:
// - replicated: N slots, each with one task desired running; scale down
//   gives the highest slots desiredState remove; a task that ended while
//   desired running is replaced in its slot by the restart policy
//   (condition, delay, max attempts in a window); tasks on a node that is
//   Down, gone or drained are replaced at once (no delay) in the same slot;
// - global: one task per ready, active node matching the constraints;
//   tasks on other nodes get desiredState remove (a paused node keeps its
//   task but gets no new one);
// - tasks of deleted services get desiredState remove;
// - dead tasks are deleted: removed ones, and history beyond the cluster's
//   TaskHistoryRetentionLimit per slot;
// - new and pending tasks go through the scheduler (scheduler.ts), then the
//   updater (updater.ts) runs.
// A replacement and the old task's new desired state are one etcd
// transaction, so a lost compare-and-swap never doubles a slot. Agents (the
// dispatcher on managers) move a task on from assigned; the orchestrator
// never replaces a task only because its spec is old (that is the updater's).
import type { SwarmComponent, SwarmContext } from '../component';
import { isKeyOf, listRead, type ObjectStore, type Write } from '../object-store';
import { isClusterOrNodeKey, storeReads, type SwarmStore } from '../store';
import type { NodeRecord, Versioned } from '../types';
import { hostPortsOf, isTerminal, stateBefore, type Json, type ServiceRecord, type TaskRecord, type TaskState } from '../objects';
import { newId } from '../tokens';
import { isGlobal, replicasOf } from '../service-views';
import { schedule, matchConstraints, type ScheduleInput } from './scheduler';
import { runUpdates, forgetUpdates } from './updater';
import { log } from '../../util/log';

export const LOOP_MS = 250;

type VTask = Versioned<TaskRecord>;
type VService = Versioned<ServiceRecord>;

interface NodeView { node: NodeRecord; ready: boolean; availability: 'active' | 'pause' | 'drain' }

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** desiredState new..running (running, or 'ready' while a restart delay runs). */
const live = (t: TaskRecord) => !isTerminal(t.desiredState);

export class Orchestrator implements SwarmComponent {
  readonly name = 'orchestrator';
  private ctx?: SwarmContext;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private active = false;
  private again = false;
  /** Restart times per slot (service/slot or service/node), for MaxAttempts within Window (lost on failover, as swarmkit's). */
  private readonly restarts = new Map<string, number[]>();
  /** Global tasks waiting out their restart delay: task id → when to replace. */
  private readonly globalDue = new Map<string, number>();
  /** Called after a pass wrote tasks (the dispatcher on this manager answers its waiting nodes at once). */
  onWrite?: () => void;
  /** Last pass's error, for logs. */
  private lastError = '';
  /**
   * What the last full pass read, at which store revision: everything the
   * orchestrator reads is in etcd (liveness too: an expired lease deletes
   * its key), so while the revision stays the same and no delay is running
   * a pass only calls the updater again with these lists.
   */
  /** The store's change feed this orchestrator listens to while it leads. */
  private feed?: { objects: ObjectStore; unlisten: () => void };
  private cache?: { revision: number; services: VService[]; tasks: VTask[]; nodes: NodeView[]; timed: boolean };

  setContext(ctx: SwarmContext | undefined): void {
    this.ctx = ctx;
    const lead = !!ctx?.leader && !!ctx.objects && !!ctx.store;
    this.follow(lead ? ctx?.objects : undefined);
    if (lead && !this.active) {
      this.active = true;
      log.info('orchestrator started (this manager leads)');
      this.kick();
    } else if (!lead && this.active) {
      this.active = false;
      clearTimeout(this.timer);
      this.restarts.clear();
      this.globalDue.clear();
      this.cache = undefined;
      forgetUpdates();
      log.info('orchestrator stopped (this manager no longer leads)');
    }
  }

  /**
   * Listens to the store's changes while leading: a service, node, liveness
   * or cluster change runs a pass at once (a node whose lease expired is
   * Down now, not at the next loop); task reports wait for the loop.
   */
  private follow(objects: ObjectStore | undefined): void {
    if (this.feed?.objects === objects) return;
    this.feed?.unlisten();
    this.feed = undefined;
    if (!objects) return;
    this.feed = {
      objects,
      unlisten: objects.feed.listen((_rev, keys) => {
        if (!keys.length || keys.some((k) => isKeyOf('services', k) || isClusterOrNodeKey(k))) this.kick();
      }),
    };
  }

  /** Runs a pass now (or right after the one under way). */
  kick(): void {
    if (!this.active) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (!this.active) return;
      if (this.again) {
        this.again = false;
        this.kick();
      } else {
        this.timer = setTimeout(() => this.kick(), LOOP_MS);
      }
    });
  }

  async stop(): Promise<void> {
    this.active = false;
    this.follow(undefined);
    clearTimeout(this.timer);
    await this.running;
  }

  private async pass(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx?.objects || !ctx.store || !ctx.leader) return;
    try {
      const wrote = await this.reconcile(ctx.objects, ctx.store, ctx.nodeId);
      if (this.lastError) log.info('orchestrator recovered', { after: this.lastError });
      this.lastError = '';
      if (wrote) {
        this.again = true; // look again at once: what we wrote may need a follow-up (scheduling, deletes)
        this.onWrite?.();
      }
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.lastError) log.warn('orchestrator pass failed', { err: msg });
      this.lastError = msg;
    }
  }

  /** One pass; returns whether anything was written. */
  private async reconcile(objects: ObjectStore, _store: SwarmStore, nodeId: string): Promise<boolean> {
    const c = this.cache;
    // with the change feed live, nothing new since the cached read costs no etcd call, and
    // something new (the feed is past the cache) needs no revision read to tell it
    const unchanged = !!c && (objects.feed.live ? objects.feed.revision <= c.revision : c.revision === await objects.revision());
    if (c && unchanged && !c.timed && !this.globalDue.size) {
      return runUpdates(objects, c.services, c.tasks, c.nodes.map((n) => ({ node: n.node, ready: n.ready })), nodeId);
    }
    this.cache = undefined;
    // everything in one transaction: one round trip, one consistent revision (the cache's)
    const { revision: readAt, values: [services, tasks, nodes, alive, cluster] } = await objects.etcd.readTogether(
      [listRead('services'), listRead('tasks'), storeReads.nodes(), storeReads.alive(), storeReads.cluster()] as const);
    const now = Date.now();
    const iso = new Date(now).toISOString();
    const retention = (() => {
      const v = obj(cluster.value.spec.Orchestration).TaskHistoryRetentionLimit;
      return typeof v === 'number' ? v : 5;
    })();
    const nodeViews = new Map<string, NodeView>(nodes.map((n) => [n.value.id, { node: n.value, ready: alive.has(n.value.id), availability: n.value.spec.Availability }]));
    const nodeOk = (id: string) => !!id && !!nodeViews.get(id)?.ready;
    /** No container of this task runs, or none can report any more. */
    const dead = (t: TaskRecord) => isTerminal(t.status.State) || stateBefore(t.status.State, 'assigned') || !nodeOk(t.nodeId);

    const units: Write[][] = [];
    const touched = new Set<string>();
    const created: TaskRecord[] = [];
    const upd = (t: VTask, change: Partial<TaskRecord>): Write => {
      touched.add(t.value.id);
      const value: TaskRecord = { ...t.value, ...change, updatedAt: iso };
      return { op: 'update', kind: 'tasks', index: t.index, value };
    };
    const del = (t: VTask): Write => {
      touched.add(t.value.id);
      return { op: 'delete', kind: 'tasks', id: t.value.id, index: t.index };
    };
    const newTask = (svc: VService, slot: number, nodeId: string, desired: TaskState, notBefore?: number): Write => {
      const t: TaskRecord = {
        id: newId(), createdAt: iso, updatedAt: iso, serviceId: svc.value.id, slot, nodeId,
        spec: structuredClone(obj(svc.value.spec.TaskTemplate)), serviceIndex: svc.index, desiredState: desired,
        status: nodeId ? { Timestamp: iso, State: 'assigned', Message: 'scheduler assigned task to node' } : { Timestamp: iso, State: 'new', Message: 'created' },
        labels: {},
      };
      const hostPorts = hostPortsOf(svc.value.endpoint);
      if (hostPorts) t.hostPorts = hostPorts;
      if (notBefore) t.notBefore = new Date(notBefore).toISOString();
      created.push(t);
      return { op: 'create', kind: 'tasks', value: t };
    };

    const byService = new Map<string, VTask[]>();
    for (const t of tasks) {
      const l = byService.get(t.value.serviceId) ?? [];
      l.push(t);
      byService.set(t.value.serviceId, l);
    }
    const svcIds = new Set(services.map((s) => s.value.id));

    // tasks of deleted services
    for (const [sid, list] of byService) {
      if (svcIds.has(sid)) continue;
      for (const t of list) {
        if (dead(t.value)) units.push([del(t)]);
        else if (t.value.desiredState !== 'remove') units.push([upd(t, { desiredState: 'remove' })]);
      }
    }

    for (const svc of services) {
      const list = byService.get(svc.value.id) ?? [];
      // removed tasks go once nothing runs them any more
      for (const t of list) if (t.value.desiredState === 'remove' && dead(t.value)) units.push([del(t)]);
      const kept = list.filter((t) => t.value.desiredState !== 'remove');
      if (isGlobal(svc.value.spec)) this.global(svc, kept, nodeViews, now, { units, upd, newTask, touched });
      else this.replicated(svc, kept, nodeViews, now, { units, upd, newTask, touched });
      // history per slot
      if (retention >= 0) {
        const slots = new Map<string, VTask[]>();
        for (const t of kept) {
          const k = t.value.slot > 0 ? `s${t.value.slot}` : `n${t.value.nodeId}`;
          slots.set(k, [...(slots.get(k) ?? []), t]);
        }
        for (const ts of slots.values()) {
          if (ts.length <= retention) continue;
          const old = ts.sort((a, b) => b.value.createdAt.localeCompare(a.value.createdAt)).slice(Math.max(retention, 1));
          for (const t of old) if (!touched.has(t.value.id) && !live(t.value) && dead(t.value)) units.push([del(t)]);
        }
      }
    }

    // scheduling: new records (placed before they are written) and unassigned ones
    const svcById = new Map(services.map((s) => [s.value.id, s]));
    const waiting: Array<{ rec: TaskRecord; existing?: VTask }> = [];
    for (const t of created) if (!t.nodeId && t.desiredState === 'running') waiting.push({ rec: t });
    for (const t of tasks) {
      if (touched.has(t.value.id) || t.value.nodeId || !svcById.has(t.value.serviceId)) continue;
      const ready = t.value.desiredState === 'ready' && (!t.value.notBefore || Date.parse(t.value.notBefore) <= now);
      if ((t.value.desiredState === 'running' || ready) && stateBefore(t.value.status.State, 'assigned')) waiting.push({ rec: t.value, existing: t });
    }
    if (waiting.length) {
      const input: ScheduleInput = {
        tasks: waiting.map((w) => ({ task: w.rec, service: svcById.get(w.rec.serviceId)!.value.spec })),
        nodes: [...nodeViews.values()],
        running: [...tasks.map((t) => t.value), ...created].filter((t) => t.nodeId && live(t) && !isTerminal(t.status.State)),
      };
      const placed = schedule(input);
      for (const w of waiting) {
        const p = placed.get(w.rec.id);
        if (!p) continue;
        if ('nodeId' in p) {
          const change = { nodeId: p.nodeId, desiredState: 'running' as const, status: { Timestamp: iso, State: 'assigned' as const, Message: 'scheduler assigned task to node' } };
          if (w.existing) units.push([upd(w.existing, change)]);
          else Object.assign(w.rec, change);
        } else if (w.rec.status.State !== 'pending' || w.rec.status.Err !== p.pending) {
          // as swarmkit: the state's message stays, the reason is the task's error (`service ps` ERROR column)
          const change = { status: { Timestamp: iso, State: 'pending' as const, Message: 'pending task scheduling', Err: p.pending } };
          if (w.existing) units.push([upd(w.existing, change)]);
          else Object.assign(w.rec, change);
        }
      }
    }

    const wrote = await objects.batchUnits(units, { leader: nodeId, who: 'orchestrator' });
    const fresh = wrote ? (await objects.etcd.readTogether([listRead('services'), listRead('tasks')] as const)).values : [services, tasks] as const;
    const updated = await runUpdates(objects, fresh[0], fresh[1], [...nodeViews.values()].map((n) => ({ node: n.node, ready: n.ready })), nodeId);
    // a restart delay still running needs a later full pass even if nothing changes
    const timed = tasks.some((t) => t.value.desiredState === 'ready');
    if (!wrote) this.cache = { revision: readAt, services, tasks, nodes: [...nodeViews.values()], timed };
    return wrote || updated;
  }

  private replicated(svc: VService, kept: VTask[], nodes: Map<string, NodeView>, now: number, w: Writer): void {
    const want = replicasOf(svc.value.spec);
    const slots = new Map<number, VTask[]>();
    for (const t of kept) slots.set(t.value.slot, [...(slots.get(t.value.slot) ?? []), t]);
    // scale down: the highest slots go
    const numbers = [...slots.keys()].sort((a, b) => a - b);
    for (const s of numbers.slice(want)) {
      for (const t of slots.get(s)!) if (!w.touched.has(t.value.id)) w.units.push([w.upd(t, { desiredState: 'remove' })]);
      slots.delete(s);
    }
    // scale up: the lowest free slot numbers
    for (let s = 1, n = slots.size; n < want; s++) {
      if (slots.has(s)) continue;
      w.units.push([w.newTask(svc, s, '', 'running')]);
      n++;
    }
    for (const [slot, ts] of slots) {
      for (const t of ts) {
        if (!live(t.value) || w.touched.has(t.value.id)) continue;
        const nv = t.value.nodeId ? nodes.get(t.value.nodeId) : undefined;
        if (t.value.nodeId && (!nv || !nv.ready || nv.availability === 'drain')) {
          // its node is gone, Down or drained: a replacement at once, elsewhere
          w.units.push([w.upd(t, { desiredState: 'shutdown' }), w.newTask(svc, slot, '', 'running')]);
          continue;
        }
        if (t.value.desiredState !== 'running' || !isTerminal(t.value.status.State)) continue;
        const delay = this.restartDecision(svc, `${svc.value.id}/${slot}`, t.value, now);
        if (delay === undefined) w.units.push([w.upd(t, { desiredState: 'shutdown' })]);
        else w.units.push([w.upd(t, { desiredState: 'shutdown' }), w.newTask(svc, slot, '', delay > 0 ? 'ready' : 'running', delay > 0 ? now + delay : undefined)]);
      }
    }
  }

  private global(svc: VService, kept: VTask[], nodes: Map<string, NodeView>, now: number, w: Writer): void {
    const constraints = (obj(obj(svc.value.spec.TaskTemplate).Placement).Constraints as string[] | undefined) ?? [];
    const byNode = new Map<string, VTask[]>();
    for (const t of kept) byNode.set(t.value.nodeId, [...(byNode.get(t.value.nodeId) ?? []), t]);
    for (const [id, nv] of nodes) {
      if (!nv.ready || nv.availability !== 'active' || !matchConstraints(nv.node, constraints) || byNode.has(id)) continue;
      w.units.push([w.newTask(svc, 0, id, 'running')]);
    }
    for (const [id, ts] of byNode) {
      const nv = nodes.get(id);
      const keep = !!nv && nv.ready && nv.availability !== 'drain' && matchConstraints(nv.node, constraints);
      for (const t of ts) {
        if (!live(t.value) || w.touched.has(t.value.id)) continue;
        if (!keep) {
          // not (any more) a node for this service: its task goes and the slot with it
          w.units.push([w.upd(t, { desiredState: 'remove' })]);
          continue;
        }
        if (t.value.desiredState !== 'running' || !isTerminal(t.value.status.State)) continue;
        let due = this.globalDue.get(t.value.id);
        if (due === undefined) {
          const delay = this.restartDecision(svc, `${svc.value.id}/${id}`, t.value, now);
          if (delay === undefined) {
            w.units.push([w.upd(t, { desiredState: 'shutdown' })]);
            continue;
          }
          due = now + delay;
          this.globalDue.set(t.value.id, due);
        }
        if (due > now) continue;
        this.globalDue.delete(t.value.id);
        w.units.push([w.upd(t, { desiredState: 'shutdown' }), w.newTask(svc, 0, id, 'running')]);
      }
    }
  }

  /** The restart policy for a task that ended while desired running: the delay (ms) before its replacement, or undefined for none. */
  private restartDecision(svc: VService, slotKey: string, t: TaskRecord, now: number): number | undefined {
    const rp = obj(obj(svc.value.spec.TaskTemplate).RestartPolicy);
    const condition = String(rp.Condition || 'any');
    if (condition === 'none') return undefined;
    if (condition === 'on-failure' && t.status.State === 'complete') return undefined;
    const max = num(rp.MaxAttempts);
    const windowMs = num(rp.Window) / 1e6;
    const times = (this.restarts.get(slotKey) ?? []).filter((x) => !windowMs || now - x <= windowMs);
    if (max > 0 && times.length >= max) return undefined;
    times.push(now);
    this.restarts.set(slotKey, times);
    return rp.Delay === undefined ? 5000 : num(rp.Delay) / 1e6;
  }
}

interface Writer {
  units: Write[][];
  touched: Set<string>;
  upd: (t: VTask, change: Partial<TaskRecord>) => Write;
  newTask: (svc: VService, slot: number, nodeId: string, desired: TaskState, notBefore?: number) => Write;
}
