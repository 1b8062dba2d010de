// The `image` group and its short forms (images, rmi, pull, ...).
import { registerGroup, registerShortcut } from '../../registry';
import { imageListCommand } from './list';
import { imageInspectCommand, historyCommand, tagCommand, imageRmCommand, imagePruneCommand } from './ops';
import { importCommand, loadCommand, saveCommand, pullCommand, pushCommand } from './transfer';
import { buildCommand } from './build';

registerGroup('image', 'Manage images', [
  buildCommand, historyCommand, importCommand, imageInspectCommand, loadCommand, imageListCommand, imagePruneCommand, pullCommand, pushCommand, imageRmCommand, saveCommand, tagCommand,
]);
registerShortcut('images', 'image', 'ls');
registerShortcut('rmi', 'image', 'rm');
for (const n of ['build', 'history', 'import', 'load', 'pull', 'push', 'save', 'tag']) registerShortcut(n, 'image', n);
