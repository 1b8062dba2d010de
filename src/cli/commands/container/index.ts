// The `container` group and its top-level short forms (run, ps, rm, ...).
import { registerGroup, registerShortcut } from '../../registry';
import { createCommand, runCommand } from './run';
import { listCommand } from './list';
import { startCommand, stopCommand, restartCommand, killCommand, rmCommand, waitCommand, renameCommand, pauseCommand, unpauseCommand, pruneCommand } from './lifecycle';
import { logsCommand } from './logs';
import { diffCommand, exportCommand, commitCommand } from './fs';
import { containerInspectCommand } from './inspect';
import { execCommand, attachCommand } from './exec';
import { topCommand, statsCommand, updateCommand } from './ops';
import { cpCommand } from './cp';

registerGroup('container', 'Manage containers', [
  execCommand, attachCommand, topCommand, statsCommand, updateCommand, cpCommand,
  commitCommand, createCommand, diffCommand, exportCommand, containerInspectCommand, killCommand, logsCommand, listCommand,
  pauseCommand, pruneCommand, renameCommand, restartCommand, rmCommand, runCommand, startCommand, stopCommand, unpauseCommand, waitCommand,
]);

for (const name of ['exec', 'attach', 'top', 'stats', 'update', 'cp', 'commit', 'create', 'diff', 'export', 'kill', 'logs', 'pause', 'rename', 'restart', 'rm', 'run', 'start', 'stop', 'unpause', 'wait']) {
  registerShortcut(name, 'container', name);
}
registerShortcut('ps', 'container', 'ls');
