// Every route group, registered on one router.
import { Router } from '../router';
import type { Daemon } from '../../daemon/daemon';
import { registerSystemRoutes } from './system';

export function buildRouter(d: Daemon): Router {
  const r = new Router();
  registerSystemRoutes(r, d);
  return r;
}
