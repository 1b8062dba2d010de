// The dispatcher (on every manager): the node side's one way into the task
// store. A node asks for the tasks assigned to it (a long poll: the answer
// comes at once when its tasks changed since the token it holds, otherwise
// when they change or after a bounded wait) and reports its tasks' states.
//
// One shared poller per manager answers the waiting nodes. While the store's
// change feed (an etcd watch) is live it reads the task list only after a
// task changed (at most once per POLL_MS; nothing while no task changes);
// otherwise it reads the store's revision every POLL_MS (the task list only
// when it moved), so N waiting nodes cost one small etcd read, not N.
// A node's token is a digest of its tasks' ids, nodes and desired states: a
// new task, a deleted one or a new desired state answers the wait; the
// node's own state reports do not (they would wake it once per report).
// The leader's orchestrator pokes the dispatcher on its node after it wrote
// tasks, so those waiters are answered without waiting for the next poll.
// The dispatcher's own writes (state reports) change no token: while the feed
// is live, a change that is only those writes does not make it read the task
// list again (a scale of 20 tasks makes ~100 reports; the list was read up
// to every POLL_MS for them). The snapshot's states may then lag behind the
// store: an agent keeps its own states, and reports are forward-only anyway.
// Workers call it over the control port (POST /tasks/assigned, /tasks/status);
// a manager's own agent calls the same methods in-process.
import { createHash } from 'node:crypto';
import type { SwarmComponent, SwarmContext, ControlRoute } from './component';
import { TXN_OPS, isKeyOf, keyOf, listRead, type ObjectStore, type Write } from './object-store';
import { isTerminal, stateBefore, TASK_STATES, type TaskRecord, type TaskStatus, type TaskState } from './objects';
import type { Versioned } from './types';
import { SwarmError, NOT_MANAGER } from './errors';
import { log } from '../util/log';

/** How often the shared poller reads the task list while nodes wait and the store's change feed is not live. */
export const POLL_MS = 120;
/** With a live change feed the poller is woken by task changes; it looks on its own only this often. */
export const FEED_POLL_MS = 1000;
/** How long a report this dispatcher wrote is expected back from the feed (not news); later its event is news. */
const OWN_WRITE_MS = 5_000;
/** Task records kept for reports without a read (reportKnown). */
const KNOWN_MAX = 10_000;
/** The longest a node's wait is held before an unchanged answer. */
export const MAX_WAIT_MS = 10_000;

export interface FileData { id: string; name: string; /** base64 */ data: string }

export interface Assignment {
  /** Hand it back as `since` to wait for the next change. */
  token: string;
  /** The node's tasks (every desired state, history included), with their record versions. */
  tasks: Array<TaskRecord & { index: number }>;
  /** Names and modes of the services those tasks belong to. */
  services: Record<string, { name: string; global: boolean }>;
  /** Data of the secrets and configs the node's live tasks reference: nothing else. */
  secrets: FileData[];
  configs: FileData[];
}

export interface StatusReport { taskId: string; status: TaskStatus }
export interface StatusResult { taskId: string; ok: boolean; error?: string }

interface Waiter { nodeId: string; since: string; done: () => void }

export class Dispatcher implements SwarmComponent {
  readonly name = 'dispatcher';
  private ctx?: SwarmContext;
  private readonly waiters = new Set<Waiter>();
  private polling = false;
  /** Ends the poller's current sleep (a poke). */
  private wake?: () => void;
  private snapshot: { at: number; rev: number; tasks: Array<Versioned<TaskRecord>> } = { at: 0, rev: -1, tasks: [] };
  /** The store's change feed this dispatcher listens to, and the end of that. */
  private feed?: { objects: ObjectStore; unlisten: () => void };
  /** A task changed (or the feed lost track) since the snapshot was read. */
  private dirty = true;
  /** The poller's wake-up for a change the feed reported. */
  private feedWake?: NodeJS.Timeout;
  /** Task keys this dispatcher wrote (state reports) that the feed has not reported yet: key → count, and when last written. */
  private readonly ownWrites = new Map<string, { n: number; at: number }>();
  /** The task records this dispatcher last wrote, with their versions (reportKnown). */
  private readonly known = new Map<string, Versioned<TaskRecord>>();

  setContext(ctx: SwarmContext | undefined): void {
    this.ctx = ctx;
    if (!ctx?.objects) this.release();
    this.follow(ctx?.objects);
  }

  async stop(): Promise<void> {
    this.ctx = undefined;
    this.release();
    this.follow(undefined);
  }

  /** Listens to the task changes of `objects` (a manager's store), instead of polling its revision. */
  private follow(objects: ObjectStore | undefined): void {
    if (this.feed?.objects === objects) return;
    this.feed?.unlisten();
    this.feed = undefined;
    clearTimeout(this.feedWake);
    this.feedWake = undefined;
    this.dirty = true;
    this.ownWrites.clear();
    this.known.clear();
    this.snapshot = { at: 0, rev: -1, tasks: [] };
    if (!objects) return;
    this.feed = {
      objects,
      unlisten: objects.feed.listen((_rev, keys) => {
        // no keys: the feed lost track (it reconnected); otherwise only task records matter here,
        // and of those only what this dispatcher did not write itself (a report changes no token)
        if (!keys.length) this.ownWrites.clear();
        else if (!this.foreign(keys.filter((k) => isKeyOf('tasks', k)))) return;
        this.changed();
      }),
    };
  }

  /** A task changed: read the list again (at most one read per POLL_MS for changes; a poke still reads at once). */
  private changed(): void {
    this.dirty = true;
    if (!this.waiters.size || this.feedWake) return;
    this.feedWake = setTimeout(() => { this.feedWake = undefined; this.wake?.(); }, Math.max(0, this.snapshot.at + POLL_MS - Date.now()));
  }

  /** Whether any of these changed task keys is not one of this dispatcher's own writes (those are counted off). */
  private foreign(keys: string[]): boolean {
    let other = false;
    const now = Date.now();
    for (const k of keys) {
      const w = this.ownWrites.get(k);
      // an expectation the feed never met (it should not happen while the feed is live) is not trusted for long
      if (w && now - w.at > OWN_WRITE_MS) this.ownWrites.delete(k);
      if (!w || now - w.at > OWN_WRITE_MS) other = true;
      else if (w.n > 1) w.n--;
      else this.ownWrites.delete(k);
    }
    return other;
  }

  /**
   * Writes of reports about to be sent (+1) or that failed (-1): the feed's
   * reports of them are not news. A failed one may have lost to someone
   * else's write of that task, whose change the feed may already have
   * counted off as ours: read the list again.
   */
  private expect(writes: Write[], delta: 1 | -1): void {
    if (delta < 0) this.changed();
    if (!this.feed?.objects.feed.live) return;
    for (const w of writes) {
      if (w.op !== 'update') continue;
      const k = keyOf('tasks', w.value.id);
      const n = (this.ownWrites.get(k)?.n ?? 0) + delta;
      if (n > 0) this.ownWrites.set(k, { n, at: Date.now() });
      else this.ownWrites.delete(k);
    }
  }

  controlRoutes(): Record<string, ControlRoute> {
    return {
      '/tasks/assigned': (nodeId, body) => this.assigned(nodeId, typeof body.since === 'string' ? body.since : '', Number(body.wait ?? 0)),
      '/tasks/status': (nodeId, body) => this.report(nodeId, Array.isArray(body.reports) ? body.reports as StatusReport[] : []),
    };
  }

  private objects(): ObjectStore {
    const o = this.ctx?.objects;
    if (!o) throw new SwarmError(503, NOT_MANAGER);
    return o;
  }

  /** The node's assignment; waits (≤ MAX_WAIT_MS) while its token still equals `since`. */
  async assigned(nodeId: string, since: string, waitMs: number, abort?: AbortSignal): Promise<Assignment> {
    const objects = this.objects();
    let tasks = await this.refresh(objects);
    const wait = Math.max(0, Math.min(MAX_WAIT_MS, Number.isFinite(waitMs) ? waitMs : 0));
    if (since && wait > 0 && tokenOf(tasks, nodeId) === since && !abort?.aborted) {
      await new Promise<void>((resolve) => {
        const w: Waiter = { nodeId, since, done: () => { clearTimeout(t); abort?.removeEventListener('abort', w.done); this.waiters.delete(w); resolve(); } };
        const t = setTimeout(w.done, wait);
        abort?.addEventListener('abort', w.done);
        this.waiters.add(w);
        this.poll();
      });
      tasks = this.snapshot.tasks;
    }
    return this.build(this.objects(), nodeId, tasks);
  }

  /**
   * The task list, shared by calls within one poll interval; read again only
   * when the store's revision moved (a quiet cluster's revision stands still:
   * heartbeats renew leases, they write nothing).
   */
  private async refresh(objects: ObjectStore): Promise<Array<Versioned<TaskRecord>>> {
    if (objects.feed.live && this.feed?.objects === objects) {
      // the watch says what changed: no etcd call while no task did
      if (!this.dirty && this.snapshot.rev >= 0) return this.snapshot.tasks;
      this.dirty = false;
      // a change during this read marks it dirty again: read again at the next wake
      const { revision, values: [tasks] } = await objects.etcd.readTogether([listRead('tasks')] as const);
      if (revision >= this.snapshot.rev) this.snapshot = { at: Date.now(), rev: revision, tasks };
      return this.snapshot.tasks;
    }
    if (Date.now() - this.snapshot.at < POLL_MS / 2) return this.snapshot.tasks;
    const rev = await objects.revision();
    if (rev === this.snapshot.rev) {
      this.snapshot.at = Date.now();
      return this.snapshot.tasks;
    }
    // a write between the two reads is in the list, and moves the revision again: read at the next poll
    const tasks = await objects.list('tasks');
    this.snapshot = { at: Date.now(), rev, tasks };
    return tasks;
  }

  /** The shared poller: runs while anyone waits. */
  private poll(): void {
    if (this.polling) return;
    this.polling = true;
    void (async () => {
      try {
        while (this.waiters.size) {
          await new Promise<void>((r) => {
            const t = setTimeout(() => { this.wake = undefined; r(); }, this.ctx?.objects?.feed.live ? FEED_POLL_MS : POLL_MS);
            this.wake = () => { clearTimeout(t); this.wake = undefined; r(); };
          });
          const objects = this.ctx?.objects;
          if (!objects) { this.release(); break; }
          let tasks: Array<Versioned<TaskRecord>>;
          try {
            tasks = await this.refresh(objects);
          } catch (e) {
            log.debug('dispatcher poll failed', { err: String(e) });
            continue;
          }
          const tokens = new Map<string, string>();
          for (const w of [...this.waiters]) {
            let tok = tokens.get(w.nodeId);
            if (tok === undefined) tokens.set(w.nodeId, (tok = tokenOf(tasks, w.nodeId)));
            if (tok !== w.since) w.done();
          }
        }
      } finally {
        this.polling = false;
      }
    })();
  }

  /** Tasks were written on this manager (the orchestrator): read them and answer the waiting nodes now, not at the next poll. */
  poke(): void {
    this.snapshot.at = 0;
    this.dirty = true;
    this.wake?.();
  }

  private release(): void {
    for (const w of [...this.waiters]) w.done();
  }

  private async build(objects: ObjectStore, nodeId: string, all: Array<Versioned<TaskRecord>>): Promise<Assignment> {
    const mine = all.filter((t) => t.value.nodeId === nodeId);
    const serviceIds = new Set(mine.map((t) => t.value.serviceId));
    const secretIds = new Set<string>();
    const configIds = new Set<string>();
    for (const t of mine) {
      // files only for tasks that may still run
      if (!stateBefore(t.value.desiredState, 'complete') || stateBefore('running', t.value.status.State)) continue;
      const cs = (t.value.spec.ContainerSpec ?? {}) as { Secrets?: Array<{ SecretID?: string }>; Configs?: Array<{ ConfigID?: string }> };
      for (const s of cs.Secrets ?? []) if (s.SecretID) secretIds.add(s.SecretID);
      for (const c of cs.Configs ?? []) if (c.ConfigID) configIds.add(c.ConfigID);
    }
    const [services, secrets, configs] = await Promise.all([
      serviceIds.size ? objects.list('services') : Promise.resolve([]),
      Promise.all([...secretIds].map((id) => objects.get('secrets', id))),
      Promise.all([...configIds].map((id) => objects.get('configs', id))),
    ]);
    const svc: Assignment['services'] = {};
    for (const s of services) {
      if (!serviceIds.has(s.value.id)) continue;
      const mode = (s.value.spec.Mode ?? {}) as Record<string, unknown>;
      svc[s.value.id] = { name: String(s.value.spec.Name ?? s.value.id), global: !!mode.Global || !!mode.GlobalJob };
    }
    const file = (r: { value: { id: string; spec: Record<string, unknown> } } | undefined): FileData | undefined =>
      r ? { id: r.value.id, name: String(r.value.spec.Name ?? ''), data: String(r.value.spec.Data ?? '') } : undefined;
    return {
      token: tokenOf(all, nodeId),
      tasks: mine.map((t) => ({ ...t.value, index: t.index })),
      services: svc,
      secrets: secrets.map(file).filter((x): x is FileData => !!x),
      configs: configs.map(file).filter((x): x is FileData => !!x),
    };
  }

  /**
   * A node's state reports: each a compare-and-swap of the task's status,
   * only for the node's own tasks and only forward in TASK_STATES order.
   * The batch is one etcd read and one transaction of all its writes; when
   * any of them loses a race (the orchestrator wrote the task meanwhile)
   * that transaction writes nothing and each report is retried on its own.
   */
  async report(nodeId: string, reports: StatusReport[]): Promise<{ results: StatusResult[] }> {
    const objects = this.objects();
    const list = reports.slice(0, 512);
    const ids = list.map((r) => String(r?.taskId ?? ''));
    const results: Array<StatusResult | undefined> = list.map(() => undefined);
    if (new Set(ids).size === ids.length && await this.reportKnown(objects, nodeId, list, ids)) {
      return { results: ids.map((taskId) => ({ taskId, ok: true })) };
    }
    if (new Set(ids).size === ids.length) {
      const cur = await objects.getMany('tasks', ids.filter(Boolean));
      const writes: Array<{ i: number; write: Write }> = [];
      list.forEach((r, i) => {
        const checked = this.check(nodeId, r, cur.get(ids[i]));
        if ('result' in checked) results[i] = checked.result;
        else writes.push({ i, write: { op: 'update', kind: 'tasks', value: checked.value, index: checked.index } });
      });
      for (let k = 0; k < writes.length; k += TXN_OPS) {
        const chunk = writes.slice(k, k + TXN_OPS);
        const ws = chunk.map((w) => w.write);
        this.expect(ws, 1);
        try {
          this.remember(ws, await objects.batch(ws));
          for (const w of chunk) results[w.i] = { taskId: ids[w.i], ok: true };
        } catch (e) {
          // written or not is unknown after a lost answer: news either way
          this.expect(ws, -1);
          if (!/out of sequence/.test((e as Error).message)) throw e;
        }
      }
    }
    // what the batch did not settle: one by one, each read again
    await Promise.all(list.map(async (r, i) => { results[i] ??= await this.reportOne(objects, nodeId, r); }));
    // without the feed the next refresh compares the revision (and reads the list again)
    if (!(objects.feed.live && this.feed?.objects === objects)) {
      this.snapshot.at = 0;
      this.dirty = true;
    }
    return { results: results as StatusResult[] };
  }

  /**
   * The batch written against the records this dispatcher knows already (the
   * last it wrote of each task, or the task list it read for the
   * assignments), without reading them again: one transaction, every write
   * compared with its record's version. True when written; false when a
   * record is unknown, a report would be refused (refusals are only given
   * after a fresh read) or a record changed meanwhile — then nothing was
   * written and the caller reads them.
   */
  private async reportKnown(objects: ObjectStore, nodeId: string, list: StatusReport[], ids: string[]): Promise<boolean> {
    if (!ids.length || ids.length > TXN_OPS || !this.feed || this.feed.objects !== objects) return false;
    const listed = new Map<string, Versioned<TaskRecord>>();
    if (ids.some((id) => !this.known.has(id))) for (const t of this.snapshot.tasks) listed.set(t.value.id, t);
    const writes: Write[] = [];
    for (let i = 0; i < list.length; i++) {
      const a = this.known.get(ids[i]);
      const b = listed.get(ids[i]);
      const cur = a && (!b || a.index >= b.index) ? a : b;
      const checked = this.check(nodeId, list[i], cur);
      if ('result' in checked) return false;
      writes.push({ op: 'update', kind: 'tasks', value: checked.value, index: checked.index });
    }
    this.expect(writes, 1);
    try {
      this.remember(writes, await objects.batch(writes));
      return true;
    } catch (e) {
      this.expect(writes, -1);
      for (const id of ids) this.known.delete(id);
      if (!/out of sequence/.test((e as Error).message)) throw e;
      return false;
    }
  }

  /** Records this dispatcher wrote, at the revision of their transaction (their version now); finished tasks are forgotten. */
  private remember(writes: Write[], revision: number): void {
    for (const w of writes) {
      if (w.op !== 'update' || w.kind !== 'tasks') continue;
      const t = w.value as TaskRecord;
      if (isTerminal(t.status.State)) this.known.delete(t.id);
      else this.known.set(t.id, { value: t, index: revision });
    }
    // bounded: a manager that never sees the end of its tasks' records forgets them all at once
    if (this.known.size > KNOWN_MAX) this.known.clear();
  }

  /** A report against the task's record: the record to write, or the refusal. */
  private check(nodeId: string, r: StatusReport, cur: Versioned<TaskRecord> | undefined): { result: StatusResult } | { value: TaskRecord; index: number } {
    const taskId = String(r?.taskId ?? '');
    const st = r?.status;
    if (!taskId || !st || !TASK_STATES.includes(st.State as TaskState)) return { result: { taskId, ok: false, error: 'invalid status report' } };
    if (!cur) return { result: { taskId, ok: false, error: 'task not found' } };
    if (cur.value.nodeId !== nodeId) return { result: { taskId, ok: false, error: 'task is not assigned to this node' } };
    if (!stateBefore(cur.value.status.State, st.State)) return { result: { taskId, ok: false, error: `task is ${cur.value.status.State} already` } };
    const status: TaskStatus = {
      Timestamp: typeof st.Timestamp === 'string' ? st.Timestamp : new Date().toISOString(),
      State: st.State,
      Message: String(st.Message ?? ''),
      ...(st.Err ? { Err: String(st.Err) } : {}),
      ...(st.ContainerStatus ? { ContainerStatus: st.ContainerStatus } : cur.value.status.ContainerStatus ? { ContainerStatus: cur.value.status.ContainerStatus } : {}),
      ...(cur.value.status.PortStatus ? { PortStatus: cur.value.status.PortStatus } : {}),
    };
    return { value: { ...cur.value, status, updatedAt: new Date().toISOString() }, index: cur.index };
  }

  private async reportOne(objects: ObjectStore, nodeId: string, r: StatusReport): Promise<StatusResult> {
    const taskId = String(r?.taskId ?? '');
    for (let attempt = 0; attempt < 5; attempt++) {
      const checked = this.check(nodeId, r, taskId ? await objects.get('tasks', taskId) : undefined);
      if ('result' in checked) return checked.result;
      const w: Write = { op: 'update', kind: 'tasks', value: checked.value, index: checked.index };
      this.expect([w], 1);
      try {
        this.remember([w], await objects.update('tasks', checked.value, checked.index));
        return { taskId, ok: true };
      } catch (e) {
        this.expect([w], -1);
        if (!/out of sequence/.test((e as Error).message)) return { taskId, ok: false, error: (e as Error).message };
      }
    }
    return { taskId, ok: false, error: 'update out of sequence' };
  }
}

/** A digest of what the node is told to do: its tasks' ids and desired states (not their reported states). */
export function tokenOf(tasks: Array<Versioned<TaskRecord>>, nodeId: string): string {
  const h = createHash('sha256');
  const mine = tasks.filter((t) => t.value.nodeId === nodeId).map((t) => `${t.value.id}:${t.value.desiredState}`).sort();
  h.update(mine.join(','));
  return h.digest('hex').slice(0, 24);
}
