// berthd keeps V8's young generation at its smallest (daemon/young-gen.ts):
// once started, the daemon mostly waits. A bulk transfer through the JS
// thread (an import's or a load's tar) is the exception: with 1 MiB
// semi-spaces its chunks' objects are promoted and the old space is
// marked again every few MiB, ~300 ms of CPU for a 163 MB import. While
// one runs, the young generation may grow as V8 grows it by default; V8
// shrinks it again at a later GC once allocation is low.
import v8 from 'node:v8';

let clamped = false;
let active = 0;

/** Called by the daemon when it keeps the young generation small. */
export function youngGenClamped(): void {
  clamped = true;
}

/** Runs `fn` with the young generation free to grow. */
export async function duringBulk<T>(fn: () => Promise<T>): Promise<T> {
  if (!clamped) return fn();
  if (active++ === 0) v8.setFlagsFromString('--semi-space-growth-factor=2');
  try {
    return await fn();
  } finally {
    if (--active === 0) v8.setFlagsFromString('--semi-space-growth-factor=1');
  }
}
