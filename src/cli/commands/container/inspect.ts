// container inspect.
import type { Command } from '../../registry';
import { inspectEach, inspectFlags } from '../../each';

export const containerInspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Display detailed information on one or more containers',
  flags: inspectFlags,
  args: { min: 1 },
  async run(ctx, p) {
    await inspectEach(ctx, p.args, p.flags.format, (r) => ctx.client.containerInspect(r, { size: p.flags.size }));
  },
};
