// HTTP to one registry for one repository: picks the working base URL
// (HTTPS, or HTTP for insecure registries), answers auth challenges (basic,
// or bearer tokens from the realm, cached per scope) and maps registry
// errors to the engine's typed errors.
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { BerthError, Forbidden, NotFound, SystemError, Unauthorized } from '../util/errors';
import { basicHeader, parseChallenges, type AuthConfig, type Challenge } from './auth';
import type { Endpoint } from './endpoint';

export interface RegistryResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A body that can be sent again after an auth challenge: bytes, or a stream factory. */
  body?: Buffer | (() => Readable);
  contentLength?: number;
  /** Abort if no byte moves for this long (ms). */
  idleTimeoutMs?: number;
}

/** Transient failure worth a retry (network, 5xx, 429). */
export class TransientError extends SystemError {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 32 }),
  httpsInsecure: new https.Agent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false }),
};

/** Remembers which base URL answered for a registry (per process). */
const workingBase = new Map<string, string>();

export class RegistrySession {
  private token?: string;
  private basic?: string;

  constructor(
    readonly endpoint: Endpoint,
    /** Repository path in the registry (`library/busybox`). */
    readonly repo: string,
    private readonly auth: AuthConfig | undefined,
    /** Token scope actions: `pull` or `pull,push`. */
    private readonly actions: string,
    private readonly userAgent = 'berth/0.1 (distribution)',
  ) {}

  /** Sends a request, answering one auth challenge; non-2xx answers are returned, not thrown. */
  async request(method: string, pathOrUrl: string, opts: RequestOptions = {}): Promise<RegistryResponse> {
    let res = await this.send(method, pathOrUrl, opts);
    if (res.status === 401) {
      const ch = parseChallenges(res.headers['www-authenticate']);
      res.body.resume();
      if (ch.length === 0) return res;
      try {
        await this.authenticate(ch);
      } catch (e) {
        // The engine answers registry auth failures with 500, as Docker does:
        // a 401 from the daemon would make the docker CLI prompt for a login.
        if (e instanceof Unauthorized) throw new SystemError(e.message);
        throw e;
      }
      res = await this.send(method, pathOrUrl, opts);
    }
    return res;
  }

  private async authenticate(chs: Challenge[]): Promise<void> {
    const bearer = chs.find((c) => c.scheme === 'bearer');
    const basicCh = chs.find((c) => c.scheme === 'basic');
    if (bearer) {
      this.token = await this.fetchToken(bearer);
      return;
    }
    if (basicCh) {
      const b = this.auth && basicHeader(this.auth);
      if (!b) throw new Unauthorized('no basic auth credentials');
      this.basic = b;
    }
  }

  /** Fetches a bearer token for this repository (or a given scope) from the realm. */
  async fetchToken(ch: Challenge, scope = this.repo ? `repository:${this.repo}:${this.actions}` : ''): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw new Unauthorized('unauthorized: bearer challenge without realm');
    const u = new URL(realm);
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    if (scope) u.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    let method = 'GET';
    let body: Buffer | undefined;
    if (this.auth?.registrytoken) return this.auth.registrytoken;
    if (this.auth?.identitytoken) {
      // OAuth2 refresh-token grant, as Docker does with identity tokens.
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.auth.identitytoken, service: ch.params.service ?? '', client_id: 'berth' });
      if (scope) form.set('scope', scope);
      body = Buffer.from(form.toString());
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else {
      const b = this.auth && basicHeader(this.auth);
      if (b) headers.Authorization = b;
    }
    const res = await rawRequest(method, u, { headers, body: body }, this.endpoint.insecureTls, this.userAgent);
    const text = await readAll(res.body, 1 << 20);
    if (res.status === 401 || res.status === 403) {
      throw new Unauthorized(`unauthorized: ${registryMessage(text) || 'incorrect username or password'}`);
    }
    if (res.status !== 200) throw new SystemError(`token request to ${u.origin} failed: ${res.status} ${registryMessage(text)}`);
    let j: any;
    try {
      j = JSON.parse(text.toString('utf8'));
    } catch {
      throw new SystemError(`token server ${u.origin} returned malformed JSON`);
    }
    const tok = j.token ?? j.access_token;
    if (typeof tok !== 'string' || !tok) throw new SystemError(`token server ${u.origin} returned no token`);
    return tok;
  }

  private async send(method: string, pathOrUrl: string, opts: RequestOptions): Promise<RegistryResponse> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    else if (this.basic) headers.Authorization = this.basic;
    if (/^https?:\/\//.test(pathOrUrl)) {
      const u = new URL(pathOrUrl);
      // Auth goes only to the registry itself, not to a redirect target (e.g. a CDN).
      const base = await this.base();
      if (u.origin !== new URL(base).origin) delete headers.Authorization;
      return rawRequest(method, u, { ...opts, headers }, this.endpoint.insecureTls, this.userAgent);
    }
    const base = await this.base();
    try {
      return await rawRequest(method, new URL(base + pathOrUrl), { ...opts, headers }, this.endpoint.insecureTls, this.userAgent);
    } catch (e) {
      // The registry may have moved between HTTP and HTTPS: probe again next time.
      if (e instanceof TransientError) workingBase.delete(this.endpoint.name);
      throw e;
    }
  }

  /** The first base URL that answers /v2/ (remembered per registry). */
  async base(): Promise<string> {
    const known = workingBase.get(this.endpoint.name);
    if (known) return known;
    let lastErr: unknown;
    for (const b of this.endpoint.bases) {
      try {
        const r = await rawRequest('GET', new URL(b + '/v2/'), { idleTimeoutMs: 15000 }, this.endpoint.insecureTls, this.userAgent);
        r.body.resume();
        workingBase.set(this.endpoint.name, b);
        return b;
      } catch (e) {
        lastErr = e;
      }
    }
    throw new SystemError(`Get "${this.endpoint.bases[0]}/v2/": ${(lastErr as Error)?.message ?? lastErr}`);
  }
}

export function rawRequest(
  method: string,
  url: URL,
  opts: RequestOptions,
  insecureTls: boolean,
  userAgent: string,
): Promise<RegistryResponse> {
  return new Promise((resolve, reject) => {
    const isHttps = url.protocol === 'https:';
    const headers: Record<string, string> = { 'User-Agent': userAgent, ...(opts.headers ?? {}) };
    let bodyStream: Readable | undefined;
    if (Buffer.isBuffer(opts.body)) headers['Content-Length'] = String(opts.body.length);
    else if (opts.body) {
      bodyStream = opts.body();
      if (opts.contentLength !== undefined) headers['Content-Length'] = String(opts.contentLength);
    } else if (method === 'PUT' || method === 'POST' || method === 'PATCH') headers['Content-Length'] = '0';
    const req = (isHttps ? https : http).request(
      url,
      {
        method,
        headers,
        agent: isHttps ? (insecureTls ? agents.httpsInsecure : agents.https) : agents.http,
      },
      (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
    );
    req.setTimeout(opts.idleTimeoutMs ?? 60000, () => req.destroy(new TransientError(`${method} ${url.href}: timeout`)));
    req.on('error', (e) => {
      const err = e instanceof BerthError ? e : new TransientError(`${method} ${url.href}: ${e.message}`);
      reject(err);
    });
    if (Buffer.isBuffer(opts.body)) req.end(opts.body);
    else if (bodyStream) {
      bodyStream.on('error', (e) => req.destroy(e));
      bodyStream.pipe(req);
    } else req.end();
  });
}

export async function readAll(s: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of s) {
    n += (c as Buffer).length;
    if (n > limit) {
      s.destroy();
      throw new SystemError(`response larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The message of an OCI error body (`code: message`), or the text itself. */
export function registryMessage(body: Buffer | string): string {
  const text = body.toString();
  try {
    const j = JSON.parse(text);
    const e = j?.errors?.[0];
    if (e) return `${String(e.code ?? '').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`.trim();
    if (j?.details) return String(j.details);
    if (j?.message) return String(j.message);
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 200);
}

/** Turns a non-2xx answer into a typed error; 5xx and 429 are transient. */
export async function failure(res: RegistryResponse, what: string): Promise<BerthError> {
  let body: Buffer = Buffer.alloc(0);
  try {
    body = await readAll(res.body, 1 << 16);
  } catch {
    /* ignore */
  }
  const msg = registryMessage(body) || `${res.status} ${http.STATUS_CODES[res.status] ?? ''}`.trim();
  if (res.status === 429 || res.status >= 500) {
    const ra = Number(res.headers['retry-after']);
    return new TransientError(`${what}: ${msg || res.status}`, Number.isFinite(ra) ? ra * 1000 : undefined);
  }
  // 401 from a registry is a 500 from the engine (see request()).
  if (res.status === 401) return new SystemError(`${what}: ${msg}`);
  if (res.status === 403) return new Forbidden(`${what}: ${msg}`);
  if (res.status === 404) return new NotFound(`${what}: ${msg}`);
  return new SystemError(`${what}: unexpected status ${res.status}: ${msg}`);
}

/** Runs `fn` with retries and exponential back-off for transient failures. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, attempts = 4, baseMs = 250): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn(i);
    } catch (e) {
      last = e;
      if (!(e instanceof TransientError) || i === attempts - 1) throw e;
      const wait = Math.min(e.retryAfterMs ?? baseMs * 2 ** i, 5000);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  throw last;
}
