// The images a project needs: pulled when missing (pull_policy), built from
// `build:` when missing or asked (--build), tagged `<project>-<service>`
// when the service names no image — as Compose v2.
import type { EngineClient, ProgressMessage } from '../client';
import { ApiError } from '../client';
import { packDir } from '../client/build-context';
import { ComposeError } from './errors';
import { L } from './labels';
import type { Progress } from './progress';
import type { Project, ServiceConfig } from './types';

export function imageName(project: Project, s: ServiceConfig): string {
  return s.image ?? `${project.name}-${s.name}`;
}

function splitRef(ref: string): { name: string; tag: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { name: ref.slice(0, at), tag: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref, tag: 'latest' };
}

export async function imageId(client: EngineClient, ref: string): Promise<string | undefined> {
  try {
    return (await client.imageInspect(ref)).Id;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return undefined;
    throw e;
  }
}

async function drain(stream: AsyncIterable<ProgressMessage>, onLine?: (s: string) => void): Promise<string | undefined> {
  let id: string | undefined;
  for await (const m of stream) {
    if (m.error || m.errorDetail?.message) throw new ComposeError(m.errorDetail?.message || m.error || 'unknown error');
    if (m.aux && typeof m.aux === 'object' && typeof (m.aux as { ID?: string }).ID === 'string') id = (m.aux as { ID: string }).ID;
    if (typeof m.stream === 'string') onLine?.(m.stream);
  }
  return id;
}

export async function pullService(client: EngineClient, progress: Progress, s: ServiceConfig, ref: string): Promise<void> {
  progress.event('', s.name, 'Pulling');
  const { name, tag } = splitRef(ref);
  try {
    await drain(await client.imagePull(name, { tag }));
  } catch (e) {
    progress.event('', s.name, 'Error', true);
    throw e instanceof ApiError ? new ComposeError(`Error response from daemon: ${e.message}`) : e;
  }
  progress.event('', s.name, 'Pulled');
}

export interface BuildOptions {
  noCache?: boolean;
  pull?: boolean;
  /** Where the builder's output goes (Compose's classic builder prints it). */
  output?: (s: string) => void;
  buildArgs?: Record<string, string>;
}

export async function buildService(client: EngineClient, progress: Progress, project: Project, s: ServiceConfig, o: BuildOptions = {}): Promise<string> {
  const b = s.build!;
  const ref = imageName(project, s);
  progress.event('', s.name, 'Building');
  let dockerfile = b.dockerfile ?? 'Dockerfile';
  let extra: { name: string; data: Buffer } | undefined;
  if (b.dockerfile_inline !== undefined) {
    extra = { name: '.berth-compose-Dockerfile', data: Buffer.from(b.dockerfile_inline) };
    dockerfile = extra.name;
  } else if (dockerfile.startsWith('/')) {
    const fs = await import('node:fs');
    extra = { name: '.berth-compose-Dockerfile', data: fs.readFileSync(dockerfile) };
    dockerfile = extra.name;
  }
  const args: Record<string, string> = {};
  for (const [k, v] of Object.entries(b.args ?? {})) {
    const val = v ?? project.environment[k];
    if (val !== undefined) args[k] = val;
  }
  Object.assign(args, o.buildArgs ?? {});
  const { stream } = packDir(b.context, dockerfile, extra);
  let id: string | undefined;
  try {
    id = await drain(await client.imageBuild(stream, {
      t: [ref],
      dockerfile,
      buildargs: Object.keys(args).length ? args : undefined,
      labels: { ...(b.labels ?? {}), [L.project]: project.name, [L.service]: s.name },
      target: b.target || undefined,
      networkmode: b.network || undefined,
      extrahosts: b.extra_hosts?.length ? b.extra_hosts.join(',') : undefined,
      shmsize: b.shm_size !== undefined ? String(b.shm_size) : undefined,
      nocache: o.noCache || b.no_cache ? '1' : undefined,
      pull: o.pull || b.pull ? '1' : undefined,
      cachefrom: b.cache_from?.length ? JSON.stringify(b.cache_from) : undefined,
      rm: '1',
      forcerm: '1',
    }, { 'Content-Type': 'application/x-tar' }), o.output);
  } catch (e) {
    progress.event('', s.name, 'Error', true);
    const msg = e instanceof Error ? e.message : String(e);
    throw new ComposeError(`failed to build service "${s.name}": ${msg}`);
  }
  progress.event('', s.name, 'Built');
  return id ?? (await imageId(client, ref)) ?? '';
}

export interface EnsureOptions {
  build?: boolean;
  noBuild?: boolean;
  /** --pull always|missing|never|policy */
  pull?: string;
  buildOutput?: (s: string) => void;
}

/** Make sure every service's image is there; returns service → image id. */
export async function ensureImages(client: EngineClient, progress: Progress, project: Project, names: string[], o: EnsureOptions = {}): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  const pulls = new Map<string, Promise<void>>();
  await Promise.all(names.map(async (n) => {
    const s = project.services[n];
    const ref = imageName(project, s);
    const policy = o.pull && o.pull !== 'policy' ? o.pull : s.pull_policy ?? 'missing';
    let id = await imageId(client, ref);
    if (s.build && !o.noBuild && (o.build || !id || policy === 'build')) {
      ids[n] = await buildService(client, progress, project, s, { output: o.buildOutput });
      return;
    }
    if (!s.build && (policy === 'always' || (!id && policy !== 'never'))) {
      // two services on one image pull it once
      let p = pulls.get(ref);
      if (!p) { p = pullService(client, progress, s, ref); pulls.set(ref, p); }
      await p;
      id = await imageId(client, ref);
    }
    if (!id) throw new ComposeError(s.build ? `image "${ref}" not found (service "${n}" has a build section, --no-build was given)` : `pull access denied for ${ref}, repository does not exist or may require 'docker login'`);
    ids[n] = id;
  }));
  return ids;
}
