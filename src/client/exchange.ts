// One whole HTTP/1.1 request and response over a plain socket (unix or TCP),
// without node:http. Most CLI commands are one or two small JSON requests
// (_ping, then e.g. /containers/json); loading and compiling node:http (agent,
// client, parser) costs a command more CPU than the requests themselves.
// Streams, uploads, upgrades and TLS keep using node:http (transport.ts).
import net from 'node:net';

export interface Exchange {
  status: number;
  /** Lower-case names, as node:http gives them. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface ExchangeTarget {
  socketPath?: string;
  hostname?: string;
  port?: number;
}

/** Sends `request` (request line and headers, no blank line) and `payload`; reads the whole answer. */
export function exchange(to: ExchangeTarget, request: string, payload: Buffer | undefined, timeoutMs = 0): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const sock = to.socketPath ? net.connect(to.socketPath) : net.connect(to.port ?? 80, to.hostname);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined, res?: Exchange): void => {
      if (done) return;
      done = true;
      sock.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    if (timeoutMs) sock.setTimeout(timeoutMs, () => finish(new Error('request timed out')));
    sock.on('error', (e) => finish(e));
    // The head is parsed once; after it only the body's end is looked for.
    let head: Head | undefined;
    const tryParse = (eof: boolean): void => {
      try {
        const buf = Buffer.concat(chunks, size);
        head ??= parseHead(buf);
        const res = head && whole(head, buf.subarray(head.end), eof);
        if (res) finish(undefined, res);
        else if (eof) finish(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      } catch (e) {
        finish(e as Error);
      }
    };
    let tail = ''; // the last bytes, for the end of a chunked body
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      tail = (tail + c.toString('latin1', Math.max(0, c.length - 5))).slice(-5);
      if (!head || complete(head, size, tail)) tryParse(false);
    });
    sock.on('end', () => tryParse(true));
    const len = payload ? `Content-Length: ${payload.length}\r\n` : '';
    sock.write(`${request}\r\n${len}Connection: close\r\n\r\n`);
    if (payload?.length) sock.write(payload);
  });
}

interface Head {
  status: number;
  headers: Record<string, string>;
  /** Offset of the body. */
  end: number;
}

/** Status and headers once the blank line after them has arrived (1xx answers skipped). */
function parseHead(buf: Buffer, from = 0): Head | undefined {
  const end = buf.indexOf('\r\n\r\n', from);
  if (end < 0) return undefined;
  const lines = buf.subarray(from, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`malformed HTTP response: ${JSON.stringify(lines[0].slice(0, 80))}`);
  const status = Number(m[1]);
  if (status >= 100 && status < 200) return parseHead(buf, end + 4);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers, end: end + 4 };
}

const chunked = (h: Head): boolean => /\bchunked\b/i.test(h.headers['transfer-encoding'] ?? '');

/** Whether the body may be complete now that `size` bytes (ending in `tail`) have arrived: cheap, no copying. */
function complete(h: Head, size: number, tail: string): boolean {
  if (h.status === 204 || h.status === 304) return true;
  if (chunked(h)) return tail.endsWith('0\r\n\r\n');
  const n = h.headers['content-length'];
  return n !== undefined && size - h.end >= Number(n);
}

/** The whole response when its body is complete (at `eof`, whatever arrived), else undefined. */
function whole(h: Head, rest: Buffer, eof: boolean): Exchange | undefined {
  const { status, headers } = h;
  if (status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
  if (chunked(h)) {
    const b = dechunk(rest);
    if (b) return { status, headers, body: b };
    return eof ? { status, headers, body: rest } : undefined;
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    return rest.length >= n ? { status, headers, body: rest.subarray(0, n) } : undefined;
  }
  return eof ? { status, headers, body: rest } : undefined;
}

/** The body of a complete chunked encoding, or undefined while the last chunk has not arrived. */
function dechunk(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const n = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (Number.isNaN(n)) throw new Error('malformed chunked HTTP response');
    if (n === 0) return Buffer.concat(parts);
    if (eol + 2 + n + 2 > buf.length) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + n));
    at = eol + 2 + n + 2;
  }
}
