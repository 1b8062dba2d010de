// A swarm init or manager join that has answered before its etcd member is
// serving.
//
// `swarm init` decides everything about the new cluster locally (ids, CAs,
// tokens, this node's record) and writes it to <data-root>/swarm/init.json
// (0600) before it answers; its etcd member's start and first election (most
// of an init's time) go on behind the answer. Until the cluster record is in
// etcd, what the CLI asks right after an init (GET /swarm, GET /nodes/<self>,
// /info) is answered from that record, and every other swarm request waits
// for the store (bounded). A daemon killed in between finds init.json on its
// next start and writes the record then.
//
// A manager join answers once its member is added and started; the member's
// catch-up and the first heartbeat follow. Its /info says it is a manager
// (all the CLI asks after a join) and other swarm requests wait the same way.
import { log } from '../util/log';
import type { ClusterRecord, NodeRecord, Versioned } from './types';
import { within } from '../util/within';

/**
 * The revision of the first write to a new etcd (its store starts at 1):
 * the cluster and node records are created in that one transaction, so it
 * is their Version.Index, known before the write.
 */
export const FIRST_INDEX = 2;

/** How long a swarm request waits for a pending init's store before it goes on (and fails on its own). */
export const SETTLE_MS = 30_000;

export interface InitRecord { cluster: ClusterRecord; self: NodeRecord }

export class PendingStore {
  /** The store is ready and the node live (its first tick done): what gated API requests wait for. */
  readonly ready: Promise<void>;
  /**
   * The store serves (an init's records are in it; a joining member answers):
   * what a join handled by this manager waits for — it needs the store, not
   * this node's first tick. Never later than `ready`.
   */
  readonly stored: Promise<void>;

  constructor(readonly rec: InitRecord | undefined, finish: (stored: () => void) => Promise<void>) {
    let mark!: () => void;
    const stored = new Promise<void>((r) => { mark = r; });
    // deferred: `finish` may look at the object being made
    this.ready = Promise.resolve().then(() => finish(mark)).catch((e) => log.error('the swarm store could not be made ready', { err: String(e) }));
    this.stored = Promise.race([stored, this.ready]);
  }

  /** An init's records as the store will hold them (undefined for a join). */
  cluster(): Versioned<ClusterRecord> | undefined {
    return this.rec && { value: this.rec.cluster, index: FIRST_INDEX };
  }

  self(): Versioned<NodeRecord> | undefined {
    return this.rec && { value: this.rec.self, index: FIRST_INDEX };
  }

  /** Whether `ref` (id, id prefix or name, as node inspect takes it) is an init's own node. */
  isSelf(ref: string): boolean {
    const n = this.rec?.self;
    return !!n && !!ref && (n.id.startsWith(ref) || (n.spec.Name || n.hostname) === ref);
  }

  /** Resolves when the store is ready (`stored`: serves), or after `ms` (whichever is first). */
  settled(ms = SETTLE_MS, what: 'ready' | 'stored' = 'ready'): Promise<void> {
    return within(this[what], ms);
  }
}
