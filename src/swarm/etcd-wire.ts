// What the etcd client and its keepalive stream share about the JSON
// gateway's answers: the error they become, and the splitter for streamed ones.

export class EtcdError extends Error {
  constructor(message: string, readonly code = 0) {
    super(message);
    this.name = 'EtcdError';
  }
}

/**
 * A splitter for the gateway's streamed answers: whole JSON objects, one
 * after the other, in chunks cut anywhere; each goes to `fn` once complete.
 */
export function jsonObjects(fn: (m: Record<string, unknown>) => void): (chunk: Buffer) => void {
  let buf = '';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let scanned = 0;
  return (chunk) => {
    buf += chunk.toString();
    for (let i = scanned; i < buf.length; i++) {
      const ch = buf[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === '\\') escaped = true;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === '{') depth++;
      else if (ch === '}' && depth > 0 && --depth === 0) {
        const text = buf.slice(buf.indexOf('{'), i + 1);
        buf = buf.slice(i + 1);
        i = -1;
        let m: Record<string, unknown> | undefined;
        try { m = JSON.parse(text) as Record<string, unknown>; } catch { m = undefined; }
        if (m) fn(m);
      }
    }
    scanned = buf.length;
  };
}
