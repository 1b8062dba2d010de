// `berth service ...`: create, inspect, logs, ls, ps, rm, rollback, scale, update
// (docker's flags, columns, messages and exit codes; cli/command/service in docker/cli).
import { registerGroup, lazy } from '../../registry';

registerGroup('service', 'Manage services', [
  lazy('create', () => import('./create').then((m) => m.createCommand)),
  lazy('inspect', () => import('./commands').then((m) => m.inspectCommand)),
  lazy('logs', () => import('./logs').then((m) => m.logsCommand)),
  lazy('ls', () => import('./commands').then((m) => m.lsCommand), ['list']),
  lazy('ps', () => import('./commands').then((m) => m.psCommand)),
  lazy('rm', () => import('./commands').then((m) => m.rmCommand), ['remove']),
  lazy('rollback', () => import('./create').then((m) => m.rollbackCommand)),
  lazy('scale', () => import('./commands').then((m) => m.scaleCommand)),
  lazy('update', () => import('./create').then((m) => m.updateCommand)),
]);
