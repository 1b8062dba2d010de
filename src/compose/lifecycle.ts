// down, stop, start, restart, kill, pause, unpause, rm on a project's
// containers, in reverse dependency order where Compose v2 stops things.
import type { ContainerSummary, EngineClient } from '../client';
import { ApiError } from '../client';
import { ComposeError } from './errors';
import { walk } from './graph';
import { imageName } from './images';
import { L } from './labels';
import type { Progress } from './progress';
import { removeNetworks, removeVolumes } from './resources';
import { containerName, projectContainers, removeContainer, stopContainer } from './state';
import { orphans, startServices, type ProjectContainer } from './up';
import type { Project } from './types';

function byService(list: ContainerSummary[]): Map<string, ContainerSummary[]> {
  const m = new Map<string, ContainerSummary[]>();
  for (const c of list) {
    const s = c.Labels?.[L.service] ?? '';
    (m.get(s) ?? m.set(s, []).get(s)!).push(c);
  }
  return m;
}

/** Run fn on each service's containers, dependents before their dependencies. */
async function reverseEach(project: Project, list: ContainerSummary[], fn: (c: ContainerSummary) => Promise<void>): Promise<void> {
  const m = byService(list);
  const known = [...m.keys()].filter((s) => project.services[s]);
  await walk(project.services, known, async (s) => { await Promise.all(m.get(s)!.map(fn)); }, true);
  // containers of services the model does not know (orphans, one-offs of them)
  await Promise.all([...m.keys()].filter((s) => !project.services[s]).flatMap((s) => m.get(s)!.map(fn)));
}

export interface DownOptions {
  volumes?: boolean;
  removeOrphans?: boolean;
  rmi?: 'local' | 'all';
  timeout?: number;
}

export async function down(client: EngineClient, progress: Progress, project: Project, o: DownOptions = {}): Promise<void> {
  const all = await projectContainers(client, project.name, { oneoff: 'any' });
  // no model (down -p NAME without a compose file): everything labelled with the project goes
  const labelOnly = !Object.keys(project.services).length && !Object.keys(project.disabled).length;
  const orphanIds = new Set(labelOnly ? [] : (await orphans(client, project)).map((c) => c.Id));
  if (orphanIds.size && !o.removeOrphans) {
    progress.warn(`Found orphan containers ([${all.filter((c) => orphanIds.has(c.Id)).map(containerName).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`);
  }
  const list = all.filter((c) => o.removeOrphans || !orphanIds.has(c.Id));
  await reverseEach(project, list, async (c) => {
    if (c.State === 'running' || c.State === 'paused' || c.State === 'restarting') await stopContainer(client, progress, c, o.timeout);
    await removeContainer(client, progress, c, { volumes: o.volumes });
  });
  await removeNetworks(client, progress, project);
  if (o.volumes) await removeVolumes(client, progress, project);
  if (o.rmi) {
    const refs = new Set<string>();
    for (const s of Object.values(project.services)) if (o.rmi === 'all' || (s.build && !s.image)) refs.add(imageName(project, s));
    for (const ref of refs) {
      try {
        await client.imageRemove(ref);
        progress.event('Image', ref, 'Removed');
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) throw e;
      }
    }
  }
}

export async function stop(client: EngineClient, progress: Progress, project: Project, services: string[], timeout?: number): Promise<void> {
  const list = await projectContainers(client, project.name, { services, oneoff: 'any' });
  await reverseEach(project, list.filter((c) => c.State === 'running' || c.State === 'paused' || c.State === 'restarting'), (c) => stopContainer(client, progress, c, timeout));
}

export async function start(client: EngineClient, progress: Progress, project: Project, services: string[]): Promise<void> {
  const names = services.length ? services : Object.keys(project.services);
  for (const n of names) if (!project.services[n]) throw new ComposeError(`no such service: ${n}`);
  const list = await projectContainers(client, project.name, { services: names });
  if (!list.length) throw new ComposeError('service "' + names[0] + '" has no container to start');
  const m = new Map<string, ProjectContainer[]>();
  for (const [s, cs] of byService(list)) {
    m.set(s, cs.map((c) => ({ id: c.Id, name: containerName(c), service: s, number: Number(c.Labels?.[L.number] ?? 0), running: c.State === 'running' })));
  }
  await startServices(client, progress, project, names.filter((n) => m.has(n)), m);
}

export async function restart(client: EngineClient, progress: Progress, project: Project, services: string[], timeout?: number): Promise<void> {
  const list = await projectContainers(client, project.name, { services });
  await Promise.all(list.map(async (c) => {
    const name = containerName(c);
    progress.event('Container', name, 'Restarting');
    await client.containerRestart(c.Id, { timeout });
    progress.event('Container', name, 'Started');
  }));
}

export async function kill(client: EngineClient, progress: Progress, project: Project, services: string[], signal?: string): Promise<void> {
  const list = (await projectContainers(client, project.name, { services })).filter((c) => c.State === 'running');
  if (!list.length) throw new ComposeError('no container to kill');
  await Promise.all(list.map(async (c) => {
    progress.event('Container', containerName(c), 'Killing');
    await client.containerKill(c.Id, signal);
    progress.event('Container', containerName(c), 'Killed');
  }));
}

export async function pause(client: EngineClient, progress: Progress, project: Project, services: string[], unpause: boolean): Promise<void> {
  const list = (await projectContainers(client, project.name, { services })).filter((c) => (unpause ? c.State === 'paused' : c.State === 'running'));
  await Promise.all(list.map(async (c) => {
    if (unpause) await client.containerUnpause(c.Id);
    else await client.containerPause(c.Id);
    progress.event('Container', containerName(c), unpause ? 'Unpaused' : 'Paused');
  }));
}

/** rm: stopped containers (with -s, stopped first). Returns the ones to remove for the prompt. */
export async function removable(client: EngineClient, project: Project, services: string[], stopFirst: boolean, all: boolean): Promise<ContainerSummary[]> {
  const list = await projectContainers(client, project.name, { services, oneoff: all ? 'any' : false });
  return list.filter((c) => stopFirst || c.State !== 'running');
}

export async function rm(client: EngineClient, progress: Progress, list: ContainerSummary[], o: { stop?: boolean; volumes?: boolean; timeout?: number }): Promise<void> {
  await Promise.all(list.map(async (c) => {
    if (o.stop && c.State === 'running') await stopContainer(client, progress, c, o.timeout);
    await removeContainer(client, progress, c, { volumes: o.volumes, force: true });
  }));
}
