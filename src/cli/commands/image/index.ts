// The `image` group and its short forms (images, rmi, pull, ...).
// Entries are lazy: a command's module is loaded only when it runs.
import { registerGroup, registerShortcut, lazy } from '../../registry';

registerGroup('image', 'Manage images', [
  lazy('build', () => import('./build').then((m) => m.buildCommand)),
  lazy('history', () => import('./ops').then((m) => m.historyCommand)),
  lazy('import', () => import('./transfer').then((m) => m.importCommand)),
  lazy('inspect', () => import('./ops').then((m) => m.imageInspectCommand)),
  lazy('load', () => import('./transfer').then((m) => m.loadCommand)),
  lazy('ls', () => import('./list').then((m) => m.imageListCommand), ['images', 'list']),
  lazy('prune', () => import('./ops').then((m) => m.imagePruneCommand)),
  lazy('pull', () => import('./transfer').then((m) => m.pullCommand)),
  lazy('push', () => import('./transfer').then((m) => m.pushCommand)),
  lazy('rm', () => import('./ops').then((m) => m.imageRmCommand), ['rmi', 'remove']),
  lazy('save', () => import('./transfer').then((m) => m.saveCommand)),
  lazy('tag', () => import('./ops').then((m) => m.tagCommand)),
]);
registerShortcut('images', 'image', 'ls');
registerShortcut('rmi', 'image', 'rm');
for (const n of ['build', 'history', 'import', 'load', 'pull', 'push', 'save', 'tag']) registerShortcut(n, 'image', n);
