// inspect: any object by name or ID — container, then image, network, volume.
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { ApiError } from '../../../client';
import { inspectEach } from '../../each';

export const inspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  short: 'Return low-level information on Docker objects',
  flags: [
    { name: 'format', short: 'f', type: 'string', usage: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template." },
    { name: 'size', short: 's', type: 'bool', usage: 'Display total file sizes if the type is container' },
    { name: 'type', type: 'string', usage: 'Only inspect objects of the given type' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    const type: string = p.flags.type;
    const c = ctx.client;
    const getters: Record<string, (r: string) => Promise<unknown>> = {
      container: (r) => c.containerInspect(r, { size: p.flags.size }),
      image: (r) => c.imageInspect(r),
      network: (r) => c.networkInspect(r),
      volume: (r) => c.volumeInspect(r),
    };
    if (type && !getters[type]) throw new CliError(`"${type}" is not a valid value for --type`);
    const order = type ? [type] : Object.keys(getters);
    await inspectEach(ctx, p.args, p.flags.format, async (ref) => {
      for (const t of order) {
        try {
          return await getters[t](ref);
        } catch (e) {
          // Only "not found" moves on to the next type.
          if (!(e instanceof ApiError) || (e.status !== 404 && !(e.status === 400 && t !== 'container'))) throw e;
        }
      }
      if (type) throw new Error(`Error: No such ${type}: ${ref}`);
      throw new Error(`Error: No such object: ${ref}`);
    });
  },
};
