// HTTP/1.1 to the daemon over a unix socket, TCP or TCP+TLS: plain requests,
// streamed responses and hijacked (Upgrade: tcp) connections.
import type http from 'node:http';
import type https from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import type { Endpoint } from './host';
import { ApiError, ConnectionError } from './errors';
import { exchange, type Exchange } from './exchange';

export type QueryValue = string | number | boolean | undefined | null | string[] | Record<string, unknown>;

export interface RequestOptions {
  method?: string;
  path: string;
  query?: Record<string, QueryValue>;
  /** Object → JSON; Buffer/string as is; Readable streamed (tar uploads). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Don't put /v1.xx in front (only /_ping). */
  unversioned?: boolean;
  /** Abort after this many ms without an answer (0 = never). */
  timeoutMs?: number;
}

export function encodeQuery(q: Record<string, QueryValue> | undefined): string {
  if (!q) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null) continue;
    let s: string;
    if (typeof v === 'boolean') s = v ? '1' : '0';
    else if (Array.isArray(v)) {
      for (const item of v) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(item)}`);
      continue;
    } else if (typeof v === 'object') s = JSON.stringify(v);
    else s = String(v);
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(s)}`);
  }
  return parts.length ? '?' + parts.join('&') : '';
}

function isReadable(x: unknown): x is Readable {
  return !!x && typeof (x as Readable).pipe === 'function' && typeof (x as Readable).on === 'function';
}

export class Transport {
  /** API version used in the path prefix; set by negotiation. */
  version = '1.43';
  userAgent = 'Berth-Client/0.1.0';

  constructor(readonly endpoint: Endpoint) {}

  private baseOptions(o: RequestOptions, extraHeaders: Record<string, string>): http.RequestOptions & https.RequestOptions {
    const ep = this.endpoint;
    const prefix = o.unversioned ? '' : `/v${this.version}`;
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...extraHeaders, ...(o.headers ?? {}) };
    const base: http.RequestOptions & https.RequestOptions = {
      method: o.method ?? 'GET',
      path: ep.basePath + prefix + o.path + encodeQuery(o.query),
      headers,
      agent: false,
    };
    // Without TLS there is no SNI name to work out; saying so spares the
    // agent's net.isIP() check, whose IPv6 regex costs tens of ms to build.
    if (!ep.tls) base.servername = '';
    if (ep.kind === 'unix') {
      base.socketPath = ep.socketPath;
      headers.Host = 'api.moby.localhost';
    } else {
      base.hostname = ep.hostname;
      base.port = ep.port;
      if (ep.tls) {
        base.ca = ep.tls.ca;
        base.cert = ep.tls.cert;
        base.key = ep.tls.key;
        base.rejectUnauthorized = ep.tls.verify;
        if (!ep.tls.verify) base.checkServerIdentity = () => undefined;
      }
    }
    return base;
  }

  private send(o: RequestOptions, upgrade: boolean): http.ClientRequest {
    const extra: Record<string, string> = {};
    let payload: Buffer | undefined;
    if (o.body !== undefined && !isReadable(o.body)) {
      if (Buffer.isBuffer(o.body)) payload = o.body;
      else if (typeof o.body === 'string') payload = Buffer.from(o.body);
      else {
        payload = Buffer.from(JSON.stringify(o.body));
        extra['Content-Type'] = 'application/json';
      }
      extra['Content-Length'] = String(payload.length);
    } else if (isReadable(o.body)) {
      extra['Content-Type'] = 'application/x-tar';
      extra['Transfer-Encoding'] = 'chunked';
    } else if ((o.method ?? 'GET') === 'POST' && !upgrade) {
      extra['Content-Type'] = 'text/plain';
      extra['Content-Length'] = '0';
    }
    if (upgrade) {
      extra.Connection = 'Upgrade';
      extra.Upgrade = 'tcp';
      if (!payload) extra['Content-Type'] = extra['Content-Type'] ?? 'text/plain';
    }
    const opts = this.baseOptions(o, extra);
    // node:http(s) load only for streams, uploads, upgrades and TLS: plain
    // requests go through exchange() (see fetch()).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load keeps the CLI's start-up small
    const req = (this.endpoint.tls ? (require('node:https') as typeof https) : (require('node:http') as typeof http)).request(opts);
    if (o.timeoutMs) req.setTimeout(o.timeoutMs, () => req.destroy(new Error('request timed out')));
    if (isReadable(o.body)) o.body.pipe(req);
    else req.end(payload);
    return req;
  }

  private connErr(e: unknown, o?: RequestOptions): Error {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
      return new ConnectionError(this.endpoint.raw, e);
    }
    const msg = (e as Error)?.message ?? String(e);
    if (o && (code?.startsWith('ERR_SSL') || code?.startsWith('ERR_TLS') || /SSL|certificate|socket hang up|ECONNRESET|EPIPE/.test(msg + (code ?? '')))) {
      const ep = this.endpoint;
      const scheme = ep.tls ? 'https' : 'http';
      const where = ep.kind === 'unix' ? `${scheme}://%2F${encodeURIComponent(ep.socketPath ?? '').slice(3)}` : `${scheme}://${ep.hostname}:${ep.port}`;
      const prefix = o.unversioned ? '' : `/v${this.version}`;
      const alert = /alert ([a-z ]+?)(?::|$)/i.exec(msg);
      const reason = alert ? `remote error: tls: ${alert[1].replace(/^tlsv1\d? /, '').replace(/^alert /, '')}` : msg;
      return new ConnectionError(ep.raw, e, `${o.method ?? 'GET'} "${where}${ep.basePath}${prefix}${o.path}": ${reason}`);
    }
    return e instanceof Error ? e : new Error(msg);
  }

  /** Send a request; resolve with the response once its status is known to be OK (< 400). */
  request(o: RequestOptions): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = this.send(o, false);
      req.on('error', (e) => reject(this.connErr(e, o)));
      req.on('response', (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          readAll(res).then((body) => reject(toApiError(res.statusCode ?? 500, body)), reject);
        } else resolve(res);
      });
    });
  }

  /**
   * One request, the whole answer read; an error status rejects with ApiError.
   * Without TLS or a streamed body this is a plain socket exchange, which
   * spares the CLI loading node:http for its one or two requests.
   */
  async fetch(o: RequestOptions): Promise<Exchange> {
    let res: Exchange;
    if (this.endpoint.tls || isReadable(o.body)) {
      const r = await this.request(o);
      res = { status: r.statusCode ?? 500, headers: r.headers as Record<string, string>, body: await readAll(r) };
    } else {
      const ep = this.endpoint;
      const opts = this.baseOptions(o, {});
      let payload: Buffer | undefined;
      if (o.body !== undefined) {
        payload = Buffer.isBuffer(o.body) ? o.body : Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
        if (!Buffer.isBuffer(o.body) && typeof o.body !== 'string') opts.headers = { ...opts.headers, 'Content-Type': 'application/json' };
      } else if (opts.method === 'POST') {
        payload = Buffer.alloc(0);
        opts.headers = { 'Content-Type': 'text/plain', ...opts.headers };
      }
      const headers = { Host: ep.kind === 'unix' ? 'api.moby.localhost' : `${ep.hostname?.includes(':') ? `[${ep.hostname}]` : ep.hostname}:${ep.port}`, ...(opts.headers as Record<string, string>) };
      const head = [`${opts.method} ${opts.path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
      try {
        res = await exchange({ socketPath: ep.socketPath, hostname: ep.hostname, port: ep.port }, head, payload, o.timeoutMs);
      } catch (e) {
        throw this.connErr(e, o);
      }
    }
    if (res.status >= 400) throw toApiError(res.status, res.body);
    return res;
  }

  /** Request and read the whole body: parsed JSON when it is JSON, else undefined. */
  async json<T = any>(o: RequestOptions): Promise<T> {
    const res = await this.fetch(o);
    const body = res.body;
    if (res.status === 204 || res.status === 304 || body.length === 0) return undefined as T;
    const ct = String(res.headers['content-type'] ?? '');
    const text = body.toString();
    if (ct.includes('json') || /^\s*[[{"]/.test(text)) return JSON.parse(text) as T;
    return text as unknown as T;
  }

  /**
   * Upgrade the connection to a raw duplex stream (attach, exec start).
   * Resolves with the socket once the daemon answered 101 (or 200, for daemons
   * that stream without upgrading).
   */
  hijack(o: RequestOptions): Promise<{ socket: Duplex; head: Buffer; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const req = this.send(o, true);
      req.on('error', (e) => reject(this.connErr(e, o)));
      req.on('upgrade', (res, socket, head) => resolve({ socket, head, headers: res.headers }));
      req.on('response', (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          readAll(res).then((body) => reject(toApiError(res.statusCode ?? 500, body)), reject);
          return;
        }
        // No upgrade: the response body is the output stream; input is not possible.
        resolve({ socket: res as unknown as Duplex, head: Buffer.alloc(0), headers: res.headers });
      });
    });
  }
}

export function readAll(src: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    src.on('data', (c: Buffer) => chunks.push(c));
    src.on('end', () => resolve(Buffer.concat(chunks)));
    src.on('error', reject);
  });
}

function toApiError(status: number, body: Buffer): ApiError {
  const text = body.toString().trim();
  let message = text;
  try {
    const j = JSON.parse(text);
    if (j && typeof j.message === 'string') message = j.message;
  } catch {
    /* not JSON: keep the text */
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- node:http only for this rare message
  if (!message) message = `${status} ${(require('node:http') as typeof http).STATUS_CODES[status] ?? ''}`.trim();
  return new ApiError(status, message);
}
