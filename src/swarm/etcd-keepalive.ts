// Lease keepalives on one long-lived stream, as etcd's own client sends them.
// Through the JSON gateway each `POST /v3/lease/keepalive` opened and closed
// a gRPC bidi stream inside etcd: on an idle 2-host cluster ~8 a second, the
// largest part of the member's idle CPU. Over HTTP/2 the gateway keeps one
// such stream open (HTTP/1.1 cannot read a request body while answering):
// each keepalive is one small DATA frame each way, answers in order.
import http2 from 'node:http2';
import type { SecureContext } from 'node:tls';
import { EtcdError, jsonObjects } from './etcd-wire';

interface Waiter { id: string; resolve(ttl: number): void; reject(e: Error): void; timer: NodeJS.Timeout }

export class KeepAliveStream {
  private session?: http2.ClientHttp2Session;
  private stream?: http2.ClientHttp2Stream;
  /** Keepalives sent and not answered yet, oldest first (etcd answers a stream in order). */
  private waiting: Waiter[] = [];
  private closed = false;

  constructor(private readonly endpoint: string, private readonly secureContext: SecureContext) {}

  /** Renews lease `id`: its remaining TTL in seconds, 0 when it has expired. */
  keepAlive(id: string, timeoutMs: number): Promise<number> {
    if (this.closed) return Promise.reject(new EtcdError('etcd: client closed'));
    return new Promise((resolve, reject) => {
      let s: http2.ClientHttp2Stream;
      try {
        s = this.open();
      } catch (e) {
        return reject(new EtcdError(`etcd: ${(e as Error).message}`));
      }
      const w: Waiter = {
        id,
        resolve,
        reject,
        // an answer that does not come in time: this stream is not trusted again
        timer: setTimeout(() => this.reset(new EtcdError(`etcd: no keepalive answer from ${this.endpoint} within ${timeoutMs} ms`)), timeoutMs),
      };
      this.waiting.push(w);
      s.write(JSON.stringify({ ID: id }) + '\n');
    });
  }

  close(): void {
    this.closed = true;
    this.reset(new EtcdError('etcd: client closed'));
  }

  private open(): http2.ClientHttp2Stream {
    if (this.stream && !this.stream.destroyed) return this.stream;
    if (!this.session || this.session.closed || this.session.destroyed) {
      const session = http2.connect(this.endpoint, { secureContext: this.secureContext, checkServerIdentity: () => undefined });
      session.on('error', (e) => this.reset(new EtcdError(`etcd: ${e.message}`), session));
      session.on('close', () => this.reset(new EtcdError('etcd: keepalive connection closed'), session));
      // idle between keepalives is normal; the stream keeps the session alive
      session.unref();
      this.session = session;
    }
    const s = this.session.request({ ':method': 'POST', ':path': '/v3/lease/keepalive', 'content-type': 'application/json' });
    const split = jsonObjects((m) => this.answer(m));
    s.on('data', (c: Buffer) => split(c));
    s.on('response', (h) => {
      const status = Number(h[':status']);
      if (status >= 400) this.reset(new EtcdError(`etcd: keepalive stream answered ${status}`), undefined, s);
    });
    s.on('error', (e) => this.reset(new EtcdError(`etcd: ${e.message}`), undefined, s));
    s.on('close', () => this.reset(new EtcdError('etcd: keepalive stream ended'), undefined, s));
    this.stream = s;
    return s;
  }

  private answer(m: Record<string, unknown>): void {
    if (m.error) {
      const e = m.error as { message?: string; code?: number };
      this.reset(new EtcdError(`etcd: ${e.message ?? 'keepalive failed'}`, Number(e.code ?? 0)), undefined, this.stream);
      return;
    }
    const r = (m.result ?? m) as { ID?: string; TTL?: string };
    const i = this.waiting.findIndex((w) => w.id === r.ID);
    if (i < 0) return;
    const [w] = this.waiting.splice(i, 1);
    clearTimeout(w.timer);
    w.resolve(Number(r.TTL ?? 0));
  }

  /**
   * Fails every waiting keepalive and drops the stream, and the session too
   * unless a `stream` alone is named (a timeout and close() name neither):
   * the next call opens new ones. A named stream or session already
   * replaced is left alone.
   */
  private reset(err: EtcdError, session?: http2.ClientHttp2Session, stream?: http2.ClientHttp2Stream): void {
    if (stream && stream !== this.stream) return;
    if (session && session !== this.session) return;
    const waiting = this.waiting;
    this.waiting = [];
    const s = this.stream;
    this.stream = undefined;
    if (s && !s.destroyed) s.close();
    if (!stream) {
      const ses = this.session;
      this.session = undefined;
      if (ses && !ses.destroyed) ses.destroy();
    }
    for (const w of waiting) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
