// Every route group, registered on one router. Each group sees only its own
// narrow backend (moby's router/*/backend.go); daemon/ fills them in.
import { Router } from '../router';
import { registerSystemRoutes, type SystemBackend } from './system';
import { registerContainerRoutes, type ContainerBackend } from './containers';
import { registerExecRoutes, type ExecBackend } from './exec';
import { registerOpsRoutes, registerArchiveRoutes, type OpsBackend, type ArchiveBackend } from './ops';
import { registerImageRoutes, type ImageBackend } from './images';
import { registerNetworkRoutes, type NetworkBackend } from './networks';
import { registerVolumeRoutes, type VolumeBackend } from './volumes';
import { registerBuildRoutes, type BuildBackend } from './build';
import { registerDistributionRoutes, type DistributionBackend } from './distribution';
import { registerSwarmRoutes, type SwarmBackend } from './swarm';
import { registerSwarmLogRoutes, type SwarmLogsBackend } from './swarm-logs';
import { registerServiceRoutes, type ServicesBackend } from './services';
import { registerSecretRoutes, type SecretsBackend } from './secrets';
import { registerPluginRoutes } from './plugins';

export interface RouteBackends {
  system: SystemBackend;
  containers: ContainerBackend;
  exec: ExecBackend;
  ops: OpsBackend;
  archive: ArchiveBackend;
  images: ImageBackend;
  networks: NetworkBackend;
  volumes: VolumeBackend;
  build: BuildBackend;
  distribution: DistributionBackend;
  swarm: SwarmBackend;
  swarmLogs: SwarmLogsBackend;
  services: ServicesBackend;
  secrets: SecretsBackend;
}

export function buildRouter(b: RouteBackends): Router {
  const r = new Router();
  registerSystemRoutes(r, b.system);
  registerContainerRoutes(r, b.containers);
  registerExecRoutes(r, b.exec);
  registerOpsRoutes(r, b.ops);
  registerArchiveRoutes(r, b.archive);
  registerImageRoutes(r, b.images);
  registerNetworkRoutes(r, b.networks);
  registerVolumeRoutes(r, b.volumes);
  registerBuildRoutes(r, b.build);
  registerDistributionRoutes(r, b.distribution);
  registerSwarmLogRoutes(r, b.swarmLogs);
  registerSwarmRoutes(r, b.swarm);
  registerServiceRoutes(r, b.services);
  registerSecretRoutes(r, b.secrets);
  registerPluginRoutes(r);
  return r;
}
