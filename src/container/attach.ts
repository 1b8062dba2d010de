// Detach keys for attach and exec: the daemon watches the client's stdin for
// the sequence (default ctrl-p,ctrl-q); on it, forwarding stops and the
// stream ends while the container keeps running. A partial match is held
// back and flushed when the next byte does not continue it (as Docker's
// escape proxy does).
import { InvalidParameter } from '../util/errors';

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
