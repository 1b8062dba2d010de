// Detach keys for attach and exec: the daemon watches the client's stdin for
// the sequence (default ctrl-p,ctrl-q); on it, forwarding stops and the
// stream ends while the container keeps running. A partial match is held
// back and flushed when the next byte does not continue it (as Docker's
// escape proxy does).
import type { Readable } from 'node:stream';
import type { ContainerService } from './service';
import { Conflict, InvalidParameter } from '../util/errors';
import type { AttachConn } from '../host/runtime/runtime';
import { log } from '../util/log';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** "ctrl-p,ctrl-q" → [16, 17]; Docker's rules (ctrl-[a-z@[\\]^_] or single chars). */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const k = part.trim().toLowerCase();
    if (k.length === 1) {
      out.push(k.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-(.)$/.exec(k);
    if (!m) throw new InvalidParameter(`Invalid detach keys (${spec}) provided`);
    const c = m[1];
    if (c >= 'a' && c <= 'z') out.push(c.charCodeAt(0) - 96);
    else if (c === '@') out.push(0);
    else if ('[\\]^_'.includes(c)) out.push(c.charCodeAt(0) - 64);
    else throw new InvalidParameter(`Invalid detach keys (${spec}) provided`);
  }
  if (!out.length) throw new InvalidParameter(`Invalid detach keys (${spec}) provided`);
  return Buffer.from(out);
}

/** Passes bytes through until the key sequence is seen; then calls onDetach once. */
export class DetachFilter {
  private held = 0;
  private detached = false;

  constructor(private readonly keys: Buffer, private readonly onDetach: () => void) {}

  /** Returns what to forward now. */
  push(b: Buffer): Buffer {
    if (this.detached) return Buffer.alloc(0);
    const out: number[] = [];
    for (const byte of b) {
      if (byte === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) {
          this.detached = true;
          this.onDetach();
          return Buffer.from(out);
        }
        continue;
      }
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]);
      this.held = 0;
      if (byte === this.keys[0]) this.held = 1;
      else out.push(byte);
    }
    return Buffer.from(out);
  }
}

// ---- stdin and resize of a container (through conmon) ------------------------------

export class AttachService {
  constructor(private readonly containers: ContainerService) {}

  /**
   * Forwards the client's stdin to the container (conmon's attach socket),
   * buffering until the container runs (docker run attaches before start).
   * TTY: the detach keys end the attach (`onDetach`), the container runs on.
   * At the client's EOF the socket is half-closed; conmon then closes the
   * container's stdin unless it keeps it open (TTY or not StdinOnce).
   */
  forwardStdin(ref: string, input: Readable, detachKeys: string | undefined, onDetach: () => void, closed: Promise<void>): void {
    const c = this.containers.get(ref);
    const keys = parseDetachKeys(detachKeys || DEFAULT_DETACH_KEYS);
    const tty = !!c.config.Tty;
    let conn: AttachConn | undefined;
    let gone = false;
    let ended = false;
    const pending: Buffer[] = [];
    const filter = new DetachFilter(keys, () => {
      gone = true;
      conn?.destroy();
      onDetach();
    });
    input.on('data', (b: Buffer) => {
      if (gone) return;
      const out = tty ? filter.push(b) : b;
      if (!out.length || gone) return;
      if (conn) conn.write(out);
      else pending.push(out);
    });
    input.on('end', () => {
      ended = true;
      conn?.end();
    });
    input.on('error', () => {});
    void closed.then(() => {
      gone = true;
      conn?.destroy();
    });
    const connect = async () => {
      const deadline = Date.now() + 60_000;
      while (!gone) {
        let cur;
        try {
          cur = this.containers.get(c.id);
        } catch {
          return;
        }
        if (cur.state.Running) break;
        if (Date.now() > deadline) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      if (gone) return;
      try {
        conn = await this.containers.runtime.attach(c.id);
      } catch (e) {
        log.debug('attach socket connect failed', { id: c.id, err: String(e) });
        return;
      }
      if (gone) {
        conn.destroy();
        return;
      }
      conn.onData(() => {}); // output is read from the log file
      for (const b of pending.splice(0)) conn.write(b);
      if (ended) conn.end();
    };
    void connect();
  }

  /** POST /containers/{id}/resize: the TTY of a running container. */
  resize(ref: string, h: number, w: number): void {
    const c = this.containers.get(ref);
    if (!c.state.Running) throw new Conflict(`Container ${c.id} is not running`);
    if (!c.config.Tty) return;
    this.containers.runtime.resize(c.id, h, w);
  }
}
