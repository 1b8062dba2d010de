// What a route handler sees: parsed path params and query, the body, and
// ways to answer (JSON, streams, hijacked raw connections).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Duplex, type Readable, type Writable } from 'node:stream';
import { InvalidParameter } from '../util/errors';
import { parseFilterJson, type FilterMap } from '../common/filters';

export const API_VERSION = '1.43';
export const MIN_API_VERSION = '1.24';
/** Largest request body read into memory. */
export const MAX_BODY = 64 * 1024 * 1024;
/** Past this many bytes a refused body is no longer drained: the connection is dropped. */
const MAX_DISCARD = 1024 * 1024 * 1024;
const MAX_JSON_DEPTH = 10000;

/** Deepest nesting of objects/arrays in a JSON text (strings skipped). */
function nestingDepth(b: Buffer): number {
  let depth = 0;
  let max = 0;
  let inStr = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (inStr) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inStr = false;
    } else if (c === 0x22) inStr = true;
    else if (c === 0x7b || c === 0x5b) { if (++depth > max) max = depth; }
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

export interface Hijacked {
  /** Client → daemon bytes (stdin). */
  input: Readable;
  /** Daemon → client bytes. */
  output: Writable;
  /** Half-close our side (the stream is done) and release the connection. */
  end(): void;
  /** Called when the client goes away. */
  onClose(fn: () => void): void;
}

export class Ctx {
  params: Record<string, string> = {};
  readonly query: URLSearchParams;
  readonly path: string;
  /** API version the client asked for (path prefix), or the current one. */
  readonly version: string;
  private bodyCache?: Buffer;

  constructor(
    readonly req: IncomingMessage,
    /** For `Upgrade:` requests this response is bound to the raw socket by the server. */
    readonly res: ServerResponse,
    /** True when the client sent `Upgrade:` (attach and exec start). */
    readonly upgraded: boolean,
    readonly socket: Duplex,
    readonly head: Buffer | undefined,
    path: string,
    version: string,
    query: URLSearchParams,
  ) {
    this.path = path;
    this.version = version;
    this.query = query;
  }

  get method(): string { return this.req.method ?? 'GET'; }

  /**
   * Whole request body (bounded). Past the limit the rest is read and thrown
   * away while the 400 goes out: a client that writes its whole body before
   * reading must not block on a socket nobody reads.
   */
  async body(limit = MAX_BODY): Promise<Buffer> {
    if (this.bodyCache) return this.bodyCache;
    if (this.req.readableEnded) return (this.bodyCache = Buffer.alloc(0));
    // Listeners rather than for-await: leaving a for-await loop destroys the request, and then nobody reads the socket.
    this.bodyCache = await new Promise<Buffer>((resolve, reject) => {
      const req = this.req;
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (over) {
          if (size > limit + MAX_DISCARD) req.socket.destroy();
          return;
        }
        if (size > limit) {
          over = true;
          chunks.length = 0;
          reject(new InvalidParameter('request body too large'));
          return;
        }
        chunks.push(c);
      });
      req.once('end', () => resolve(Buffer.concat(chunks)));
      req.once('error', reject);
      req.once('close', () => reject(new InvalidParameter('request body incomplete: the client went away')));
    });
    return this.bodyCache;
  }

  /**
   * Docker's CheckForJSON for endpoints that decode a JSON body: a body must
   * come as application/json. An empty body passes whatever its type (the
   * berth client marks body-less POSTs text/plain).
   */
  async requireJson(): Promise<void> {
    const ct = this.req.headers['content-type'] ?? '';
    if ((await this.body()).length === 0) return;
    if (ct.split(';')[0].trim().toLowerCase() === 'application/json') return;
    throw new InvalidParameter(`Content-Type specified (${ct}) must be 'application/json'`);
  }

  /** JSON body; an empty body is `undefined`; malformed JSON is a 400 as Docker answers. */
  async json<T = any>(): Promise<T | undefined> {
    const b = await this.body();
    if (b.length === 0) return undefined;
    // Go's decoder stops at 10000 levels; deeper input would overflow our recursive checks.
    if (nestingDepth(b) > MAX_JSON_DEPTH) throw new InvalidParameter('exceeded max depth');
    try {
      const text = b.toString('utf8');
      // A `__proto__` key would become an object's prototype once merged with Object.assign: drop it (Go ignores unknown fields).
      return (text.includes('"__proto__"') ? JSON.parse(text, (k, v) => (k === '__proto__' ? undefined : v)) : JSON.parse(text)) as T;
    } catch (e) {
      throw new InvalidParameter(`invalid character in JSON body: ${(e as Error).message}`);
    }
  }

  /** Query booleans by Docker's BoolValue: anything but "", "0", "no", "false", "none" (any case) is true. */
  bool(name: string, dflt = false): boolean {
    const v = this.query.get(name);
    if (v === null) return dflt;
    return !['', '0', 'no', 'false', 'none'].includes(v.trim().toLowerCase());
  }

  int(name: string, dflt?: number): number | undefined {
    const v = this.query.get(name);
    if (v === null || v === '') return dflt;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidParameter(`invalid value for ${name}: ${v}`);
    return n;
  }

  str(name: string): string | undefined {
    const v = this.query.get(name);
    return v === null ? undefined : v;
  }

  /** `filters` query: JSON map name → list (or the old map name → {value: true}). */
  filters(): FilterMap {
    return parseFilterJson(this.query.get('filters'));
  }

  /** Answer with JSON. */
  send(status: number, body?: unknown, headers: Record<string, string> = {}): void {
    const res = this.requireRes();
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    this.sendJsonText(status, Buffer.from(JSON.stringify(body) + '\n'), headers);
  }

  /** Answer with JSON already serialized (a body kept or built as text). */
  sendJsonText(status: number, data: Buffer, headers: Record<string, string> = {}): void {
    const res = this.requireRes();
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(data.length), ...headers });
    res.end(data);
  }

  /** Start a streamed answer (JSON lines, tar, logs). */
  stream(status: number, contentType: string, headers: Record<string, string> = {}): ServerResponse {
    const res = this.requireRes();
    res.writeHead(status, { 'Content-Type': contentType, ...headers });
    res.flushHeaders();
    return res;
  }

  /**
   * Take over the connection for attach/exec. With `Upgrade: tcp` the daemon
   * answers 101 and both directions use the raw socket; without it the
   * response body is the output stream and the request body the input.
   */
  hijack(contentType: string): Hijacked {
    if (this.upgraded) {
      const sock = this.socket;
      this.res.detachSocket(sock as any);
      sock.write(
        'HTTP/1.1 101 UPGRADED\r\n' +
          `Content-Type: ${contentType}\r\n` +
          'Connection: Upgrade\r\n' +
          'Upgrade: tcp\r\n\r\n',
      );
      // The client may have sent stdin and its EOF with the request (docker-py's
      // exec socket): the 'end' is then already past, and stdin is what is left.
      let input: Readable = sock;
      if (sock.readableEnded) {
        const rest = new PassThrough();
        rest.end(this.head ?? Buffer.alloc(0));
        input = rest;
      } else if (this.head && this.head.length) sock.unshift(this.head);
      return {
        input,
        output: sock,
        end: () => {
          // Half-close so the client sees EOF on its read side; it closes the rest.
          if (!sock.destroyed) sock.end();
        },
        onClose: (fn) => sock.once('close', fn),
      };
    }
    const res = this.res;
    res.writeHead(200, { 'Content-Type': contentType });
    res.flushHeaders();
    return {
      input: this.req,
      output: res,
      end: () => res.end(),
      onClose: (fn) => res.once('close', fn),
    };
  }

  private requireRes(): ServerResponse {
    return this.res;
  }
}
