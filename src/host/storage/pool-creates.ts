// Files and symlinks of a layer extraction created on libuv's pool, several
// at a time, while the JS thread parses the entries after them. A rootfs is
// thousands of small files; each create (open O_CREAT|O_EXCL, write, fchown,
// fchmod, futimens, close) blocks in the filesystem, and done one after the
// other on the JS thread they were most of an import's time
// (native/fsroot/layer-io.c does one file per pool job).
//
// The extractor keeps the order that matters: an entry whose path (or a
// parent on the way to it, or a hard link's target) is still being created,
// and every removal, waits for what is in flight first (`has`, `drain`).
// Only names already resolved inside the layer root are created here, with
// O_EXCL|O_NOFOLLOW, so a create cannot follow a link out of the root.
import { fsrootNative, type FsRootNative } from '../native/addon';

/** Creates in flight at once: the pool has 4 threads; a few more keep them busy. */
const IN_FLIGHT = 16;

type Native = Required<Pick<FsRootNative, 'writeFileAsync' | 'symlinkAsync'>>;

function nativeOrUndefined(): Native | undefined {
  if (process.env.BERTH_POOL_EXTRACT === '0') return undefined;
  try {
    const n = fsrootNative();
    return n.writeFileAsync && n.symlinkAsync ? (n as Native) : undefined;
  } catch {
    return undefined;
  }
}

let native: Native | undefined | null = null;

/** Seconds and nanoseconds of a Date (an invalid one is the epoch). */
function timeOf(d: Date): [number, number] {
  const ms = d.getTime();
  if (!Number.isFinite(ms)) return [0, 0];
  const sec = Math.floor(ms / 1000);
  return [sec, Math.round((ms - sec * 1000) * 1e6)];
}

export class PoolCreates {
  private readonly inflight = new Map<string, Promise<void>>();
  private failure: { name: string; error: unknown } | undefined;
  private closed = false;

  private constructor(private readonly n: Native) {}

  /** Undefined when the addon lacks the calls (an older build) or BERTH_POOL_EXTRACT=0: create synchronously. */
  static open(): PoolCreates | undefined {
    if (native === null) native = nativeOrUndefined();
    return native ? new PoolCreates(native) : undefined;
  }

  /** True while `p` (a resolved path) is being created. */
  has(p: string): boolean {
    return this.inflight.has(p);
  }

  get size(): number {
    return this.inflight.size;
  }

  /** Starts creating file `p` for entry `name`; waits while too many are in flight. */
  async file(p: string, name: string, data: Buffer, mode: number, uid: number, gid: number, mtime: Date): Promise<void> {
    const [s, ns] = timeOf(mtime);
    await this.add(p, name, () => this.n.writeFileAsync(p, data, mode, uid, gid, s, ns));
  }

  /** Starts creating symlink `p` → `target` for entry `name`. */
  async symlink(target: string, p: string, name: string, uid: number, gid: number, mtime: Date): Promise<void> {
    const [s, ns] = timeOf(mtime);
    await this.add(p, name, () => this.n.symlinkAsync(target, p, uid, gid, s, ns));
  }

  private async add(p: string, name: string, start: () => Promise<void>): Promise<void> {
    this.check();
    while (this.inflight.size >= IN_FLIGHT) await Promise.race(this.inflight.values());
    this.check();
    // An entry abandoned by a failed extraction must not start a create after settle().
    if (this.closed) throw new Error('layer extraction ended');
    const job = start().then(
      () => { this.inflight.delete(p); },
      (error: unknown) => {
        this.inflight.delete(p);
        this.failure ??= { name, error };
      },
    );
    this.inflight.set(p, job);
  }

  /** Throws the first failure seen, if any. */
  private check(): void {
    if (this.failure) throw new PoolCreateFailed(this.failure.name, this.failure.error);
  }

  /** Waits for everything in flight; throws the first failure. */
  async drain(): Promise<void> {
    while (this.inflight.size) await Promise.all(this.inflight.values());
    this.check();
  }

  /** Waits for everything in flight and takes no more, never throws (before a failed extraction is cleaned up). */
  async settle(): Promise<void> {
    this.closed = true;
    while (this.inflight.size) await Promise.all(this.inflight.values());
  }
}

/** A create on the pool failed: `entry` is the tar entry it was for. */
export class PoolCreateFailed extends Error {
  constructor(readonly entry: string, readonly error: unknown) {
    super(`creating ${JSON.stringify(entry)} failed: ${(error as Error)?.message ?? String(error)}`);
  }
}
