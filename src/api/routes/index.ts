// Every route group, registered on one router.
import { Router } from '../router';
import type { Daemon } from '../../daemon/daemon';
import { registerSystemRoutes } from './system';
import { registerContainerRoutes } from './containers';
import { registerExecRoutes } from './exec';
import { registerOpsRoutes, registerArchiveRoutes } from './ops';
import { registerImageRoutes } from './images';
import { registerNetworkRoutes } from './networks';
import { registerVolumeRoutes } from './volumes';
import { registerBuildRoutes } from './build';
import { registerDistributionRoutes } from './distribution';
import { registerSwarmRoutes } from './swarm';
import { registerPluginRoutes } from './plugins';

export function buildRouter(d: Daemon): Router {
  const r = new Router();
  registerSystemRoutes(r, d);
  registerContainerRoutes(r, d);
  registerExecRoutes(r, d);
  registerOpsRoutes(r, d);
  registerArchiveRoutes(r, d);
  registerImageRoutes(r, d);
  registerNetworkRoutes(r, d);
  registerVolumeRoutes(r, d);
  registerBuildRoutes(r, d);
  registerDistributionRoutes(r, d);
  registerSwarmRoutes(r, d.swarm);
  registerPluginRoutes(r);
  return r;
}
