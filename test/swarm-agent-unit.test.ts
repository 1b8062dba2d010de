// The agent against a fake engine and a fake dispatcher (no berthd, no etcd):
// a node's new tasks are created and started at most START_CONCURRENCY at a
// time, and every one of them runs in the end; the first task's `running`
// goes out while later containers still wait their turn; a report made while
// a batch is on its way goes at once in a second batch (never two batches
// holding the same task), and the reports of one turn (an assignment's
// tasks) go as one batch; a task whose desired state moved down while it
// waited its turn is never started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, START_CONCURRENCY } from '../src/swarm/agent/agent';
import type { AgentEngine, EngineContainer, EngineEvent } from '../src/swarm/agent/engine';
import type { Assignment, Dispatcher, StatusReport, StatusResult } from '../src/swarm/dispatcher';
import type { SwarmContext } from '../src/swarm/component';
import type { TaskRecord, TaskState } from '../src/swarm/objects';
import type { ObjectStore } from '../src/swarm/object-store';

const NODE = 'node1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(5);
  }
}

/** Containers in memory; a start takes `startMs` and counts how many run at once. */
class FakeEngine implements AgentEngine {
  readonly runDir: string;
  readonly containers = new Map<string, EngineContainer>();
  starting = 0;
  maxStarting = 0;
  readonly startOrder: string[] = [];
  private readonly listeners = new Set<(ev: EngineEvent) => void>();
  private n = 0;
  constructor(runDir: string, private readonly startMs: number) {
    this.runDir = runDir;
  }
  hasImage(): boolean { return true; }
  async pullImage(): Promise<void> {}
  async create(name: string, body: Record<string, unknown>): Promise<string> {
    const id = `c${++this.n}`;
    this.containers.set(id, { id, name, labels: (body.Labels ?? {}) as Record<string, string>, running: false, status: 'created', exitCode: 0, pid: 0, error: '' });
    return id;
  }
  async start(id: string): Promise<void> {
    this.starting++;
    this.maxStarting = Math.max(this.maxStarting, this.starting);
    try {
      await sleep(this.startMs);
      const c = this.containers.get(id)!;
      Object.assign(c, { running: true, status: 'running', pid: 1000 + this.startOrder.length });
      this.startOrder.push(c.labels['com.docker.swarm.task.id']);
    } finally {
      this.starting--;
    }
  }
  async stop(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c) Object.assign(c, { running: false, status: 'exited', exitCode: 137 });
  }
  async remove(id: string): Promise<void> { this.containers.delete(id); }
  containersWithLabel(label: string): EngineContainer[] { return [...this.containers.values()].filter((c) => label in c.labels); }
  container(id: string): EngineContainer | undefined { return this.containers.get(id); }
  onContainerEvent(fn: (ev: EngineEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  async readLogs(): Promise<[]> { return []; }
}

/** Hands out a fixed assignment (then waits until aborted) and records the report batches as they arrive and finish. */
class FakeDispatcher {
  tasks: Array<TaskRecord & { index: number }> = [];
  version = 0;
  readonly batches: Array<{ at: number; reports: StatusReport[]; done?: number }> = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly reportMs: number) {}
  async assigned(_nodeId: string, since: string, waitMs: number, abort?: AbortSignal): Promise<Assignment> {
    if (since === String(this.version) && waitMs > 0) {
      const seen = this.version;
      const end = Date.now() + waitMs;
      while (this.version === seen && Date.now() < end && !abort?.aborted) await sleep(5);
    }
    return { token: String(this.version), tasks: this.tasks.map((t) => structuredClone(t)), services: { svc1: { name: 'web', global: false } }, secrets: [], configs: [] };
  }
  async report(_nodeId: string, reports: StatusReport[]): Promise<{ results: StatusResult[] }> {
    const b: { at: number; reports: StatusReport[]; done?: number } = { at: Date.now(), reports };
    this.batches.push(b);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await sleep(this.reportMs);
    this.inFlight--;
    b.done = Date.now();
    return { results: reports.map((r) => ({ taskId: r.taskId, ok: true })) };
  }
  /** When each task's report of `state` first reached the dispatcher. */
  firstReport(state: TaskState): Map<string, number> {
    const m = new Map<string, number>();
    for (const b of this.batches) for (const r of b.reports) if (r.status.State === state && !m.has(r.taskId)) m.set(r.taskId, b.at);
    return m;
  }
}

function task(i: number, desired: TaskState = 'running'): TaskRecord & { index: number } {
  const now = new Date().toISOString();
  return {
    id: `task${String(i).padStart(2, '0')}`, createdAt: now, updatedAt: now, serviceId: 'svc1', slot: i, nodeId: NODE,
    spec: { ContainerSpec: { Image: 'busybox:latest', Args: ['sleep', '1000'] } }, serviceIndex: 1, desiredState: desired,
    status: { Timestamp: now, State: 'assigned', Message: 'scheduler assigned task to node' }, labels: {}, index: 1,
  };
}

function setup(o: { tasks: number; startMs: number; reportMs: number }) {
  const engine = new FakeEngine(`/tmp/berth-agent-unit-${process.pid}-${Math.random().toString(36).slice(2)}`, o.startMs);
  const dispatcher = new FakeDispatcher(o.reportMs);
  dispatcher.tasks = Array.from({ length: o.tasks }, (_, i) => task(i + 1));
  const agent = new Agent(engine, dispatcher as unknown as Dispatcher);
  // a manager's agent: it asks its own dispatcher in-process
  const ctx = { nodeId: NODE, clusterId: 'c', role: 'manager', leader: true, objects: {} as ObjectStore, managers: [], tls: {}, pool: {} } as unknown as SwarmContext;
  return { engine, dispatcher, agent, ctx };
}

const running = (d: FakeDispatcher) => d.firstReport('running');

test('a node\'s new tasks start at most START_CONCURRENCY at a time, all of them run, the first is reported running before the last starts', async () => {
  const n = START_CONCURRENCY * 3;
  const { engine, dispatcher, agent, ctx } = setup({ tasks: n, startMs: 60, reportMs: 5 });
  agent.setContext(ctx);
  try {
    await until('every task reported running', () => running(dispatcher).size === n);
    assert.equal(engine.maxStarting, START_CONCURRENCY, `at most ${START_CONCURRENCY} starts at once, and that many used`);
    assert.equal(engine.startOrder.length, n);
    assert.equal(new Set(engine.startOrder).size, n, 'each task started once');
    assert.equal(engine.containers.size, n, 'one container per task');
    const reported = [...running(dispatcher).values()].sort((a, b) => a - b);
    // the first wave's running reports went out while the last wave still waited: ≥ one start time before the last report
    assert.ok(reported[n - 1] - reported[0] >= 60, `running reports spread over the waves (${reported[0]}…${reported[n - 1]})`);
  } finally {
    agent.setContext(undefined);
    await agent.stop();
  }
});

test('a report made while a batch is on its way goes at once in a second batch, never with a task already on its way', async () => {
  // slow reports: without a second batch, later reports would wait for the first one's answer
  const { dispatcher, agent, ctx } = setup({ tasks: 6, startMs: 30, reportMs: 150 });
  // three tasks first; the other three arrive while the first batch (of the first three) is on its way
  const later = dispatcher.tasks.splice(3);
  agent.setContext(ctx);
  try {
    await until('the first batch on its way', () => dispatcher.inFlight === 1);
    dispatcher.tasks.push(...later);
    dispatcher.version++;
    await until('every task reported running', () => running(dispatcher).size === 6);
    assert.equal(dispatcher.maxInFlight, 2, 'two batches on their way at once');
    // no task in two overlapping batches
    for (const a of dispatcher.batches) {
      for (const b of dispatcher.batches) {
        if (a === b || !(a.at < (b.done ?? Infinity) && b.at < (a.done ?? Infinity))) continue;
        const ids = new Set(a.reports.map((r) => r.taskId));
        assert.ok(!b.reports.some((r) => ids.has(r.taskId)), 'overlapping batches hold distinct tasks');
      }
    }
    // the second batch left while the first was on its way (not after its answer)
    const [first, second] = dispatcher.batches;
    // one turn's reports go together: the first batch holds each of the first assignment's tasks
    assert.deepEqual(first.reports.map((r) => r.taskId).sort(), ['task01', 'task02', 'task03']);
    assert.deepEqual(second.reports.map((r) => r.taskId).sort(), ['task04', 'task05', 'task06']);
    assert.ok(second.at < first.done!, `second batch at ${second.at - first.at} ms, first answered at ${first.done! - first.at} ms`);
    // states only move forward per task, in the order the batches were sent
    const order: TaskState[] = ['accepted', 'preparing', 'ready', 'starting', 'running'];
    const last = new Map<string, number>();
    for (const b of dispatcher.batches) {
      for (const r of b.reports) {
        const i = order.indexOf(r.status.State);
        assert.ok(i > (last.get(r.taskId) ?? -1), `${r.taskId}: ${r.status.State} after an earlier state`);
        last.set(r.taskId, i);
      }
    }
  } finally {
    agent.setContext(undefined);
    await agent.stop();
  }
});

test('a task desired shutdown while it waits its turn is never started; the others run', async () => {
  const n = START_CONCURRENCY + 2;
  const { engine, dispatcher, agent, ctx } = setup({ tasks: n, startMs: 200, reportMs: 5 });
  agent.setContext(ctx);
  try {
    // the first wave is starting: the last task waits its turn
    await until('the first wave starting', () => engine.starting === START_CONCURRENCY);
    const lastId = dispatcher.tasks[n - 1].id;
    dispatcher.tasks[n - 1] = { ...dispatcher.tasks[n - 1], desiredState: 'shutdown' };
    dispatcher.version++;
    await until('the other tasks reported running', () => running(dispatcher).size === n - 1);
    await until('the shut-down task reported shutdown', () => dispatcher.firstReport('shutdown').has(lastId));
    await sleep(300);
    assert.ok(!engine.startOrder.includes(lastId), 'the task desired shutdown was not started');
    assert.ok(!running(dispatcher).has(lastId));
    assert.ok(!dispatcher.firstReport('failed').has(lastId), 'and not reported failed');
  } finally {
    agent.setContext(undefined);
    await agent.stop();
  }
});
