// The `container` group and its top-level short forms (run, ps, rm, ...).
// Entries are lazy: a command's module is loaded only when it runs.
import { registerGroup, registerShortcut, lazy } from '../../registry';

registerGroup('container', 'Manage containers', [
  lazy('exec', () => import('./exec').then((m) => m.execCommand)),
  lazy('attach', () => import('./exec').then((m) => m.attachCommand)),
  lazy('top', () => import('./ops').then((m) => m.topCommand)),
  lazy('stats', () => import('./ops').then((m) => m.statsCommand)),
  lazy('update', () => import('./ops').then((m) => m.updateCommand)),
  lazy('cp', () => import('./cp').then((m) => m.cpCommand)),
  lazy('commit', () => import('./fs').then((m) => m.commitCommand)),
  lazy('create', () => import('./run').then((m) => m.createCommand)),
  lazy('diff', () => import('./fs').then((m) => m.diffCommand)),
  lazy('export', () => import('./fs').then((m) => m.exportCommand)),
  lazy('inspect', () => import('./inspect').then((m) => m.containerInspectCommand)),
  lazy('kill', () => import('./lifecycle').then((m) => m.killCommand)),
  lazy('logs', () => import('./logs').then((m) => m.logsCommand)),
  lazy('ls', () => import('./list').then((m) => m.listCommand), ['ps', 'list']),
  lazy('pause', () => import('./lifecycle').then((m) => m.pauseCommand)),
  lazy('prune', () => import('./lifecycle').then((m) => m.pruneCommand)),
  lazy('rename', () => import('./lifecycle').then((m) => m.renameCommand)),
  lazy('restart', () => import('./lifecycle').then((m) => m.restartCommand)),
  lazy('rm', () => import('./lifecycle').then((m) => m.rmCommand), ['remove']),
  lazy('run', () => import('./run').then((m) => m.runCommand)),
  lazy('start', () => import('./lifecycle').then((m) => m.startCommand)),
  lazy('stop', () => import('./lifecycle').then((m) => m.stopCommand)),
  lazy('unpause', () => import('./lifecycle').then((m) => m.unpauseCommand)),
  lazy('wait', () => import('./lifecycle').then((m) => m.waitCommand)),
]);

for (const name of ['exec', 'attach', 'top', 'stats', 'update', 'cp', 'commit', 'create', 'diff', 'export', 'kill', 'logs', 'pause', 'rename', 'restart', 'rm', 'run', 'start', 'stop', 'unpause', 'wait']) {
  registerShortcut(name, 'container', name);
}
registerShortcut('ps', 'container', 'ls');
