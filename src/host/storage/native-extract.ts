// A layer tar extracted by the addon (native/fsroot/tar-extract.c): parsing,
// path checks, creates, xattrs and the tar-split record on libuv's pool, one
// job per batch of input. The JS extractor (tar-apply.ts) did all of that on
// berthd's one JS thread — about as much CPU as the kernel's creates on a
// rootfs import; here that thread only hands buffers over while the diffID
// is hashed on another pool thread. Used for an empty root (every new
// layer); the rules and errors are tar-apply.ts's. BERTH_NATIVE_EXTRACT=0
// (or an addon built before it) keeps the JS extractor.
import fs from 'node:fs';
import { InvalidParameter } from '../../util/errors';
import { log } from '../../util/log';
import { addonWith, type TarExtractHandle } from '../native/addon';
import type { SplitRecorder } from './tar-split';
import { waitingForInput, watchStall } from './stall-watch';

/** Input queued while a job runs before the source is paused. */
const MAX_QUEUED = 8 << 20;

type Native = NonNullable<ReturnType<typeof nativeExtractor>>;

export function nativeExtractor() {
  return addonWith('BERTH_NATIVE_EXTRACT', ['tarExtractNew', 'tarExtractRunAsync', 'tarExtractClose']);
}

interface NativeError extends Error {
  kind?: string;
  entry?: string;
  why?: string;
  detail?: string;
  code?: string;
}

/** Errors an entry's own data causes are bad input (tar-apply.ts's list). */
const INPUT_ERRNO = new Set(['ENAMETOOLONG', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ELOOP', 'EINVAL', 'ENOENT', 'EMLINK', 'ENOTEMPTY', 'EPERM', 'EXDEV']);

/** The addon's failure as tar-apply.ts words it. */
function toError(e: NativeError): Error {
  const entry = (why: string) => new InvalidParameter(`invalid tar entry ${JSON.stringify(e.entry ?? '')}: ${why}`);
  switch (e.kind) {
    case 'entry': return entry(e.why ?? '');
    case 'parent': return entry(`parent ${JSON.stringify(e.detail ?? '')} is not a directory`);
    case 'linktarget': return entry(`hardlink target ${JSON.stringify(e.detail ?? '')} not found in the layer`);
    case 'xattr': return entry(`extended attribute ${JSON.stringify(e.detail ?? '')} ${e.why}`);
    case 'opaque': return new Error(`cannot mark ${JSON.stringify(e.entry ?? '')} opaque: ${e.why}`);
    case 'archive': return new InvalidParameter(`invalid tar archive: ${e.why}`);
    case 'errno':
      if (e.code && INPUT_ERRNO.has(e.code)) return entry(`cannot be extracted (${e.code})`);
      return e;
    default: return e;
  }
}

/**
 * Extracts `tar_` (a file or a stream) into `realRoot` (an empty directory,
 * its real path) as applyTar does; `split` gets the tar-split the addon
 * made. A stall is no input for `stallMs` while no job runs (a patient
 * stream waiting for its writer is not one; see applyTar).
 */
export async function applyTarNative(
  n: Native,
  tar_: string | NodeJS.ReadableStream,
  realRoot: string,
  stallMs: number,
  split: SplitRecorder | undefined,
  patient: boolean,
): Promise<{ size: number }> {
  const source = (typeof tar_ === 'string' ? fs.createReadStream(tar_, { highWaterMark: 1 << 20 }) : tar_) as fs.ReadStream;
  // BERTH_EXTRACT_THREAD=1: a second thread for file creates. Off by
  // default: on 2 cores, beside the diffID's hash, the JS thread and the
  // client, it made imports slower (bench/REPORT.md, 2026-12-05).
  const h: TarExtractHandle = n.tarExtractNew(realRoot, split ? split.layerDir : '', process.env.BERTH_EXTRACT_THREAD === '1');
  let queued: Buffer[] = [];
  let queuedBytes = 0;
  let ended = false;
  let error: Error | undefined;
  let wake: (() => void) | undefined;
  let progress = 0;
  let job: Promise<unknown> | undefined;
  const poke = (): void => { const w = wake; wake = undefined; w?.(); };
  const onData = (chunk: Buffer | string): void => {
    const c = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    progress++;
    if (!c.length) return;
    queued.push(c);
    queuedBytes += c.length;
    if (queuedBytes >= MAX_QUEUED) source.pause();
    poke();
  };
  const onEnd = (): void => { ended = true; poke(); };
  const onError = (e: Error): void => { error ??= e; poke(); };
  const isFile = typeof tar_ === 'string';
  const stopWatch = watchStall(stallMs, () => progress, () => !!job || waitingForInput(source, patient, isFile), (e) => { error ??= e; poke(); });
  source.on('data', onData);
  source.on('end', onEnd);
  source.on('error', onError);
  try {
    for (;;) {
      while (!queued.length && !ended && !error) await new Promise<void>((r) => { wake = r; });
      if (error) throw error;
      const chunks = queued;
      const last = ended;
      queued = [];
      queuedBytes = 0;
      source.resume();
      job = n.tarExtractRunAsync(h, chunks, last);
      let r;
      try {
        r = await (job as ReturnType<Native['tarExtractRunAsync']>);
      } catch (e) {
        throw toError(e as NativeError);
      } finally {
        job = undefined;
        progress++;
      }
      for (const [entry, name, err] of r.warnings) {
        if (err) log.warn('extended attribute not applied', { entry, name, error: err.slice(0, 300) });
        else log.warn('extended attribute of an unknown namespace not applied', { entry, name });
      }
      if (last) {
        split?.useNative(r.split);
        return { size: r.size ?? 0 };
      }
    }
  } finally {
    stopWatch();
    source.off('data', onData);
    source.off('end', onEnd);
    source.off('error', onError);
    // Nothing may still be writing into the root the caller removes next.
    await job?.catch(() => {});
    n.tarExtractClose(h);
    if (typeof tar_ === 'string') source.destroy();
  }
}
