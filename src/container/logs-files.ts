// The files of the json-file and local drivers, in Docker's formats, with
// Docker's rotation (moby daemon/logger/loggerutils/logfile.go): before an
// entry is written, a file that has reached max-size is renamed to `.1`
// (older ones shift up, the oldest of max-file goes), and `.1` is gzipped to
// `.1.gz` when compress is set; with max-file 1 the file is truncated.
//
// json-file: one JSON object per line, {"log":"…\n","stream":"stdout","time":"RFC3339Nano"}
// local: [BE32 size][protobuf LogEntry][BE32 size] per entry, LogEntry being
//   source = 1 (string), time_nano = 2 (int64), line = 3 (bytes), partial = 4 (bool).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { parseTimestamp, type LogEntry } from './logs';
import type { LogSettings } from './logs-driver';
import { goFraction, rfc3339Nano } from '../util/go-json-time';

export interface LogCodec {
  /** One entry as it goes into the file (text for json-file: cheaper to batch). */
  encode(e: LogEntry): Buffer | string;
  /** All entries of one whole file. */
  decode(b: Buffer): LogEntry[];
}

// ---- json-file -------------------------------------------------------------------

/** The entry's time in RFC3339Nano UTC; conmon's own text when it is already UTC (no parsing). */
function utcTime(e: LogEntry): string {
  const t = e.time;
  if (t.length === 35 && t[19] === '.' && t.endsWith('+00:00')) {
    return `${t.slice(0, 19)}${goFraction(t.slice(20, 29))}Z`;
  }
  return rfc3339Nano(e.timeNs);
}


/**
 * JSON string as Docker's jsonlog writes it: Go's HTML-safe escapes for
 * < > & and U+2028/9, \u00XX for control characters other than \n \r \t.
 */
function jsonText(b: Buffer): string {
  const s = b.toString('utf8');
  // Most lines need no escaping at all.
  if (PLAIN.test(s)) return s;
  return JSON.stringify(s).slice(1, -1).replace(/\\(?:[\\"/bfnrt]|u[0-9a-fA-F]{4})|[<>&\u2028\u2029]/g, (m) => {
    switch (m) {
      case '\\b': return '\\u0008';
      case '\\f': return '\\u000c';
      case '<': return '\\u003c';
      case '>': return '\\u003e';
      case '&': return '\\u0026';
      case '\u2028': return '\\u2028';
      case '\u2029': return '\\u2029';
      default: return m;
    }
  });
}

const PLAIN = /^[\x20-\x21\x23-\x25\x27-\x3b\x3d\x3f-\x5b\x5d-\x7e]*$/;

export const jsonFileCodec: LogCodec = {
  encode(e) {
    return `{"log":"${jsonText(e.text)}${e.full ? '\\n' : ''}","stream":"${e.stream}","time":"${utcTime(e)}"}\n`;
  },
  decode(b) {
    const out: LogEntry[] = [];
    let start = 0;
    while (start < b.length) {
      let nl = b.indexOf(0x0a, start);
      if (nl < 0) nl = b.length;
      const line = b.subarray(start, nl);
      start = nl + 1;
      if (!line.length) continue;
      let j: { log?: string; stream?: string; time?: string };
      try {
        j = JSON.parse(line.toString('utf8'));
      } catch {
        continue; // a torn last line after a crash
      }
      const log = j.log ?? '';
      const full = log.endsWith('\n');
      const time = j.time ?? '';
      out.push({
        stream: j.stream === 'stderr' ? 'stderr' : 'stdout',
        time,
        timeNs: parseTimestamp(time),
        text: Buffer.from(full ? log.slice(0, -1) : log, 'utf8'),
        full,
      });
    }
    return out;
  },
};

// ---- local (protobuf) ------------------------------------------------------------

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function field(tag: number, wire: number): number[] {
  return varint(BigInt((tag << 3) | wire));
}

export const localCodec: LogCodec = {
  encode(e) {
    const src = Buffer.from(e.stream);
    const parts: Buffer[] = [
      Buffer.from([...field(1, 2), ...varint(BigInt(src.length))]), src,
      Buffer.from([...field(2, 0), ...varint(e.timeNs)]),
    ];
    if (e.text.length) parts.push(Buffer.from([...field(3, 2), ...varint(BigInt(e.text.length))]), e.text);
    if (!e.full) parts.push(Buffer.from([...field(4, 0), 1]));
    const body = Buffer.concat(parts);
    const frame = Buffer.alloc(body.length + 8);
    frame.writeUInt32BE(body.length, 0);
    body.copy(frame, 4);
    frame.writeUInt32BE(body.length, body.length + 4);
    return frame;
  },
  decode(b) {
    const out: LogEntry[] = [];
    let off = 0;
    while (off + 8 <= b.length) {
      const size = b.readUInt32BE(off);
      if (off + 8 + size > b.length) break;
      const msg = b.subarray(off + 4, off + 4 + size);
      off += size + 8;
      let stream: 'stdout' | 'stderr' = 'stdout';
      let timeNs = 0n;
      let text = Buffer.alloc(0);
      let partial = false;
      let p = 0;
      const readVarint = (): bigint => {
        let v = 0n;
        let shift = 0n;
        for (;;) {
          const byte = msg[p++];
          v |= BigInt(byte & 0x7f) << shift;
          if (!(byte & 0x80) || p >= msg.length) return v;
          shift += 7n;
        }
      };
      while (p < msg.length) {
        const key = Number(readVarint());
        const tag = key >> 3;
        const wire = key & 7;
        if (wire === 0) {
          const v = readVarint();
          if (tag === 2) timeNs = BigInt.asIntN(64, v);
          else if (tag === 4) partial = v !== 0n;
        } else if (wire === 2) {
          const len = Number(readVarint());
          const val = msg.subarray(p, p + len);
          p += len;
          if (tag === 1) stream = val.toString() === 'stderr' ? 'stderr' : 'stdout';
          else if (tag === 3) text = Buffer.from(val);
        } else {
          break; // a wire type LogEntry does not use
        }
      }
      out.push({ stream, timeNs, time: rfc3339Nano(timeNs), text, full: !partial });
    }
    return out;
  },
};

export function codecFor(driver: string): LogCodec | undefined {
  return driver === 'json-file' ? jsonFileCodec : driver === 'local' ? localCodec : undefined;
}

// ---- writing with rotation ----------------------------------------------------------

/** Appends entries to `file`, rotating as Docker does. Synchronous: batches are small and this keeps order trivially. */
export class RotatingLogFile {
  private fd: number;
  private size: number;

  constructor(readonly file: string, private readonly s: LogSettings, private readonly codec: LogCodec) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a', 0o640);
    this.size = fs.fstatSync(this.fd).size;
  }

  write(entries: LogEntry[]): void {
    let pending: Array<Buffer | string> = [];
    let pendingBytes = 0;
    const flush = () => {
      if (!pendingBytes) return;
      const b = typeof pending[0] === 'string' ? Buffer.from(pending.join('')) : Buffer.concat(pending.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)));
      let off = 0;
      while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off);
      this.size += b.length;
      pending = [];
      pendingBytes = 0;
    };
    for (const e of entries) {
      if (this.s.maxSize > 0 && this.size + pendingBytes >= this.s.maxSize) {
        flush();
        this.rotate();
      }
      const b = this.codec.encode(e);
      pending.push(b);
      pendingBytes += typeof b === 'string' ? Buffer.byteLength(b) : b.length;
    }
    flush();
  }

  private rotate(): void {
    fs.closeSync(this.fd);
    const { file } = this;
    if (this.s.maxFile >= 2) {
      const ext = this.s.compress ? '.gz' : '';
      fs.rmSync(`${file}.${this.s.maxFile - 1}${ext}`, { force: true });
      for (let i = this.s.maxFile - 1; i > 1; i--) renameIfThere(`${file}.${i - 1}${ext}`, `${file}.${i}${ext}`);
      renameIfThere(file, `${file}.1`);
      if (this.s.compress) {
        // Written beside and renamed, so a reader never sees half a gzip file.
        const gz = zlib.gzipSync(fs.readFileSync(`${file}.1`));
        fs.writeFileSync(`${file}.1.gz.tmp`, gz, { mode: 0o640 });
        fs.renameSync(`${file}.1.gz.tmp`, `${file}.1.gz`);
        fs.rmSync(`${file}.1`, { force: true });
      }
    }
    this.fd = fs.openSync(file, 'w', 0o640);
    this.size = 0;
  }

  close(): void {
    try { fs.closeSync(this.fd); } catch { /* closed */ }
  }
}

function renameIfThere(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Every entry of a driver's files, oldest first (rotated files, then the current one). */
export function readLogFiles(file: string, s: LogSettings, codec: LogCodec): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = Math.max(s.maxFile, 2) - 1; i >= 1; i--) {
    for (const [name, gz] of [[`${file}.${i}.gz`, true], [`${file}.${i}`, false]] as const) {
      let b: Buffer;
      try {
        b = fs.readFileSync(name);
      } catch { continue; }
      try {
        for (const e of codec.decode(gz ? zlib.gunzipSync(b) : b)) out.push(e);
      } catch { /* a damaged rotated file: skip it */ }
    }
  }
  try {
    for (const e of codec.decode(fs.readFileSync(file))) out.push(e);
  } catch { /* no current file yet */ }
  return out;
}
