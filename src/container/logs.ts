// Reading conmon's k8s-file logs: `<RFC3339Nano> <stdout|stderr> <P|F> <text>`
// per line (P = partial, continued by the next entry of the same stream).
// Docker's stream framing: 8-byte header [stream, 0, 0, 0, size BE32].
import fs from 'node:fs';
import fsp from 'node:fs/promises';

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** Nanoseconds since the epoch. */
  timeNs: bigint;
  /** The original timestamp text. */
  time: string;
  text: Buffer;
  /** True when this piece ends a line (F). */
  full: boolean;
}

/** Parses a k8s-file timestamp (any offset) to ns since the epoch. */
export function parseTimestamp(ts: string): bigint {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return 0n;
  // Consecutive lines mostly share their second: Date.parse once per second.
  const key = `${m[1]}${m[3]}`;
  if (key !== lastSecondKey) {
    lastSecondKey = key;
    lastSecondNs = BigInt(Date.parse(key)) * 1_000_000n;
  }
  const frac = BigInt(((m[2] ?? '') + '000000000').slice(0, 9));
  return lastSecondNs + frac;
}

let lastSecondKey = '';
let lastSecondNs = 0n;

/** Docker's log timestamp: RFC 3339 in UTC with nanoseconds. */
export function formatTimestamp(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  const frac = String(ns % 1_000_000_000n).padStart(9, '0');
  return `${base}.${frac}Z`;
}

/** A parsed k8s-file line; the timestamp is parsed only when asked (the pump rarely needs it). */
class K8sEntry implements LogEntry {
  private ns?: bigint;
  constructor(readonly stream: 'stdout' | 'stderr', readonly time: string, public text: Buffer, readonly full: boolean) {}
  get timeNs(): bigint {
    if (this.ns === undefined) this.ns = parseTimestamp(this.time);
    return this.ns;
  }
}

export function parseLine(line: Buffer): LogEntry | undefined {
  const s1 = line.indexOf(0x20);
  if (s1 < 0) return undefined;
  const s2 = line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const s3 = line.indexOf(0x20, s2 + 1);
  // "stdout" / "stderr", told apart by their fourth letter.
  if (s2 - s1 !== 7 || line[s1 + 1] !== 0x73 || line[s1 + 2] !== 0x74 || line[s1 + 3] !== 0x64) return undefined;
  const c4 = line[s1 + 4];
  if (c4 !== 0x6f && c4 !== 0x65) return undefined;
  const time = line.toString('latin1', 0, s1);
  const text = s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1);
  return new K8sEntry(c4 === 0x6f ? 'stdout' : 'stderr', time, text, line[s2 + 1] !== 0x50 /* P */);
}

/** One Docker multiplexed frame. */
export function frame(stream: 'stdout' | 'stderr', data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream === 'stdout' ? 1 : 2;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/**
 * Reads a log file from an offset, entry by entry. `follow()` keeps reading
 * as the file grows (inotify, with a poll) until `stop()`; `stop()` does a
 * final read so nothing written before the exit is lost.
 */
export class LogReader {
  private offset: number;
  private rest = Buffer.alloc(0);
  private watcher?: fs.FSWatcher;
  private timer?: NodeJS.Timeout;
  private reading: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(readonly file: string, offset: number, private readonly onEntry: (e: LogEntry) => void) {
    this.offset = offset;
  }

  /** Size of the file now (0 when absent): where an attach starts. */
  static sizeOf(file: string): number {
    try {
      return fs.statSync(file).size;
    } catch {
      return 0;
    }
  }

  /** Reads whatever is there now. Calls are serialized. */
  read(): Promise<void> {
    this.reading = this.reading.then(() => this.readOnce()).catch(() => {});
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.file, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(256 * 1024);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
        if (bytesRead <= 0) break;
        this.offset += bytesRead;
        let data = Buffer.concat([this.rest, buf.subarray(0, bytesRead)]);
        let nl: number;
        while ((nl = data.indexOf(0x0a)) >= 0) {
          const e = parseLine(data.subarray(0, nl));
          data = data.subarray(nl + 1);
          if (e) {
            e.text = Buffer.from(e.text);
            this.onEntry(e);
          }
        }
        this.rest = Buffer.from(data);
      }
    } finally {
      await fh.close();
    }
  }

  follow(pollMs = 200): void {
    const kick = () => { if (!this.stopped) void this.read(); };
    try {
      this.watcher = fs.watch(this.file, kick);
      this.watcher.on('error', () => {});
    } catch { /* file not there yet: the poll finds it */ }
    this.timer = setInterval(() => {
      if (!this.watcher) {
        try {
          this.watcher = fs.watch(this.file, kick);
          this.watcher.on('error', () => {});
        } catch { /* still absent */ }
      }
      kick();
    }, pollMs);
    kick();
  }

  /** Stops following after a last read. */
  async stop(finalRead = true): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (finalRead) {
      this.reading = this.reading.then(() => this.readOnce()).catch(() => {});
      await this.reading;
    }
  }
}
