// The watchdog both tar extractors share (tar-apply.ts, native-extract.ts):
// an extraction that makes no progress for a while fails with TarStall, which
// the caller may retry, instead of hanging.

/** The extractor stopped making progress; a fresh attempt may succeed. */
export class TarStall extends Error {}

/**
 * Whether `source` is waiting for its writer rather than stalled: with
 * `patient`, a stream whose writer is slow (an upload) has nothing buffered
 * and has not ended; its writer ends or destroys it. A pull is not patient
 * (a cut download is noticed as a stall and extracted again from the stored
 * blob); a file never waits.
 */
export function waitingForInput(source: NodeJS.ReadableStream, patient: boolean, isFile: boolean): boolean {
  if (!patient || isFile) return false;
  const s = source as unknown as { readableLength?: number; readableEnded?: boolean; writableEnded?: boolean };
  return !(s.readableLength! > 0) && !s.readableEnded && !s.writableEnded;
}

/**
 * Every `stallMs`, calls `onStall` with a TarStall if `progress()` has not
 * changed since the last look and `busy()` (work in flight) is false. Returns
 * the function that stops the watch.
 */
export function watchStall(stallMs: number, progress: () => number, busy: () => boolean, onStall: (e: TarStall) => void): () => void {
  let seen = -1;
  const timer = setInterval(() => {
    const now = progress();
    if (now === seen && !busy()) onStall(new TarStall(`tar extraction made no progress for ${Math.round(stallMs / 1000)} s`));
    seen = now;
  }, stallMs);
  return () => clearInterval(timer);
}
