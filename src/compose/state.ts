// What the engine holds for a project, found by its labels: containers
// (per service, by container number), networks and volumes; and the small
// operations on them that every command shares.
import type { ContainerSummary, EngineClient } from '../client';
import { ApiError } from '../client';
import { L, projectFilter } from './labels';
import type { Progress } from './progress';

export function containerName(c: ContainerSummary): string {
  return (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
}

export function containerNumber(c: ContainerSummary): number {
  return Number(c.Labels?.[L.number] ?? 0);
}

export interface ListOptions {
  all?: boolean;
  /** true: one-off containers only; false (default): no one-offs; 'any': both. */
  oneoff?: boolean | 'any';
  services?: string[];
}

export async function projectContainers(client: EngineClient, project: string, o: ListOptions = {}): Promise<ContainerSummary[]> {
  const filters = projectFilter(project);
  if (o.oneoff !== 'any') filters.label.push(`${L.oneoff}=${o.oneoff ? 'True' : 'False'}`);
  const list = await client.containerList({ all: o.all ?? true, filters });
  return list
    .filter((c) => !o.services?.length || o.services.includes(c.Labels?.[L.service] ?? ''))
    .sort((a, b) => (a.Labels?.[L.service] ?? '').localeCompare(b.Labels?.[L.service] ?? '') || containerNumber(a) - containerNumber(b));
}

const gone = (e: unknown) => e instanceof ApiError && (e.status === 404 || e.status === 409 && /already in progress|is not running/.test(e.message));

export async function stopContainer(client: EngineClient, progress: Progress, c: ContainerSummary, timeout?: number): Promise<void> {
  const name = containerName(c);
  progress.event('Container', name, 'Stopping');
  try {
    await client.containerStop(c.Id, { timeout });
  } catch (e) {
    if (!gone(e)) throw e;
  }
  progress.event('Container', name, 'Stopped');
}

export async function removeContainer(client: EngineClient, progress: Progress, c: ContainerSummary, o: { volumes?: boolean; force?: boolean } = {}): Promise<void> {
  const name = containerName(c);
  progress.event('Container', name, 'Removing');
  try {
    await client.containerRemove(c.Id, { volumes: o.volumes, force: o.force ?? true });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  progress.event('Container', name, 'Removed');
}

export async function networkExists(client: EngineClient, name: string): Promise<any | undefined> {
  try {
    return await client.networkInspect(name);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return undefined;
    throw e;
  }
}

export async function volumeExists(client: EngineClient, name: string): Promise<any | undefined> {
  try {
    return await client.volumeInspect(name);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return undefined;
    throw e;
  }
}
