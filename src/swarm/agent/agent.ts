// The agent (on every node, workers and managers): keeps this engine's task
// containers in step with the tasks the dispatcher assigns to the node.
//
// A loop long-polls the dispatcher (in-process on a manager, the control
// port of a manager on a worker) and hands every assigned task to its own
// serialized step; container events (die) step the task at once. A step
// compares the task (desired state, reported state) with its container
// (found by its com.docker.swarm.task.id label) and does the one thing due:
// prepare (image) → create + start → report running; report the exit of a
// dead container; stop a task desired down; remove the container of a task
// that is gone. At most START_CONCURRENCY containers of a node are created
// and started at once (the rest wait their turn, first come first served):
// on two cores twenty concurrent `runc create`s finish all together, late,
// while a few at a time get the first tasks running early for the same total.
// State reports are queued and sent in batches: what the steps of one turn
// reported goes at once after that turn (one batch for an assignment's
// tasks up to their container create), reports made while a batch is in
// flight go in a second batch (up to
// REPORTS_IN_FLIGHT batches, never two holding the same task; only the latest
// state of a task waiting to be sent), retried until a manager takes them.
// The same step reconciles after a berthd restart: containers whose task is
// no longer assigned go, dead ones are reported.
import os from 'node:os';
import type { SwarmComponent, SwarmContext } from '../component';
import { controlCall } from '../control';
import type { Assignment, Dispatcher, FileData, StatusReport, StatusResult } from '../dispatcher';
import { MAX_WAIT_MS } from '../dispatcher';
import { isTerminal, stateBefore, type TaskRecord, type TaskState, type TaskStatus } from '../objects';
import { log } from '../../util/log';
import type { AgentEngine, EngineContainer } from './engine';
import { LABEL, createBody, stopGraceSeconds, taskContainerName, type TaskService, type TemplateNode } from './spec';
import { TaskFiles } from './files';
import { limiter } from '../../util/limiter';
import { within } from '../../util/within';

/** How long a worker's long poll waits at the manager. */
const WAIT_MS = 8_000;
/** Task containers of this node being created and started at once. */
export const START_CONCURRENCY = 4;
/** Report batches on their way to a manager at once (each with other tasks). */
const REPORTS_IN_FLIGHT = 2;

interface Local {
  task: TaskRecord & { index: number };
  service: TaskService;
  /** The latest state this agent reported (or saw recorded). */
  state: TaskState;
}

const later = (a: TaskState, b: TaskState): TaskState => (stateBefore(a, b) ? b : a);

export class Agent implements SwarmComponent {
  readonly name = 'agent';
  private ctx?: SwarmContext;
  private loop?: Promise<void>;
  private stopped = false;
  private token = '';
  private readonly local = new Map<string, Local>();
  private readonly chains = new Map<string, Promise<void>>();
  private secrets = new Map<string, FileData>();
  private configs = new Map<string, FileData>();
  private readonly pending = new Map<string, TaskStatus>();
  /** Tasks whose report is in a batch on its way. */
  private readonly inFlight = new Set<string>();
  private sending = 0;
  private retryTimer?: NodeJS.Timeout;
  /** A flush is due after this turn (flushSoon). */
  private flushing?: NodeJS.Immediate;
  private backoff = 0;
  private readonly startGate = limiter(START_CONCURRENCY);
  private unsubscribe?: () => void;
  private abort?: AbortController;
  private readonly files: TaskFiles;
  private firstSync = true;

  constructor(private readonly engine: AgentEngine, private readonly dispatcher: Dispatcher) {
    this.files = new TaskFiles(engine.runDir);
  }

  setContext(ctx: SwarmContext | undefined): void {
    const was = this.ctx;
    this.ctx = ctx;
    if (!ctx) {
      this.abort?.abort();
      return;
    }
    if (was && was.nodeId !== ctx.nodeId) this.token = '';
    // a manager's agent asks its own dispatcher: a role change ends the current wait
    if (was && !!was.objects !== !!ctx.objects) this.abort?.abort();
    if (!this.loop && !this.stopped) this.loop = this.run().finally(() => (this.loop = undefined));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await within(Promise.all([...this.chains.values()]), 3000);
  }

  /** The node left the swarm (or was removed): its task containers go, as Docker's `swarm leave` does. */
  async left(): Promise<void> {
    this.abort?.abort();
    this.token = '';
    this.pending.clear();
    await within(Promise.all([...this.chains.values()]), 5000);
    this.local.clear();
    for (const c of this.engine.containersWithLabel(LABEL.taskId)) {
      await this.engine.remove(c.id).catch((e) => log.warn('could not remove a task container', { id: c.id, err: String(e) }));
    }
    this.files.removeAll();
    this.firstSync = true;
  }

  // ---- the assignment loop ----

  private async run(): Promise<void> {
    this.unsubscribe ??= this.engine.onContainerEvent((ev) => {
      const taskId = ev.labels[LABEL.taskId];
      if (taskId && this.local.has(taskId) && (ev.action === 'die' || ev.action === 'destroy' || ev.action === 'start' || ev.action.startsWith('health_status'))) this.schedule(taskId);
    });
    let backoff = 0;
    while (this.ctx && !this.stopped) {
      const ctx = this.ctx;
      try {
        const a = await this.fetch(ctx);
        if (this.ctx !== ctx && this.ctx?.nodeId !== ctx.nodeId) continue;
        this.apply(a);
        backoff = 0;
      } catch (e) {
        if (this.ctx && !this.stopped) log.debug('swarm agent: no assignment', { err: (e as Error).message });
        backoff = Math.min(2000, backoff ? backoff * 2 : 100);
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  }

  private async fetch(ctx: SwarmContext): Promise<Assignment> {
    const since = this.token;
    if (ctx.objects) {
      this.abort = new AbortController();
      return this.dispatcher.assigned(ctx.nodeId, since, since ? WAIT_MS : 0, this.abort.signal);
    }
    let last: Error | undefined;
    for (const m of ctx.managers) {
      try {
        return await controlCall<Assignment>(m.Addr, 'POST', '/tasks/assigned', { since, wait: since ? WAIT_MS : 0 }, ctx.tls, MAX_WAIT_MS + 5000, ctx.pool.agent(m.Addr, 'poll'));
      } catch (e) {
        last = e as Error;
      }
    }
    throw last ?? new Error('no manager known');
  }

  private apply(a: Assignment): void {
    this.token = a.token;
    this.secrets = new Map(a.secrets.map((s) => [s.id, s]));
    this.configs = new Map(a.configs.map((c) => [c.id, c]));
    const seen = new Set<string>();
    for (const t of a.tasks) {
      seen.add(t.id);
      const cur = this.local.get(t.id);
      const service = a.services[t.serviceId] ?? cur?.service ?? { name: t.serviceId, global: !t.slot };
      this.local.set(t.id, { task: t, service, state: later(cur?.state ?? t.status.State, t.status.State) });
      this.schedule(t.id);
    }
    // tasks no longer assigned: their containers go
    for (const id of [...this.local.keys()]) {
      if (seen.has(id)) continue;
      this.local.delete(id);
      this.schedule(id);
    }
    // containers (and files) of tasks this agent does not know: after a restart, or deleted while it was away
    for (const c of this.engine.containersWithLabel(LABEL.taskId)) {
      const id = c.labels[LABEL.taskId];
      if (!seen.has(id) && !this.chains.has(id)) this.schedule(id);
    }
    for (const id of this.files.list()) if (!seen.has(id) && !this.chains.has(id)) this.schedule(id);
    if (this.firstSync) {
      this.firstSync = false;
      log.info('swarm agent in step with its assignment', { tasks: a.tasks.length });
    }
  }

  /** Runs the task's step after the one in progress (one at a time per task; a queued step is not doubled). */
  private readonly queued = new Set<string>();
  private schedule(taskId: string): void {
    if (this.queued.has(taskId)) return;
    this.queued.add(taskId);
    const prev = this.chains.get(taskId) ?? Promise.resolve();
    const next = prev.then(async () => {
      this.queued.delete(taskId);
      try {
        await this.step(taskId);
      } catch (e) {
        log.warn('swarm agent: task step failed', { task: taskId, err: (e as Error).message });
      }
    });
    this.chains.set(taskId, next);
    void next.then(() => { if (this.chains.get(taskId) === next) this.chains.delete(taskId); });
  }

  // ---- one task ----

  private containerOf(taskId: string): EngineContainer | undefined {
    return this.engine.containersWithLabel(LABEL.taskId).find((c) => c.labels[LABEL.taskId] === taskId);
  }

  private async step(taskId: string): Promise<void> {
    if (!this.ctx || this.stopped) return;
    const l = this.local.get(taskId);
    let c = this.containerOf(taskId);
    if (!l || l.task.nodeId !== this.ctx.nodeId) {
      // gone from the assignment: its container and files go
      this.local.delete(taskId);
      if (c) await this.engine.remove(c.id);
      this.files.remove(taskId);
      return;
    }
    const t = l.task;
    const desired = t.desiredState;
    const s = l.state;
    if (isTerminal(desired)) {
      // desired down (shutdown, remove, …)
      if (c?.running) await this.engine.stop(c.id, stopGraceSeconds(t));
      c = this.containerOf(taskId);
      if (!isTerminal(s)) this.report(l, 'shutdown', 'shutdown', c ? { ContainerStatus: { ContainerID: c.id, PID: 0, ExitCode: c.exitCode } } : {});
      if (desired === 'remove') {
        if (c) await this.engine.remove(c.id);
        this.files.remove(taskId);
      }
      return;
    }
    if (isTerminal(s)) {
      // a finished task keeps its (dead) container for `service ps` and logs
      if (c?.running) await this.engine.stop(c.id, stopGraceSeconds(t));
      return;
    }
    if (c) {
      if (c.running) {
        // with a healthcheck a task is running once healthy (dockerd's executor); unhealthy: stopped, failed
        if (c.health === 'unhealthy') {
          await this.engine.stop(c.id, stopGraceSeconds(t));
          const dead = this.engine.container(c.id) ?? c;
          const err = s === 'running' ? 'unhealthy container' : `task: non-zero exit (${dead.exitCode}): unhealthy container`;
          this.report(l, 'failed', 'started', { Err: err, ContainerStatus: { ContainerID: c.id, PID: 0, ExitCode: dead.exitCode } });
          return;
        }
        if (stateBefore(s, 'running') && c.health !== 'starting') this.report(l, 'running', 'started', { ContainerStatus: { ContainerID: c.id, PID: c.pid, ExitCode: 0 } });
        return;
      }
      if (c.status !== 'created' || s === 'running') return this.reportExit(l, c);
      // created but never started (a restart between the two): start it below
    } else if (s === 'running' || s === 'starting') {
      // its container is gone (removed behind our back)
      this.report(l, 'failed', 'started', { Err: 'task: container removed' });
      return;
    }
    // the way up: accepted → preparing → ready (→ starting → running when desired running)
    if (stateBefore(s, 'accepted')) this.report(l, 'accepted', 'accepted');
    if (stateBefore(l.state, 'ready')) {
      this.report(l, 'preparing', 'preparing');
      const image = String((t.spec.ContainerSpec as { Image?: string } | undefined)?.Image ?? '');
      if (!this.engine.hasImage(image)) {
        try {
          await this.engine.pullImage(image);
        } catch (e) {
          log.info('swarm agent: pull failed', { task: taskId, image, err: (e as Error).message });
        }
        if (!this.engine.hasImage(image)) {
          this.report(l, 'rejected', 'preparing', { Err: `No such image: ${image}` });
          return;
        }
      }
      this.report(l, 'ready', 'prepared');
    }
    if (desired !== 'running') return;
    let id = c?.id;
    let started = false;
    try {
      await this.startGate(async () => {
        // no longer to run (or gone) while it waited its turn: the next step does what is due now
        const now = this.local.get(taskId);
        if (!now || now.task.desiredState !== 'running' || now.task.nodeId !== this.ctx?.nodeId || this.stopped) return;
        started = true;
        this.report(now, 'starting', 'starting');
        if (!id) {
          const binds = this.files.write(t, this.secrets, this.configs);
          id = await this.engine.create(taskContainerName(t, l.service), createBody(t, l.service, binds, this.nodeInfo(t.nodeId)));
        }
        await this.engine.start(id);
      });
    } catch (e) {
      const dead = id ? this.engine.container(id) : undefined;
      this.report(this.local.get(taskId) ?? l, id ? 'failed' : 'rejected', 'starting', { Err: (e as Error).message, ...(dead ? { ContainerStatus: { ContainerID: dead.id, PID: 0, ExitCode: dead.exitCode } } : {}) });
      return;
    }
    if (!started || !id) {
      // skipped at its turn
      this.schedule(taskId);
      return;
    }
    const now = this.engine.container(id);
    // running (or, with a healthcheck, once healthy): the next step reports it
    if (now?.running) this.schedule(taskId);
    else if (now) this.reportExit(this.local.get(taskId) ?? l, now);
  }

  private nodeInfo(id: string): TemplateNode {
    return { id, hostname: os.hostname(), os: 'linux', architecture: os.arch() === 'x64' ? 'x86_64' : os.arch() === 'arm64' ? 'aarch64' : os.arch() };
  }

  /** A dead container: complete (exit 0) or failed with Docker's error text. */
  private reportExit(l: Local, c: EngineContainer): void {
    const cs = { ContainerStatus: { ContainerID: c.id, PID: 0, ExitCode: c.exitCode } };
    if (c.exitCode === 0 && !c.error) this.report(l, 'complete', 'finished', cs);
    else this.report(l, 'failed', 'started', { ...cs, Err: c.error && c.exitCode === 0 ? c.error : `task: non-zero exit (${c.exitCode})` });
  }

  // ---- reports ----

  private report(l: Local, state: TaskState, message: string, extra: Partial<TaskStatus> = {}): void {
    if (!stateBefore(l.state, state)) return;
    l.state = state;
    this.pending.set(l.task.id, { Timestamp: new Date().toISOString(), State: state, Message: message, ...extra });
    this.flushSoon();
  }

  /**
   * Sends what is pending once the steps under way reached their next wait
   * (setImmediate: after this turn's promise callbacks): the accepted →
   * preparing → ready → starting of one step, and of every task an
   * assignment brought, go as one batch instead of one report at once and
   * the rest behind it.
   */
  private flushSoon(): void {
    if (this.flushing) return;
    this.flushing = setImmediate(() => {
      this.flushing = undefined;
      this.flush();
    });
  }

  /** Sends what is pending: at once, in up to REPORTS_IN_FLIGHT batches of distinct tasks; after a failure, after a back-off. */
  private flush(): void {
    while (!this.retryTimer && this.sending < REPORTS_IN_FLIGHT && this.pending.size && this.ctx && !this.stopped) {
      const ctx = this.ctx;
      const batch: StatusReport[] = [];
      for (const [taskId, status] of this.pending) if (!this.inFlight.has(taskId)) batch.push({ taskId, status });
      if (!batch.length) return;
      for (const r of batch) {
        this.pending.delete(r.taskId);
        this.inFlight.add(r.taskId);
      }
      this.sending++;
      void this.send(ctx, batch).then(({ results }) => {
        for (const r of results) if (!r.ok) log.debug('swarm agent: report refused', { task: r.taskId, err: r.error });
        this.backoff = 0;
      }, (e: Error) => {
        // not taken: put back what no newer report replaced, and retry after a while
        for (const r of batch) if (!this.pending.has(r.taskId)) this.pending.set(r.taskId, r.status);
        log.debug('swarm agent: report not delivered', { err: e.message });
        this.backoff = Math.min(2000, this.backoff ? this.backoff * 2 : 200);
        this.retryTimer ??= setTimeout(() => { this.retryTimer = undefined; this.flush(); }, this.backoff);
      }).finally(() => {
        this.sending--;
        for (const r of batch) this.inFlight.delete(r.taskId);
        this.flush();
      });
    }
  }

  private async send(ctx: SwarmContext, reports: StatusReport[]): Promise<{ results: StatusResult[] }> {
    if (ctx.objects) return this.dispatcher.report(ctx.nodeId, reports);
    let last: Error | undefined;
    for (const m of ctx.managers) {
      try {
        return await controlCall<{ results: StatusResult[] }>(m.Addr, 'POST', '/tasks/status', { reports }, ctx.tls, 10_000, ctx.pool.agent(m.Addr, 'call'));
      } catch (e) {
        last = e as Error;
      }
    }
    throw last ?? new Error('no manager known');
  }
}
