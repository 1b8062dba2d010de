// Swarm endpoints on a node that is not in a swarm (berthd has no swarm mode
// yet): dockerd's answers for that state, so clients and SDK clean-ups
// (`POST /swarm/leave?force=1`) get Docker's 503 instead of a 404.
import type { Router } from '../router';
import type { Ctx } from '../context';

/** dockerd's errNoSwarm (daemon/cluster/errors.go), an Unavailable error. */
export const NO_SWARM = 'This node is not part of a swarm';
const NOT_SUPPORTED = 'swarm mode is not supported by berthd yet';

const notInSwarm = (ctx: Ctx) => ctx.send(503, { message: NO_SWARM });
// init and join would make this node a swarm member: refuse plainly (501, errdefs.NotImplemented).
const notSupported = (ctx: Ctx) => ctx.send(501, { message: NOT_SUPPORTED });

export function registerSwarmRoutes(r: Router): void {
  r.post('/swarm/init', notSupported);
  r.post('/swarm/join', notSupported);
  r.get('/swarm', notInSwarm);
  r.post('/swarm/leave', notInSwarm);
  r.post('/swarm/update', notInSwarm);
  r.get('/swarm/unlockkey', notInSwarm);
  r.post('/swarm/unlock', notInSwarm);
  // nodes, services, tasks, secrets, configs: every method on the list and each object
  for (const kind of ['nodes', 'services', 'tasks', 'secrets', 'configs']) {
    for (const p of [`/${kind}`, `/${kind}/*rest`]) {
      r.get(p, notInSwarm);
      r.post(p, notInSwarm);
      r.delete(p, notInSwarm);
    }
  }
}
