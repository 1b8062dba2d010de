// Swarm endpoints on a node that is not in a swarm (berthd has no swarm mode
// yet): dockerd's answers for that state (daemon/cluster), so clients and SDK
// clean-ups (`POST /swarm/leave?force=1`) get Docker's 503 instead of a 404.
import type { Router } from '../router';
import type { Ctx } from '../context';

/** dockerd's errNoSwarm: leaving a swarm this node never joined. */
export const NO_SWARM = 'This node is not part of a swarm';
/** dockerd's errNoManager for a node without a swarm: everything that needs a manager. */
export const NO_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NOT_SUPPORTED = 'swarm mode is not supported by berthd yet';

const notInSwarm = (ctx: Ctx) => ctx.send(503, { message: NO_SWARM });
const notManager = (ctx: Ctx) => ctx.send(503, { message: NO_MANAGER });
// init and join would make this node a swarm member: refuse plainly (501, errdefs.NotImplemented).
const notSupported = (ctx: Ctx) => ctx.send(501, { message: NOT_SUPPORTED });

export function registerSwarmRoutes(r: Router): void {
  r.post('/swarm/init', notSupported);
  r.post('/swarm/join', notSupported);
  r.post('/swarm/leave', notInSwarm);
  r.get('/swarm', notManager);
  r.post('/swarm/update', notManager);
  r.get('/swarm/unlockkey', notManager);
  r.post('/swarm/unlock', notManager);
  // nodes, services, tasks, secrets, configs: every method on the list and each object
  for (const kind of ['nodes', 'services', 'tasks', 'secrets', 'configs']) {
    for (const p of [`/${kind}`, `/${kind}/*rest`]) {
      r.get(p, notManager);
      r.post(p, notManager);
      r.delete(p, notManager);
    }
  }
}
