// A pulled layer's bytes through one native sink (native/fsroot/layer-sink.c):
// what the download writes (`input`) is appended to the blob's temp file and
// hashed, gunzipped and the tar hashed; the tar comes out of `tar` for the
// extraction. Two chains run side by side on libuv's pool, one job each at
// a time: the blob's (file write + sha256 of the compressed bytes) and the
// tar's (gunzip + sha256 of the tar), each fed batches of socket chunks.
// gzip's own CRC-32 is not checked: the blob's digest is verified before the
// layer is used and the tar's against the config's diffID.
// `BERTH_LAYER_SINK_SPLIT=0`: one job per batch does all four and checks the
// CRC (as first landed, to compare). Before the sink, the blob file, its
// hash, gunzip, a 1 MiB join and the diffID hash were five stream stages,
// each chunk a pool job and a wake-up of the JS thread.
//
// Backpressure: the download is held back while more than HOLD bytes wait
// in either chain (to be written, or to be gunzipped because the extraction
// is behind). A gunzip error fails only `tar` (the blob is still written and
// hashed, so the caller can tell a bad layer from a bad download); a write
// error fails `input`.
import { Readable, Writable } from 'node:stream';
import { addonWith, type LayerSinkHandle, type LayerSinkResult } from '../native/addon';
import { InvalidParameter } from '../../util/errors';

const HOLD = 8 << 20;
const OUT_PER_JOB = 4 << 20;

function nativeSink() {
  return addonWith('BERTH_LAYER_SINK', ['layerSinkNew', 'layerSinkRunAsync', 'layerSinkClose']);
}

/** The two chains as separate jobs, when the addon has them and BERTH_LAYER_SINK_SPLIT is not 0. */
function splitChains() {
  return addonWith('BERTH_LAYER_SINK_SPLIT', ['layerSinkWriteAsync', 'layerSinkGunzipAsync']);
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
  const split = splitChains();
  const h: LayerSinkHandle = n.layerSinkNew(fd, !!split);
  // The tar chain's input not yet handed to a job (in one-job mode, the
  // blob's too), and what its native side holds not yet gunzipped.
  let fresh: Buffer[] = [];
  let freshBytes = 0;
  let held = 0;
  // The blob chain's input not yet written (split mode).
  let wfresh: Buffer[] = [];
  let wfreshBytes = 0;
  let wInFlight = 0;
  let running: Promise<void> | undefined; // the gunzip (or one-job) chain's job
  let writing: Promise<void> | undefined; // a job that writes the file
  let inputDone = false;
  let lastSent = false;
  let wLastSent = false;
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
    if (split) {
      // Only the blob chain needs the bytes now.
      fresh = [];
      freshBytes = 0;
    }
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
  /** Bytes waiting in the slower chain. */
  const backlog = () => Math.max(freshBytes + held, split ? wfreshBytes + wInFlight : 0);
  /** The download goes on once the chains caught up; its end once the blob is hashed. */
  const release = () => {
    if (pendingWrite && backlog() < HOLD) {
      const cb = pendingWrite;
      pendingWrite = undefined;
      cb();
    }
    if (pendingFinal && blob) {
      const cb = pendingFinal;
      pendingFinal = undefined;
      cb();
    }
  };

  const onTar = (r: LayerSinkResult, askedOut: number) => {
    running = undefined;
    if (!split) writing = undefined;
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
    release();
    kick();
  };
  const onTarError = (e: Error) => {
    running = undefined;
    if (!split) writing = undefined;
    const code = (e as NodeJS.ErrnoException).code ?? '';
    // A bad gzip stream: the tar fails, the blob goes on being written and hashed.
    if (code.startsWith('Z_')) failTar(new InvalidParameter(`invalid gzip layer: ${e.message}`));
    else fail(e);
    release();
    kick();
  };

  function kick(): void {
    if (closed) return;
    if (!failed) {
      if (split) kickWrite(split);
      kickTar();
    }
    maybeClose();
  }

  /** The blob chain (split mode): what came is written and hashed; the digest at the end. */
  function kickWrite(s: NonNullable<typeof split>): void {
    if (writing) return;
    const last = inputDone;
    if (wfresh.length === 0 && !(last && !wLastSent)) return;
    const batch = wfresh;
    wInFlight = wfreshBytes;
    wfresh = [];
    wfreshBytes = 0;
    if (last) wLastSent = true;
    writing = s.layerSinkWriteAsync(h, batch, last).then((r) => {
      writing = undefined;
      wInFlight = 0;
      if (r.blob) blob = `sha256:${r.blob}`;
      release();
      kick();
    }, (e: Error) => {
      writing = undefined;
      wInFlight = 0;
      fail(e);
      kick();
    });
  }

  /** The tar chain (or, in one-job mode, both). */
  function kickTar(): void {
    if (running) return;
    // More tar while the reader's buffer is below its mark. (Not a flag
    // cleared by push(): a read() that came during a job's pushes would be
    // forgotten, and a job without output would never wake the reader.)
    const maxOut = tarGone ? -1 : tar.readableLength < OUT_PER_JOB ? OUT_PER_JOB : 0;
    const last = inputDone;
    const work = split
      ? (maxOut > 0 && (fresh.length > 0 || (held > 0 && !stuck) || (last && !tarEnded))) || (maxOut === -1 && held > 0)
      : fresh.length > 0
        || (last && !lastSent)
        || (last && !blob)
        || (maxOut !== 0 && ((held > 0 && !stuck) || (last && !tarEnded)))
        || (maxOut === -1 && held > 0);
    if (!work) return;
    const batch = fresh;
    const writes = !split && batch.length > 0;
    held += freshBytes;
    fresh = [];
    freshBytes = 0;
    if (last) lastSent = true;
    const job = split ? split.layerSinkGunzipAsync(h, batch, last, maxOut) : n.layerSinkRunAsync(h, batch, last, maxOut);
    running = job.then((r) => onTar(r, maxOut), onTarError);
    if (!split && (writes || (last && !blob))) writing = running;
  }

  /** The native state goes once neither side needs it. */
  function maybeClose(): void {
    if (closed || running || writing || !tarEnded || !(inputOver || blob || failed)) return;
    closed = true;
    n.layerSinkClose(h);
  }

  const input = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _e, cb) {
      if (failed) { cb(failed); return; }
      if (!split || !tarGone) {
        fresh.push(chunk);
        freshBytes += chunk.length;
      }
      if (split) {
        wfresh.push(chunk);
        wfreshBytes += chunk.length;
      }
      if (backlog() < HOLD) cb();
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
        wfresh = [];
        wfreshBytes = 0;
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
      if (split) {
        fresh = [];
        freshBytes = 0;
      }
      release();
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
    if (!split) {
      fresh = [];
      freshBytes = 0;
    }
    wfresh = [];
    wfreshBytes = 0;
    while (writing) await writing;
    maybeClose();
  };
  return { input, tar, blobDigest: () => blob, tarDone, settle };
}
