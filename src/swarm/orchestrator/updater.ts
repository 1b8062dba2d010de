// The rolling updater and rollback (svc-update owns the body of this file).
//
// CONTRACT: the orchestrator (orchestrator.ts, leader only) calls runUpdates
// once per loop (~250 ms), after its own reconciliation, with fresh lists.
// - The orchestrator never replaces a task only because its spec differs from
//   the service's current spec.TaskTemplate (or ForceUpdate changed): that is
//   this function's job. Replacements the orchestrator makes itself (restart
//   policy, node down, drain, scale up) carry the service's CURRENT
//   TaskTemplate; tasks it leaves alone keep their own spec.
// - It owns service.updateStatus (updating/paused/completed/rollback_*) and
//   the rollback (spec ← previousSpec) on failure-action rollback; the API's
//   explicit `update?rollback=previous` swaps the specs and sets
//   rollback_started ("manually requested rollback"); this function then
//   rolls the tasks back with RollbackConfig.
// - One bounded pass per call, no sleeps; returns whether it wrote anything.
//   A lost compare-and-swap ("update out of sequence") is retried next call.
//
// How it works (swarmkit's updater, with its progress kept in the store so a
// new leader carries on where the old one stopped):
// - A slot is the tasks of one replica (replicated: same slot number; global:
//   same node) whose desiredState is at most running ('ready' included). A
//   task is dirty when its spec differs from the service's TaskTemplate
//   (ForceUpdate is part of it); a change of Placement alone keeps a task
//   whose node still satisfies the new constraints. A slot is dirty when it
//   holds a dirty task or more than one task.
// - Dirty slots and no UpdateStatus: the update starts (State updating,
//   "update in progress", StartedAt). The tasks of this update are the
//   up-to-date ones created since StartedAt.
// - Parallelism P (0 = every slot at once) lanes: a task of this update that
//   has not reached running yet holds a lane; so does one that reached
//   running (or failed) less than Delay ago. Each free lane takes the next
//   dirty slot (in slot order):
//     stop-first: one transaction sets the old tasks' desiredState shutdown
//       and creates the new task with desiredState 'ready', `waitsFor` the
//       old ids and `notBefore` a bound; once the old tasks have stopped
//       (terminal, never started, or their node is down) it is set running
//       and the orchestrator schedules it (after the bound the orchestrator
//       schedules it anyway);
//     start-first: the new task is created desired running next to the old
//       ones (whose versions the transaction checks, so two leaders cannot
//       both add one); once it runs, the old ones are shut down.
// - Monitor: a task of this update that fails, is rejected or completes
//   without having run for Monitor is a failure. When failures / slots >
//   MaxFailureRatio: pause → paused "update paused due to failure or early
//   termination of task X"; rollback → spec ← previousSpec, rollback_started
//   "update rolled back due to failure or early termination of task X"
//   (during a rollback: rollback_paused "rollback paused due to …");
//   continue → go on.
// - No dirty slot, nothing of this update still starting and Monitor passed
//   since the last one reached running: completed "update completed" (or
//   rollback_completed "rollback completed") with CompletedAt.
// - paused / rollback_paused: nothing moves until the service is updated again.
// Only the times a task was first seen running live in memory (a task that
// failed before this manager saw it run counts as a failure, as in swarmkit
// where a task never seen running counts).
import type { ObjectStore, Write } from '../object-store';
import type { Versioned, NodeRecord } from '../types';
import { hostPortsOf, isTerminal, TASK_STATES, type Json, type ServiceRecord, type TaskRecord, type TaskState, type UpdateStatus } from '../objects';
import { newId } from '../tokens';
import { matchConstraints } from './scheduler';
import { log } from '../../util/log';

export interface UpdaterNode {
  node: NodeRecord;
  ready: boolean;
}

type VTask = Versioned<TaskRecord>;
type VService = Versioned<ServiceRecord>;

/** Fields of a task record this file adds (kept by every writer, which spreads the record). */
type UTask = TaskRecord & {
  /** stop-first: the old tasks this one waits for before it may run. */
  waitsFor?: string[];
  notBefore?: string;
  labels?: Record<string, string>;
};

export interface UpdateConfig {
  Parallelism: number;
  /** ns */
  Delay: number;
  FailureAction: 'pause' | 'continue' | 'rollback';
  /** ns */
  Monitor: number;
  MaxFailureRatio: number;
  Order: 'stop-first' | 'start-first';
}

const SECOND = 1e9;
const DEFAULTS: UpdateConfig = { Parallelism: 1, Delay: 0, FailureAction: 'pause', Monitor: 5 * SECOND, MaxFailureRatio: 0, Order: 'stop-first' };
/** How long a stop-first replacement waits at most for the old task to stop, beyond its stop grace period. */
const STOP_WAIT_MS = 15_000;

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
const idx = (s: TaskState) => TASK_STATES.indexOf(s);
const live = (t: TaskRecord) => idx(t.desiredState) <= idx('running');
const FAILED = new Set<TaskState>(['failed', 'rejected', 'complete']);

/** UpdateConfig or RollbackConfig with swarmkit's defaults for what is missing. */
export function updateConfig(spec: Json, rollback: boolean): UpdateConfig {
  const c = obj(spec[rollback ? 'RollbackConfig' : 'UpdateConfig']);
  const fa = String(c.FailureAction ?? DEFAULTS.FailureAction);
  return {
    Parallelism: Math.max(0, Math.floor(num(c.Parallelism, DEFAULTS.Parallelism))),
    Delay: Math.max(0, num(c.Delay)),
    FailureAction: fa === 'continue' || fa === 'rollback' ? fa : 'pause',
    Monitor: c.Monitor === undefined ? DEFAULTS.Monitor : Math.max(0, num(c.Monitor)),
    MaxFailureRatio: num(c.MaxFailureRatio),
    Order: c.Order === 'start-first' ? 'start-first' : 'stop-first',
  };
}

/** Deep equality of JSON values, object keys in any order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameJson(x, bb[i]));
  }
  const ao = a as Json;
  const bo = b as Json;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => k in bo && sameJson(ao[k], bo[k]));
}

/** swarmkit's IsTaskDirty: the task's spec is not the service's, unless only Placement changed and its node still fits. */
export function taskDirty(template: Json, t: TaskRecord, node: NodeRecord | undefined): boolean {
  if (sameJson(template, t.spec)) return false;
  const { Placement: a, ...restA } = template;
  const { Placement: b, ...restB } = t.spec ?? {};
  if (!sameJson(restA, restB) || sameJson(a, b)) return true;
  if (!t.nodeId || !node) return true;
  return !matchConstraints(node, (obj(a).Constraints as string[] | undefined) ?? []);
}

const isGlobalSpec = (spec: Json) => !!obj(spec.Mode).Global;
const isJob = (spec: Json) => !!obj(spec.Mode).ReplicatedJob || !!obj(spec.Mode).GlobalJob;

/** When this manager first saw each task running (ms); the monitor window starts there. */
const seenRunning = new Map<string, number>();

/** Forgets what this manager saw (it stopped leading; a later term starts from the store alone). */
export function forgetUpdates(): void {
  seenRunning.clear();
}

/**
 * One pass over every service. With `leader`, every write is guarded by the
 * leader key (a deposed leader's pass writes nothing).
 */
export async function runUpdates(objects: ObjectStore, services: Array<Versioned<ServiceRecord>>, tasks: Array<Versioned<TaskRecord>>, nodes: UpdaterNode[], leader?: string): Promise<boolean> {
  const now = Date.now();
  const present = new Set<string>();
  for (const t of tasks) {
    present.add(t.value.id);
    if (t.value.status.State === 'running' && !seenRunning.has(t.value.id)) {
      const ts = Date.parse(t.value.status.Timestamp);
      seenRunning.set(t.value.id, Number.isFinite(ts) ? Math.min(ts, now) : now);
    }
  }
  for (const id of seenRunning.keys()) if (!present.has(id)) seenRunning.delete(id);

  const nodeById = new Map(nodes.map((n) => [n.node.id, n]));
  const byService = new Map<string, VTask[]>();
  for (const t of tasks) {
    const l = byService.get(t.value.serviceId);
    if (l) l.push(t);
    else byService.set(t.value.serviceId, [t]);
  }
  let wrote = false;
  for (const svc of services) {
    try {
      if (await updateOne(objects, svc, byService.get(svc.value.id) ?? [], nodeById, now, leader)) wrote = true;
    } catch (e) {
      log.debug('updater: service pass failed; next pass', { service: svc.value.id, err: (e as Error).message });
    }
  }
  return wrote;
}

/** Where a task stands for the updater. */
function reachedAt(t: TaskRecord): number | undefined {
  if (idx(t.status.State) < idx('running')) return undefined;
  const seen = seenRunning.get(t.id);
  if (seen !== undefined) return seen;
  const ts = Date.parse(t.status.Timestamp);
  return Number.isFinite(ts) ? ts : 0;
}

async function updateOne(objects: ObjectStore, svc0: VService, all: VTask[], nodes: Map<string, UpdaterNode>, now: number, leader?: string): Promise<boolean> {
  let svc = svc0;
  const spec = svc.value.spec;
  if (isJob(spec)) return false;
  const iso = new Date(now).toISOString();
  const template = obj(spec.TaskTemplate);
  const global = isGlobalSpec(spec);
  const units: Write[][] = [];
  const byId = new Map(all.map((t) => [t.value.id, t]));
  const nodeReady = (id: string) => !!id && !!nodes.get(id)?.ready;
  /** The task's container no longer runs (or never started, or cannot report any more). */
  const stopped = (t: TaskRecord) => isTerminal(t.status.State) || idx(t.status.State) < idx('assigned') || !nodeReady(t.nodeId);
  const put = (t: VTask, change: Partial<UTask>, drop: Array<keyof UTask> = []): Write => {
    const value: UTask = { ...(t.value as UTask), ...change, updatedAt: iso };
    for (const k of drop) delete value[k];
    return { op: 'update', kind: 'tasks', index: t.index, value };
  };

  // stop-first replacements whose old tasks have stopped may run now (whatever the update's state)
  for (const t of all) {
    const u = t.value as UTask;
    if (!u.waitsFor || u.desiredState !== 'ready') continue;
    const waiting = u.waitsFor.some((id) => {
      const old = byId.get(id);
      return !!old && !stopped(old.value);
    });
    if (!waiting) units.push([put(t, { desiredState: 'running' }, ['waitsFor', 'notBefore'])]);
  }

  const status = svc.value.updateStatus;
  if (status && (status.State === 'paused' || status.State === 'rollback_paused')) return objects.batchUnits(units, { leader, who: 'updater' });

  // the slots and their live tasks
  const slots = new Map<string, VTask[]>();
  for (const t of all) {
    if (!live(t.value)) continue;
    const key = global ? `n:${t.value.nodeId}` : `s:${String(t.value.slot).padStart(8, '0')}`;
    const l = slots.get(key);
    if (l) l.push(t);
    else slots.set(key, [t]);
  }
  const dirty = (t: TaskRecord) => taskDirty(template, t, nodes.get(t.nodeId)?.node);
  const dirtySlots = [...slots.entries()].filter(([, ts]) => ts.length > 1 || dirty(ts[0].value)).sort((a, b) => a[0].localeCompare(b[0]));

  const writeService = async (next: ServiceRecord): Promise<void> => {
    const index = await objects.batch([{ op: 'update', kind: 'services', value: next, index: svc.index }], { leader });
    svc = { value: next, index };
  };
  const setStatus = (us: UpdateStatus) => writeService({ ...svc.value, updatedAt: iso, updateStatus: us });

  let state = status?.State;
  if (!dirtySlots.length && state !== 'updating' && state !== 'rollback_started') return objects.batchUnits(units, { leader, who: 'updater' });
  if (dirtySlots.length && state !== 'updating' && state !== 'rollback_started') {
    // a new update (completed ones included: something is out of date again)
    await setStatus({ State: 'updating', StartedAt: iso, Message: 'update in progress' });
    state = 'updating';
  }
  const rollingBack = state === 'rollback_started';
  const cfg = updateConfig(spec, rollingBack);
  const startedAt = svc.value.updateStatus?.StartedAt ?? iso;
  const mine = all.filter((t) => t.value.createdAt >= startedAt && !dirty(t.value));

  // failures of this update's tasks within the monitor window
  const monitorMs = cfg.Monitor / 1e6;
  if (cfg.FailureAction !== 'continue') {
    const failed = mine.filter((t) => {
      if (!FAILED.has(t.value.status.State)) return false;
      const ran = seenRunning.get(t.value.id);
      return ran === undefined || Date.parse(t.value.status.Timestamp) - ran <= monitorMs;
    }).sort((a, b) => a.value.status.Timestamp.localeCompare(b.value.status.Timestamp));
    if (failed.length && failed.length / Math.max(slots.size, 1) > cfg.MaxFailureRatio) {
      const id = failed[failed.length - 1].value.id;
      const cur = svc.value.updateStatus ?? { State: 'updating' as const, StartedAt: startedAt };
      if (cfg.FailureAction === 'rollback' && !rollingBack && svc.value.previousSpec) {
        const next: ServiceRecord = {
          ...svc.value, spec: svc.value.previousSpec, updatedAt: iso,
          updateStatus: { ...cur, State: 'rollback_started', Message: `update rolled back due to failure or early termination of task ${id}` },
        };
        delete next.previousSpec;
        await writeService(next);
        log.info('updater: rolling back', { service: svc.value.id, task: id });
      } else {
        const what = rollingBack ? 'rollback' : 'update';
        await setStatus({ ...cur, State: rollingBack ? 'rollback_paused' : 'paused', Message: `${what} paused due to failure or early termination of task ${id}` });
        log.info(`updater: ${what} paused`, { service: svc.value.id, task: id });
      }
      await objects.batchUnits(units, { leader, who: 'updater' });
      return true;
    }
  }

  // tasks of this update still coming up, and lanes still waiting out the delay
  const delayMs = cfg.Delay / 1e6;
  const starting = mine.filter((t) => live(t.value) && idx(t.value.status.State) < idx('running'));
  const cooling = delayMs > 0 ? mine.filter((t) => {
    const at = reachedAt(t.value);
    return at !== undefined && at + delayMs > now;
  }) : [];

  if (!dirtySlots.length) {
    if (starting.length) return objects.batchUnits(units, { leader, who: 'updater' });
    const last = Math.max(0, ...mine.map((t) => reachedAt(t.value) ?? 0));
    if (mine.length && last + monitorMs > now) return objects.batchUnits(units, { leader, who: 'updater' });
    const done: UpdateStatus = rollingBack
      ? { ...svc.value.updateStatus!, State: 'rollback_completed', Message: 'rollback completed', CompletedAt: iso }
      : { ...svc.value.updateStatus!, State: 'completed', Message: 'update completed', CompletedAt: iso };
    await setStatus(done);
    log.info(`updater: ${rollingBack ? 'rollback' : 'update'} completed`, { service: svc.value.id });
    await objects.batchUnits(units, { leader, who: 'updater' });
    return true;
  }

  let free = cfg.Parallelism === 0 ? Infinity : cfg.Parallelism - starting.length - cooling.length;
  const graceMs = template.ContainerSpec && obj(template.ContainerSpec).StopGracePeriod !== undefined ? num(obj(template.ContainerSpec).StopGracePeriod) / 1e6 : 10_000;
  for (const [, ts] of dirtySlots) {
    const clean = ts.filter((t) => !dirty(t.value));
    const up = clean.find((t) => t.value.desiredState === 'running' && t.value.status.State === 'running');
    if (up) {
      // the slot's up-to-date task runs: the others go (start-first, or a slot with extras)
      units.push(ts.filter((t) => t !== up).map((t) => put(t, { desiredState: 'shutdown' }, ['waitsFor'])));
      continue;
    }
    if (clean.length) continue; // its new task is on its way
    if (free <= 0) continue;
    free--;
    const first = ts[0].value;
    const nodeId = global ? first.nodeId : '';
    const fresh: UTask = {
      id: newId(), createdAt: iso, updatedAt: iso, serviceId: svc.value.id, slot: first.slot, nodeId,
      spec: structuredClone(template), serviceIndex: svc.index, desiredState: 'running',
      status: nodeId ? { Timestamp: iso, State: 'assigned', Message: 'scheduler assigned task to node' } : { Timestamp: iso, State: 'new', Message: 'created' },
      labels: {},
    };
    const hostPorts = hostPortsOf(svc.value.endpoint);
    if (hostPorts) fresh.hostPorts = hostPorts;
    if (cfg.Order === 'start-first') {
      // the old ones are rewritten as they are: their versions guard the slot against a second replacement
      units.push([...ts.map((t) => put(t, {})), { op: 'create', kind: 'tasks', value: fresh }]);
    } else {
      fresh.desiredState = 'ready';
      fresh.waitsFor = ts.map((t) => t.value.id);
      fresh.notBefore = new Date(now + graceMs + STOP_WAIT_MS).toISOString();
      units.push([...ts.map((t) => put(t, { desiredState: 'shutdown' }, ['waitsFor'])), { op: 'create', kind: 'tasks', value: fresh }]);
    }
  }
  return (await objects.batchUnits(units, { leader, who: 'updater' })) || svc !== svc0;
}
