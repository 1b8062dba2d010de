// `up` (and `create`): converge the engine onto the project, as Compose v2's
// create + start. Per service, containers whose config-hash or image id
// changed are recreated, the count follows scale, missing numbers are
// created; then services are started in dependency order, in parallel where
// the graph allows, waiting for service_healthy / service_completed_successfully.
import type { ContainerSummary, EngineClient } from '../client';
import { ApiError } from '../client';
import { ComposeError } from './errors';
import { walk } from './graph';
import { serviceHash } from './hash';
import { ensureImages, imageName, type EnsureOptions } from './images';
import { L } from './labels';
import type { Progress } from './progress';
import { ensureNetworks, ensureVolumes, usedResources } from './resources';
import { containerName, containerNumber, projectContainers, removeContainer, stopContainer } from './state';
import { endpointConfig, sortedNetworks, toCreateBody } from './convert';
import type { Project } from './types';
import { injectFiles } from './secrets';

export interface UpOptions extends EnsureOptions {
  services?: string[];
  noDeps?: boolean;
  forceRecreate?: boolean;
  noRecreate?: boolean;
  removeOrphans?: boolean;
  scale?: Record<string, number>;
  noStart?: boolean;
  /** Stop timeout (s) for containers being recreated or scaled down. */
  timeout?: number;
  wait?: boolean;
  waitTimeoutMs?: number;
  /** Called with every service container once created, before anything starts (attached up). */
  beforeStart?: (containers: ProjectContainer[]) => Promise<void>;
}

export interface ProjectContainer {
  id: string;
  name: string;
  service: string;
  number: number;
  running: boolean;
}

/** The targeted services, with what they depend on unless --no-deps. */
export function targetServices(project: Project, names: string[] | undefined, noDeps = false): string[] {
  if (!names?.length) return Object.keys(project.services);
  const out = new Set<string>();
  const add = (n: string) => {
    if (out.has(n)) return;
    if (!project.services[n]) throw new ComposeError(`no such service: ${n}`);
    out.add(n);
    if (noDeps) return;
    for (const d of Object.keys(project.services[n].depends_on ?? {})) if (project.services[d]) add(d);
    const nm = project.services[n].network_mode;
    if (nm?.startsWith('service:') && project.services[nm.slice(8)]) add(nm.slice(8));
  };
  for (const n of names) add(n);
  return [...out];
}

export function wantedScale(project: Project, name: string, o: { scale?: Record<string, number> }): number {
  const s = project.services[name];
  return o.scale?.[name] ?? s.scale ?? s.deploy?.replicas ?? 1;
}

/** Containers of the project whose service is no longer in the model (`listed`: the project's containers, if already listed). */
export async function orphans(client: EngineClient, project: Project, listed?: ContainerSummary[]): Promise<ContainerSummary[]> {
  const all = listed ?? await projectContainers(client, project.name);
  return all.filter((c) => {
    const svc = c.Labels?.[L.service] ?? '';
    return !project.services[svc] && !project.disabled[svc];
  });
}

export async function handleOrphans(client: EngineClient, progress: Progress, project: Project, remove: boolean, timeout?: number, listed?: ContainerSummary[]): Promise<void> {
  const found = await orphans(client, project, listed);
  if (!found.length) return;
  if (!remove) {
    progress.warn(`Found orphan containers ([${found.map(containerName).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`);
    return;
  }
  await Promise.all(found.map(async (c) => {
    if (c.State === 'running') await stopContainer(client, progress, c, timeout);
    await removeContainer(client, progress, c);
  }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function up(client: EngineClient, progress: Progress, project: Project, o: UpOptions = {}): Promise<ProjectContainer[]> {
  const names = targetServices(project, o.services, o.noDeps);
  for (const n of Object.keys(o.scale ?? {})) if (!project.services[n]) throw new ComposeError(`no such service: ${n}`);
  // one list of the project's containers serves the orphan check and the convergence; it, the
  // networks, the volumes and the images are independent looks, asked at once (after one /_ping)
  await client.negotiate();
  const used = usedResources(project, names);
  const [listed, , , images] = await Promise.all([
    projectContainers(client, project.name),
    ensureNetworks(client, progress, project, used.networks),
    ensureVolumes(client, progress, project, used.volumes),
    ensureImages(client, progress, project, names, o),
  ]);
  await handleOrphans(client, progress, project, !!o.removeOrphans, o.timeout, listed);

  const existing = listed.filter((c) => names.includes(c.Labels?.[L.service] ?? ''));
  const byService = new Map<string, ContainerSummary[]>();
  for (const c of existing) {
    const s = c.Labels?.[L.service] ?? '';
    (byService.get(s) ?? byService.set(s, []).get(s)!).push(c);
  }
  const result = new Map<string, ProjectContainer[]>();
  // services with a recreated container: their `restart: true` dependents restart after them
  const recreated = new Set<string>();

  const create = async (n: string, number: number, label: 'Creating' | 'Recreate'): Promise<ProjectContainer> => {
    const s = project.services[n];
    const name = s.container_name ?? `${project.name}-${n}-${number}`;
    if (label === 'Creating') progress.event('Container', name, 'Creating');
    const body = toCreateBody({
      project, service: s, number, imageRef: imageName(project, s), imageId: images[n], hash: serviceHash(s, project),
      serviceContainer: (x) => result.get(x)?.[0]?.id ?? byService.get(x)?.[0]?.Id,
    });
    let id: string;
    try {
      id = (await client.containerCreate(body, { name })).Id;
      await injectFiles(client, project, s, id);
      // the first network went with create; the others are connected now
      const nets = s.network_mode ? [] : sortedNetworks(s).slice(1);
      for (const [key, cfg] of nets) await client.networkConnect(project.networks[key].name, { Container: id, EndpointConfig: endpointConfig(s, cfg) });
    } catch (e) {
      progress.event('Container', name, 'Error', true);
      throw e instanceof ApiError ? new ComposeError(`Error response from daemon: ${e.message}`) : e;
    }
    progress.event('Container', name, label === 'Creating' ? 'Created' : 'Recreated');
    return { id, name, service: n, number, running: false };
  };

  // containers are created in parallel (only shared namespaces, links and volumes_from order it);
  // depends_on orders the start below
  await walk(project.services, names, async (n) => {
    const s = project.services[n];
    const want = wantedScale(project, n, o);
    const hash = serviceHash(s, project);
    const cur = byService.get(n) ?? [];
    const keep = cur.slice(0, want);
    const extra = cur.slice(want);
    await Promise.all(extra.reverse().map(async (c) => {
      if (c.State === 'running') await stopContainer(client, progress, c, o.timeout);
      await removeContainer(client, progress, c);
    }));
    const out: ProjectContainer[] = [];
    await Promise.all(keep.map(async (c) => {
      const outdated = c.Labels?.[L.hash] !== hash || c.Labels?.[L.image] !== images[n];
      if (o.forceRecreate || (outdated && !o.noRecreate)) {
        const name = containerName(c);
        progress.event('Container', name, 'Recreate');
        recreated.add(n);
        if (c.State === 'running') await client.containerStop(c.Id, { timeout: o.timeout }).catch(() => {});
        await client.containerRemove(c.Id, { force: true }).catch((e) => { if (!(e instanceof ApiError && e.status === 404)) throw e; });
        out.push(await create(n, containerNumber(c), 'Recreate'));
      } else {
        const running = c.State === 'running';
        if (running) progress.event('Container', containerName(c), 'Running');
        out.push({ id: c.Id, name: containerName(c), service: n, number: containerNumber(c), running });
      }
    }));
    let next = Math.max(0, ...cur.map(containerNumber)) + 1;
    const toMake: number[] = [];
    for (let i = keep.length; i < want; i++) toMake.push(next++);
    out.push(...(await Promise.all(toMake.map((num) => create(n, num, 'Creating')))));
    out.sort((a, b) => a.number - b.number);
    result.set(n, out);
  }, false, 'create');
  const all = names.flatMap((n) => result.get(n) ?? []);
  if (o.noStart) return all;
  await o.beforeStart?.(all);
  await startServices(client, progress, project, names, result, recreated);
  if (o.wait) await waitReady(client, progress, all, o.waitTimeoutMs);
  return all;
}

/** Wait for what `dependent` needs of `dep`, then start `dependent`'s containers. */
export async function startServices(client: EngineClient, progress: Progress, project: Project, names: string[], containers: Map<string, ProjectContainer[]>, recreated = new Set<string>()): Promise<void> {
  await walk(project.services, names, async (n) => {
    const s = project.services[n];
    let restart = false;
    for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
      const cs = containers.get(dep);
      if (!cs) continue;
      if (cond.restart && recreated.has(dep)) restart = true;
      await Promise.all(cs.map((c) => waitCondition(client, progress, dep, c, cond.condition)));
    }
    await Promise.all((containers.get(n) ?? []).map(async (c) => {
      if (c.running && restart) {
        progress.event('Container', c.name, 'Restarting');
        await client.containerRestart(c.id);
        progress.event('Container', c.name, 'Restarted');
        return;
      }
      if (c.running) return;
      progress.event('Container', c.name, 'Starting');
      try {
        await client.containerStart(c.id);
      } catch (e) {
        progress.event('Container', c.name, 'Error', true);
        throw e instanceof ApiError ? new ComposeError(`Error response from daemon: ${e.message}`) : e;
      }
      c.running = true;
      progress.event('Container', c.name, 'Started');
    }));
  });
}

async function waitCondition(client: EngineClient, progress: Progress, service: string, c: ProjectContainer, condition: string): Promise<void> {
  if (condition === 'service_started') return;
  progress.event('Container', c.name, 'Waiting');
  for (;;) {
    const info = await client.containerInspect(c.id);
    const st = info.State ?? {};
    if (condition === 'service_healthy') {
      if (!info.Config?.Healthcheck?.Test || info.Config.Healthcheck.Test[0] === 'NONE') throw new ComposeError(`dependency failed to start: container ${c.name} has no healthcheck configured`);
      if (st.Health?.Status === 'healthy') { progress.event('Container', c.name, 'Healthy'); return; }
      if (st.Health?.Status === 'unhealthy') { progress.event('Container', c.name, 'Error', true); throw new ComposeError(`dependency failed to start: container ${c.name} is unhealthy`); }
      if (!st.Running && st.Status === 'exited') throw new ComposeError(`dependency failed to start: container ${c.name} exited (${st.ExitCode})`);
    } else if (condition === 'service_completed_successfully') {
      if (st.Status === 'exited' || st.Status === 'dead') {
        if (st.ExitCode === 0) { progress.event('Container', c.name, 'Exited'); return; }
        progress.event('Container', c.name, 'Error', true);
        throw new ComposeError(`service "${service}" didn't complete successfully: exit ${st.ExitCode}`);
      }
    } else return;
    await sleep(200);
  }
}

/** --wait: every container running, and healthy where it has a healthcheck. */
export async function waitReady(client: EngineClient, progress: Progress, all: ProjectContainer[], timeoutMs?: number): Promise<void> {
  const end = timeoutMs ? Date.now() + timeoutMs : Infinity;
  await Promise.all(all.map(async (c) => {
    progress.event('Container', c.name, 'Waiting');
    for (;;) {
      const info = await client.containerInspect(c.id);
      const st = info.State ?? {};
      const hasHealth = info.Config?.Healthcheck?.Test && info.Config.Healthcheck.Test[0] !== 'NONE';
      if (st.Status === 'exited' || st.Status === 'dead') throw new ComposeError(`container ${c.name} exited (${st.ExitCode})`);
      if (hasHealth && st.Health?.Status === 'unhealthy') throw new ComposeError(`container ${c.name} is unhealthy`);
      if (st.Running && (!hasHealth || st.Health?.Status === 'healthy')) { progress.event('Container', c.name, hasHealth ? 'Healthy' : 'Running'); return; }
      if (Date.now() > end) throw new ComposeError(`timeout waiting for container ${c.name}`);
      await sleep(200);
    }
  }));
}
