// A pass-through stream that computes the sha256 digest and byte count of
// what flows through it (content store blobs, layer diffIDs).
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export interface DigestCounter {
  stream: Transform;
  /** `sha256:<hex>` of all bytes seen; call once, after the stream finished. */
  digest(): string;
  size(): number;
}

export function digestCounter(): DigestCounter {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, digest: () => `sha256:${hash.digest('hex')}`, size: () => size };
}
