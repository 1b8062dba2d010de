// `docker service logs` / `docker task logs`: a manager gathers the logs of
// a service's task containers from the nodes running them. Each node serves
// POST /node/task-logs on its control port (to managers only): the lines of
// its task containers since a time. The manager asks the nodes (its own
// engine directly), merges the lines by time and writes Docker's log stream:
// frames (no TTY) of `[timestamp ]<details> <line>`, where details are the
// com.docker.swarm.node.id/service.id/task.id attributes dockerd adds (the
// docker CLI always asks for them, to name each line's task). With follow it
// asks again every FOLLOW_MS for what came after the last line it has.
import type { SwarmComponent, SwarmContext, ControlRoute } from '../component';
import { controlCall } from '../control';
import { SwarmError, NOT_MANAGER, WORKER_NOT_MANAGER, NO_SWARM } from '../errors';
import { isTerminal, type TaskRecord, type ServiceRecord } from '../objects';
import type { Versioned } from '../types';
import { log } from '../../util/log';
import { within } from '../../util/within';
import type { AgentEngine, EngineLogLine } from './engine';
import { LABEL } from './spec';

const FOLLOW_MS = 500;

export interface SwarmLogOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  timestamps: boolean;
  details: boolean;
  sinceNs?: bigint;
  tail?: number;
}

export interface LogStream {
  /** The service's TTY: a raw stream instead of frames. */
  tty: boolean;
  run(o: SwarmLogOptions, sink: { write(b: Buffer): void }, closed: Promise<void>): Promise<void>;
}

interface TaskLine extends EngineLogLine { taskId: string }
interface NodeAsk { taskIds: string[]; sinceNs?: Record<string, string>; tail?: number; stdout: boolean; stderr: boolean }

export class TaskLogs implements SwarmComponent {
  readonly name = 'logs';
  private ctx?: SwarmContext;

  constructor(private readonly engine: AgentEngine) {}

  setContext(ctx: SwarmContext | undefined): void {
    this.ctx = ctx;
  }

  async stop(): Promise<void> {
    this.ctx = undefined;
  }

  /** Served on every node: a manager asks for the lines of this node's task containers. */
  nodeRoutes(): Record<string, ControlRoute> {
    return {
      '/node/task-logs': async (caller, body) => {
        const ctx = this.ctx;
        if (!ctx) throw new SwarmError(503, NO_SWARM);
        if (!ctx.managers.some((m) => m.NodeID === caller)) throw new SwarmError(403, 'only managers read task logs');
        return { lines: await this.local(body as unknown as NodeAsk) };
      },
    };
  }

  /** This node's lines of the asked tasks. */
  private async local(ask: NodeAsk): Promise<TaskLine[]> {
    const want = new Set((ask.taskIds ?? []).map(String));
    const out: TaskLine[] = [];
    for (const c of this.engine.containersWithLabel(LABEL.taskId)) {
      const taskId = c.labels[LABEL.taskId];
      if (!want.has(taskId)) continue;
      const since = ask.sinceNs?.[taskId];
      try {
        const lines = await this.engine.readLogs(c.id, { stdout: ask.stdout !== false, stderr: ask.stderr !== false, tail: ask.tail, sinceNs: since ? BigInt(since) : undefined });
        for (const l of lines) out.push({ ...l, taskId });
      } catch (e) {
        log.debug('task logs unreadable', { task: taskId, err: (e as Error).message });
      }
    }
    return out;
  }

  private manager(): SwarmContext & { objects: NonNullable<SwarmContext['objects']> } {
    const ctx = this.ctx;
    if (!ctx) throw new SwarmError(503, NOT_MANAGER);
    if (ctx.role !== 'manager') throw new SwarmError(503, WORKER_NOT_MANAGER);
    if (!ctx.objects) throw new SwarmError(503, NOT_MANAGER);
    return ctx as SwarmContext & { objects: NonNullable<SwarmContext['objects']> };
  }

  /** The log stream of a service (by id, name or id prefix) or of one task. */
  async open(kind: 'services' | 'tasks', ref: string): Promise<LogStream> {
    const ctx = this.manager();
    const objects = ctx.objects;
    let service: ServiceRecord;
    let taskId: string | undefined;
    if (kind === 'services') {
      service = resolve(await objects.list('services'), ref, (s) => String(s.spec.Name ?? ''), `service ${ref} not found`);
    } else {
      const t = resolve(await objects.list('tasks'), ref, () => '', `task ${ref} not found`);
      taskId = t.id;
      const s = await objects.get('services', t.serviceId);
      service = s?.value ?? { id: t.serviceId, createdAt: '', updatedAt: '', spec: { TaskTemplate: t.spec } };
    }
    const cs = ((service.spec.TaskTemplate as Record<string, unknown> | undefined)?.ContainerSpec ?? {}) as { TTY?: boolean };
    const tasks = async (): Promise<TaskRecord[]> => (await objects.list('tasks'))
      .map((t) => t.value)
      .filter((t) => (taskId ? t.id === taskId : t.serviceId === service.id) && !!t.nodeId);
    return { tty: !!cs.TTY, run: (o, sink, closed) => this.stream(service, tasks, !!taskId, !!cs.TTY, o, sink, closed) };
  }

  private async stream(service: ServiceRecord, tasks: () => Promise<TaskRecord[]>, single: boolean, tty: boolean, o: SwarmLogOptions, sink: { write(b: Buffer): void }, closed: Promise<void>): Promise<void> {
    let done = false;
    void closed.then(() => (done = true));
    const last = new Map<string, bigint>();
    let first = true;
    for (;;) {
      const list = await tasks();
      const lines = await this.gather(list, first ? undefined : last, first ? o.tail : undefined, o);
      lines.sort((a, b) => (BigInt(a.timeNs) < BigInt(b.timeNs) ? -1 : BigInt(a.timeNs) > BigInt(b.timeNs) ? 1 : 0));
      const byId = new Map(list.map((t) => [t.id, t]));
      for (const l of lines) {
        const ns = BigInt(l.timeNs);
        if (o.sinceNs !== undefined && ns < o.sinceNs) continue;
        if ((last.get(l.taskId) ?? -1n) < ns) last.set(l.taskId, ns);
        const t = byId.get(l.taskId);
        let data = Buffer.from(l.data, 'base64');
        if (o.details && t) {
          const attrs = [
            ['com.docker.swarm.node.id', t.nodeId],
            ['com.docker.swarm.service.id', service.id],
            ['com.docker.swarm.task.id', t.id],
          ].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join(',');
          data = Buffer.concat([Buffer.from(attrs + ' '), data]);
        }
        if (o.timestamps) data = Buffer.concat([Buffer.from(formatTimestamp(ns) + ' '), data]);
        sink.write(tty ? data : frame(l.stream, data));
      }
      first = false;
      if (!o.follow || done) return;
      // a task's logs end with the task; a service's go on (new tasks come)
      if (single && list.every((t) => isTerminal(t.status.State))) return;
      await within(closed, FOLLOW_MS);
      if (done) return;
    }
  }

  /** The lines of `list`'s tasks from their nodes (this one directly), after `after` per task. */
  private async gather(list: TaskRecord[], after: Map<string, bigint> | undefined, tail: number | undefined, o: SwarmLogOptions): Promise<TaskLine[]> {
    const ctx = this.manager();
    const byNode = new Map<string, string[]>();
    for (const t of list) {
      const ids = byNode.get(t.nodeId) ?? [];
      ids.push(t.id);
      byNode.set(t.nodeId, ids);
    }
    const nodes = byNode.size && [...byNode.keys()].some((n) => n !== ctx.nodeId) ? await ctx.store?.nodes() ?? [] : [];
    const addr = new Map(nodes.map((n) => [n.value.id, `${n.value.addr}:${n.value.port}`]));
    const parts = await Promise.all([...byNode].map(async ([nodeId, taskIds]) => {
      const sinceNs: Record<string, string> = {};
      if (after) for (const id of taskIds) { const ns = after.get(id); if (ns !== undefined) sinceNs[id] = String(ns + 1n); }
      const ask: NodeAsk = { taskIds, sinceNs, tail, stdout: o.stdout, stderr: o.stderr };
      if (nodeId === ctx.nodeId) return this.local(ask);
      const a = addr.get(nodeId);
      if (!a) return [];
      try {
        return (await controlCall<{ lines: TaskLine[] }>(a, 'POST', '/node/task-logs', ask, ctx.tls, 15_000)).lines ?? [];
      } catch (e) {
        log.debug('task logs of a node unavailable', { node: nodeId, err: (e as Error).message });
        return [];
      }
    }));
    return parts.flat();
  }
}

/** Docker's lookup: full id, then name, then a unique id prefix. */
function resolve<T extends { id: string }>(all: Array<Versioned<T>>, ref: string, name: (v: T) => string, notFound: string): T {
  const exact = all.find((x) => x.value.id === ref);
  if (exact) return exact.value;
  const named = all.filter((x) => name(x.value) === ref);
  if (named.length === 1) return named[0].value;
  const pre = ref ? all.filter((x) => x.value.id.startsWith(ref)) : [];
  if (pre.length === 1) return pre[0].value;
  if (pre.length > 1 || named.length > 1) throw new SwarmError(400, `${notFound.split(' ')[0]} ${ref} is ambiguous (${Math.max(pre.length, named.length)} matches found)`);
  throw new SwarmError(404, notFound);
}

function formatTimestamp(ns: bigint): string {
  const base = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19);
  return `${base}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`;
}

function frame(stream: 'stdout' | 'stderr', data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream === 'stdout' ? 1 : 2;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}
