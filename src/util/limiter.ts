// A concurrency gate for layer transfers (pull and push share it).

/** Limits concurrency: at most n tasks run at once, the rest wait. */
export function limiter(n: number) {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>, onWait?: () => void): Promise<T> => {
    if (active >= n) {
      onWait?.();
      await new Promise<void>((r) => queue.push(r));
    }
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
