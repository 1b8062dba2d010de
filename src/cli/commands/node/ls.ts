// node ls: docker's columns, `*` on this node, natural order by hostname.
import type { Command } from '../../registry';
import { parseFilters } from '../../flags';
import type { TLSInfo } from '../../../client';
import { formatRows } from '../../format';
import { naturalLess, nodeRow, NODE_HEADERS, NODE_TABLE } from './view';

export const lsCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: '[OPTIONS]',
  short: 'List nodes in the swarm',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display IDs' },
    { name: 'format', type: 'string', usage: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates" },
    { name: 'filter', short: 'f', type: 'list', usage: 'Filter output based on conditions provided' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const f = p.flags;
    const nodes = await ctx.client.nodeList(parseFilters(f.filter ?? []));
    let swarm: { NodeID?: string; Cluster?: { TLSInfo?: TLSInfo } } = {};
    // docker asks /info only when it will print more than IDs
    if (nodes.length && !f.quiet) swarm = (await ctx.client.info())?.Swarm ?? {};
    nodes.sort((a, b) => {
      const x = a.Description?.Hostname ?? '';
      const y = b.Description?.Hostname ?? '';
      return naturalLess(x, y) ? -1 : naturalLess(y, x) ? 1 : 0;
    });
    let format: string = f.format || 'table';
    if (format === 'table' && f.quiet) format = '{{.ID}}';
    else if (format === 'raw') format = f.quiet ? 'node_id: {{.ID}}' : 'node_id: {{.ID}}\\nhostname: {{.Hostname}}\\nstatus: {{.Status}}\\navailability: {{.Availability}}\\nmanager_status: {{.ManagerStatus}}\\n';
    ctx.out(formatRows({ format, defaultTable: NODE_TABLE, headers: NODE_HEADERS }, nodes.map((n) => nodeRow(n, swarm.NodeID ?? '', swarm.Cluster?.TLSInfo))));
  },
};
