// swarm leave: the daemon refuses a manager's leave without --force (quorum).
import type { Command } from '../../registry';

export const leaveCommand: Command = {
  name: 'leave',
  usage: '[OPTIONS]',
  short: 'Leave the swarm',
  flags: [{ name: 'force', short: 'f', type: 'bool', usage: 'Force this node to leave the swarm, ignoring warnings' }],
  args: { max: 0 },
  async run(ctx, p) {
    await ctx.client.swarmLeave(!!p.flags.force);
    ctx.out('Node left the swarm.\n');
  },
};
