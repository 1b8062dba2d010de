// `berth swarm ...`: init, join, join-token, leave, update, ca (docker's
// flags, messages and exit codes; cli/command/swarm in docker/cli).
import { registerGroup, lazy } from '../../registry';

registerGroup('swarm', 'Manage Swarm', [
  lazy('ca', () => import('./update').then((m) => m.caCommand)),
  lazy('init', () => import('./init').then((m) => m.initCommand)),
  lazy('join', () => import('./init').then((m) => m.joinCommand)),
  lazy('join-token', () => import('./join-token').then((m) => m.joinTokenCommand)),
  lazy('leave', () => import('./leave').then((m) => m.leaveCommand)),
  lazy('update', () => import('./update').then((m) => m.updateCommand)),
]);
