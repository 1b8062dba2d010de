// node inspect [--pretty]: JSON (or a template) per node, or docker's page.
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { ApiError, ConnectionError } from '../../../client';
import { inspectEach } from '../../each';
import { nodeReference, prettyNode } from './view';

export const inspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] self|NODE [NODE...]',
  short: 'Display detailed information on one or more nodes',
  flags: [
    { name: 'format', short: 'f', type: 'string', usage: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates" },
    { name: 'pretty', type: 'bool', usage: 'Print the information in a human friendly format' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    const format: string = p.flags.pretty ? 'pretty' : p.flags.format;
    if (format.startsWith('pretty') && format !== 'pretty') throw new CliError('cannot supply extra formatting options to the pretty template');
    if (format !== 'pretty') {
      await inspectEach(ctx, p.args, format, async (ref) => ctx.client.nodeInspect(await nodeReference(ctx, ref)));
      return;
    }
    // The pretty page stops at the first node it cannot get, as docker's does.
    for (const ref of p.args) {
      let node;
      try {
        node = await ctx.client.nodeInspect(await nodeReference(ctx, ref));
      } catch (e) {
        if (e instanceof ConnectionError) throw e;
        throw new CliError(e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message);
      }
      ctx.out(prettyNode(node));
    }
  },
};
