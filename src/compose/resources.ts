// The project's networks and volumes: created with Compose's labels when
// missing, external ones required to exist, removed by `down`.
import type { EngineClient } from '../client';
import { ApiError } from '../client';
import { ComposeError } from './errors';
import { L, COMPOSE_VERSION } from './labels';
import { networkExists, volumeExists } from './state';
import type { Progress } from './progress';
import type { Project } from './types';

/** The networks and volumes the given services use. */
export function usedResources(project: Project, services: string[]): { networks: string[]; volumes: string[] } {
  const networks = new Set<string>();
  const volumes = new Set<string>();
  for (const n of services) {
    const s = project.services[n];
    if (!s.network_mode) for (const k of Object.keys(s.networks ?? {})) networks.add(k);
    for (const v of s.volumes ?? []) if (v.type === 'volume' && v.source && project.volumes[v.source]) volumes.add(v.source);
  }
  return { networks: [...networks], volumes: [...volumes] };
}

export async function ensureNetworks(client: EngineClient, progress: Progress, project: Project, keys: string[]): Promise<void> {
  await Promise.all(keys.map(async (key) => {
    const n = project.networks[key];
    const found = await networkExists(client, n.name);
    if (n.external) {
      if (!found) throw new ComposeError(`network ${n.name} declared as external, but could not be found`);
      return;
    }
    if (found) return;
    progress.event('Network', n.name, 'Creating');
    const ipam = n.ipam
      ? {
        Driver: n.ipam.driver ?? 'default',
        Config: (n.ipam.config ?? []).map((c) => ({ Subnet: c.subnet, IPRange: c.ip_range, Gateway: c.gateway, AuxiliaryAddresses: c.aux_addresses })),
        Options: n.ipam.options,
      }
      : undefined;
    try {
      await client.networkCreate({
        Name: n.name,
        CheckDuplicate: true,
        Driver: n.driver ?? 'bridge',
        Options: n.driver_opts,
        IPAM: ipam,
        Internal: !!n.internal,
        Attachable: !!n.attachable,
        EnableIPv6: n.enable_ipv6,
        Labels: { ...(n.labels ?? {}), [L.project]: project.name, [L.network]: key, [L.version]: COMPOSE_VERSION },
      });
    } catch (e) {
      progress.event('Network', n.name, 'Error', true);
      if (e instanceof ApiError) throw new ComposeError(`failed to create network ${n.name}: Error response from daemon: ${e.message}`);
      throw e;
    }
    progress.event('Network', n.name, 'Created');
  }));
}

export async function ensureVolumes(client: EngineClient, progress: Progress, project: Project, keys: string[]): Promise<void> {
  await Promise.all(keys.map(async (key) => {
    const v = project.volumes[key];
    const found = await volumeExists(client, v.name);
    if (v.external) {
      if (!found) throw new ComposeError(`external volume "${v.name}" not found`);
      return;
    }
    if (found) return;
    progress.event('Volume', `"${v.name}"`, 'Creating');
    await client.volumeCreate({ Name: v.name, Driver: v.driver ?? 'local', DriverOpts: v.driver_opts ?? {}, Labels: { ...(v.labels ?? {}), [L.project]: project.name, [L.volume]: key, [L.version]: COMPOSE_VERSION } });
    progress.event('Volume', `"${v.name}"`, 'Created');
  }));
}

/** The project's networks: those of the model, or (label-only mode, no services) every network labelled with the project. */
async function projectNetworks(client: EngineClient, project: Project): Promise<Array<{ name: string; external?: boolean }>> {
  if (Object.keys(project.services).length || Object.keys(project.networks).length) return Object.values(project.networks);
  return (await client.networkList({ label: [`${L.project}=${project.name}`] })).map((n) => ({ name: n.Name as string }));
}

export async function removeNetworks(client: EngineClient, progress: Progress, project: Project): Promise<void> {
  for (const n of await projectNetworks(client, project)) {
    if (n.external) continue;
    const found = await networkExists(client, n.name);
    // only what this project made (a same-named network of another project stays)
    if (!found || found.Labels?.[L.project] !== project.name) continue;
    progress.event('Network', n.name, 'Removing');
    try {
      await client.networkRemove(found.Id);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) {
        progress.event('Network', n.name, 'Error', true);
        throw e instanceof ApiError ? new ComposeError(`failed to remove network ${n.name}: Error response from daemon: ${e.message}`) : e;
      }
    }
    progress.event('Network', n.name, 'Removed');
  }
}

export async function removeVolumes(client: EngineClient, progress: Progress, project: Project): Promise<void> {
  const labelled = Object.keys(project.services).length ? [] : ((await client.volumeList({ label: [`${L.project}=${project.name}`] })).Volumes ?? []).map((v) => ({ name: v.Name as string, external: false }));
  for (const v of [...Object.values(project.volumes), ...labelled]) {
    if (v.external) continue;
    const found = await volumeExists(client, v.name);
    if (!found || found.Labels?.[L.project] !== project.name) continue;
    progress.event('Volume', v.name, 'Removing');
    try {
      await client.volumeRemove(v.name);
    } catch (e) {
      progress.event('Volume', v.name, 'Error', true);
      throw e instanceof ApiError ? new ComposeError(`Error response from daemon: ${e.message}`) : e;
    }
    progress.event('Volume', v.name, 'Removed');
  }
}
