// The swarm control port (2377): HTTPS with the node's certificate, sent with
// the root CA as its chain. Two calls are open to anyone — the root CA (the
// joiner checks it against its token's digest; it also finds it in the
// handshake) and join (proven by the token) —; heartbeats need a client
// certificate from the cluster's CA, and the node id is the certificate's CN.
import https from 'node:https';
import type http from 'node:http';
import type { SecureContext, TLSSocket } from 'node:tls';
import { SwarmError } from './errors';
import { log } from '../util/log';
import type { ControlAgent } from './control-pool';
import { secureContextFor } from './tls-context';
import type { NodeDescription } from './types';

/** A join: the token, a CSR for the node's key, and what the node tells about itself. */
export interface JoinRequest extends NodeDescription {
  token: string;
  csr: string;
}

export interface EtcdCredentials { ca: string; cert: string; key: string; initialCluster: string }

export interface JoinResponse {
  nodeId: string;
  clusterId: string;
  role: 'manager' | 'worker';
  rootCA: string;
  cert: string;
  managers: Array<{ NodeID: string; Addr: string }>;
  etcd?: EtcdCredentials;
}

/**
 * `desc`: a worker's description, sent until a heartbeat was answered: the
 * manager that answered its join writes its record after the answer, and a
 * heartbeat finding none makes it from this (unless the node was removed).
 */
export interface HeartbeatRequest { running: 'manager' | 'worker'; desc?: NodeDescription }
export interface HeartbeatResponse { role: 'manager' | 'worker'; managers: Array<{ NodeID: string; Addr: string }>; etcd?: EtcdCredentials }

export interface ControlHandlers {
  rootCA(): string;
  join(req: JoinRequest): Promise<JoinResponse>;
  /** `certRole`: the role the node's certificate was issued for (its OU). */
  heartbeat(nodeId: string, clusterId: string, req: HeartbeatRequest, certRole: string): Promise<HeartbeatResponse>;
  /** Further authenticated POST routes (swarm components'), looked up per request. */
  route?(path: string): ((nodeId: string, body: Record<string, unknown>) => Promise<unknown>) | undefined;
}

const MAX_BODY = 1 << 20;

export class ControlServer {
  private server?: https.Server;

  constructor(private readonly h: ControlHandlers) {}

  listen(host: string, port: number, tls: { cert: string; key: string; ca: string }): Promise<void> {
    // the chain sent is the node's certificate and the root CA: a joiner gets the CA in the handshake (join-client.ts)
    const chain = `${tls.cert.trimEnd()}\n${tls.ca}`;
    const server = https.createServer({ ...tls, cert: chain, requestCert: true, rejectUnauthorized: false }, (req, res) => void this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new SwarmError(500, `failed to listen on remote API address: ${e.message}`)));
      server.listen(port, host, () => resolve());
    });
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      const data = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'content-length': Buffer.byteLength(data) });
      res.end(data);
    };
    try {
      if (req.method === 'GET' && req.url === '/ca') return send(200, this.h.rootCA());
      const body = await readJson(req);
      if (req.method === 'POST' && req.url === '/join') return send(200, await this.h.join(body as unknown as JoinRequest));
      const extra = req.method === 'POST' && req.url !== '/heartbeat' ? this.h.route?.(req.url ?? '') : undefined;
      if (req.method === 'POST' && (req.url === '/heartbeat' || extra)) {
        const peer = peerOf(req.socket as TLSSocket);
        if (!peer) return send(401, { message: 'a node certificate of this cluster is required' });
        if (extra) return send(200, (await extra(peer.node, body)) ?? {});
        return send(200, await this.h.heartbeat(peer.node, peer.cluster, body as unknown as HeartbeatRequest, peer.ou));
      }
      send(404, { message: 'not found' });
    } catch (e) {
      const status = e instanceof SwarmError ? e.status : 500;
      if (status >= 500) log.warn('swarm control request failed', { url: req.url, err: (e as Error).message });
      send(status, { message: (e as Error).message });
    }
  }
}

/** Node id (CN) and cluster id (O) of a connection's verified client certificate, per connection. */
const peers = new WeakMap<TLSSocket, { node: string; cluster: string; ou: string } | null>();
function peerOf(sock: TLSSocket): { node: string; cluster: string; ou: string } | undefined {
  // a kept connection carries many calls; its certificate (decoded into an object each time asked) is the same for all
  let p = peers.get(sock);
  if (p === undefined) {
    const cert = sock.authorized ? sock.getPeerCertificate() : undefined;
    p = cert?.subject?.CN ? { node: String(cert.subject.CN), cluster: String(cert.subject.O ?? ''), ou: String(cert.subject.OU ?? '') } : null;
    peers.set(sock, p);
  }
  return p ?? undefined;
}

function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) { req.destroy(); reject(new SwarmError(400, 'request too large')); return; }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      if (!text) return resolve({});
      try { resolve(JSON.parse(text)); } catch { reject(new SwarmError(400, 'invalid JSON')); }
    });
    req.on('error', reject);
  });
}

export interface ClientTls { ca?: string; cert?: string; key?: string }

/**
 * One call to a remote node's control port; its error answers become
 * SwarmErrors with its text. With `agent` (a ControlPool's) the connection is
 * kept for the next call; a kept socket the server closed meanwhile (reset
 * before any answer) is retried once on a new one, unless the pool closed it.
 * `signal` aborts it (the call then fails).
 */
export function controlCall<T>(addr: string, method: 'GET' | 'POST', path: string, body: unknown, tls: ClientTls, timeoutMs = 10_000, agent?: ControlAgent, signal?: AbortSignal): Promise<T> {
  const data = body === undefined ? '' : JSON.stringify(body);
  const once = (retry: boolean): Promise<T> => new Promise((resolve, reject) => {
    let answered = false;
    const opts: https.RequestOptions & { secureContext: SecureContext } = {
      method,
      // ca/cert/key name the pooled socket (a new identity never reuses one); the context is made once per identity
      ca: tls.ca, cert: tls.cert, key: tls.key, secureContext: secureContextFor(tls),
      // without a CA yet (fetching it) nothing can be verified; afterwards the chain is, the host name is not (managers move)
      rejectUnauthorized: !!tls.ca,
      checkServerIdentity: () => undefined,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      timeout: timeoutMs,
      agent: agent ?? false,
      signal,
    };
    const req = https.request(`https://${addr}${path}`, opts, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        const status = res.statusCode ?? 500;
        if (status >= 400) {
          let msg = text;
          try { msg = JSON.parse(text).message ?? text; } catch { /* plain text */ }
          return reject(new SwarmError(status, msg));
        }
        if ((res.headers['content-type'] ?? '').startsWith('text/plain')) return resolve(text as unknown as T);
        try { resolve(JSON.parse(text) as T); } catch { reject(new SwarmError(500, `bad answer from ${addr}`)); }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (retry && !answered && req.reusedSocket && !agent?.closed && !signal?.aborted && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return resolve(once(false));
      reject(e instanceof SwarmError ? e : new UnreachableError(addr, e.message));
    });
    req.end(data);
  });
  return once(!!agent);
}

/** The manager could not be reached at all (as opposed to an answer refusing the call). */
export class UnreachableError extends SwarmError {
  constructor(readonly addr: string, why: string) {
    super(500, `could not reach ${addr}: ${why}`);
  }
}
