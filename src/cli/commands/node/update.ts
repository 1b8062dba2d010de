// node update, promote, demote: inspect, change the spec, update with the
// node's version (the daemon refuses a stale one).
import type { Command, CommandContext } from '../../registry';
import { CliError } from '../../registry';
import type { SwarmNode } from '../../../client';

/** A merge that found nothing to change (promote of a manager): skip that node. */
class NoRoleChange extends Error {}

async function updateNodes(ctx: CommandContext, ids: string[], merge: (n: SwarmNode) => void, done: (id: string) => void): Promise<void> {
  for (const id of ids) {
    const node = await ctx.client.nodeInspect(id);
    try {
      merge(node);
    } catch (e) {
      if (e instanceof NoRoleChange) continue;
      throw e;
    }
    await ctx.client.nodeUpdate(node.ID, node.Version.Index, node.Spec);
    done(id);
  }
}

export const updateCommand: Command = {
  name: 'update',
  usage: '[OPTIONS] NODE',
  short: 'Update a node',
  flags: [
    { name: 'availability', type: 'string', usage: 'Availability of the node ("active", "pause", "drain")' },
    { name: 'label-add', type: 'list', usage: 'Add or update a node label ("key=value")' },
    { name: 'label-rm', type: 'list', usage: 'Remove a node label if exists' },
    { name: 'role', type: 'string', usage: 'Role of the node ("worker", "manager")' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const id = p.args[0];
    await updateNodes(ctx, [id], (node) => {
      const spec = node.Spec;
      if (p.changed.has('role')) spec.Role = p.flags.role;
      if (p.changed.has('availability')) spec.Availability = p.flags.availability;
      spec.Labels ??= {};
      for (const l of p.flags['label-add'] as string[]) {
        const i = l.indexOf('=');
        spec.Labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
      }
      for (const k of p.flags['label-rm'] as string[]) {
        if (!(k in spec.Labels)) throw new CliError(`key ${k} doesn't exist in node's labels`);
        delete spec.Labels[k];
      }
    }, () => ctx.out(id + '\n'));
  },
};

export const promoteCommand: Command = {
  name: 'promote',
  usage: 'NODE [NODE...]',
  short: 'Promote one or more nodes to manager in the swarm',
  args: { min: 1 },
  async run(ctx, p) {
    await updateNodes(ctx, p.args, (node) => {
      if (node.Spec.Role === 'manager') {
        ctx.out(`Node ${node.ID} is already a manager.\n`);
        throw new NoRoleChange();
      }
      node.Spec.Role = 'manager';
    }, (id) => ctx.out(`Node ${id} promoted to a manager in the swarm.\n`));
  },
};

export const demoteCommand: Command = {
  name: 'demote',
  usage: 'NODE [NODE...]',
  short: 'Demote one or more nodes from manager in the swarm',
  args: { min: 1 },
  async run(ctx, p) {
    await updateNodes(ctx, p.args, (node) => {
      if (node.Spec.Role === 'worker') {
        ctx.out(`Node ${node.ID} is already a worker.\n`);
        throw new NoRoleChange();
      }
      node.Spec.Role = 'worker';
    }, (id) => ctx.out(`Manager ${id} demoted in the swarm.\n`));
  },
};
