// `berth network ...`: create, ls, inspect, rm, prune, connect, disconnect (docker's syntax and output).
import type { Command } from '../../registry';
import { registerGroup, CliError } from '../../registry';
import { keyValue, parseFilters } from '../../flags';
import { formatRows } from '../../format';
import { shortId, goTimeString } from '../../units';
import { forEach, inspectEach } from '../../each';
import { confirm } from '../../confirm';

const createCommand: Command = {
  name: 'create',
  usage: '[OPTIONS] NETWORK',
  short: 'Create a network',
  flags: [
    { name: 'driver', short: 'd', type: 'string', default: 'bridge', usage: 'Driver to manage the Network' },
    { name: 'subnet', type: 'list', usage: 'Subnet in CIDR format that represents a network segment' },
    { name: 'gateway', type: 'list', usage: 'IPv4 or IPv6 Gateway for the master subnet' },
    { name: 'ip-range', type: 'list', usage: 'Allocate container ip from a sub-range' },
    { name: 'internal', type: 'bool', usage: 'Restrict external access to the network' },
    { name: 'attachable', type: 'bool', usage: 'Enable manual container attachment' },
    { name: 'ipv6', type: 'bool', usage: 'Enable IPv6 networking' },
    { name: 'label', type: 'list', usage: 'Set metadata on a network' },
    { name: 'opt', short: 'o', type: 'list', usage: 'Set driver specific options' },
    { name: 'ipam-driver', type: 'string', default: 'default', usage: 'IP Address Management Driver' },
    { name: 'ipam-opt', type: 'list', usage: 'Set IPAM driver specific options' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const f = p.flags;
    const subnets: string[] = f.subnet ?? [];
    const gws: string[] = f.gateway ?? [];
    const ranges: string[] = f['ip-range'] ?? [];
    if (gws.length > subnets.length || ranges.length > subnets.length) throw new CliError('every ip-range or gateway must have a corresponding subnet');
    const config = subnets.map((s, i) => ({ Subnet: s, ...(gws[i] ? { Gateway: gws[i] } : {}), ...(ranges[i] ? { IPRange: ranges[i] } : {}) }));
    const r = await ctx.client.networkCreate({
      Name: p.args[0],
      Driver: f.driver,
      Internal: !!f.internal,
      Attachable: !!f.attachable,
      EnableIPv6: !!f.ipv6,
      Labels: keyValue(f.label ?? []),
      Options: keyValue(f.opt ?? []),
      IPAM: { Driver: f['ipam-driver'], Config: config, Options: keyValue(f['ipam-opt'] ?? []) },
    });
    ctx.out(r.Id + '\n');
  },
};

const lsCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: '[OPTIONS]',
  short: 'List networks',
  flags: [
    { name: 'filter', short: 'f', type: 'list', usage: "Provide filter values (e.g. 'driver=bridge')" },
    { name: 'format', type: 'string', usage: 'Format output using a custom template' },
    { name: 'no-trunc', type: 'bool', usage: 'Do not truncate the output' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display network IDs' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const f = p.flags;
    const list = (await ctx.client.networkList(parseFilters(f.filter ?? []))).sort((a, b) => (a.Name < b.Name ? -1 : 1));
    let format: string = f.format || 'table';
    if (f.quiet) format = '{{.ID}}';
    const rows = list.map((n) => ({
      ID: f['no-trunc'] ? n.Id : shortId(n.Id),
      Name: n.Name,
      Driver: n.Driver,
      Scope: n.Scope,
      IPv6: String(!!n.EnableIPv6),
      Internal: String(!!n.Internal),
      CreatedAt: goTimeString(new Date(n.Created)),
      Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    }));
    ctx.out(formatRows({ format, defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', headers: { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', CreatedAt: 'CREATED AT', Labels: 'LABELS' } }, rows));
  },
};

const inspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  short: 'Display detailed information on one or more networks',
  flags: [
    { name: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' },
    { name: 'verbose', short: 'v', type: 'bool', usage: 'Verbose output for diagnostics' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    await inspectEach(ctx, p.args, p.flags.format, (ref) => ctx.client.networkInspect(ref, { verbose: p.flags.verbose }));
  },
};

const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: 'NETWORK [NETWORK...]',
  short: 'Remove one or more networks',
  flags: [{ name: 'force', short: 'f', type: 'bool', usage: 'Do not error if the network does not exist' }],
  args: { min: 1 },
  async run(ctx, p) {
    await forEach(ctx, p.args, async (n) => {
      try {
        await ctx.client.networkRemove(n);
      } catch (e: any) {
        if (p.flags.force && e?.status === 404) return;
        throw e;
      }
      return n;
    });
  },
};

const pruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  short: 'Remove all unused networks',
  flags: [
    { name: 'filter', type: 'list', usage: "Provide filter values (e.g. 'until=<timestamp>')" },
    { name: 'force', short: 'f', type: 'bool', usage: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    if (!p.flags.force && !(await confirm(ctx, 'WARNING! This will remove all custom networks not used by at least one container.'))) return;
    const r: any = await ctx.client.networkPrune(parseFilters(p.flags.filter ?? [], '--filter'));
    const gone: string[] = r.NetworksDeleted ?? [];
    if (gone.length) ctx.out('Deleted Networks:\n' + gone.map((n) => n + '\n').join(''));
  },
};

const connectCommand: Command = {
  name: 'connect',
  usage: '[OPTIONS] NETWORK CONTAINER',
  short: 'Connect a container to a network',
  flags: [
    { name: 'alias', type: 'list', usage: 'Add network-scoped alias for the container' },
    { name: 'ip', type: 'string', usage: 'IPv4 address (e.g., "172.30.100.104")' },
    { name: 'link', type: 'list', usage: 'Add link to another container' },
    { name: 'driver-opt', type: 'list', usage: 'driver options for the network' },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, p) {
    const f = p.flags;
    await ctx.client.networkConnect(p.args[0], {
      Container: p.args[1],
      EndpointConfig: {
        Aliases: f.alias ?? [],
        Links: f.link ?? [],
        DriverOpts: keyValue(f['driver-opt'] ?? []),
        ...(f.ip ? { IPAMConfig: { IPv4Address: f.ip } } : {}),
      },
    });
  },
};

const disconnectCommand: Command = {
  name: 'disconnect',
  usage: '[OPTIONS] NETWORK CONTAINER',
  short: 'Disconnect a container from a network',
  flags: [{ name: 'force', short: 'f', type: 'bool', usage: 'Force the container to disconnect from a network' }],
  args: { min: 2, max: 2 },
  async run(ctx, p) {
    await ctx.client.networkDisconnect(p.args[0], { Container: p.args[1], Force: !!p.flags.force });
  },
};

registerGroup('network', 'Manage networks', [connectCommand, createCommand, disconnectCommand, inspectCommand, lsCommand, pruneCommand, rmCommand]);
