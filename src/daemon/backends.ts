// The narrow backends the API routes see (api/routes/index.ts), filled in
// from the daemon's services: api/ never reaches the whole Daemon.
import path from 'node:path';
import type { RouteBackends } from '../api/routes';
import { importFrom, loadArchive, saveArchive } from '../image/archive';
import { apiWarnings } from './config';
import type { Daemon } from './daemon';

export function routeBackends(d: Daemon): RouteBackends {
  const { images, containers, distribution } = d;
  return {
    system: {
      startedAt: d.startedAt,
      daemonId: d.daemonId,
      settings: d.config, // the live object: SIGHUP's reloadInto changes it in place
      warnings: () => apiWarnings(d.config),
      events: d.events,
      containers,
      images,
      volumes: d.volumes,
      swarm: d.swarm,
    },
    containers: { containers, attach: d.attach, archive: d.archive },
    exec: { execs: d.execs, attach: d.attach },
    ops: { ops: d.ops, containers },
    archive: d.archive,
    images: {
      images,
      load: (input) => loadArchive(images, input, path.join(d.config.dataRoot, 'blobs', 'tmp')),
      save: (names) => saveArchive(images, names),
      importImage: (body, opts) => importFrom(images, body, opts),
      pull: (req, sink) => distribution.pull(req, sink),
    },
    networks: d.networks,
    volumes: d.volumes,
    build: d.builder,
    distribution,
    swarm: d.swarm,
    swarmLogs: d.swarmLogs,
    services: d.serviceApi,
    secrets: d.secretApi,
  };
}
