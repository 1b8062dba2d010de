// Waiting for something at most so long: the timer is cleared as soon as the
// promise settles, so a bounded wait never keeps the process (or a test
// daemon's shutdown) alive for its whole bound.

/** Settles as `p` does, or resolves `undefined` after `ms`, whichever comes first. */
export function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<undefined>((resolve) => { timer = setTimeout(resolve, ms, undefined); });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}
