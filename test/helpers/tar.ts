// A tar of the given entries, made in memory with tar-stream (the tests'
// images, layers and archives): files default to mode 0644 and a fixed
// mtime; `truncate` cuts the result (a broken tar).
import * as tar from 'tar-stream';

export type TarEntry = Partial<tar.Header> & { name: string; body?: string | Buffer };

export function makeTar(entries: TarEntry[], opts: { truncate?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => {
      const all = Buffer.concat(chunks);
      resolve(opts.truncate ? all.subarray(0, opts.truncate) : all);
    });
    pack.on('error', reject);
    for (const { body, ...h } of entries) pack.entry({ mode: 0o644, mtime: new Date('2024-01-01T00:00:00Z'), ...h } as tar.Header, (body ?? (h.type ? undefined : '')) as any);
    pack.finalize();
  });
}
