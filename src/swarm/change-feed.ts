// What changed in the swarm's store, as etcd tells it: one watch on
// /berth/swarm/ per manager, open while anyone listens. Listeners are woken
// (once per batch of changes, with the changed keys) instead of reading the
// store's revision on a timer; `revision` is the newest revision the watch
// has seen, trusted only while `live` (the watch is in place). When the
// stream ends the feed is not live until it is back (retried with back-off),
// and listeners are woken with no keys: they should read what they need.
import type { EtcdClient } from './etcd-client';
import { log } from '../util/log';

export type ChangeListener = (revision: number, keys: string[]) => void;

const PREFIX = '/berth/swarm/';

export class ChangeFeed {
  /** The store's revision as of the last watch answer (0 until the watch is in place). */
  revision = 0;
  private liveNow = false;
  private readonly listeners = new Set<ChangeListener>();
  private stopWatch?: () => void;
  private retry?: NodeJS.Timeout;
  private backoff = 0;
  private closed = false;

  constructor(private readonly etcd: EtcdClient) {}

  /** The watch is in place: `revision` is the store's, up to changes still on their way. */
  get live(): boolean {
    return this.liveNow;
  }

  /** Adds a listener (starting the watch); returns its removal (the watch stops with the last one). */
  listen(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    this.start();
    return () => {
      this.listeners.delete(fn);
      if (!this.listeners.size) this.halt();
    };
  }

  /** For good (the etcd client goes). */
  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.halt();
  }

  private start(): void {
    if (this.stopWatch || this.retry || this.closed || !this.listeners.size) return;
    this.stopWatch = this.etcd.watchPrefix(PREFIX, (rev, keys) => {
      this.backoff = 0;
      this.liveNow = true;
      if (rev > this.revision) this.revision = rev;
      this.emit(keys);
    }, (err) => {
      this.stopWatch = undefined;
      const was = this.liveNow;
      this.liveNow = false;
      if (this.etcd.isClosed) this.closed = true;
      if (this.closed || !this.listeners.size) return;
      if (was) log.debug('swarm change feed interrupted', { err: err.message });
      // what happened meanwhile is unknown: listeners read for themselves
      this.emit([]);
      this.backoff = Math.min(2000, this.backoff ? this.backoff * 2 : 100);
      this.retry = setTimeout(() => { this.retry = undefined; this.start(); }, this.backoff);
    });
  }

  private halt(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
    const stop = this.stopWatch;
    this.stopWatch = undefined;
    this.liveNow = false;
    stop?.();
  }

  private emit(keys: string[]): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(this.revision, keys);
      } catch (e) {
        log.warn('swarm change listener failed', { err: String(e) });
      }
    }
  }
}
