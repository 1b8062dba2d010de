// Go's archive/tar ends an archive cleanly wherever an entry ends: after the
// last entry's data, with or without its padding and the two zero blocks.
// The docker CLI relies on that: `build -f <Dockerfile outside the context>`
// appends the Dockerfile with no padding and no trailer. tar-stream wants
// both, so this pass walks the headers and, when the input stops at an entry
// boundary, adds what is missing. A stream cut inside a header or inside an
// entry's data is left as it is (still an error, as in Go).
import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;

/** An entry's data size from its header block (octal, or GNU base-256 when the top bit is set). */
function entrySize(h: Buffer): number {
  const f = h.subarray(124, 136);
  if (f[0] & 0x80) {
    let n = 0;
    for (let i = 1; i < f.length; i++) n = n * 256 + f[i];
    return n;
  }
  const s = f.toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) || 0 : 0;
}

export function goTarEnding(): Transform {
  let pos = 0;
  /** Where the next header starts. */
  let nextHeader = 0;
  /** Where the current entry's data ends (before padding). */
  let dataEnd = 0;
  /** The part of the next header seen so far. */
  let header = Buffer.alloc(0);
  let ended = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let off = 0;
      while (!ended && off < chunk.length) {
        const abs = pos + off;
        if (abs < nextHeader) {
          off += Math.min(nextHeader - abs, chunk.length - off);
          continue;
        }
        const take = Math.min(BLOCK - header.length, chunk.length - off);
        header = Buffer.concat([header, chunk.subarray(off, off + take)]);
        off += take;
        if (header.length < BLOCK) break;
        if (header.every((b) => b === 0)) {
          ended = true; // the trailer has started: the input ends the archive itself
        } else {
          const size = entrySize(header);
          const start = pos + off;
          dataEnd = start + size;
          nextHeader = start + Math.ceil(size / BLOCK) * BLOCK;
        }
        header = Buffer.alloc(0);
      }
      pos += chunk.length;
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      // exactly after the data (no padding) or after the padding (no trailer); part of a padding is an error in Go too
      if (!ended && header.length === 0 && (pos === dataEnd || pos === nextHeader)) {
        this.push(Buffer.alloc(nextHeader - pos + 2 * BLOCK));
      }
      cb();
    },
  });
}
