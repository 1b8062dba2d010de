// Files and symlinks of a layer extraction created on libuv's pool, several
// at a time, while the JS thread parses the entries after them. A rootfs is
// thousands of small files; each create (open O_CREAT|O_EXCL, write, fchown,
// fchmod, futimens, close) blocks in the filesystem, and done one after the
// other on the JS thread they were most of an import's time
// (native/fsroot/layer-io.c creates a batch of them per pool job).
//
// The extractor keeps the order that matters: an entry whose path (or a
// parent on the way to it, or a hard link's target) is still being created,
// and every removal, waits for what is in flight first (`has`, `drain`).
// Only names already resolved inside the layer root are created here, with
// O_EXCL|O_NOFOLLOW, so a create cannot follow a link out of the root.
import { addonWith, type FsRootNative } from '../native/addon';

/**
 * Creates go to the pool in batches (one job each): every job queued wakes a
 * pool thread, which on a loaded host preempted the JS thread once per file.
 * A batch is sent when it has BATCH_FILES files or BATCH_BYTES of data, or
 * when the extractor waits for the pool; at most IN_FLIGHT batches run.
 */
const BATCH_FILES = 32;
const BATCH_BYTES = 1 << 20;
const IN_FLIGHT = 4;

type Native = Required<Pick<FsRootNative, 'createBatchAsync'>>;
type Item = [string, Buffer | string, number, number, number, number, number];


/** Seconds and nanoseconds of a Date (an invalid one is the epoch). */
function timeOf(d: Date): [number, number] {
  const ms = d.getTime();
  if (!Number.isFinite(ms)) return [0, 0];
  const sec = Math.floor(ms / 1000);
  return [sec, Math.round((ms - sec * 1000) * 1e6)];
}

interface Batch {
  items: Item[];
  names: string[];
  bytes: number;
}

export class PoolCreates {
  /** Path → the batch that creates it (open or running). */
  private readonly pending = new Map<string, Batch>();
  private readonly running = new Set<Promise<void>>();
  private open: Batch | undefined;
  private failure: { name: string; error: unknown } | undefined;
  private closed = false;

  private constructor(private readonly n: Native) {}

  /** Undefined when the addon lacks the call (an older build) or BERTH_POOL_EXTRACT=0: create synchronously. */
  static open(): PoolCreates | undefined {
    const n = addonWith('BERTH_POOL_EXTRACT', ['createBatchAsync']);
    return n ? new PoolCreates(n) : undefined;
  }

  /** True while `p` (a resolved path) is waiting to be or being created. */
  has(p: string): boolean {
    return this.pending.has(p);
  }

  /** Creates file `p` for entry `name` (later: batched). */
  async file(p: string, name: string, data: Buffer, mode: number, uid: number, gid: number, mtime: Date): Promise<void> {
    await this.add(name, [p, data, mode, uid, gid, ...timeOf(mtime)], data.length);
  }

  /** Creates symlink `p` → `target` for entry `name` (later: batched). */
  async symlink(target: string, p: string, name: string, uid: number, gid: number, mtime: Date): Promise<void> {
    await this.add(name, [p, target, 0, uid, gid, ...timeOf(mtime)], 0);
  }

  private async add(name: string, item: Item, bytes: number): Promise<void> {
    this.check();
    // An entry abandoned by a failed extraction must not start a create after settle().
    if (this.closed) throw new Error('layer extraction ended');
    const b = (this.open ??= { items: [], names: [], bytes: 0 });
    b.items.push(item);
    b.names.push(name);
    b.bytes += bytes;
    this.pending.set(item[0], b);
    if (b.items.length >= BATCH_FILES || b.bytes >= BATCH_BYTES) await this.send();
  }

  /** Sends the open batch, first waiting while IN_FLIGHT batches run. */
  private async send(): Promise<void> {
    while (this.running.size >= IN_FLIGHT) await Promise.race(this.running);
    const b = this.open;
    if (!b) return;
    this.open = undefined;
    if (this.closed) {
      for (const it of b.items) this.pending.delete(it[0]);
      return;
    }
    const job = this.n.createBatchAsync(b.items).then(
      () => undefined,
      (error: unknown) => {
        const i = (error as { index?: number }).index;
        this.failure ??= { name: b.names[typeof i === 'number' && i < b.names.length ? i : 0], error };
      },
    ).then(() => {
      for (const it of b.items) if (this.pending.get(it[0]) === b) this.pending.delete(it[0]);
      this.running.delete(job);
    });
    this.running.add(job);
  }

  /** Throws the first failure seen, if any. */
  private check(): void {
    if (this.failure) throw new PoolCreateFailed(this.failure.name, this.failure.error);
  }

  /** Sends what waits and waits for everything; throws the first failure. */
  async drain(): Promise<void> {
    while (this.open || this.running.size) {
      if (this.open) await this.send();
      await Promise.all(this.running);
    }
    this.check();
  }

  /** Waits for everything running and sends nothing more; never throws (before a failed extraction is cleaned up). */
  async settle(): Promise<void> {
    this.closed = true;
    if (this.open) {
      const b = this.open;
      this.open = undefined;
      for (const it of b.items) this.pending.delete(it[0]);
    }
    while (this.running.size) await Promise.all(this.running);
  }
}

/** A create on the pool failed: `entry` is the tar entry it was for. */
export class PoolCreateFailed extends Error {
  constructor(readonly entry: string, readonly error: unknown) {
    super(`creating ${JSON.stringify(entry)} failed: ${(error as Error)?.message ?? String(error)}`);
  }
}
