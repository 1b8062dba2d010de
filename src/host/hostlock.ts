// A mutex shared by every berthd of this host (network namespace): an
// abstract unix socket bound while the lock is held. The kernel frees it when
// the holder dies, so a crash never leaves a stale lock. Used where daemons
// would otherwise race over a host resource, e.g. two daemons picking the
// same free subnet before either has routed it.
import net from 'node:net';

const RETRY_MS = 20;

function tryBind(name: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)));
    srv.listen('\0berth-hostlock-' + name, () => resolve(srv));
  });
}

/**
 * Runs `fn` holding the host-wide lock `name`. After `waitMs` without it, runs
 * anyway: a wedged holder must not stop this daemon (the lock only narrows a race).
 */
export async function withHostLock<T>(name: string, fn: () => Promise<T>, waitMs = 10_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  let srv = await tryBind(name);
  while (!srv && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, RETRY_MS));
    srv = await tryBind(name);
  }
  try {
    return await fn();
  } finally {
    srv?.close();
  }
}
