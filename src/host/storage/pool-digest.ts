// The diffID of a layer hashed on libuv's pool (native/fsroot/commit-copy.c):
// the same DigestCounter as util/digest.ts, but each sha256 update is a pool
// job that runs while the JS thread extracts the bytes it just passed on —
// for a 100 MB commit the hash was a quarter of the JS thread's work.
// Updates run one at a time in order; at most MAX_QUEUED bytes wait to be
// hashed before the stream holds its writer back.
import { Transform } from 'node:stream';
import { digestCounter, type DigestCounter } from '../../util/digest';
import { addonWith } from '../native/addon';

const MAX_QUEUED = 16 << 20;
/** Small chunks (an upload's 16-64 KiB) are hashed in batches of about this size. */
const BATCH = 4 << 20;

/**
 * commit-copy.c's hash (a job hashes a list of buffers, so small chunks, an
 * HTTP body's 64 KiB, are not copied together first); none: the JS thread.
 */
function nativeHash() {
  return addonWith('BERTH_POOL_HASH', ['tarHashNew', 'tarCopyAsync', 'tarHashDigest']);
}

/** digestCounter (same contract), hashing on the pool when the addon can. */
export function poolDigestCounter(check?: (digest: string, size: number) => Error | undefined): DigestCounter {
  const n = nativeHash();
  if (!n) return digestCounter(check);
  const h = n.tarHashNew();
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
    // Chunks together up to BATCH bytes, as one job (no copy).
    let take = 1;
    let bytes = queued[0].length;
    while (take < queued.length && bytes + queued[take].length <= BATCH) bytes += queued[take++].length;
    const batch = queued.slice(0, take);
    queued = queued.slice(take);
    running = true;
    n.tarCopyAsync(h, batch).then(
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
        hex = n.tarHashDigest(h);
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
