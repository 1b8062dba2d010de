// The manager side of /secrets and /configs (swarm part 2), as dockerd 20.10
// with swarmkit's controlapi answers them. Records live in the object store
// (kind 'secrets' / 'configs', names unique under /berth/swarm/names/…); the
// spec's Data (base64) is stored as given — the dispatcher hands it only to
// the nodes whose tasks reference it (dispatcher.ts), the agent writes it to
// /run/secrets/<target> (agent/files.ts). Secrets never show Data through the
// API; configs do. Service specs' references are checked and resolved here too.
import type { EventBus } from '../events/bus';
import type { SwarmComponent, SwarmContext } from './component';
import type { ObjectStore } from './object-store';
import type { ConfigRecord, Json, SecretRecord, ServiceRecord } from './objects';
import type { Versioned } from './types';
import { SwarmError, MANAGER_NOT_READY } from './errors';
import { newId } from './tokens';
import { Filters as FilterArgs } from '../common/filters';
import { goJsonTime } from '../util/go-json-time';

export type FileKind = 'secrets' | 'configs';
type FileRecord = SecretRecord | ConfigRecord;
type Filters = Record<string, string[]>;

export interface SecretApiDeps {
  events: EventBus;
  /** Throws dockerd's 503 unless this node is an active manager. */
  requireManager: () => void;
}

const FILTERS = ['id', 'name', 'names', 'label'];
/** swarmkit's MaxSecretSize / MaxConfigSize. */
const MAX_SIZE: Record<FileKind, number> = { secrets: 500 * 1024, configs: 1000 * 1024 };
const VALID_NAME = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;

const invalid = (desc: string) => new SwarmError(400, `rpc error: code = InvalidArgument desc = ${desc}`);
const singular = (kind: FileKind) => (kind === 'secrets' ? 'secret' : 'config');
const obj = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);

/** Docker's Secret / Config JSON for a record (a secret's Data stays inside). */
export function fileJson(kind: FileKind, r: Versioned<FileRecord>): Json {
  const s = r.value.spec;
  const spec: Json = { Name: s.Name, Labels: obj(s.Labels) ?? {} };
  if (kind === 'configs' && s.Data !== undefined) spec.Data = s.Data;
  if (s.Driver) spec.Driver = s.Driver;
  if (s.Templating) spec.Templating = s.Templating;
  return { ID: r.value.id, Version: { Index: r.index }, CreatedAt: goJsonTime(r.value.createdAt), UpdatedAt: goJsonTime(r.value.updatedAt), Spec: spec };
}

/** Base64 as Go's encoding/json takes a []byte (standard alphabet, padding). */
function decodeData(kind: FileKind, v: unknown): Buffer {
  if (v === undefined || v === null) return Buffer.alloc(0);
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw new SwarmError(400, `json: cannot unmarshal ${typeof v === 'string' ? 'string' : typeof v} into Go struct field ${kind === 'secrets' ? 'SecretSpec' : 'ConfigSpec'}.Data of type []uint8`);
  }
  return Buffer.from(v, 'base64');
}

export class SecretApi implements SwarmComponent {
  readonly name = 'secret-api';
  private ctx?: SwarmContext;

  constructor(private readonly deps: SecretApiDeps) {}

  setContext(ctx: SwarmContext | undefined): void {
    this.ctx = ctx;
  }

  async stop(): Promise<void> {
    this.ctx = undefined;
    await Promise.resolve();
  }

  requireManager(): void {
    this.deps.requireManager();
  }

  private objects(): ObjectStore {
    this.deps.requireManager();
    const o = this.ctx?.objects;
    if (!o) throw new SwarmError(503, MANAGER_NOT_READY);
    return o;
  }

  async create(kind: FileKind, given: Json | undefined): Promise<Json> {
    const objects = this.objects();
    const spec = obj(given) ?? {};
    const name = typeof spec.Name === 'string' ? spec.Name : '';
    if (!name) throw invalid('name must be provided');
    if (name.length > 64 || !VALID_NAME.test(name)) {
      throw invalid('invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]');
    }
    const data = decodeData(kind, spec.Data);
    const external = kind === 'secrets' && !!obj(spec.Driver)?.Name;
    if (!external && (data.length < 1 || data.length >= MAX_SIZE[kind])) {
      throw invalid(`${singular(kind)} data must be larger than 0 and less than ${MAX_SIZE[kind]} bytes`);
    }
    if (kind === 'secrets' && external) throw new SwarmError(501, 'secret drivers (external secret stores) are not supported by berthd');
    const now = new Date().toISOString();
    const rec: FileRecord = {
      id: newId(), createdAt: now, updatedAt: now,
      spec: { Name: name, Labels: obj(spec.Labels) ?? {}, Data: data.toString('base64'), ...(spec.Templating ? { Templating: spec.Templating } : {}) },
    };
    try {
      await objects.create(kind, rec, name);
    } catch (e) {
      if (e instanceof SwarmError && e.status === 409) throw new SwarmError(409, `rpc error: code = AlreadyExists desc = ${singular(kind)} ${name} already exists`);
      throw e;
    }
    this.deps.events.publish(singular(kind), 'create', rec.id, { name }, 'swarm');
    return { ID: rec.id };
  }

  async list(kind: FileKind, filters: Filters): Promise<Json[]> {
    const objects = this.objects();
    const f = new FilterArgs(filters).validate(FILTERS);
    const has = (k: string) => (filters[k]?.length ?? 0) > 0;
    const name = (r: Versioned<FileRecord>) => String(r.value.spec.Name ?? '');
    return (await objects.list(kind))
      .filter((r) => !has('id') || filters.id.some((p) => r.value.id.startsWith(p)))
      .filter((r) => !has('names') || filters.names.includes(name(r)))
      .filter((r) => !has('name') || filters.name.some((p) => name(r).startsWith(p)))
      .filter((r) => f.matchKVList('label', r.value.spec.Labels as Record<string, string> | undefined))
      .sort((a, b) => name(a).localeCompare(name(b)))
      .map((r) => fileJson(kind, r));
  }

  async inspect(kind: FileKind, ref: string): Promise<Json> {
    return fileJson(kind, await this.resolve(this.objects(), kind, ref));
  }

  /** Only Labels may change (swarmkit's UpdateSecret/UpdateConfig). */
  async update(kind: FileKind, ref: string, version: number | undefined, given: Json | undefined): Promise<void> {
    const objects = this.objects();
    const cur = await this.resolve(objects, kind, ref);
    if (version === undefined || !Number.isInteger(version) || version < 0) throw new SwarmError(400, `invalid ${singular(kind)} version '${String(version ?? '')}'`);
    const spec = obj(given) ?? {};
    const data = spec.Data === undefined || spec.Data === null ? undefined : decodeData(kind, spec.Data).toString('base64');
    if (spec.Name !== cur.value.spec.Name || (data !== undefined && data !== cur.value.spec.Data)) throw invalid('only updates to Labels are allowed');
    if (version !== cur.index) throw new SwarmError(500, 'rpc error: code = Unknown desc = update out of sequence');
    const next: FileRecord = { ...cur.value, updatedAt: new Date().toISOString(), spec: { ...cur.value.spec, Labels: obj(spec.Labels) ?? {} } };
    await objects.update(kind, next, cur.index);
    this.deps.events.publish(singular(kind), 'update', next.id, { name: String(next.spec.Name) }, 'swarm');
  }

  /** Refused while a service references it (swarmkit: InvalidArgument, listing the services). */
  async remove(kind: FileKind, ref: string): Promise<void> {
    const objects = this.objects();
    const cur = await this.resolve(objects, kind, ref);
    const name = String(cur.value.spec.Name ?? '');
    const users = (await objects.list('services'))
      .filter((s) => refsOf(kind, s.value.spec).some((r) => r.id === cur.value.id))
      .map((s) => String(s.value.spec.Name ?? s.value.id))
      .sort();
    if (users.length) throw invalid(`${singular(kind)} '${name}' is in use by the following service${users.length > 1 ? 's' : ''}: ${users.join(', ')}`);
    await objects.delete(kind, cur.value.id, cur.index, name);
    this.deps.events.publish(singular(kind), 'remove', cur.value.id, { name }, 'swarm');
  }

  /**
   * A service spec's secret and config references, checked as swarmkit's
   * controlapi checks them and completed: a reference with only a name gets
   * its id, one with only an id its name. Changes `spec` in place.
   */
  async resolveServiceRefs(spec: Json): Promise<void> {
    const cs = obj(obj(spec.TaskTemplate)?.ContainerSpec);
    if (!cs) return;
    const objects = this.objects();
    for (const kind of ['secrets', 'configs'] as const) {
      const key = kind === 'secrets' ? 'Secrets' : 'Configs';
      const refs = Array.isArray(cs[key]) ? (cs[key] as unknown[]) : [];
      if (!refs.length) continue;
      const idKey = kind === 'secrets' ? 'SecretID' : 'ConfigID';
      const nameKey = kind === 'secrets' ? 'SecretName' : 'ConfigName';
      const all = await objects.list(kind);
      const failed: string[] = [];
      const targets = new Map<string, string>();
      for (const raw of refs) {
        const r = obj(raw);
        if (!r) throw invalid(`malformed ${singular(kind)} reference`);
        const id = typeof r[idKey] === 'string' ? (r[idKey] as string) : '';
        const nm = typeof r[nameKey] === 'string' ? (r[nameKey] as string) : '';
        if (!id && !nm) throw invalid(`malformed ${singular(kind)} reference`);
        const hit = id ? all.find((x) => x.value.id === id) : all.find((x) => x.value.spec.Name === nm);
        if (!hit || (nm && hit.value.spec.Name !== nm)) {
          failed.push(nm || id);
          continue;
        }
        r[idKey] = hit.value.id;
        r[nameKey] = hit.value.spec.Name;
        const file = obj(r.File);
        if (file) {
          const target = String(file.Name || r[nameKey]);
          const prev = targets.get(target);
          if (prev !== undefined) throw invalid(`${singular(kind)} references '${prev}' and '${String(r[nameKey])}' have a conflicting target: '${target}'`);
          targets.set(target, String(r[nameKey]));
        }
      }
      if (failed.length) throw invalid(`${failed.length > 1 ? kind : singular(kind)} not found: ${failed.join(', ')}`);
    }
  }

  /** By full id, then exact name, then id prefix (dockerd's getSecret / getConfig). */
  private async resolve(objects: ObjectStore, kind: FileKind, ref: string): Promise<Versioned<FileRecord>> {
    const exact = ref ? await objects.get(kind, ref) : undefined;
    if (exact) return exact;
    const byName = ref ? await objects.idOfName(kind, ref) : undefined;
    const named = byName ? await objects.get(kind, byName) : undefined;
    if (named) return named;
    const byPrefix = ref ? (await objects.list(kind)).filter((r) => r.value.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1) throw new SwarmError(400, `${singular(kind)} ${ref} is ambiguous (${byPrefix.length} matches found)`);
    throw new SwarmError(404, `${singular(kind)} ${ref} not found`);
  }
}

/** The secret or config ids a service's spec references. */
export function refsOf(kind: FileKind, spec: ServiceRecord['spec']): Array<{ id: string }> {
  const cs = obj(obj(spec.TaskTemplate)?.ContainerSpec);
  const list = cs && Array.isArray(cs[kind === 'secrets' ? 'Secrets' : 'Configs']) ? (cs[kind === 'secrets' ? 'Secrets' : 'Configs'] as Json[]) : [];
  return list.map((r) => ({ id: String(r[kind === 'secrets' ? 'SecretID' : 'ConfigID'] ?? '') }));
}
