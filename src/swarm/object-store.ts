// The service-side objects in etcd: /berth/swarm/objects/<kind>/<id>, and
// /berth/swarm/names/<kind>/<name> → id so names stay unique (services,
// secrets, configs). As for nodes, Version.Index is the key's mod_revision
// and every update is a compare-and-swap on it. Components (orchestrator,
// scheduler, updater, dispatcher) talk to each other only through here.
import type { EtcdClient, Compare, Op, Read } from './etcd-client';
import type { Versioned } from './types';
import { SwarmError } from './errors';
import { outOfSequence } from './store';
import type { Kind, ObjectKinds } from './objects';
import { ChangeFeed } from './change-feed';
import { log } from '../util/log';

const P = '/berth/swarm/';
const objKey = (kind: Kind, id: string) => `${P}objects/${kind}/${id}`;
const objPrefix = (kind: Kind) => `${P}objects/${kind}/`;
const nameKey = (kind: Kind, name: string) => `${P}names/${kind}/${name}`;
/** Operations per etcd transaction we send (etcd's --max-txn-ops defaults to 128). */
export const TXN_OPS = 100;
/** Writes per transaction in batchUnits: a write is at most two operations. */
const WRITES_PER_TXN = TXN_OPS / 2;

/** One write of a batch: create (fails if the id exists), update (CAS on index), delete (CAS on index). */
export type Write =
  | { op: 'create'; kind: Kind; value: { id: string }; name?: string }
  | { op: 'update'; kind: Kind; value: { id: string }; index: number }
  | { op: 'delete'; kind: Kind; id: string; index: number; name?: string };

/** The store key of a record (as the feed reports it when the record changes). */
export const keyOf = (kind: Kind, id: string): string => objKey(kind, id);
/** Is `key` (a changed key, as the feed reports it) a record of `kind`? */
export const isKeyOf = (kind: Kind, key: string): boolean => key.startsWith(objPrefix(kind));

/** Every record of a kind, as a read of EtcdClient.readTogether(). */
export function listRead<K extends Kind>(kind: K): Read<Array<Versioned<ObjectKinds[K]>>> {
  return { op: { range: { key: objPrefix(kind), prefix: true } }, parse: (kvs) => kvs.map((kv) => ({ value: JSON.parse(kv.value) as ObjectKinds[K], index: kv.modRevision })) };
}

export class ObjectStore {
  /** The store's changes as etcd's watch reports them (the dispatcher and orchestrator listen instead of polling). */
  readonly feed: ChangeFeed;

  constructor(readonly etcd: EtcdClient, feed?: ChangeFeed) {
    this.feed = feed ?? new ChangeFeed(etcd);
  }

  async list<K extends Kind>(kind: K): Promise<Array<Versioned<ObjectKinds[K]>>> {
    return (await this.etcd.getPrefix(objPrefix(kind))).map((kv) => ({ value: JSON.parse(kv.value) as ObjectKinds[K], index: kv.modRevision }));
  }

  async get<K extends Kind>(kind: K, id: string): Promise<Versioned<ObjectKinds[K]> | undefined> {
    const kv = await this.etcd.get(objKey(kind, id));
    return kv ? { value: JSON.parse(kv.value) as ObjectKinds[K], index: kv.modRevision } : undefined;
  }

  /** Several records of a kind in one etcd round trip (one transaction of range reads); missing ones are absent. */
  async getMany<K extends Kind>(kind: K, ids: string[]): Promise<Map<string, Versioned<ObjectKinds[K]>>> {
    const out = new Map<string, Versioned<ObjectKinds[K]>>();
    const prefix = objPrefix(kind);
    for (let i = 0; i < ids.length; i += TXN_OPS) {
      const r = await this.etcd.txn([], ids.slice(i, i + TXN_OPS).map((id) => ({ range: { key: objKey(kind, id) } })));
      for (const kv of r.kvs) out.set(kv.key.slice(prefix.length), { value: JSON.parse(kv.value) as ObjectKinds[K], index: kv.modRevision });
    }
    return out;
  }

  /** The id a unique name belongs to. */
  async idOfName(kind: Kind, name: string): Promise<string | undefined> {
    return (await this.etcd.get(nameKey(kind, name)))?.value || undefined;
  }

  /** Creates a record; with `name`, the name is claimed in the same transaction (409 if taken). */
  async create<K extends Kind>(kind: K, value: ObjectKinds[K], name?: string): Promise<number> {
    return this.batch([{ op: 'create', kind, value, name }]);
  }

  async update<K extends Kind>(kind: K, value: ObjectKinds[K], index: number): Promise<number> {
    return this.batch([{ op: 'update', kind, value, index }]);
  }

  async delete(kind: Kind, id: string, index: number, name?: string): Promise<number> {
    return this.batch([{ op: 'delete', kind, id, index, name }]);
  }

  /**
   * All writes or none, in one etcd transaction; returns the new revision.
   * A failed compare is "update out of sequence" (or a name conflict for a create that claims a name).
   * With `leader`, the writes only happen while that node holds the leader key
   * (the orchestrator's guard against a second leader during a handover).
   */
  async batch(writes: Write[], opts: { leader?: string } = {}): Promise<number> {
    if (!writes.length) return 0;
    const compare: Compare[] = [];
    if (opts.leader) compare.push({ key: `${P}leader`, target: 'VALUE', value: opts.leader });
    const ops: Op[] = [];
    for (const w of writes) {
      if (w.op === 'create') {
        compare.push({ key: objKey(w.kind, w.value.id), target: 'CREATE', create_revision: 0 });
        ops.push({ put: { key: objKey(w.kind, w.value.id), value: JSON.stringify(w.value) } });
        if (w.name) {
          compare.push({ key: nameKey(w.kind, w.name), target: 'CREATE', create_revision: 0 });
          ops.push({ put: { key: nameKey(w.kind, w.name), value: w.value.id } });
        }
      } else if (w.op === 'update') {
        compare.push({ key: objKey(w.kind, w.value.id), target: 'MOD', mod_revision: w.index });
        ops.push({ put: { key: objKey(w.kind, w.value.id), value: JSON.stringify(w.value) } });
      } else {
        compare.push({ key: objKey(w.kind, w.id), target: 'MOD', mod_revision: w.index });
        ops.push({ del: { key: objKey(w.kind, w.id) } });
        if (w.name) ops.push({ del: { key: nameKey(w.kind, w.name) } });
      }
    }
    const r = await this.etcd.txn(compare, ops);
    if (r.succeeded) return r.revision;
    const named = writes.find((w) => w.op === 'create' && w.name) as Extract<Write, { op: 'create' }> | undefined;
    if (named && writes.length === 1 && (await this.idOfName(named.kind, named.name!))) {
      throw new SwarmError(409, `rpc error: code = AlreadyExists desc = name conflicts with an existing object`);
    }
    throw outOfSequence();
  }

  /**
   * Writes units (each all-or-nothing) several to a transaction; a chunk
   * that loses a race is retried unit by unit, and a unit that still loses
   * is left for the caller's next pass. True when anything was written.
   */
  async batchUnits(units: Write[][], opts: { leader?: string; who: string }): Promise<boolean> {
    let wrote = false;
    for (let i = 0; i < units.length;) {
      const chunk: Write[][] = [];
      let n = 0;
      while (i < units.length && (n === 0 || n + units[i].length <= WRITES_PER_TXN)) {
        chunk.push(units[i]);
        n += units[i].length;
        i++;
      }
      try {
        await this.batch(chunk.flat(), opts);
        wrote = true;
      } catch {
        for (const u of chunk) {
          try {
            await this.batch(u, opts);
            wrote = true;
          } catch (e) {
            log.debug(`${opts.who} write lost a race; next pass`, { err: String(e) });
          }
        }
      }
    }
    return wrote;
  }

  /** The store's current revision (changes since a revision: compare with records' indexes). */
  async revision(): Promise<number> {
    // a key that never exists: the answer is the header alone (the cluster record, with its CAs, was read each time)
    const r = await this.etcd.txn([], [{ range: { key: P + 'revision' } }]);
    return r.revision;
  }
}
