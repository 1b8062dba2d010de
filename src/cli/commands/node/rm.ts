// node rm: each node in turn; the errors together at the end (exit 1).
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { ApiError, ConnectionError } from '../../../client';

export const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: '[OPTIONS] NODE [NODE...]',
  short: 'Remove one or more nodes from the swarm',
  flags: [{ name: 'force', short: 'f', type: 'bool', usage: 'Force remove a node from the swarm' }],
  args: { min: 1 },
  async run(ctx, p) {
    const errs: string[] = [];
    for (const id of p.args) {
      try {
        await ctx.client.nodeRemove(id, !!p.flags.force);
        ctx.out(id + '\n');
      } catch (e) {
        if (e instanceof ConnectionError) throw e;
        errs.push(e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message);
      }
    }
    if (errs.length) throw new CliError(errs.join('\n'));
  },
};
