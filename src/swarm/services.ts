// The manager side of /services and /tasks: service records are created,
// updated (CAS on Version.Index) and deleted here; tasks are only read here
// (the orchestrator makes them, the dispatcher reports their states). Every
// manager serves this on its own etcd member; a worker answers dockerd's 503.
// A component only to learn the node's context (store, objects) each tick.
import type { EventBus } from '../events/bus';
import type { SwarmComponent, SwarmContext } from './component';
import type { ObjectStore } from './object-store';
import type { SwarmStore } from './store';
import type { Json, ServiceRecord } from './objects';
import { taskName } from './objects';
import type { NodeRecord, Versioned } from './types';
import { SwarmError, MANAGER_NOT_READY } from './errors';
import { newId } from './tokens';
import { prepareServiceSpec, serviceJson, taskJson, serviceName, isGlobal, replicasOf, type ServiceStatus } from './service-views';
import { log } from '../util/log';
import { sameJson } from './orchestrator/updater';
import { Filters as FilterArgs } from '../common/filters';

export interface ServiceApiDeps {
  events: EventBus;
  /** Throws dockerd's 503 unless this node is an active manager (SwarmService.requireManager). */
  requireManager: () => void;
  /** Docker's random container-style name for a service created without one. */
  randomName: () => string;
  /** Called after a service changed on this manager (the orchestrator reacts at once when it runs here). */
  onChange?: () => void;
  /** Checks and completes a spec's secret/config references (SecretApi.resolveServiceRefs). */
  resolveRefs?: (spec: Json) => Promise<void>;
  /**
   * The service's networks and Endpoint (VirtualIPs per attached overlay),
   * allocated before the record is written; `spec` may be edited (network
   * names become ids). Released again when the service goes.
   */
  endpoints?: {
    allocate(serviceId: string, spec: Json, prev?: Json): Promise<Json>;
    release(serviceId: string, endpoint: Json | undefined): Promise<void>;
  };
}

type Filters = Record<string, string[]>;

const SERVICE_FILTERS = ['id', 'name', 'label', 'mode'];
const TASK_FILTERS = ['id', 'name', 'service', 'node', 'label', 'desired-state', '_up-to-date'];

/** The container image of a spec, for events. */
function imageOf(spec: Json | undefined): string {
  return String(((spec?.TaskTemplate as Json | undefined)?.ContainerSpec as Json | undefined)?.Image ?? '');
}

export class ServiceApi implements SwarmComponent {
  readonly name = 'service-api';
  private ctx?: SwarmContext;

  constructor(private readonly deps: ServiceApiDeps) {}

  setContext(ctx: SwarmContext | undefined): void {
    this.ctx = ctx;
  }

  async stop(): Promise<void> {
    this.ctx = undefined;
    await Promise.resolve();
  }

  requireManager(): void {
    this.access();
  }

  private access(): { objects: ObjectStore; store: SwarmStore } {
    this.deps.requireManager();
    const ctx = this.ctx;
    if (!ctx?.objects || !ctx.store) throw new SwarmError(503, MANAGER_NOT_READY);
    return { objects: ctx.objects, store: ctx.store };
  }

  // ---- services ----

  async createService(given: Json | undefined): Promise<Json> {
    const { objects } = this.access();
    const spec = prepareServiceSpec(given, this.deps.randomName);
    await this.deps.resolveRefs?.(spec);
    const now = new Date().toISOString();
    const rec: ServiceRecord = { id: newId(), createdAt: now, updatedAt: now, spec };
    const name = serviceName(rec);
    if (this.deps.endpoints) rec.endpoint = await this.deps.endpoints.allocate(rec.id, spec);
    try {
      await objects.create('services', rec, name);
    } catch (e) {
      await this.deps.endpoints?.release(rec.id, rec.endpoint).catch(() => undefined);
      if (e instanceof SwarmError && e.status === 409) throw new SwarmError(409, `rpc error: code = AlreadyExists desc = service ${name} already exists`);
      throw e;
    }
    this.deps.events.publish('service', 'create', rec.id, { name }, 'swarm');
    this.deps.onChange?.();
    return { ID: rec.id };
  }

  async listServices(filters: Filters, withStatus: boolean): Promise<Json[]> {
    const { objects, store } = this.access();
    const f = new FilterArgs(filters).validate(SERVICE_FILTERS);
    for (const m of filters.mode ?? []) if (m !== 'replicated' && m !== 'global') throw new SwarmError(400, `Invalid filter: 'mode'='${m}'`);
    const has = (k: string) => (filters[k]?.length ?? 0) > 0;
    const services = (await objects.list('services'))
      .filter((s) => !has('id') || filters.id.some((p) => s.value.id.startsWith(p)))
      .filter((s) => !has('name') || filters.name.some((p) => serviceName(s.value).startsWith(p)))
      .filter((s) => f.matchKVList('label', s.value.spec.Labels as Record<string, string> | undefined))
      .filter((s) => !has('mode') || filters.mode.includes(isGlobal(s.value.spec) ? 'global' : 'replicated'))
      .sort((a, b) => a.value.createdAt.localeCompare(b.value.createdAt));
    if (!withStatus) return services.map((s) => serviceJson(s));
    const status = await this.statuses(objects, store);
    return services.map((s) => serviceJson(s, { status: status(s.value) }));
  }

  async inspectService(ref: string, insertDefaults: boolean): Promise<Json> {
    const { objects } = this.access();
    return serviceJson(await this.resolveService(objects, ref), { insertDefaults });
  }

  async updateService(ref: string, version: number | undefined, given: Json | undefined, rollback: string | undefined): Promise<Json> {
    const { objects } = this.access();
    if (version === undefined || !Number.isInteger(version) || version < 0) throw new SwarmError(400, `invalid service version '${String(version ?? '')}'`);
    const cur = await this.resolveService(objects, ref);
    const old = cur.value;
    let next: ServiceRecord;
    const now = new Date().toISOString();
    if (rollback === 'previous') {
      if (!old.previousSpec) throw new SwarmError(400, `rpc error: code = FailedPrecondition desc = service ${old.id} does not have a previous spec`);
      next = {
        ...old, spec: old.previousSpec, previousSpec: old.spec, updatedAt: now,
        updateStatus: { State: 'rollback_started', StartedAt: now, Message: 'manually requested rollback' },
      };
    } else {
      const spec = prepareServiceSpec(given, this.deps.randomName);
      await this.deps.resolveRefs?.(spec);
      if (serviceName({ ...old, spec }) !== serviceName(old)) throw new SwarmError(501, 'rpc error: code = Unimplemented desc = renaming services is not supported');
      if (isGlobal(spec) !== isGlobal(old.spec)) throw new SwarmError(400, 'rpc error: code = InvalidArgument desc = service mode change is not allowed');
      next = { ...old, spec, previousSpec: old.spec, updatedAt: now };
      delete next.updateStatus;
    }
    if (version !== cur.index) throw new SwarmError(500, 'rpc error: code = Unknown desc = update out of sequence');
    if (this.deps.endpoints) next.endpoint = await this.deps.endpoints.allocate(next.id, next.spec, old.endpoint);
    await objects.update('services', next, cur.index);
    const attrs: Record<string, string> = { name: serviceName(next) };
    if (imageOf(old.spec) !== imageOf(next.spec)) Object.assign(attrs, { 'image.old': imageOf(old.spec), 'image.new': imageOf(next.spec) });
    if (!isGlobal(next.spec) && replicasOf(old.spec) !== replicasOf(next.spec)) {
      Object.assign(attrs, { 'replicas.old': String(replicasOf(old.spec)), 'replicas.new': String(replicasOf(next.spec)) });
    }
    if (next.updateStatus && next.updateStatus.State !== old.updateStatus?.State) {
      if (old.updateStatus) attrs['updatestate.old'] = old.updateStatus.State;
      attrs['updatestate.new'] = next.updateStatus.State;
    }
    this.deps.events.publish('service', 'update', next.id, attrs, 'swarm');
    this.deps.onChange?.();
    return {};
  }

  async removeService(ref: string): Promise<void> {
    const { objects } = this.access();
    const cur = await this.resolveService(objects, ref);
    const name = serviceName(cur.value);
    await objects.delete('services', cur.value.id, cur.index, name);
    await this.deps.endpoints?.release(cur.value.id, cur.value.endpoint).catch((e) => log.warn('service rm: virtual IPs not released', { err: String(e) }));
    this.deps.events.publish('service', 'remove', cur.value.id, { name }, 'swarm');
    // its tasks: desired remove at once where we can (the orchestrator finishes the rest and deletes them)
    try {
      const tasks = (await objects.list('tasks')).filter((t) => t.value.serviceId === cur.value.id && t.value.desiredState !== 'remove');
      for (let i = 0; i < tasks.length; i += 50) {
        await objects.batch(tasks.slice(i, i + 50).map((t) => ({ op: 'update' as const, kind: 'tasks' as const, index: t.index, value: { ...t.value, desiredState: 'remove' as const, updatedAt: new Date().toISOString() } })))
          .catch(() => undefined);
      }
    } catch (e) {
      log.debug('service rm: tasks left to the orchestrator', { err: String(e) });
    }
    this.deps.onChange?.();
  }

  // ---- tasks ----

  async listTasks(filters: Filters): Promise<Json[]> {
    const { objects, store } = this.access();
    const f = new FilterArgs(filters).validate(TASK_FILTERS);
    const has = (k: string) => (filters[k]?.length ?? 0) > 0;
    const [services, tasks] = await Promise.all([objects.list('services'), objects.list('tasks')]);
    const byId = new Map(services.map((s) => [s.value.id, s.value]));
    let serviceIds: Set<string> | undefined;
    if (has('service')) {
      serviceIds = new Set();
      for (const ref of filters.service) serviceIds.add((await this.resolveService(objects, ref, services)).value.id);
    }
    let nodeIds: Set<string> | undefined;
    if (has('node')) {
      const nodes = await store.nodes();
      nodeIds = new Set(filters.node.map((ref) => resolveNodeId(nodes, ref === 'self' ? this.ctx?.nodeId ?? '' : ref)));
    }
    const desired = has('desired-state') ? filters['desired-state'].map((s) => s.toLowerCase()) : undefined;
    for (const d of desired ?? []) if (!['running', 'shutdown', 'accepted'].includes(d)) throw new SwarmError(400, `Invalid filter 'desired-state'='${d}'`);
    const upToDate = has('_up-to-date');
    return tasks
      .filter((t) => !has('id') || filters.id.some((p) => t.value.id.startsWith(p)))
      .filter((t) => !serviceIds || serviceIds.has(t.value.serviceId))
      .filter((t) => !nodeIds || nodeIds.has(t.value.nodeId))
      .filter((t) => f.matchKVList('label', t.value.labels))
      .filter((t) => !desired || desired.includes(t.value.desiredState === 'ready' ? 'running' : t.value.desiredState))
      .filter((t) => {
        if (!has('name')) return true;
        const svc = byId.get(t.value.serviceId);
        const name = svc ? `${taskName(serviceName(svc), t.value)}.${t.value.id}` : t.value.id;
        return filters.name.some((p) => name.startsWith(p));
      })
      .filter((t) => {
        if (!upToDate) return true;
        const svc = byId.get(t.value.serviceId);
        return !!svc && sameJson(svc.spec.TaskTemplate, t.value.spec);
      })
      .sort((a, b) => a.value.createdAt.localeCompare(b.value.createdAt))
      .map((t) => taskJson(t));
  }

  async inspectTask(ref: string): Promise<Json> {
    const { objects } = this.access();
    const exact = await objects.get('tasks', ref);
    if (exact) return taskJson(exact);
    const matches = ref ? (await objects.list('tasks')).filter((t) => t.value.id.startsWith(ref)) : [];
    if (matches.length === 1) return taskJson(matches[0]);
    if (matches.length > 1) throw new SwarmError(400, `task ${ref} is ambiguous (${matches.length} matches found)`);
    throw new SwarmError(404, `task ${ref} not found`);
  }

  // ---- helpers ----

  /** A service by full id, then name, then id prefix (moby's getService). */
  private async resolveService(objects: ObjectStore, ref: string, all?: Array<Versioned<ServiceRecord>>): Promise<Versioned<ServiceRecord>> {
    if (!all) {
      const exact = ref ? await objects.get('services', ref) : undefined;
      if (exact) return exact;
      const byName = ref ? await objects.idOfName('services', ref) : undefined;
      const named = byName ? await objects.get('services', byName) : undefined;
      if (named) return named;
      all = await objects.list('services');
    } else {
      const hit = all.find((s) => s.value.id === ref) ?? all.find((s) => serviceName(s.value) === ref);
      if (hit) return hit;
    }
    const byPrefix = ref ? all.filter((s) => s.value.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1) throw new SwarmError(400, `service ${ref} is ambiguous (${byPrefix.length} matches found)`);
    throw new SwarmError(404, `service ${ref} not found`);
  }

  /** ServiceStatus as dockerd counts it: tasks on nodes that are not down. */
  private async statuses(objects: ObjectStore, store: SwarmStore): Promise<(s: ServiceRecord) => ServiceStatus> {
    const [tasks, nodes, alive] = await Promise.all([objects.list('tasks'), store.nodes(), store.aliveNodes()]);
    const up = new Set(nodes.map((n) => n.value.id).filter((id) => alive.has(id)));
    const count = new Map<string, { running: number; desired: number }>();
    for (const { value: t } of tasks) {
      if (!up.has(t.nodeId)) continue;
      const c = count.get(t.serviceId) ?? { running: 0, desired: 0 };
      if (t.desiredState === 'running' || t.desiredState === 'ready') {
        c.desired++;
        if (t.status.State === 'running') c.running++;
      }
      count.set(t.serviceId, c);
    }
    return (s) => {
      const c = count.get(s.id) ?? { running: 0, desired: 0 };
      return { RunningTasks: c.running, DesiredTasks: isGlobal(s.spec) ? c.desired : replicasOf(s.spec), CompletedTasks: 0 };
    };
  }
}

function resolveNodeId(nodes: Array<Versioned<NodeRecord>>, ref: string): string {
  const n = nodes.find((x) => x.value.id === ref)
    ?? nodes.find((x) => (x.value.spec.Name || x.value.hostname) === ref)
    ?? nodes.find((x) => ref && x.value.id.startsWith(ref));
  if (!n) throw new SwarmError(404, `node ${ref} not found`);
  return n.value.id;
}

