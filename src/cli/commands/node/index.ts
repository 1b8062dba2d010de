// `berth node ...`: ls, inspect, update, promote, demote, rm, ps (docker's
// flags, columns, messages and exit codes; cli/command/node in docker/cli).
import { registerGroup, lazy } from '../../registry';

registerGroup('node', 'Manage Swarm nodes', [
  lazy('demote', () => import('./update').then((m) => m.demoteCommand)),
  lazy('inspect', () => import('./inspect').then((m) => m.inspectCommand)),
  lazy('ls', () => import('./ls').then((m) => m.lsCommand), ['list']),
  lazy('promote', () => import('./update').then((m) => m.promoteCommand)),
  lazy('ps', () => import('./ps').then((m) => m.psCommand)),
  lazy('rm', () => import('./rm').then((m) => m.rmCommand), ['remove']),
  lazy('update', () => import('./update').then((m) => m.updateCommand)),
]);
