// Container output with Compose v2's prefixes: `web-1  | line`, the names
// padded to the longest one, each container in its own colour on a
// terminal. Feeds from `logs` (GET /logs) and from attached `up` (attach).
import type { Readable } from 'node:stream';
import { Demuxer, type Frame, type EngineClient } from '../client';

const COLORS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

export class LogPrinter {
  private width = 0;
  private colorOf = new Map<string, number>();
  constructor(private readonly out: (s: string) => void, private readonly o: { color: boolean; prefix: boolean }) {}

  register(names: string[]): void {
    for (const n of names) {
      this.width = Math.max(this.width, n.length + 1);
      if (!this.colorOf.has(n)) this.colorOf.set(n, COLORS[this.colorOf.size % COLORS.length]);
    }
  }

  private prefix(name: string): string {
    if (!this.o.prefix) return '';
    const p = `${name.padEnd(this.width)}| `;
    return this.o.color ? `\x1b[${this.colorOf.get(name) ?? 36}m${p}\x1b[0m` : p;
  }

  /** A line-splitting sink for one container. */
  sink(name: string): { write: (b: Buffer) => void; end: () => void } {
    let buf = '';
    return {
      write: (b) => {
        buf += b.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          this.out(`${this.prefix(name)}${buf.slice(0, i).replace(/\r$/, '')}\n`);
          buf = buf.slice(i + 1);
        }
      },
      end: () => {
        if (buf) this.out(`${this.prefix(name)}${buf}\n`);
        buf = '';
      },
    };
  }

  /** A line of our own (exit notices): in the container's colour, no `|`. */
  info(name: string, text: string): void {
    this.out(this.o.color ? `\x1b[${this.colorOf.get(name) ?? 36}m${text}\x1b[0m\n` : `${text}\n`);
  }
}

/** Copy a container's raw (TTY) or multiplexed output into a sink; resolves at its end. */
export function pipeOutput(src: Readable, tty: boolean, head: Buffer, sink: { write: (b: Buffer) => void; end: () => void }): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => { if (!done) { done = true; sink.end(); resolve(); } };
    if (tty) {
      if (head.length) sink.write(head);
      src.on('data', (b: Buffer) => sink.write(b));
    } else {
      const d = new Demuxer();
      d.on('data', (f: Frame) => sink.write(f.data));
      d.on('end', finish);
      d.on('error', finish);
      if (head.length) d.write(head);
      src.on('data', (b: Buffer) => d.write(b));
      src.on('end', () => d.end());
      src.on('close', () => d.end());
      src.on('error', () => d.end());
      return;
    }
    src.on('end', finish);
    src.on('close', finish);
    src.on('error', finish);
  });
}

export interface LogsOptions {
  follow?: boolean;
  tail?: string;
  timestamps?: boolean;
  since?: string;
  until?: string;
}

export async function containerLogs(client: EngineClient, printer: LogPrinter, c: { id: string; name: string; tty: boolean }, o: LogsOptions): Promise<void> {
  const res = await client.containerLogs(c.id, { follow: o.follow, tail: o.tail, timestamps: o.timestamps, since: o.since, until: o.until });
  await pipeOutput(res, c.tty, Buffer.alloc(0), printer.sink(c.name));
}
