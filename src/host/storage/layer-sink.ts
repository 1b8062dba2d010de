// A pulled layer's bytes through one native sink (native/fsroot/layer-sink.c):
// what the download writes (`input`) is appended to the blob's temp file and
// hashed, gunzipped and the tar hashed, in one pool job per batch of socket
// chunks; the tar comes out of `tar` for the extraction. Before, the blob
// file, its hash, gunzip, the join into 1 MiB chunks and the diffID hash were
// five stream stages, each chunk a pool job and a wake-up of the JS thread.
//
// Backpressure: the download is held back while more than HOLD bytes wait
// (to be written, or to be gunzipped because the extraction is behind).
// A gunzip error fails only `tar` (the blob is still written and hashed, so
// the caller can tell a bad layer from a bad download); a write error fails
// `input`.
import { Readable, Writable } from 'node:stream';
import { addonWith, type LayerSinkHandle, type LayerSinkResult } from '../native/addon';
import { InvalidParameter } from '../../util/errors';

const HOLD = 8 << 20;
const OUT_PER_JOB = 4 << 20;

function nativeSink() {
  return addonWith('BERTH_LAYER_SINK', ['layerSinkNew', 'layerSinkRunAsync', 'layerSinkClose']);
}

/** True when the addon has the sink (BERTH_LAYER_SINK=0 turns it off, to compare). */
export function layerSinkAvailable(): boolean {
  return !!nativeSink();
}

export interface LayerSink {
  /** The blob's bytes, from byte 0; its end waits until all are written and hashed. */
  readonly input: Writable;
  /** The layer's tar (gunzipped, or the bytes themselves when not gzip). */
  readonly tar: Readable;
  /** The blob's digest, once `input` finished. */
  blobDigest(): string | undefined;
  /** The tar's digest (the diffID) and size, once `tar` ended; rejects when it cannot be had. */
  readonly tarDone: Promise<{ diffId: string; tarSize: number }>;
  /** Ends the download's side: no job writes after it resolves (the caller may stat and close the file). */
  settle(): Promise<void>;
}

/** A sink appending to `fd` (open for append; the caller closes it after settle()). `consumed` tells the bytes gunzipped so far. */
export function openLayerSink(fd: number, consumed?: (n: number) => void): LayerSink {
  const found = nativeSink();
  if (!found) throw new Error('layer sink: the addon has none');
  const n = found; // (closures below keep the narrowed type)
  const h: LayerSinkHandle = n.layerSinkNew(fd);
  let fresh: Buffer[] = [];
  let freshBytes = 0;
  let held = 0;
  let running: Promise<void> | undefined;
  let inputDone = false;
  let lastSent = false;
  let blob: string | undefined;
  let failed: Error | undefined;
  let tarGone = false;
  let tarEnded = false;
  let closed = false;
  let inputOver = false;
  // The last gunzip job made nothing of what is held (a lone first byte, a
  // header cut short): running it again before more input comes would spin.
  let stuck = false;
  let consumedSoFar = 0;
  let writing: Promise<void> | undefined;
  let pendingWrite: ((e?: Error | null) => void) | undefined;
  let pendingFinal: ((e?: Error | null) => void) | undefined;
  let resolveTar!: (v: { diffId: string; tarSize: number }) => void;
  let rejectTar!: (e: Error) => void;
  const tarDone = new Promise<{ diffId: string; tarSize: number }>((res, rej) => {
    resolveTar = res;
    rejectTar = rej;
  });
  tarDone.catch(() => {});

  const failTar = (e: Error) => {
    if (tarEnded) return;
    tarEnded = true;
    tarGone = true;
    rejectTar(e);
    if (!tar.destroyed) tar.destroy(e);
  };
  const fail = (e: Error) => {
    if (failed) return;
    failed = e;
    failTar(e);
    const w = pendingWrite;
    const f = pendingFinal;
    pendingWrite = pendingFinal = undefined;
    w?.(e);
    f?.(e);
  };

  const onResult = (r: LayerSinkResult, askedOut: number) => {
    running = undefined;
    writing = undefined;
    held = r.held;
    stuck = askedOut > 0 && r.out.length === 0 && r.consumed === consumedSoFar && r.tar === undefined;
    consumedSoFar = r.consumed;
    consumed?.(r.consumed);
    if (r.blob) blob = `sha256:${r.blob}`;
    for (const b of r.out) {
      if (tarGone) break;
      tar.push(b);
    }
    if (r.tar !== undefined && !tarEnded) {
      tarEnded = true;
      resolveTar({ diffId: `sha256:${r.tar}`, tarSize: r.tarSize ?? 0 });
      if (!tarGone) tar.push(null);
    }
    if (pendingWrite && freshBytes + held < HOLD) {
      const cb = pendingWrite;
      pendingWrite = undefined;
      cb();
    }
    if (pendingFinal && blob) {
      const cb = pendingFinal;
      pendingFinal = undefined;
      cb();
    }
    kick();
  };
  const onError = (e: Error) => {
    running = undefined;
    writing = undefined;
    const code = (e as NodeJS.ErrnoException).code ?? '';
    // A bad gzip stream: the tar fails, the blob goes on being written and hashed.
    if (code.startsWith('Z_')) failTar(new InvalidParameter(`invalid gzip layer: ${e.message}`));
    else fail(e);
    kick();
  };

  function kick(): void {
    if (running || closed) return;
    if (failed) {
      maybeClose();
      return;
    }
    // More tar while the reader's buffer is below its mark. (Not a flag
    // cleared by push(): a read() that came during a job's pushes would be
    // forgotten, and a job without output would never wake the reader.)
    const maxOut = tarGone ? -1 : tar.readableLength < OUT_PER_JOB ? OUT_PER_JOB : 0;
    const last = inputDone;
    const work = fresh.length > 0
      || (last && !lastSent)
      || (last && !blob)
      || (maxOut !== 0 && ((held > 0 && !stuck) || (last && !tarEnded)))
      || (maxOut === -1 && held > 0);
    if (!work) {
      maybeClose();
      return;
    }
    const batch = fresh;
    const writes = batch.length > 0;
    held += freshBytes;
    fresh = [];
    freshBytes = 0;
    if (last) lastSent = true;
    running = n.layerSinkRunAsync(h, batch, last, maxOut).then((r) => onResult(r, maxOut), onError);
    writing = writes || (last && !blob) ? running : undefined;
  }

  /** The native state goes once neither side needs it. */
  function maybeClose(): void {
    if (closed || running || !tarEnded || !(inputOver || blob || failed)) return;
    closed = true;
    n.layerSinkClose(h);
  }

  const input = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _e, cb) {
      if (failed) { cb(failed); return; }
      fresh.push(chunk);
      freshBytes += chunk.length;
      if (freshBytes + held < HOLD) cb();
      else pendingWrite = cb;
      kick();
    },
    final(cb) {
      if (failed) { cb(failed); return; }
      inputDone = true;
      pendingFinal = cb;
      kick();
    },
    destroy(err, cb) {
      // A cut or failed attempt: the tar will not be whole, and what was
      // not handed to a job is not written.
      if (!inputDone || !blob) {
        inputOver = true;
        fresh = [];
        freshBytes = 0;
        failTar(err ?? new Error('download stopped'));
        kick();
      }
      cb(err);
    },
  });
  const tar = new Readable({
    highWaterMark: OUT_PER_JOB,
    read() {
      // Readable calls this before it takes what it returns out of the
      // buffer: kick once the length is what the reader left.
      process.nextTick(kick);
    },
    destroy(err, cb) {
      tarGone = true;
      if (!tarEnded) {
        tarEnded = true;
        rejectTar(err ?? new Error('layer extraction stopped'));
      }
      kick();
      cb(err);
    },
  });
  // Its failure is told by tarDone too; a reader that already left must not make it unhandled.
  tar.on('error', () => {});

  // The download's side is over once its input finished or failed: no job
  // writes after that (later jobs only gunzip), so the file can be looked
  // at and closed while the extraction goes on reading the tar.
  const settle = async (): Promise<void> => {
    inputOver = true;
    fresh = [];
    freshBytes = 0;
    if (writing) await writing;
  };
  return { input, tar, blobDigest: () => blob, tarDone, settle };
}
