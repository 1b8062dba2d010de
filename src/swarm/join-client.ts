// A joining node's one connection to a manager's control port. The joiner
// has no CA yet, so the handshake cannot be verified: the CA comes from the
// handshake itself (the control server sends it as the chain of its
// certificate) or, when that one's digest does not match the token's (a
// server that does not send it), from GET /ca on the same connection. Before
// the join — which carries the token — goes out, the server's certificate is
// checked by hand against the CA the token's digest vouched for, on that very
// socket. One handshake and no extra request (each a round of both busy
// daemons on a loaded host) instead of two connections; what is trusted is
// the same as with a new connection verified by the CA.
import tls, { type TLSSocket } from 'node:tls';
import https from 'node:https';
import { X509Certificate, randomBytes } from 'node:crypto';
import { controlCall, UnreachableError } from './control';
import { createCA, keyAndCsr, signCsr } from '../host/x509';
import { log } from '../util/log';

type Connect = (...args: unknown[]) => unknown;

const CLOSED = 'the connection to the manager was closed';

let joinContext: tls.SecureContext | undefined;

/**
 * The client context of a join's connection (no client certificate, the
 * server checked by hand), made once. Made cold on the join's path it cost
 * 10-25 ms (the default root store is built with it, and the first X.509
 * parse and verification load their code); a node not in a swarm calls this
 * ahead (service.ts), with the key it will join with.
 */
export function warmJoinClient(): tls.SecureContext {
  if (joinContext) return joinContext;
  joinContext = tls.createSecureContext();
  try {
    const c = new X509Certificate(tls.rootCertificates[0]);
    c.verify(c.publicKey);
  } catch {
    // only a warm-up
  }
  return joinContext;
}

/** An agent that hands out one already connected socket, kept alive between requests, and never connects itself. */
class OneSocketAgent extends https.Agent {
  closed = false;

  constructor(sock: TLSSocket) {
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
    let next: TLSSocket | undefined = sock;
    (this as unknown as { createConnection: Connect }).createConnection = (...args: unknown[]) => {
      const s = next;
      next = undefined;
      if (s && !s.destroyed) return s;
      const cb = args[args.length - 1];
      if (typeof cb === 'function') process.nextTick(cb, new Error(CLOSED));
      return undefined;
    };
  }

  override destroy(): void {
    this.closed = true;
    super.destroy();
  }
}

export class JoinConnection {
  private readonly agent: OneSocketAgent;
  private trusted?: string;

  private constructor(readonly addr: string, private readonly sock: TLSSocket, private readonly timeoutMs: number) {
    this.agent = new OneSocketAgent(sock);
  }

  /** A TLS connection to `addr` (host:port), its server not verified yet. */
  static open(addr: string, timeoutMs = 5000): Promise<JoinConnection> {
    const i = addr.lastIndexOf(':');
    const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(addr.slice(i + 1));
    return JoinConnection.connect(addr, { host, port }, timeoutMs);
  }

  private static connect(addr: string, to: { host?: string; port?: number; path?: string }, timeoutMs: number): Promise<JoinConnection> {
    return new Promise((resolve, reject) => {
      const sock = tls.connect({ ...to, rejectUnauthorized: false, timeout: timeoutMs, secureContext: warmJoinClient() });
      const fail = (e: Error) => { sock.destroy(); reject(new UnreachableError(addr, e.message)); };
      sock.once('secureConnect', () => {
        sock.off('error', fail);
        // an idle socket's error is the next request's (or nobody's): never an uncaught one
        sock.on('error', () => {});
        sock.setTimeout(0);
        sock.off('timeout', onTimeout);
        resolve(new JoinConnection(addr, sock, timeoutMs));
      });
      const onTimeout = () => fail(new Error(`timed out after ${timeoutMs} ms`));
      sock.once('timeout', onTimeout);
      sock.once('error', fail);
    });
  }

  /** The address this host reaches the manager from. */
  get localAddress(): string {
    return (this.sock.localAddress ?? '').replace(/^::ffff:/, '');
  }

  /** The root of the chain the server sent in the handshake, PEM (not trusted yet: the caller checks its digest). */
  chainCA(): string | undefined {
    const leaf = this.sock.getPeerCertificate(true);
    let c = leaf;
    for (let i = 0; i < 4 && c?.issuerCertificate && c.issuerCertificate !== c; i++) c = c.issuerCertificate;
    if (!c?.raw || c === leaf) return undefined;
    try {
      return new X509Certificate(c.raw).toString();
    } catch {
      return undefined;
    }
  }

  /** The cluster's root CA as the manager hands it out (not trusted yet: the caller checks its digest). */
  fetchCA(): Promise<string> {
    return controlCall<string>(this.addr, 'GET', '/ca', undefined, {}, this.timeoutMs, this.agent);
  }

  /**
   * Trusts `caPem` (whose digest the caller checked): the server's
   * certificate on this connection must be issued and signed by it and valid
   * now; throws otherwise.
   */
  trust(caPem: string): void {
    const ca = new X509Certificate(caPem);
    const peer = this.sock.getPeerX509Certificate();
    const now = Date.now();
    if (!ca.ca || !peer || !peer.checkIssued(ca) || !peer.verify(ca.publicKey)
      || Date.parse(peer.validFrom) > now || Date.parse(peer.validTo) < now) {
      throw new Error(`the manager at ${this.addr} does not present a certificate of the cluster's root CA`);
    }
    this.trusted = caPem;
  }

  /**
   * A POST on this connection once its server is trusted; when the manager
   * closed it meanwhile, on a new connection verified by the CA.
   */
  async post<T>(path: string, body: unknown, timeoutMs: number): Promise<T> {
    if (!this.trusted) throw new Error('the manager is not trusted yet');
    const fresh = () => controlCall<T>(this.addr, 'POST', path, body, { ca: this.trusted }, timeoutMs);
    if (this.sock.destroyed) return fresh();
    try {
      return await controlCall<T>(this.addr, 'POST', path, body, {}, timeoutMs, this.agent);
    } catch (e) {
      // closed before the request went out: nothing reached the manager, a new connection is safe
      if (e instanceof UnreachableError && e.message.includes(CLOSED)) return fresh();
      throw e;
    }
  }

  close(): void {
    this.agent.destroy();
    this.sock.destroy();
  }

  /**
   * A join rehearsed once in this process, against a throwaway control
   * server on an abstract unix socket (no port, no file): the handshake,
   * the chain and trust checks, a POST and its answer. A fresh daemon's
   * first join paid 20-30 ms more for its TLS connect and 15-35 ms more for
   * its POST than its next ones (OpenSSL's first X25519/AES-GCM/ECDSA use,
   * node's TLS and HTTP client code compiled on first call); made while the
   * node is not in a swarm, off any request's path.
   */
  static async rehearse(): Promise<void> {
    if (rehearsed) return;
    rehearsed = true;
    const ca = await createCA('berth-join-rehearsal');
    const k = keyAndCsr();
    const cert = await signCsr({ csrPem: k.csrPem, ca, subject: { CN: 'rehearsal' }, ips: ['127.0.0.1'] });
    const server = https.createServer({ cert: `${cert.trimEnd()}\n${ca.certPem}`, key: k.keyPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const data = JSON.stringify({ echo: JSON.parse(Buffer.concat(chunks).toString() || '{}') as unknown });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
        res.end(data);
      });
    });
    const path = `\0berth-join-rehearsal-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path }, () => resolve());
      });
      const c = await JoinConnection.connect('127.0.0.1:2377', { path }, 5000);
      try {
        c.trust(c.chainCA() ?? '');
        await c.post('/join', { token: 'rehearsal', csr: k.csrPem }, 5000);
      } finally {
        c.close();
      }
    } finally {
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
    }
  }
}

let rehearsed = false;

/** JoinConnection.rehearse() behind a short delay (not in the daemon's start), its failure only logged. */
export function rehearseJoin(delayMs = 100): void {
  if (rehearsed) return;
  setTimeout(() => {
    const t0 = Date.now();
    JoinConnection.rehearse().then(
      () => log.debug('join rehearsed', { ms: Date.now() - t0 }),
      (e) => log.debug('join rehearsal failed', { err: (e as Error).message }),
    );
  }, delayMs).unref();
}
