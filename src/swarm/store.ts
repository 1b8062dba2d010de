// The swarm's objects in etcd, under /berth/swarm/. Every object's
// Version.Index is its key's mod_revision and every update is a
// compare-and-swap on it, so a stale update fails ("update out of sequence").
// Liveness: alive/<node> is held by a lease the node's heartbeats renew;
// leader holds the leading manager's id on that manager's leader lease.
import type { EtcdClient, KV, Op, Read } from './etcd-client';
import type { ChangeFeed } from './change-feed';
import { FeedReads } from './feed-reads';
import type { ClusterRecord, NodeRecord, Versioned } from './types';
import { SwarmError, MANAGER_NOT_READY, ALREADY_IN_SWARM } from './errors';

const P = '/berth/swarm/';
const K = {
  cluster: P + 'cluster',
  node: (id: string) => P + 'nodes/' + id,
  nodes: P + 'nodes/',
  alive: (id: string) => P + 'alive/' + id,
  alives: P + 'alive/',
  leader: P + 'leader',
  /** A removed node's tombstone (kept, as swarmkit keeps RemovedNodes): its record is never made again. */
  removed: (id: string) => P + 'removed/' + id,
};

/** Seconds a node stays Ready without a heartbeat (heartbeats go every HEARTBEAT_MS). */
export const ALIVE_TTL = 3;
export const HEARTBEAT_MS = 500;
/**
 * Seconds the leader key outlives a dead leader: a lease of its own, etcd's
 * shortest (1.5 election timeouts, rounded up). A leader that misses it
 * only hands the role over; a node's Down (ALIVE_TTL) would move its tasks.
 */
export const LEADER_TTL = 2;
/** How often a manager that is not the leader checks whether the leader key is free. */
export const LEADER_POLL_MS = 200;
/**
 * A spare alive lease (granted ahead for the next join) is used only when
 * renewed this recently: at least ALIVE_TTL - 1 s of it is left.
 */
const SPARE_FRESH_MS = 1000;
/** A manager keeps a spare alive lease this long after its start or its last join, then revokes it. */
const SPARE_IDLE_MS = 60_000;

/** Reads for EtcdClient.readTogether(): the same answers as SwarmStore's nodes(), aliveNodes() and cluster(). */
export const storeReads = {
  nodes: (): Read<Array<Versioned<NodeRecord>>> => ({
    op: { range: { key: K.nodes, prefix: true } },
    parse: (kvs) => kvs.map((kv) => ({ value: JSON.parse(kv.value) as NodeRecord, index: kv.modRevision })),
  }),
  alive: (): Read<Set<string>> => ({ op: { range: { key: K.alives, prefix: true } }, parse: (kvs) => new Set(kvs.map((kv) => kv.key.slice(K.alives.length))) }),
  /** Throws the store's "not ready" when the cluster record is missing. */
  cluster: (): Read<Versioned<ClusterRecord>> => ({
    op: { range: { key: K.cluster } },
    parse: (kvs) => {
      if (!kvs.length) throw new SwarmError(503, MANAGER_NOT_READY);
      return { value: JSON.parse(kvs[0].value) as ClusterRecord, index: kvs[0].modRevision };
    },
  }),
};

/** What a manager's tick reads: the leader key, the node list, who is alive. */
type TickReads = [KV | undefined, Array<Versioned<NodeRecord>>, Set<string>];
const tickReads = (): [Read<KV | undefined>, Read<Array<Versioned<NodeRecord>>>, Read<Set<string>>] => [
  { op: { range: { key: K.leader } }, parse: (kvs) => kvs[0] },
  storeReads.nodes(),
  storeReads.alive(),
];

/** A changed key (as the change feed reports it) of the cluster record, a node record or a node's liveness. */
export const isClusterOrNodeKey = (key: string): boolean => key === K.cluster || key.startsWith(K.nodes) || key.startsWith(K.alives);

export class SwarmStore {
  /** lease ids of the nodes this manager has renewed, so a heartbeat is one call. */
  private readonly leases = new Map<string, string>();
  /** This manager's lease for the leader key. */
  private leaderLeaseId?: string;

  /** The node list as last read while the change feed was live, and the count of node changes seen (a read older than one is not kept). */
  private nodesSnap?: Array<Versioned<NodeRecord>>;
  private nodesGen = 0;
  /** The node list as last read by recentNodes(), kept when a change makes it stale (lastNodes()). */
  private nodesLast?: Array<Versioned<NodeRecord>>;
  private unlisten?: () => void;
  /** The cluster record as last read while the change feed was live, and the count of its changes seen. */
  private clusterSnap?: Versioned<ClusterRecord>;
  private clusterGen = 0;
  private unlistenCluster?: () => void;
  /** A lease granted ahead for the next joining node's alive key, and when it was last renewed (sent). */
  private spare?: { id: string; renewed: number };
  /** When a spare was last wanted (this store's start, a join): spares are kept for SPARE_IDLE_MS after. */
  private spareWanted = Date.now();

  /** The tick's reads, kept while the change feed reports none of their keys changed. */
  private tickCache?: FeedReads<TickReads>;

  /** With `feed`, recentNodes() reads the node list only after it changed. */
  constructor(readonly etcd: EtcdClient, private readonly feed?: ChangeFeed) {}

  /**
   * The leader key, the node list and the alive set for a manager's tick
   * (every HEARTBEAT_MS): one transaction, or none while the change feed is
   * live and has reported no change to them (an expired lease deletes its
   * alive key, which the feed reports like any change).
   */
  async tickReads(): Promise<TickReads> {
    if (!this.feed) return (await this.etcd.readTogether<TickReads>(tickReads())).values;
    this.tickCache ??= new FeedReads<TickReads>(this.etcd, this.feed, tickReads());
    return this.tickCache.get();
  }

  /**
   * The node list, from the last read while the change feed has reported no
   * node change since (a worker's heartbeat asks it every HEARTBEAT_MS: with
   * the feed live it is no etcd call); a plain read otherwise.
   */
  async recentNodes(): Promise<Array<Versioned<NodeRecord>>> {
    const feed = this.feed;
    if (!feed) return this.nodes();
    this.unlisten ??= feed.listen((_rev, keys) => {
      if (keys.length && !keys.some((k) => k.startsWith(K.nodes))) return;
      this.nodesGen++;
      this.nodesSnap = undefined;
    });
    if (feed.live && this.nodesSnap) return this.nodesSnap;
    const gen = this.nodesGen;
    const nodes = await this.nodes();
    if (feed.live && gen === this.nodesGen) this.nodesSnap = nodes;
    this.nodesLast = nodes;
    return nodes;
  }

  /**
   * The node list as last read, even when a change has been seen since (a
   * worker's join answers with its managers from it: on a busy leader, right
   * after a manager join, a fresh read cost 5-30 ms; the worker's heartbeats
   * bring the current list); a read when there is none.
   */
  async lastNodes(): Promise<Array<Versioned<NodeRecord>>> {
    return this.nodesLast ?? this.recentNodes();
  }

  /**
   * The cluster record as this member has it (serializable), from the last
   * read while the change feed has reported no change of it since: a join's
   * token check makes no etcd call. A plain local read otherwise.
   */
  async recentCluster(): Promise<Versioned<ClusterRecord>> {
    const feed = this.feed;
    if (!feed) return this.cluster(true);
    this.unlistenCluster ??= feed.listen((_rev, keys) => {
      if (keys.length && !keys.includes(K.cluster)) return;
      this.clusterGen++;
      this.clusterSnap = undefined;
    });
    if (feed.live && this.clusterSnap) return this.clusterSnap;
    const gen = this.clusterGen;
    const c = await this.cluster(true);
    if (feed.live && gen === this.clusterGen) this.clusterSnap = c;
    return c;
  }

  /** `local`: this member's copy (serializable read: no round to the etcd leader; may lag a write or two). */
  async cluster(local = false): Promise<Versioned<ClusterRecord>> {
    const kv = await this.etcd.get(K.cluster, { serializable: local });
    if (!kv) throw new SwarmError(503, MANAGER_NOT_READY);
    return { value: JSON.parse(kv.value) as ClusterRecord, index: kv.modRevision };
  }

  /**
   * The cluster and its first node in one transaction; returns their
   * Version.Index. Done again for the same cluster (a daemon that died after
   * the write, before it noted it) it answers the existing record's index.
   */
  async createCluster(c: ClusterRecord, self: NodeRecord): Promise<number> {
    this.nodesGen++;
    this.nodesSnap = undefined;
    // the init's node is alive and the leader with its records: its first
    // tick then only renews, and a manager's join need not wait for it.
    // Leases do not move the revision: the records stay at FIRST_INDEX.
    const [alive, leader] = await Promise.all([this.etcd.leaseGrant(ALIVE_TTL), this.etcd.leaseGrant(LEADER_TTL)]);
    const r = await this.etcd.txn([{ key: K.cluster, target: 'CREATE', create_revision: 0 }],
      [{ put: { key: K.cluster, value: JSON.stringify(c) } }, { put: { key: K.node(self.id), value: JSON.stringify(self) } },
        { put: { key: K.alive(self.id), value: alive, lease: alive } }, { put: { key: K.leader, value: self.id, lease: leader } }],
      [{ range: { key: K.cluster } }]);
    if (r.succeeded) {
      this.leases.set(self.id, alive);
      this.leaderLeaseId = leader;
      return r.revision;
    }
    void Promise.all([this.etcd.leaseRevoke(alive), this.etcd.leaseRevoke(leader)]).catch(() => {});
    const cur = r.kvs[0];
    if (cur && (JSON.parse(cur.value) as ClusterRecord).id === c.id) return cur.createRevision;
    throw new SwarmError(503, ALREADY_IN_SWARM);
  }

  /** CAS on the cluster object: `index` is the Version.Index the caller read. */
  async updateCluster(c: ClusterRecord, index: number): Promise<void> {
    this.clusterGen++;
    this.clusterSnap = undefined;
    const r = await this.etcd.txn([{ key: K.cluster, target: 'MOD', mod_revision: index }], [{ put: { key: K.cluster, value: JSON.stringify(c) } }]);
    if (!r.succeeded) throw outOfSequence();
  }

  async nodes(local = false): Promise<Array<Versioned<NodeRecord>>> {
    return (await this.etcd.getPrefix(K.nodes, { serializable: local })).map((kv) => ({ value: JSON.parse(kv.value) as NodeRecord, index: kv.modRevision }));
  }

  async node(id: string): Promise<Versioned<NodeRecord> | undefined> {
    const kv = await this.etcd.get(K.node(id));
    return kv ? { value: JSON.parse(kv.value) as NodeRecord, index: kv.modRevision } : undefined;
  }

  /**
   * A lease for a joining node's alive key, granted before its record is
   * written (putNewNode): the spare one made ahead when it is fresh (no etcd
   * round on the join's path), else a new one.
   */
  aliveLease(): Promise<string> {
    const s = this.spare;
    this.spare = undefined;
    this.spareWanted = Date.now();
    if (s && Date.now() - s.renewed < SPARE_FRESH_MS) return Promise.resolve(s.id);
    if (s) void this.etcd.leaseRevoke(s.id).catch(() => {});
    return this.etcd.leaseGrant(ALIVE_TTL);
  }

  /**
   * Keeps one alive lease granted ahead for the next join (each manager
   * tick): renewed while joins may come (SPARE_IDLE_MS after the store's
   * start or the last join), revoked after. An unused one costs a renewal
   * per tick; an expired one is never handed out (aliveLease).
   */
  async keepSpareLease(): Promise<void> {
    const s = this.spare;
    if (Date.now() - this.spareWanted > SPARE_IDLE_MS) {
      if (s) {
        this.spare = undefined;
        await this.etcd.leaseRevoke(s.id).catch(() => {});
      }
      return;
    }
    const t = Date.now();
    if (s) {
      if ((await this.etcd.leaseKeepAlive(s.id).catch(() => 0)) > 0) {
        if (this.spare === s) s.renewed = t;
        return;
      }
      if (this.spare === s) this.spare = undefined;
    }
    const id = await this.etcd.leaseGrant(ALIVE_TTL);
    if (this.spare) await this.etcd.leaseRevoke(id).catch(() => {});
    else this.spare = { id, renewed: t };
  }

  /**
   * A joining node's record, alive at once: alive/<id> is written with the
   * record on `lease` (aliveLease), so the node is Ready before its own first
   * heartbeat (which renews that lease). The same transaction reads back the
   * node list and the alive set, as they are with the new node: a join
   * needs them next (its managers, a manager's quorum check) and makes no
   * further round for them. Never made for a removed node (its tombstone).
   */
  async putNewNode(n: NodeRecord, lease: string): Promise<{ nodes: Array<Versioned<NodeRecord>>; alive: Set<string> }> {
    const r = await this.createNode(n, lease, [{ range: { key: K.nodes, prefix: true } }, { range: { key: K.alives, prefix: true } }]);
    if (!r.succeeded) {
      await this.etcd.leaseRevoke(lease).catch(() => {});
      throw new SwarmError(409, `node ${n.id} already exists`);
    }
    const nodes = r.kvs.filter((kv) => kv.key.startsWith(K.nodes)).map((kv) => ({ value: JSON.parse(kv.value) as NodeRecord, index: kv.modRevision }));
    const alive = new Set(r.kvs.filter((kv) => kv.key.startsWith(K.alives)).map((kv) => kv.key.slice(K.alives.length)));
    this.nodesLast = nodes; // a read as fresh as any: the next worker's join lists this manager
    return { nodes, alive };
  }

  /**
   * A worker's record written after its join answered (by the manager that
   * answered, or by the worker's first heartbeat when that write never
   * landed): created only when there is neither a record nor a tombstone.
   * Answers 'created', 'exists' (made meanwhile by the other path) or
   * 'removed' (a `node rm` came first: the node must not come back).
   */
  async putLateNode(n: NodeRecord, lease?: string): Promise<'created' | 'exists' | 'removed'> {
    lease ??= await this.etcd.leaseGrant(ALIVE_TTL);
    const r = await this.createNode(n, lease, [], [{ range: { key: K.node(n.id) } }, { range: { key: K.removed(n.id) } }]);
    if (r.succeeded) return 'created';
    await this.etcd.leaseRevoke(lease).catch(() => {});
    return r.kvs.some((kv) => kv.key === K.removed(n.id)) ? 'removed' : 'exists';
  }

  private createNode(n: NodeRecord, lease: string, reads: Op[], failure: Op[] = []): ReturnType<EtcdClient['txn']> {
    this.nodesGen++;
    this.nodesSnap = undefined;
    const p = this.etcd.txn([{ key: K.node(n.id), target: 'CREATE', create_revision: 0 }, { key: K.removed(n.id), target: 'CREATE', create_revision: 0 }],
      [{ put: { key: K.node(n.id), value: JSON.stringify(n) } }, { put: { key: K.alive(n.id), value: lease, lease } }, ...reads], failure);
    return p.then((r) => {
      if (r.succeeded) this.leases.set(n.id, lease);
      return r;
    });
  }

  async updateNode(n: NodeRecord, index: number): Promise<void> {
    this.nodesGen++;
    this.nodesSnap = undefined;
    const r = await this.etcd.txn([{ key: K.node(n.id), target: 'MOD', mod_revision: index }], [{ put: { key: K.node(n.id), value: JSON.stringify(n) } }]);
    if (!r.succeeded) throw outOfSequence();
  }

  async deleteNode(id: string, index: number): Promise<void> {
    this.nodesGen++;
    this.nodesSnap = undefined;
    // the tombstone: a heartbeat that carries the node's description (its record not acknowledged yet) cannot make it again
    const r = await this.etcd.txn([{ key: K.node(id), target: 'MOD', mod_revision: index }],
      [{ del: { key: K.node(id) } }, { del: { key: K.alive(id) } }, { put: { key: K.removed(id), value: new Date().toISOString() } }]);
    if (!r.succeeded) throw outOfSequence();
  }

  /** Ids of the nodes whose heartbeat lease is alive. */
  async aliveNodes(): Promise<Set<string>> {
    return new Set((await this.etcd.getPrefix(K.alives)).map((kv) => kv.key.slice(K.alives.length)));
  }

  async leader(): Promise<string | undefined> {
    return (await this.etcd.get(K.leader))?.value || undefined;
  }

  /**
   * A heartbeat for `id`: renews its lease, or grants a new one (first
   * heartbeat, or after it expired: the node was Down) and attaches alive/<id>.
   * Returns the lease id.
   */
  async heartbeat(id: string): Promise<string> {
    let lease = this.leases.get(id);
    if (!lease) {
      const kv = await this.etcd.get(K.alive(id));
      if (kv && kv.lease !== '0') lease = kv.lease;
    }
    if (lease && (await this.etcd.leaseKeepAlive(lease)) > 0) {
      this.leases.set(id, lease);
      return lease;
    }
    lease = await this.etcd.leaseGrant(ALIVE_TTL);
    await this.etcd.put(K.alive(id), lease, lease);
    this.leases.set(id, lease);
    return lease;
  }

  /** Renews (or grants) this manager's lease for the leader key; returns its id. */
  async leaderLease(): Promise<string> {
    if (this.leaderLeaseId && (await this.etcd.leaseKeepAlive(this.leaderLeaseId)) > 0) return this.leaderLeaseId;
    this.leaderLeaseId = await this.etcd.leaseGrant(LEADER_TTL);
    return this.leaderLeaseId;
  }

  /** The leader key's lease of this manager, if it has one (revoked on a clean stop). */
  get ownLeaderLease(): string | undefined {
    return this.leaderLeaseId;
  }

  /**
   * One election round: take the leader key if it is free, on our leader
   * lease. The key is read first: a transaction with a put is a raft write
   * (a WAL fsync on a quorum) even when its compare fails, and every
   * manager runs this each tick; a read is not.
   */
  async campaign(id: string, lease: string, known?: { leader: KV | undefined }): Promise<string | undefined> {
    // `known`: the key as the tick read it (a stale "free" only costs a failed create)
    let cur = known ? known.leader : await this.etcd.get(K.leader);
    if (!cur) {
      const r = await this.etcd.txn([{ key: K.leader, target: 'CREATE', create_revision: 0 }],
        [{ put: { key: K.leader, value: id, lease } }], [{ range: { key: K.leader } }]);
      if (r.succeeded) return id;
      cur = r.kvs[0];
    }
    // our own key on an old lease (ours expired and was renewed): move it onto the live one
    if (cur && cur.value === id && cur.lease !== lease) {
      await this.etcd.txn([{ key: K.leader, target: 'MOD', mod_revision: cur.modRevision }], [{ put: { key: K.leader, value: id, lease } }]);
    }
    return cur?.value;
  }

  /** Gives up the leader role (a manager leaving or stepping down). */
  async resign(id: string): Promise<void> {
    await this.etcd.txn([{ key: K.leader, target: 'VALUE', value: id }], [{ del: { key: K.leader } }]).catch(() => {});
  }

  forgetLease(id: string): void {
    this.leases.delete(id);
  }
}

/** swarmkit's answer to an update that carries an old Version.Index. */
export function outOfSequence(): SwarmError {
  return new SwarmError(500, 'rpc error: code = Unknown desc = update out of sequence');
}
