// The dispatcher against an in-memory object store (no etcd): a node's state
// reports are one read and one transaction per batch (no read when it knows
// the records: it wrote or listed them last), fall back to one write
// per task when the batch loses a race, and stay forward-only and own-node
// only; a node's token moves with what it is told to do (tasks, desired
// states), not with its own reports; a poke answers a waiting node without
// waiting for the next poll; with the store's change feed live, a waiting
// node costs no store read until a task changes, and that change answers it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dispatcher, tokenOf, POLL_MS, FEED_POLL_MS } from '../src/swarm/dispatcher';
import type { ObjectStore, Write } from '../src/swarm/object-store';
import type { SwarmContext } from '../src/swarm/component';
import type { TaskRecord, TaskState } from '../src/swarm/objects';
import type { Versioned } from '../src/swarm/types';

/** The store's change feed, driven by the test: `live` and what `emit` says changed. */
class FakeFeed {
  live = false;
  revision = 0;
  private readonly fns = new Set<(rev: number, keys: string[]) => void>();
  listen(fn: (rev: number, keys: string[]) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  emit(rev: number, keys: string[]): void {
    this.revision = rev;
    for (const fn of this.fns) fn(rev, keys);
  }
}

class FakeStore {
  rev = 1;
  revisionReads = 0;
  listReads = 0;
  readonly feed = new FakeFeed();
  readonly etcd = {
    // the dispatcher's read of the task list with the store's revision (one transaction)
    readTogether: async () => ({ revision: this.rev, values: [await this.list('tasks')] }),
  };
  readonly tasks = new Map<string, Versioned<TaskRecord>>();
  txns = 0;
  reads = 0;
  /** Runs before the next batch commits (another writer racing it). */
  race?: () => void;

  put(t: TaskRecord): void {
    this.tasks.set(t.id, { value: structuredClone(t), index: ++this.rev });
  }
  async revision(): Promise<number> { this.revisionReads++; return this.rev; }
  async list(kind: string): Promise<Array<Versioned<unknown>>> {
    if (kind === 'tasks') this.listReads++;
    return kind === 'tasks' ? [...this.tasks.values()].map((t) => structuredClone(t)) : [];
  }
  async get(_kind: string, id: string): Promise<Versioned<TaskRecord> | undefined> {
    this.reads++;
    const t = this.tasks.get(id);
    return t && structuredClone(t);
  }
  async getMany(_kind: string, ids: string[]): Promise<Map<string, Versioned<TaskRecord>>> {
    this.reads++;
    return new Map(ids.filter((id) => this.tasks.has(id)).map((id) => [id, structuredClone(this.tasks.get(id)!)]));
  }
  async update(_kind: string, value: TaskRecord, index: number): Promise<number> {
    return this.batch([{ op: 'update', kind: 'tasks', value, index }]);
  }
  async batch(writes: Write[]): Promise<number> {
    const race = this.race;
    this.race = undefined;
    race?.();
    this.txns++;
    for (const w of writes) {
      if (w.op !== 'update' || this.tasks.get(w.value.id)?.index !== w.index) throw new Error('update out of sequence');
    }
    // one revision per transaction, every key it writes at that revision (as etcd)
    this.rev++;
    for (const w of writes) if (w.op === 'update') this.tasks.set(w.value.id, { value: structuredClone(w.value as TaskRecord), index: this.rev });
    return this.rev;
  }
}

const task = (id: string, nodeId: string, state: TaskState = 'assigned', desired: TaskState = 'running'): TaskRecord => ({
  id, createdAt: '2026-12-04T00:00:00Z', updatedAt: '2026-12-04T00:00:00Z', serviceId: 'svc', slot: 1, nodeId,
  spec: {}, serviceIndex: 1, desiredState: desired, status: { Timestamp: '2026-12-04T00:00:00Z', State: state, Message: state }, labels: {},
});
const st = (State: TaskState) => ({ Timestamp: new Date().toISOString(), State, Message: State });

function setup(): { d: Dispatcher; store: FakeStore } {
  const store = new FakeStore();
  const d = new Dispatcher();
  d.setContext({ nodeId: 'm', clusterId: 'c', role: 'manager', leader: true, objects: store as unknown as ObjectStore, managers: [], tls: {} } as unknown as SwarmContext);
  return { d, store };
}

test('a batch of reports is one read and one transaction; refusals are per report', async () => {
  const { d, store } = setup();
  for (const id of ['a', 'b', 'c']) store.put(task(id, 'w1'));
  store.put(task('x', 'w2'));
  store.put(task('r', 'w1', 'running'));
  const { results } = await d.report('w1', [
    { taskId: 'a', status: st('starting') }, { taskId: 'b', status: st('running') }, { taskId: 'c', status: st('accepted') },
    { taskId: 'x', status: st('running') }, { taskId: 'r', status: st('accepted') }, { taskId: 'nope', status: st('running') },
  ]);
  assert.deepEqual(results.map((r) => [r.taskId, r.ok, r.error]), [
    ['a', true, undefined], ['b', true, undefined], ['c', true, undefined],
    ['x', false, 'task is not assigned to this node'], ['r', false, 'task is running already'], ['nope', false, 'task not found'],
  ]);
  assert.equal(store.txns, 1, 'one transaction for the three writes');
  assert.equal(store.reads, 1, 'one read for the batch');
  assert.equal(store.tasks.get('b')!.value.status.State, 'running');
  assert.equal(store.tasks.get('x')!.value.status.State, 'assigned', 'another node\'s task untouched');
});

test('a batch that loses a race is retried task by task: the others land, the raced one follows the record', async () => {
  const { d, store } = setup();
  for (const id of ['a', 'b']) store.put(task(id, 'w1'));
  // the orchestrator sets b desired shutdown between the batch's read and its transaction
  store.race = () => store.put({ ...store.tasks.get('b')!.value, desiredState: 'shutdown' });
  const { results } = await d.report('w1', [{ taskId: 'a', status: st('running') }, { taskId: 'b', status: st('running') }]);
  assert.deepEqual(results.map((r) => r.ok), [true, true]);
  assert.equal(store.tasks.get('a')!.value.status.State, 'running');
  assert.equal(store.tasks.get('b')!.value.status.State, 'running');
  assert.equal(store.tasks.get('b')!.value.desiredState, 'shutdown', 'the racing write is kept');
  assert.equal(store.txns, 3, 'the failed batch, then one write per task');
});

test('a task\'s next report is written against the record the dispatcher wrote or listed: no read; a record changed meanwhile is read again', async () => {
  const { d, store } = setup();
  for (const id of ['a', 'b']) store.put(task(id, 'w1'));
  // the assignment's read lists both: their first reports need no read either
  await d.assigned('w1', '', 0);
  const reads = store.reads;
  assert.ok((await d.report('w1', [{ taskId: 'a', status: st('starting') }, { taskId: 'b', status: st('starting') }])).results.every((r) => r.ok));
  assert.ok((await d.report('w1', [{ taskId: 'a', status: st('running') }])).results.every((r) => r.ok));
  assert.equal(store.reads, reads, 'no read for reports of records the dispatcher knows');
  assert.equal(store.txns, 2);
  assert.equal(store.tasks.get('a')!.value.status.State, 'running');
  // another writer (the orchestrator) changed b: the known record is behind, the write is refused, then read and written
  store.put({ ...store.tasks.get('b')!.value, desiredState: 'shutdown' });
  const { results } = await d.report('w1', [{ taskId: 'b', status: st('running') }]);
  assert.deepEqual(results.map((r) => r.ok), [true]);
  assert.equal(store.reads, reads + 1, 'read once after the refused write');
  assert.equal(store.tasks.get('b')!.value.status.State, 'running');
  assert.equal(store.tasks.get('b')!.value.desiredState, 'shutdown', 'the other writer\'s change is kept');
  // a refusal is only given after a fresh read: the known record says running, the store says so too
  const r = await d.report('w1', [{ taskId: 'a', status: st('starting') }]);
  assert.deepEqual(r.results.map((x) => [x.ok, x.error]), [[false, 'task is running already']]);
  assert.equal(store.reads, reads + 2);
});

test('duplicate task ids in one batch go one by one, forward only', async () => {
  const { d, store } = setup();
  store.put(task('a', 'w1'));
  const { results } = await d.report('w1', [{ taskId: 'a', status: st('running') }, { taskId: 'a', status: st('starting') }]);
  assert.equal(store.tasks.get('a')!.value.status.State, 'running');
  assert.deepEqual(results.map((r) => r.ok), [true, false]);
});

test('the token moves with tasks and desired states, not with the node\'s own reports', () => {
  const v = (t: TaskRecord, index: number): Versioned<TaskRecord> => ({ value: t, index });
  const base = [v(task('a', 'w1'), 5), v(task('b', 'w1'), 6), v(task('z', 'w2'), 7)];
  const tok = tokenOf(base, 'w1');
  assert.equal(tokenOf([v(task('a', 'w1', 'running'), 9), base[1], base[2]], 'w1'), tok, 'a state report');
  assert.equal(tokenOf([base[0], base[1], v(task('z', 'w2', 'running', 'shutdown'), 8)], 'w1'), tok, 'another node\'s task');
  assert.notEqual(tokenOf([v(task('a', 'w1', 'running', 'shutdown'), 9), base[1], base[2]], 'w1'), tok, 'a desired state');
  assert.notEqual(tokenOf([base[0], base[2]], 'w1'), tok, 'a task gone');
  assert.notEqual(tokenOf([...base, v(task('c', 'w1'), 10)], 'w1'), tok, 'a new task');
});

test('a poke answers a waiting node before the next poll would', async () => {
  const { d, store } = setup();
  store.put(task('a', 'w1'));
  const first = await d.assigned('w1', '', 0);
  // a report does not answer the wait
  const waiting = d.assigned('w1', first.token, 5000);
  let answered = 0;
  void waiting.then(() => (answered = Date.now()));
  await d.report('w1', [{ taskId: 'a', status: st('running') }]);
  await new Promise((r) => setTimeout(r, 3 * POLL_MS));
  assert.equal(answered, 0, 'its own report did not wake it');
  // a new task written on this manager, then the poke: the poller's sleep ends at once; without it each
  // answer comes at the poller's next read, ~3/4 of POLL_MS later here (summed: not one lucky tick)
  let total = 0;
  for (let i = 0; i < 5; i++) {
    const cur = i === 0 ? first.token : (await d.assigned('w1', '', 0)).token;
    const w = i === 0 ? waiting : d.assigned('w1', cur, 5000);
    await new Promise((r) => setTimeout(r, POLL_MS / 4));
    store.put(task(`n${i}`, 'w1'));
    const t0 = Date.now();
    d.poke();
    const a = await w;
    assert.notEqual(a.token, cur);
    assert.ok(a.tasks.some((t) => t.id === `n${i}`));
    total += Date.now() - t0;
  }
  assert.ok(total < 5 * POLL_MS * 0.4, `5 answers ${total} ms after their pokes in all`);
  await d.stop();
});

test('with a live change feed a waiting node costs no store read until a task changes, and the change answers it at once', async () => {
  const { d, store } = setup();
  store.feed.live = true;
  store.put(task('a', 'w1'));
  const first = await d.assigned('w1', '', 0);
  const reads = () => store.listReads + store.revisionReads;
  const before = reads();
  let answered = 0;
  const waiting = d.assigned('w1', first.token, 5000).then((a) => { answered = Date.now(); return a; });
  // the feed reports changes that are not tasks (a heartbeat lease, an overlay peer table): nothing is read
  store.feed.emit(store.rev, ['/berth/swarm/alive/w2', '/berth/swarm/overlay/peers/w2']);
  await new Promise((r) => setTimeout(r, 5 * POLL_MS));
  assert.equal(reads() - before, 0, 'no store read while no task changed (the poller without a feed reads every POLL_MS)');
  assert.equal(answered, 0);
  // a task written elsewhere (another manager's orchestrator: no poke here): the feed's event answers the wait
  store.put(task('n', 'w1'));
  const t0 = Date.now();
  store.feed.emit(store.rev, ['/berth/swarm/objects/tasks/n']);
  const a = await waiting;
  assert.ok(a.tasks.some((t) => t.id === 'n'));
  assert.ok(answered - t0 < FEED_POLL_MS / 4, `answered ${answered - t0} ms after the change (the fallback poll is ${FEED_POLL_MS} ms)`);
  // the feed lost track (no keys): the next wait reads again
  const n = store.listReads;
  store.feed.emit(store.rev, []);
  await d.assigned('w1', '', 0);
  assert.equal(store.listReads, n + 1, 'read again after the feed lost track');
  await d.stop();
});

test('with a live feed the dispatcher\'s own report writes cost no read of the task list; another writer\'s change of the same task does', async () => {
  const { d, store } = setup();
  store.feed.live = true;
  store.put(task('a', 'w1'));
  store.put(task('b', 'w1'));
  const first = await d.assigned('w1', '', 0);
  // the fake store's writes are reported by the test, as etcd's watch would report them
  const emitTasks = (...ids: string[]) => store.feed.emit(store.rev, ids.map((id) => `/berth/swarm/objects/tasks/${id}`));
  let answered = false;
  const waiting = d.assigned('w1', first.token, 5000).then((a) => { answered = true; return a; });
  const before = store.listReads;
  // a batch of the node's reports, then the feed tells of those writes: no read, no answer
  assert.ok((await d.report('w1', [{ taskId: 'a', status: st('running') }, { taskId: 'b', status: st('starting') }])).results.every((r) => r.ok));
  emitTasks('a', 'b');
  assert.ok((await d.report('w1', [{ taskId: 'b', status: st('running') }])).results.every((r) => r.ok));
  emitTasks('b');
  await new Promise((r) => setTimeout(r, 3 * POLL_MS));
  assert.equal(store.listReads - before, 0, 'own reports read nothing (each was read every POLL_MS before)');
  assert.equal(answered, false);
  // the orchestrator (on another manager: no poke) sets a desired state: the feed's event reads and answers
  const cur = store.tasks.get('a')!.value;
  store.put({ ...cur, desiredState: 'shutdown' });
  emitTasks('a');
  const a = await waiting;
  assert.equal(a.tasks.find((t) => t.id === 'a')?.desiredState, 'shutdown');
  assert.ok(store.listReads - before >= 1);
  // one event of a report and one of another writer for the same key in one message: the second is news
  const r = store.listReads;
  const tok = (await d.assigned('w1', '', 0)).token;
  const w2 = d.assigned('w1', tok, 5000);
  await d.report('w1', [{ taskId: 'b', status: st('complete') }]);
  store.put({ ...store.tasks.get('b')!.value, desiredState: 'shutdown' });
  emitTasks('b', 'b');
  assert.equal((await w2).tasks.find((t) => t.id === 'b')?.desiredState, 'shutdown');
  assert.ok(store.listReads > r, 'read again for the other writer');
  // a report that lost a race: read again (the racing write's event may have been counted off as ours)
  const r2 = store.listReads;
  store.race = () => { store.put({ ...store.tasks.get('a')!.value }); emitTasks('a'); };
  await d.report('w1', [{ taskId: 'a', status: st('complete') }]);
  await d.assigned('w1', '', 0);
  assert.ok(store.listReads > r2, 'read again after a lost race');
  await d.stop();
});
