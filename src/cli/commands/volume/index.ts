// `berth volume ...`: create, ls, inspect, rm, prune (docker's syntax and output).
import type { Command } from '../../registry';
import { registerGroup, CliError } from '../../registry';
import { keyValue, parseFilters } from '../../flags';
import { formatRows } from '../../format';
import { humanSize } from '../../units';
import { forEach, inspectEach } from '../../each';
import { confirm } from '../../confirm';

const createCommand: Command = {
  name: 'create',
  usage: '[OPTIONS] [VOLUME]',
  short: 'Create a volume',
  flags: [
    { name: 'driver', short: 'd', type: 'string', default: 'local', usage: 'Specify volume driver name' },
    { name: 'label', type: 'list', usage: 'Set metadata for a volume' },
    { name: 'name', type: 'string', usage: 'Specify volume name' },
    { name: 'opt', short: 'o', type: 'list', usage: 'Set driver specific options' },
  ],
  args: { max: 1 },
  async run(ctx, p) {
    const f = p.flags;
    if (p.args[0] && f.name && p.args[0] !== f.name) throw new CliError(`conflicting options: either specify --name or provide positional arg, not both`);
    const v = await ctx.client.volumeCreate({ Name: p.args[0] ?? f.name ?? '', Driver: f.driver, DriverOpts: keyValue(f.opt ?? []), Labels: keyValue(f.label ?? []) });
    ctx.out(v.Name + '\n');
  },
};

const lsCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: '[OPTIONS]',
  short: 'List volumes',
  flags: [
    { name: 'filter', short: 'f', type: 'list', usage: "Provide filter values (e.g. 'dangling=true')" },
    { name: 'format', type: 'string', usage: 'Format output using a custom template' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display volume names' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const f = p.flags;
    const r = await ctx.client.volumeList(parseFilters(f.filter ?? []));
    const list = (r.Volumes ?? []).sort((a, b) => (a.Name < b.Name ? -1 : 1));
    let format: string = f.format || 'table';
    if (f.quiet) format = '{{.Name}}';
    const rows = list.map((v) => ({
      Name: v.Name,
      Driver: v.Driver,
      Scope: v.Scope,
      Mountpoint: v.Mountpoint,
      Labels: Object.entries(v.Labels ?? {}).map(([k, x]) => `${k}=${x}`).join(','),
      Links: 'N/A',
      Size: 'N/A',
    }));
    ctx.out(formatRows({ format, defaultTable: 'table {{.Driver}}\t{{.Name}}', headers: { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE' } }, rows));
  },
};

const inspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  short: 'Display detailed information on one or more volumes',
  flags: [{ name: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' }],
  args: { min: 1 },
  async run(ctx, p) {
    await inspectEach(ctx, p.args, p.flags.format, (ref) => ctx.client.volumeInspect(ref));
  },
};

const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  short: 'Remove one or more volumes',
  flags: [{ name: 'force', short: 'f', type: 'bool', usage: 'Force the removal of one or more volumes' }],
  args: { min: 1 },
  async run(ctx, p) {
    await forEach(ctx, p.args, async (v) => {
      await ctx.client.volumeRemove(v, !!p.flags.force);
      return v;
    });
  },
};

const pruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  short: 'Remove unused local volumes',
  flags: [
    { name: 'all', short: 'a', type: 'bool', usage: 'Remove all unused volumes, not just anonymous ones' },
    { name: 'filter', type: 'list', usage: "Provide filter values (e.g. 'label=<label>')" },
    { name: 'force', short: 'f', type: 'bool', usage: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const warning = p.flags.all ? 'WARNING! This will remove all local volumes not used by at least one container.' : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
    if (!p.flags.force && !(await confirm(ctx, warning))) return;
    const filters = parseFilters(p.flags.filter ?? [], '--filter');
    if (p.flags.all) filters.all = ['true'];
    const r: any = await ctx.client.volumePrune(filters);
    const gone: string[] = r.VolumesDeleted ?? [];
    if (gone.length) ctx.out('Deleted Volumes:\n' + gone.map((n) => n + '\n').join('') + '\n');
    ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
  },
};

registerGroup('volume', 'Manage volumes', [createCommand, inspectCommand, lsCommand, pruneCommand, rmCommand]);
