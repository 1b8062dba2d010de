// `berth secret ...` and `berth config ...`: create, ls, inspect, rm with the
// docker CLI's flags, columns, messages and exit codes (cli/command/secret and
// cli/command/config in docker/cli). One implementation serves both kinds.
import { registerGroup, lazy } from '../../registry';

/** Registers `berth secret` or `berth config`. */
export function registerFileGroup(kind: 'secret' | 'config'): void {
  registerGroup(kind, kind === 'secret' ? 'Manage Docker secrets' : 'Manage Docker configs', [
    lazy('create', () => import('./commands').then((m) => m.createCommand(kind))),
    lazy('inspect', () => import('./commands').then((m) => m.inspectCommand(kind))),
    lazy('ls', () => import('./commands').then((m) => m.lsCommand(kind)), ['list']),
    lazy('rm', () => import('./commands').then((m) => m.rmCommand(kind)), ['remove']),
  ]);
}
