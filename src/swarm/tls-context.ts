// TLS contexts for the swarm's client connections (control port, etcd),
// made once per identity. Without one, every new connection builds its own
// from the PEM strings — parsing the CA, the certificate and the key — which
// a profile of a worker during `service scale` showed as most of what a
// reconnect of the control pool costs.
import tls from 'node:tls';

export interface TlsIdentity { ca?: string; cert?: string; key?: string }

/** Identities a node uses at once: its own (one per CA/cert rotation), the etcd client's; older ones fall out. */
const MAX = 8;
const cache = new Map<string, tls.SecureContext>();

/** The context for these PEMs (the same object for the same strings). */
export function secureContextFor(id: TlsIdentity): tls.SecureContext {
  const k = `${id.ca ?? ''}\0${id.cert ?? ''}\0${id.key ?? ''}`;
  let c = cache.get(k);
  if (c) {
    // most recently used last: the oldest goes first when full
    cache.delete(k);
    cache.set(k, c);
    return c;
  }
  c = tls.createSecureContext({ ca: id.ca, cert: id.cert, key: id.key });
  cache.set(k, c);
  if (cache.size > MAX) cache.delete(cache.keys().next().value as string);
  return c;
}
