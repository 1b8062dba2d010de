// `berth compose [OPTIONS] COMMAND`: Compose v2's command line. The global
// compose flags come before the subcommand; each subcommand parses its own
// (dispatch.ts, loaded on first use).
import { registerTopLevel, type Command } from '../../registry';
import type { FlagDef } from '../../flags';

export const composeFlags: FlagDef[] = [
  { name: 'file', short: 'f', type: 'list', usage: 'Compose configuration files' },
  { name: 'project-name', short: 'p', type: 'string', usage: 'Project name' },
  { name: 'project-directory', type: 'string', usage: 'Specify an alternate working directory (default: the path of the, first specified, Compose file)' },
  { name: 'env-file', type: 'list', usage: 'Specify an alternate environment file' },
  { name: 'profile', type: 'list', usage: 'Specify a profile to enable' },
  { name: 'progress', type: 'string', usage: 'Set type of progress output (auto, tty, plain, quiet)', default: 'auto' },
  { name: 'ansi', type: 'string', usage: 'Control when to print ANSI control characters ("never"|"always"|"auto")', default: 'auto' },
  { name: 'parallel', type: 'int', usage: 'Control max parallelism, -1 for unlimited', default: -1 },
  { name: 'compatibility', type: 'bool', usage: 'Run compose in backward compatibility mode' },
  { name: 'dry-run', type: 'bool', usage: 'Execute command in dry run mode', hidden: true },
];


export const composeCommand: Command = {
  name: 'compose',
  // `berth compose --help` prints this (main parses --help before dispatch loads)
  usage: '[OPTIONS] COMMAND\n\nCommands: attach build config cp create down events exec images install-plugin kill logs ls\n          pause port ps pull push restart rm run scale start stop top unpause up version wait\n\nRun \'berth compose COMMAND --help\' for more information on a command.',
  short: 'Docker Compose',
  flags: composeFlags,
  interspersed: false,
  async run(ctx, p) {
    const { dispatch } = await import('./dispatch');
    return dispatch(ctx, p);
  },
};

registerTopLevel(composeCommand);
