// The diffID of a layer hashed on libuv's pool (native/fsroot/layer-io.c):
// the same DigestCounter as util/digest.ts, but each sha256 update is a pool
// job that runs while the JS thread extracts the bytes it just passed on —
// for a 100 MB commit the hash was a quarter of the JS thread's work.
// Updates run one at a time in order; at most MAX_QUEUED bytes wait to be
// hashed before the stream holds its writer back.
import { Transform } from 'node:stream';
import { digestCounter, type DigestCounter } from '../../util/digest';
import { fsrootNative, type FsRootNative } from '../native/addon';

const MAX_QUEUED = 16 << 20;
/** Small chunks (an upload's 16-64 KiB) are hashed in batches of about this size. */
const BATCH = 1 << 20;

type Native = Required<Pick<FsRootNative, 'sha256New' | 'sha256UpdateAsync' | 'sha256Digest'>> & Pick<FsRootNative, 'sha256UpdateVAsync'>;

let native: Native | undefined | null = null;

function nativeHash(): Native | undefined {
  if (native !== null) return native;
  native = undefined;
  if (process.env.BERTH_POOL_HASH === '0') return native;
  try {
    const n = fsrootNative();
    if (n.sha256New && n.sha256UpdateAsync && n.sha256Digest) native = n as Native;
  } catch { /* no addon: hash on the JS thread */ }
  return native;
}

/** digestCounter (same contract), hashing on the pool when the addon can. */
export function poolDigestCounter(check?: (digest: string, size: number) => Error | undefined): DigestCounter {
  const n = nativeHash();
  if (!n) return digestCounter(check);
  const h = n.sha256New();
  let size = 0;
  let hex: string | undefined;
  let queued: Buffer[] = [];
  let queuedBytes = 0;
  let running = false;
  let failed: Error | undefined;
  let wake: (() => void) | undefined;

  const settled = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const pump = () => {
    if (running || failed || queued.length === 0) return;
    // One chunk of a good size alone; small ones together (a copy of under BATCH bytes).
    let take = 1;
    let bytes = queued[0].length;
    while (take < queued.length && bytes + queued[take].length <= BATCH && queued[take].length < BATCH) bytes += queued[take++].length;
    // Several small chunks go as they are when the addon takes a list (no copy on the JS thread).
    const parts = queued.slice(0, take);
    queued = queued.slice(take);
    running = true;
    const update = take === 1 ? n.sha256UpdateAsync(h, parts[0])
      : n.sha256UpdateVAsync ? n.sha256UpdateVAsync(h, parts)
      : n.sha256UpdateAsync(h, Buffer.concat(parts, bytes));
    update.then(
      () => {
        running = false;
        queuedBytes -= bytes;
        pump();
        settled();
      },
      (e: Error) => {
        running = false;
        failed = e;
        settled();
      },
    );
  };
  /** Resolves once `ok()` holds or the hash failed. */
  const until = (ok: () => boolean, done: (e?: Error) => void) => {
    const test = () => {
      if (failed) done(failed);
      else if (ok()) done();
      else wake = test;
    };
    test();
  };

  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (failed) { cb(failed); return; }
      size += chunk.length;
      queued.push(chunk);
      queuedBytes += chunk.length;
      pump();
      this.push(chunk);
      until(() => queuedBytes <= MAX_QUEUED, cb);
    },
    flush(cb) {
      until(() => !running && queued.length === 0, (e) => {
        if (e) { cb(e); return; }
        hex = n.sha256Digest(h);
        cb(check ? check(`sha256:${hex}`, size) : undefined);
      });
    },
  });
  const digest = () => {
    if (hex === undefined) throw new Error('digest asked before the stream ended');
    return `sha256:${hex}`;
  };
  return { stream, digest, size: () => size };
}
