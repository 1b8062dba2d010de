// Look at the first bytes of a stream (magic numbers, tar blocks) and still
// hand on the whole stream.
import { PassThrough, type Readable } from 'node:stream';

export interface Peeked {
  /** At least the bytes asked for, fewer only when the stream ended first. */
  head: Buffer;
  /** The stream ended while the head was read. */
  done: boolean;
  it: AsyncIterator<any>;
}

/** Reads chunks until `n` bytes are in hand or the stream ends. */
export async function peek(input: NodeJS.ReadableStream, n: number): Promise<Peeked> {
  const it = (input as Readable)[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < n && !done) {
    const r = await it.next();
    if (r.done) done = true;
    else head = Buffer.concat([head, Buffer.from(r.value)]);
  }
  return { head, done, it };
}

/** The peeked head followed by the rest of the stream, with backpressure. */
export function replay({ head, done, it }: Peeked): PassThrough {
  const out = new PassThrough();
  out.write(head);
  if (done) out.end();
  else {
    (async () => {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        if (!out.write(r.value)) await new Promise((res) => out.once('drain', res));
      }
      out.end();
    })().catch((e) => out.destroy(e));
  }
  return out;
}

/** Reads what is left so the producer finishes. */
export async function drain(p: Peeked): Promise<void> {
  let done = p.done;
  while (!done) done = !!(await p.it.next()).done;
}
