// swarm join-token, and the join command init prints.
import type { Command, CommandContext } from '../../registry';
import { CliError } from '../../registry';

export const joinTokenCommand: Command = {
  name: 'join-token',
  usage: '[OPTIONS] (worker|manager)',
  short: 'Manage join tokens',
  flags: [
    { name: 'rotate', type: 'bool', usage: 'Rotate join token' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display token' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const role = p.args[0];
    const worker = role === 'worker';
    const manager = role === 'manager';
    if (!worker && !manager) throw new CliError(`unknown role ${role}`);
    if (p.flags.rotate) {
      const sw = await ctx.client.swarmInspect();
      await ctx.client.swarmUpdate(sw.Version.Index, sw.Spec, { rotateWorkerToken: worker, rotateManagerToken: manager });
      if (!p.flags.quiet) ctx.out(`Successfully rotated ${role} join token.\n\n`);
    }
    // Inspect again: a rotation changed the tokens.
    const sw = await ctx.client.swarmInspect();
    if (p.flags.quiet) {
      ctx.out((worker ? sw.JoinTokens.Worker : sw.JoinTokens.Manager) + '\n');
      return;
    }
    const info = await ctx.client.info();
    await printJoinCommand(ctx, info?.Swarm?.NodeID ?? '', worker, manager);
  },
};

/** docker's printJoinCommand: the join line(s) with this manager's address. */
export async function printJoinCommand(ctx: CommandContext, nodeId: string, worker: boolean, manager: boolean): Promise<void> {
  const node = await ctx.client.nodeInspect(nodeId);
  const sw = await ctx.client.swarmInspect();
  if (!node.ManagerStatus) return;
  const addr = node.ManagerStatus.Addr ?? '';
  if (worker) ctx.out(`To add a worker to this swarm, run the following command:\n\n    docker swarm join --token ${sw.JoinTokens.Worker} ${addr}\n\n`);
  if (manager) ctx.out(`To add a manager to this swarm, run the following command:\n\n    docker swarm join --token ${sw.JoinTokens.Manager} ${addr}\n\n`);
}
