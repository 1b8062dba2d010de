// Response stream helpers: Docker's 8-byte multiplexed frames
// ([stream, 0, 0, 0, size BE32] + payload) and JSON-lines readers.
import { Transform, type Readable, type TransformCallback } from 'node:stream';

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
/** Stream 3 carries a daemon-side error during attach/logs. */
export const SYSTEMERR = 3;

export interface Frame {
  stream: number;
  data: Buffer;
}

/** Splits a multiplexed byte stream into frames; tolerant of any chunking. */
export class Demuxer extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  constructor() {
    super({ readableObjectMode: true });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      const frame: Frame = { stream: this.buf[0], data: this.buf.subarray(8, 8 + size) };
      this.buf = this.buf.subarray(8 + size);
      this.push(frame);
    }
    cb();
  }
  override _flush(cb: TransformCallback): void {
    // A truncated trailing frame: hand out what arrived rather than drop it.
    if (this.buf.length > 8) this.push({ stream: this.buf[0], data: this.buf.subarray(8) });
    cb();
  }
}

/** Encode one frame (used by tests and by anything that proxies streams). */
export function encodeFrame(stream: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/**
 * Copy a multiplexed stream to stdout/stderr writers. Resolves when the
 * source ends; rejects with the daemon's message if a SYSTEMERR frame arrives.
 */
export function demuxTo(src: Readable, out: (b: Buffer) => void, err: (b: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const d = new Demuxer();
    let sysErr: string | undefined;
    d.on('data', (f: Frame) => {
      if (f.stream === STDERR) err(f.data);
      else if (f.stream === SYSTEMERR) sysErr = (sysErr ?? '') + f.data.toString();
      else out(f.data);
    });
    d.on('end', () => (sysErr ? reject(new Error(sysErr.trim())) : resolve()));
    d.on('error', reject);
    src.on('error', (e) => d.destroy(e));
    src.pipe(d);
  });
}

/**
 * Yield each JSON value of a JSON-lines stream. Integers under `exactKeys`
 * (e.g. timeNano, beyond 2^53) are kept as digit strings so no precision is lost.
 */
export async function* jsonLines<T = any>(src: Readable, exactKeys: string[] = []): AsyncGenerator<T> {
  const exact = exactKeys.length ? new RegExp(`"(${exactKeys.join('|')})":(-?\\d{16,})`, 'g') : undefined;
  const parse = (line: string) => JSON.parse(exact ? line.replace(exact, '"$1":"$2"') : line) as T;
  let buf = '';
  for await (const chunk of src) {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) yield parse(line);
    }
  }
  const rest = buf.trim();
  if (rest) yield parse(rest);
}
