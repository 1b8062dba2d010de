// A fixed set of etcd range reads, answered from their last result while the
// change feed (a watch on the store) reports no change to a key they cover.
// The overlay sync asks every node's peers, networks and services once a
// second; with nothing changed that was one etcd transaction per node per
// second (TLS, gRPC gateway, etcd's own work) for the same answer. The raw
// key-values are kept and parsed on every call, so callers get fresh objects
// they may keep or change. Without a live feed every call reads.
import type { ChangeFeed } from './change-feed';
import type { EtcdClient, KV, Op, Read } from './etcd-client';

/** One Read per value of T, in order. */
export type Reads<T extends unknown[]> = { [I in keyof T]: Read<T[I]> };

/** How often changed() looks again while the feed is not live (nothing to wait on). */
const NOT_LIVE_MS = 1000;

export class FeedReads<T extends unknown[]> {
  private ranges?: KV[][];
  private gen = 0;
  private unlisten?: () => void;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly etcd: EtcdClient,
    private readonly feed: ChangeFeed,
    private readonly reads: Reads<T>,
  ) {}

  /** A key one of the reads returns (or would, once made). */
  covers(key: string): boolean {
    return this.reads.some(({ op }) => 'range' in op && (op.range.prefix ? key.startsWith(op.range.key) : key === op.range.key));
  }

  /** The reads' values; `writes` go first in the same transaction (always a round trip). */
  async get(writes: Op[] = []): Promise<T> {
    this.unlisten ??= this.feed.listen((_rev, keys) => {
      // no keys: the watch was lost and is back, what changed meanwhile is unknown
      if (keys.length && !keys.some((k) => this.covers(k))) return;
      this.gen++;
      this.ranges = undefined;
      this.wakeWaiters();
    });
    let ranges = !writes.length && this.feed.live ? this.ranges : undefined;
    if (!ranges) {
      const gen = this.gen;
      const r = await this.etcd.txn([], [...writes, ...this.reads.map((x) => x.op)]);
      ranges = r.ranges.slice(writes.length);
      // kept only if no change was reported while it was read; a write of ours comes back as a change
      if (this.feed.live && gen === this.gen && !writes.length) this.ranges = ranges;
    }
    const got = ranges;
    return this.reads.map((x, i) => x.parse(got[i] ?? [])) as T;
  }

  /**
   * Resolves once the feed reports a change to a key of the reads (after a
   * get(), which starts listening), after `ms`, when `wake` resolves, or
   * after a second while the feed is not live; never rejects.
   */
  changed(ms: number, wake?: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, this.feed.live && this.unlisten ? ms : Math.min(ms, NOT_LIVE_MS)));
      this.waiters.add(done);
      void wake?.then(done, done);
    });
  }

  /** Ends every wait in changed() (each removes itself). */
  private wakeWaiters(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Stops listening (the store went: leave, demotion, stop); waiters in changed() return. */
  close(): void {
    this.wakeWaiters();
    this.unlisten?.();
    this.unlisten = undefined;
    this.ranges = undefined;
  }
}
