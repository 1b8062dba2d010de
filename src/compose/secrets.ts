// Secrets and configs given as `environment:` or `content:` have no file to
// bind: like Compose v2, their bytes are copied into the created container
// (PUT /archive) before it starts, at /run/secrets/<name> or /<name>.
import type { EngineClient } from '../client';
import { ComposeError } from './errors';
import type { Project, ServiceConfig } from './types';

export function fileTarget(kind: 'secrets' | 'configs', src: string, target?: string): string {
  if (kind === 'secrets') return target ? (target.startsWith('/') ? target : `/run/secrets/${target}`) : `/run/secrets/${src}`;
  return target ?? `/${src}`;
}

async function tarOf(name: string, data: Buffer, mode: number): Promise<Buffer> {
  // tar-stream is loaded only for a project with inline secrets or configs
  const { default: tar } = await import('tar-stream');
  return new Promise((resolve, reject) => {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
    pack.entry({ name, mode, size: data.length, mtime: new Date(0) }, data);
    pack.finalize();
  });
}

export async function injectFiles(client: EngineClient, project: Project, s: ServiceConfig, containerId: string): Promise<void> {
  for (const kind of ['secrets', 'configs'] as const) {
    for (const ref of (s[kind] ?? []) as Array<string | { source: string; target?: string; mode?: number }>) {
      const src = typeof ref === 'string' ? ref : ref.source;
      const def = project[kind][src];
      if (!def || def.file || def.external) continue;
      let data: string;
      if (def.content !== undefined) data = def.content;
      else {
        const v = project.environment[def.environment!];
        if (v === undefined) throw new ComposeError(`environment variable "${def.environment}" required by file "${src}" is not set`);
        data = v;
      }
      const target = fileTarget(kind, src, typeof ref === 'string' ? undefined : ref.target);
      const mode = typeof ref === 'object' && ref.mode !== undefined ? Number(ref.mode) : 0o444;
      // the parent directory may not exist in the image: send it in the tar from /
      const body = await tarOf(target.replace(/^\//, ''), Buffer.from(data), mode);
      await client.containerArchivePut(containerId, '/', body);
    }
  }
}
