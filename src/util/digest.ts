// A pass-through stream that computes the sha256 digest and byte count of
// what flows through it (content store blobs, layer diffIDs).
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export interface DigestCounter {
  stream: Transform;
  /** `sha256:<hex>` of all bytes seen, once the stream finished. */
  digest(): string;
  size(): number;
}

/**
 * `check`, when given, is asked at the end of the stream with the digest and
 * size: an error it returns ends the stream with that error (a copy that must
 * be the bytes it claims to be).
 */
export function digestCounter(check?: (digest: string, size: number) => Error | undefined): DigestCounter {
  const hash = createHash('sha256');
  let size = 0;
  let hex: string | undefined;
  const digest = () => `sha256:${(hex ??= hash.digest('hex'))}`;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      cb(check ? check(digest(), size) : undefined);
    },
  });
  return { stream, digest, size: () => size };
}
