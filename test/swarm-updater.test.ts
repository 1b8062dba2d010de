// The rolling updater (src/swarm/orchestrator/updater.ts) against a real
// etcd (one member on loopback with its own certificates): a small in-test
// loop plays the rest of the swarm — it keeps each service's slots filled
// with the current spec and replaces tasks that ended (restart policy any),
// places new tasks with the real scheduler, and acts as the agents (moves
// assigned tasks to running, or to failed when the spec's command is
// "exit1"; stops tasks desired down after a stop time). No container
// runtime: this checks the updater's decisions and its store writes —
// batches, order, delay, monitor, failure actions, rollback, completion,
// and that a new leader carries on without losing or doubling tasks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEtcd, type TestEtcd } from './helpers/etcd';
import { EtcdClient } from '../src/swarm/etcd-client';
import { ObjectStore } from '../src/swarm/object-store';
import { newId } from '../src/swarm/tokens';
import { isTerminal, TASK_STATES, type Json, type ServiceRecord, type TaskRecord, type TaskState } from '../src/swarm/objects';
import type { NodeRecord, Versioned } from '../src/swarm/types';
import { schedule } from '../src/swarm/orchestrator/scheduler';
import { runUpdates, forgetUpdates, type UpdaterNode } from '../src/swarm/orchestrator/updater';

const SECOND = 1e9;
let etcd: TestEtcd | undefined;
let client: EtcdClient;
let objects: ObjectStore;
const nodes: UpdaterNode[] = ['n1', 'n2', 'n3'].map((id) => ({
  ready: true,
  node: {
    id, createdAt: '', updatedAt: '', spec: { Labels: {}, Role: 'worker', Availability: 'active' }, hostname: id, engineVersion: '24.0.0',
    addr: '127.0.0.1', port: 2377, platform: { Architecture: 'x86_64', OS: 'linux' }, resources: { NanoCPUs: 4e9, MemoryBytes: 8 * 1024 ** 3 },
  } as NodeRecord,
}));

const idx = (s: TaskState) => TASK_STATES.indexOf(s);
const live = (t: TaskRecord) => idx(t.desiredState) <= idx('running');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The rest of the swarm, one pass at a time. */
class Swarm {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  /** When a task was first seen desired down (the agent takes STOP_MS to stop it). */
  private downSince = new Map<string, number>();
  updaterOn = true;
  passes = 0;
  /** Samples of every pass, for checks on what was true at all times. */
  samples: Array<{ at: number; tasks: TaskRecord[]; services: ServiceRecord[] }> = [];
  static START_MS = 150;
  static STOP_MS = 300;

  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.running = this.pass().catch((e) => { console.error('pass failed', e); }).finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, 60);
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async pass(): Promise<void> {
    this.passes++;
    const now = Date.now();
    const iso = new Date(now).toISOString();
    const [services, tasks] = await Promise.all([objects.list('services'), objects.list('tasks')]);
    const writes: Array<Promise<unknown>> = [];
    const upd = (t: Versioned<TaskRecord>, change: Partial<TaskRecord>) =>
      writes.push(objects.update('tasks', { ...t.value, ...change, updatedAt: iso }, t.index).catch(() => undefined));
    const mk = (svc: Versioned<ServiceRecord>, slot: number, nodeId: string) => {
      const t: TaskRecord = {
        id: newId(), createdAt: iso, updatedAt: iso, serviceId: svc.value.id, slot, nodeId, spec: structuredClone(svc.value.spec.TaskTemplate as Json),
        serviceIndex: svc.index, desiredState: 'running', status: nodeId ? { Timestamp: iso, State: 'assigned', Message: 'scheduler assigned task to node' } : { Timestamp: iso, State: 'new', Message: 'created' },
      };
      writes.push(objects.create('tasks', t).catch(() => undefined));
    };
    // orchestrator: fill slots, replace what ended
    for (const svc of services) {
      const mine = tasks.filter((t) => t.value.serviceId === svc.value.id);
      const mode = svc.value.spec.Mode as Json;
      if (mode.Global) {
        for (const n of nodes) if (!mine.some((t) => t.value.nodeId === n.node.id && live(t.value))) mk(svc, 0, n.node.id);
      } else {
        const want = Number((mode.Replicated as Json).Replicas);
        for (let s = 1; s <= want; s++) if (!mine.some((t) => t.value.slot === s && live(t.value))) mk(svc, s, '');
      }
      for (const t of mine) if (t.value.desiredState === 'running' && isTerminal(t.value.status.State)) upd(t, { desiredState: 'shutdown' });
    }
    // scheduler
    const waiting = tasks.filter((t) => !t.value.nodeId && idx(t.value.status.State) <= idx('pending')
      && (t.value.desiredState === 'running' || (t.value.desiredState === 'ready' && Date.parse((t.value as { notBefore?: string }).notBefore ?? '') <= now)));
    if (waiting.length) {
      const placed = schedule({
        tasks: waiting.map((t) => ({ task: t.value, service: services.find((s) => s.value.id === t.value.serviceId)!.value.spec })),
        nodes: nodes.map((n) => ({ ...n, availability: 'active' as const })),
        running: tasks.map((t) => t.value).filter((t) => t.nodeId && !isTerminal(t.status.State)),
      });
      for (const t of waiting) {
        const p = placed.get(t.value.id);
        if (p && 'nodeId' in p) upd(t, { nodeId: p.nodeId, desiredState: 'running', status: { Timestamp: iso, State: 'assigned', Message: 'scheduler assigned task to node' } });
      }
    }
    // agents
    for (const t of tasks) {
      const v = t.value;
      if (!v.nodeId || isTerminal(v.status.State)) continue;
      if (!live(v)) {
        const since = this.downSince.get(v.id) ?? now;
        this.downSince.set(v.id, since);
        if (idx(v.status.State) < idx('starting') || now - since >= Swarm.STOP_MS) upd(t, { status: { Timestamp: iso, State: 'shutdown', Message: 'shutdown' } });
        continue;
      }
      const args = ((v.spec.ContainerSpec as Json)?.Args as string[] | undefined) ?? [];
      const dies = Number(/^die-after-(\d+)$/.exec(args[0] ?? '')?.[1] ?? NaN);
      if (v.status.State === 'running' && now - Date.parse(v.status.Timestamp) >= dies) {
        upd(t, { status: { Timestamp: iso, State: 'failed', Message: 'started', Err: 'task: non-zero exit (1)' } });
        continue;
      }
      if (v.desiredState !== 'running' || v.status.State === 'running') continue;
      if (now - Date.parse(v.status.Timestamp) < Swarm.START_MS) continue;
      if (args.includes('exit1')) upd(t, { status: { Timestamp: iso, State: 'failed', Message: 'started', Err: 'task: non-zero exit (1)' } });
      else upd(t, { status: { Timestamp: iso, State: 'running', Message: 'started' } });
    }
    await Promise.all(writes);
    const fresh = await Promise.all([objects.list('services'), objects.list('tasks')]);
    this.samples.push({ at: Date.now(), services: fresh[0].map((s) => s.value), tasks: fresh[1].map((t) => t.value) });
    if (this.samples.length > 2000) this.samples.splice(0, 1000);
    if (this.updaterOn) await runUpdates(objects, fresh[0], fresh[1], nodes);
  }
}

let swarm: Swarm;

function specOf(name: string, image: string, opts: { replicas?: number; global?: boolean; update?: Json; rollback?: Json; args?: string[] } = {}): Json {
  return {
    Name: name,
    Labels: {},
    TaskTemplate: { ContainerSpec: { Image: image, ...(opts.args ? { Args: opts.args } : {}) }, RestartPolicy: { Condition: 'any' }, ForceUpdate: 0 },
    Mode: opts.global ? { Global: {} } : { Replicated: { Replicas: opts.replicas ?? 4 } },
    UpdateConfig: { Parallelism: 1, FailureAction: 'pause', Monitor: 1 * SECOND, MaxFailureRatio: 0, Order: 'stop-first', ...(opts.update ?? {}) },
    RollbackConfig: { Parallelism: 1, FailureAction: 'pause', Monitor: 1 * SECOND, MaxFailureRatio: 0, Order: 'stop-first', ...(opts.rollback ?? {}) },
  };
}

async function createService(spec: Json): Promise<string> {
  const now = new Date().toISOString();
  const rec: ServiceRecord = { id: newId(), createdAt: now, updatedAt: now, spec };
  await objects.create('services', rec, String(spec.Name));
  return rec.id;
}

async function service(id: string): Promise<Versioned<ServiceRecord>> {
  const s = await objects.get('services', id);
  assert.ok(s, `service ${id}`);
  return s;
}

async function tasksOf(id: string): Promise<TaskRecord[]> {
  return (await objects.list('tasks')).map((t) => t.value).filter((t) => t.serviceId === id);
}

/** The service API's update: new spec, old one kept as PreviousSpec, UpdateStatus cleared. */
async function updateSpec(id: string, change: (spec: Json) => Json): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const cur = await service(id);
    const next: ServiceRecord = { ...cur.value, spec: change(structuredClone(cur.value.spec)), previousSpec: cur.value.spec, updatedAt: new Date().toISOString() };
    delete next.updateStatus;
    try {
      await objects.update('services', next, cur.index);
      return;
    } catch { /* raced with the updater: read again */ }
  }
  throw new Error('could not update the service');
}

/** The service API's rollback=previous. */
async function rollbackSpec(id: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const cur = await service(id);
    const now = new Date().toISOString();
    const next: ServiceRecord = { ...cur.value, spec: cur.value.previousSpec!, previousSpec: cur.value.spec, updatedAt: now, updateStatus: { State: 'rollback_started', StartedAt: now, Message: 'manually requested rollback' } };
    try {
      await objects.update('services', next, cur.index);
      return;
    } catch { /* raced: again */ }
  }
  throw new Error('could not roll back the service');
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last as T;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const image = (t: TaskRecord) => String((t.spec.ContainerSpec as Json).Image);
const runningOf = (ts: TaskRecord[]) => ts.filter((t) => t.desiredState === 'running' && t.status.State === 'running');

async function converged(id: string, img: string, n: number): Promise<TaskRecord[]> {
  return until(`${n} tasks of ${img} running`, async () => {
    const ts = await tasksOf(id);
    const up = runningOf(ts);
    return up.length === n && up.every((t) => image(t) === img) && ts.filter((t) => live(t)).length === n ? up : undefined;
  });
}

before(async () => {
  etcd = await startTestEtcd('u1');
  client = new EtcdClient(etcd.url, etcd.tls);
  objects = new ObjectStore(client);
  await until('etcd', async () => client.put('/probe', 'x').then(() => true, () => false), 20_000);
  swarm = new Swarm();
  swarm.start();
});

after(async () => {
  await swarm?.stop();
  client?.close();
  await etcd?.stop();
});

test('stop-first, parallelism 1, delay: one slot at a time, the old task stopped before the new one is placed', async () => {
  const id = await createService(specOf('web', 'img:1', { replicas: 4, update: { Delay: 0.6 * SECOND } }));
  const old = await converged(id, 'img:1', 4);
  assert.equal((await service(id)).value.updateStatus, undefined, 'no UpdateStatus before any update');
  const t0 = Date.now();
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:2' } } }));
  const st = await until('updating', async () => (await service(id)).value.updateStatus);
  assert.equal(st.State, 'updating');
  assert.equal(st.Message, 'update in progress');
  assert.ok(st.StartedAt);
  const done = await until('completed', async () => {
    const u = (await service(id)).value.updateStatus;
    return u?.State === 'completed' ? u : undefined;
  });
  assert.equal(done.Message, 'update completed');
  assert.ok(done.CompletedAt && done.CompletedAt >= done.StartedAt!);
  const ts = await tasksOf(id);
  const fresh = ts.filter((t) => image(t) === 'img:2').sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  assert.equal(fresh.length, 4, 'exactly one new task per slot');
  assert.deepEqual(new Set(fresh.map((t) => t.slot)), new Set([1, 2, 3, 4]));
  assert.deepEqual(fresh.map((t) => t.slot), [1, 2, 3, 4], 'slots in order');
  for (const t of old) {
    const now = ts.find((x) => x.id === t.id)!;
    assert.equal(now.desiredState, 'shutdown');
    assert.equal(now.status.State, 'shutdown');
  }
  // one at a time: each new task is created after the previous one ran, plus the delay
  const ranAt = (t: TaskRecord) => {
    const s = swarm.samples.find((x) => x.tasks.some((y) => y.id === t.id && y.status.State === 'running'));
    return s ? Date.parse(s.tasks.find((y) => y.id === t.id)!.status.Timestamp) : Infinity;
  };
  for (let i = 1; i < fresh.length; i++) {
    const gap = Date.parse(fresh[i].createdAt) - ranAt(fresh[i - 1]);
    assert.ok(gap >= 550, `task ${i + 1} created ${gap} ms after task ${i} ran (delay 600 ms)`);
  }
  // stop-first: never two live tasks in a slot; a new task is placed only once the old one has stopped
  for (const s of swarm.samples.filter((x) => x.at >= t0)) {
    const mine = s.tasks.filter((t) => t.serviceId === id && t.nodeId && idx(t.status.State) >= idx('assigned') && !isTerminal(t.status.State));
    for (const slot of [1, 2, 3, 4]) assert.ok(mine.filter((t) => t.slot === slot).length <= 1, `slot ${slot} ran two tasks at once`);
  }
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 15_000, `update took ${elapsed} ms`);
  console.log(`stop-first 4 replicas, delay 0.6 s, monitor 1 s: ${elapsed} ms`);
});

test('start-first, parallelism 2: new tasks run before the old ones are shut down; never fewer than N running', async () => {
  const id = await createService(specOf('api', 'img:1', { replicas: 4, update: { Parallelism: 2, Order: 'start-first' } }));
  await converged(id, 'img:1', 4);
  const t0 = Date.now();
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:2' } } }));
  await until('completed', async () => (await service(id)).value.updateStatus?.State === 'completed');
  await converged(id, 'img:2', 4);
  const samples = swarm.samples.filter((x) => x.at >= t0);
  let most = 0;
  for (const s of samples) {
    const mine = s.tasks.filter((t) => t.serviceId === id);
    assert.ok(mine.filter((t) => t.status.State === 'running').length >= 4, 'start-first keeps every slot running');
    most = Math.max(most, mine.filter((t) => live(t) && image(t) === 'img:2' && t.status.State !== 'running').length);
  }
  assert.ok(most <= 2, `at most 2 new tasks starting at once (saw ${most})`);
  const ts = await tasksOf(id);
  for (const t of ts.filter((x) => image(x) === 'img:1')) {
    const repl = ts.find((x) => x.slot === t.slot && image(x) === 'img:2')!;
    const ran = samples.find((s) => s.tasks.some((y) => y.id === repl.id && y.status.State === 'running'))!;
    const shut = samples.find((s) => s.tasks.some((y) => y.id === t.id && y.desiredState === 'shutdown'))!;
    assert.ok(ran.at <= shut.at, `slot ${t.slot}: old task shut down before its replacement ran`);
  }
});

test('failure action pause: the first failure pauses the update with swarmkit\'s message', async () => {
  const id = await createService(specOf('pz', 'img:1', { replicas: 3 }));
  await converged(id, 'img:1', 3);
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:bad', Args: ['exit1'] } } }));
  const st = await until('paused', async () => {
    const u = (await service(id)).value.updateStatus;
    return u?.State === 'paused' ? u : undefined;
  });
  const failed = (await tasksOf(id)).filter((t) => t.status.State === 'failed');
  assert.ok(failed.length >= 1);
  assert.match(st.Message!, /^update paused due to failure or early termination of task [a-z0-9]{25}$/);
  assert.ok(failed.some((t) => st.Message!.endsWith(t.id)));
  // paused: the two other slots keep their old tasks, nothing more is replaced
  await sleep(1500);
  const ts = await tasksOf(id);
  assert.equal(runningOf(ts).filter((t) => image(t) === 'img:1').length, 2);
  assert.deepEqual(new Set(ts.filter((t) => image(t) === 'img:bad').map((t) => t.slot)).size, 1, 'only the first slot was touched');
  assert.equal((await service(id)).value.updateStatus?.State, 'paused');
  // a new update (the fixed image) starts over and completes
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:3' } } }));
  await until('completed after the fix', async () => (await service(id)).value.updateStatus?.State === 'completed');
  await converged(id, 'img:3', 3);
});

test('failure action rollback: a failing update rolls back by itself to the previous spec', async () => {
  const id = await createService(specOf('rb', 'img:1', { replicas: 3, update: { FailureAction: 'rollback' }, rollback: { Parallelism: 0 } }));
  await converged(id, 'img:1', 3);
  const before = (await service(id)).value.spec;
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:bad', Args: ['exit1'] } } }));
  const started = await until('rollback started', async () => {
    const u = (await service(id)).value.updateStatus;
    return u?.State === 'rollback_started' || u?.State === 'rollback_completed' ? u : undefined;
  });
  assert.match(started.Message!, /^update rolled back due to failure or early termination of task [a-z0-9]{25}$|^rollback completed$/);
  const done = await until('rollback completed', async () => {
    const u = (await service(id)).value.updateStatus;
    return u?.State === 'rollback_completed' ? u : undefined;
  });
  assert.equal(done.Message, 'rollback completed');
  const svc = (await service(id)).value;
  assert.deepEqual(svc.spec, before, 'the spec is the previous one again');
  assert.equal(svc.previousSpec, undefined, 'as swarmkit: no previous spec after an automatic rollback');
  await converged(id, 'img:1', 3);
});

test('manual rollback (rollback=previous) uses RollbackConfig: parallelism 0 replaces every slot at once', async () => {
  const id = await createService(specOf('man', 'img:1', { replicas: 3, update: { Parallelism: 0 }, rollback: { Parallelism: 0, Monitor: 0.5 * SECOND } }));
  await converged(id, 'img:1', 3);
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), Resources: { Limits: { NanoCPUs: 0.5e9 } } } }));
  await until('completed', async () => (await service(id)).value.updateStatus?.State === 'completed');
  const limited = await converged(id, 'img:1', 3);
  assert.ok(limited.every((t) => (t.spec.Resources as Json | undefined)?.Limits));
  const t0 = new Date().toISOString();
  await rollbackSpec(id);
  const done = await until('rollback completed', async () => {
    const u = (await service(id)).value.updateStatus;
    return u?.State === 'rollback_completed' ? u : undefined;
  });
  assert.equal(done.Message, 'rollback completed');
  const up = await converged(id, 'img:1', 3);
  assert.ok(up.every((t) => !t.spec.Resources), 'the limit is gone again');
  const created = up.map((t) => t.createdAt).sort();
  assert.ok(created[0] >= t0);
  assert.ok(Date.parse(created[2]) - Date.parse(created[0]) < 400, 'parallelism 0: all slots replaced in one pass');
});

test('max failure ratio: failures up to the ratio are tolerated', async () => {
  const id = await createService(specOf('ratio', 'img:1', { replicas: 4, update: { Parallelism: 0, MaxFailureRatio: 0.5 } }));
  await converged(id, 'img:1', 4);
  const t0 = Date.now();
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:bad', Args: ['exit1'] } } }));
  const st = await until('paused', async () => {
    const u = (await service(id)).value.updateStatus;
    return u?.State === 'paused' ? u : undefined;
  });
  assert.match(st.Message!, /^update paused due to failure or early termination of task /);
  // it paused only once more than half the slots' worth of tasks had failed
  const firstPaused = await until('a pass that saw it paused', async () =>
    swarm.samples.find((s) => s.at >= t0 && s.services.some((x) => x.id === id && x.updateStatus?.State === 'paused')));
  const failedThen = firstPaused.tasks.filter((t) => t.serviceId === id && t.status.State === 'failed').length;
  assert.ok(failedThen >= 3, `paused with ${failedThen} failures (4 slots, ratio 0.5)`);
  for (const s of swarm.samples.filter((x) => x.at >= t0 && x.at < firstPaused.at)) {
    const failed = s.tasks.filter((t) => t.serviceId === id && t.status.State === 'failed').length;
    if (failed <= 2) assert.notEqual(s.services.find((x) => x.id === id)?.updateStatus?.State, 'paused');
  }
});

test('monitor: a task that dies after the monitor window is no failure of the update; one that dies within it is', async () => {
  const id = await createService(specOf('mon', 'img:1', { replicas: 2, update: { Parallelism: 0, Monitor: 0.4 * SECOND } }));
  await converged(id, 'img:1', 2);
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:2', Args: ['die-after-1500'] } } }));
  await until('completed', async () => (await service(id)).value.updateStatus?.State === 'completed');
  await until('a task died', async () => (await tasksOf(id)).some((t) => t.status.State === 'failed'));
  await sleep(500);
  assert.equal((await service(id)).value.updateStatus?.State, 'completed', 'a late death does not touch a completed update');
  // the same death inside a longer monitor window pauses the update
  await updateSpec(id, (s) => ({ ...s, UpdateConfig: { ...(s.UpdateConfig as Json), Monitor: 3 * SECOND }, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:3', Args: ['die-after-800'] } } }));
  const st = await until('paused', async () => {
    const u = (await service(id)).value.updateStatus;
    return u?.State === 'paused' ? u : undefined;
  });
  assert.match(st.Message!, /^update paused due to failure or early termination of task /);
  const dead = (await tasksOf(id)).find((t) => st.Message!.endsWith(t.id))!;
  assert.equal(image(dead), 'img:3');
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:4' } } }));
  await converged(id, 'img:4', 2);
});

test('global service: each node\'s task is replaced on its node', async () => {
  const id = await createService(specOf('glob', 'img:1', { global: true, update: { Parallelism: 2 } }));
  await converged(id, 'img:1', 3);
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ForceUpdate: 1 } }));
  await until('completed', async () => (await service(id)).value.updateStatus?.State === 'completed');
  const up = await until('3 forced tasks running', async () => {
    const r = runningOf(await tasksOf(id));
    return r.length === 3 && r.every((t) => (t.spec.ForceUpdate as number) === 1) ? r : undefined;
  });
  assert.deepEqual(up.map((t) => t.nodeId).sort(), ['n1', 'n2', 'n3']);
  assert.ok(up.every((t) => t.slot === 0));
});

test('a change of placement that the tasks\' nodes still satisfy replaces nothing', async () => {
  const id = await createService(specOf('place', 'img:1', { replicas: 2 }));
  const before = await converged(id, 'img:1', 2);
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), Placement: { Constraints: ['node.role==worker'] } } }));
  await sleep(1500);
  const after = runningOf(await tasksOf(id));
  assert.deepEqual(after.map((t) => t.id).sort(), before.map((t) => t.id).sort());
  assert.equal((await service(id)).value.updateStatus, undefined);
});

test('a new leader carries on an update from the store: no task lost or doubled; racing passes add nothing twice', async () => {
  const id = await createService(specOf('fo', 'img:1', { replicas: 4, update: { Delay: 0.3 * SECOND } }));
  await converged(id, 'img:1', 4);
  await updateSpec(id, (s) => ({ ...s, TaskTemplate: { ...(s.TaskTemplate as Json), ContainerSpec: { Image: 'img:2' } } }));
  await until('two slots done', async () => runningOf(await tasksOf(id)).filter((t) => image(t) === 'img:2').length >= 2);
  // the leader dies: nothing runs the updater for a while, and the next one knows only the store
  swarm.updaterOn = false;
  await sleep(800);
  forgetUpdates();
  // two managers that both think they lead run a pass on the same snapshot
  const [services, tasks] = await Promise.all([objects.list('services'), objects.list('tasks')]);
  await Promise.all([runUpdates(objects, services, tasks, nodes), runUpdates(objects, services, tasks, nodes)]);
  swarm.updaterOn = true;
  await until('completed', async () => (await service(id)).value.updateStatus?.State === 'completed');
  await converged(id, 'img:2', 4);
  const ts = await tasksOf(id);
  assert.equal(ts.filter((t) => image(t) === 'img:2').length, 4, 'one new task per slot, none doubled');
  assert.equal(ts.length, 8);
  for (const s of swarm.samples) {
    const mine = s.tasks.filter((t) => t.serviceId === id && live(t));
    for (const slot of [1, 2, 3, 4]) assert.ok(mine.filter((t) => t.slot === slot).length <= 1, `slot ${slot} doubled`);
  }
});
