// `berth system prune`: containers, networks, (anonymous) volumes, images and
// build cache in docker's order, with docker's prompt and report texts.
import type { Command } from '../../registry';
import { CliError, StatusError } from '../../registry';
import { parseFilters } from '../../flags';
import { humanSize } from '../../units';
import { confirm } from '../../confirm';

/** docker's confirmationTemplate, up to the question that confirm() adds. */
function warning(o: { volumes: boolean; all: boolean }, filters: Record<string, string[]>): string {
  const items = ['all stopped containers', 'all networks not used by at least one container'];
  if (o.volumes) items.push('all anonymous volumes not used by at least one container');
  items.push(o.all ? 'all images without at least one container associated to them' : 'all dangling images');
  items.push(o.all ? 'all build cache' : 'unused build cache');
  let s = 'WARNING! This will remove:' + items.map((w) => `\n  - ${w}`).join('') + '\n';
  const shown: string[] = [];
  for (const k of ['label', 'label!', 'until']) for (const v of filters[k] ?? []) shown.push(`${k}=${v}`);
  shown.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  if (shown.length) s += '\n  Items to be pruned will be filtered with:' + shown.map((f) => `\n  - ${f}`).join('') + '\n';
  return s;
}

const list = (title: string, xs: string[] | null | undefined) => (xs?.length ? `${title}:\n${xs.map((x) => x + '\n').join('')}\n` : '');

export const pruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  short: 'Remove unused data',
  flags: [
    { name: 'all', short: 'a', type: 'bool', usage: 'Remove all unused images not just dangling ones' },
    { name: 'filter', type: 'list', usage: 'Provide filter values (e.g. "label=<key>=<value>")', valueName: 'filter' },
    { name: 'force', short: 'f', type: 'bool', usage: 'Do not prompt for confirmation' },
    { name: 'volumes', type: 'bool', usage: 'Prune anonymous volumes' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const filters = parseFilters(p.flags.filter ?? [], '--filter');
    const o = { all: !!p.flags.all, volumes: !!p.flags.volumes };
    if (o.volumes && filters.until) throw new CliError('ERROR: The "until" filter is not supported with "--volumes"');
    if (!p.flags.force && !(await confirm(ctx, warning(o, filters)))) throw new StatusError('', 0);
    let space = 0;
    const c = await ctx.client.containerPrune(filters);
    space += c.SpaceReclaimed ?? 0;
    ctx.out(list('Deleted Containers', c.ContainersDeleted));
    const n = await ctx.client.networkPrune(filters);
    ctx.out(list('Deleted Networks', n.NetworksDeleted));
    if (o.volumes) {
      const v = await ctx.client.volumePrune(filters);
      space += v.SpaceReclaimed ?? 0;
      ctx.out(list('Deleted Volumes', v.VolumesDeleted));
    }
    const i = await ctx.client.imagePrune({ ...filters, dangling: [o.all ? 'false' : 'true'] });
    space += i.SpaceReclaimed ?? 0;
    if (i.ImagesDeleted?.length) {
      let out = 'Deleted Images:\n';
      for (const d of i.ImagesDeleted) {
        if (d.Untagged) out += `untagged: ${d.Untagged}\n`;
        if (d.Deleted) out += `deleted: ${d.Deleted}\n`;
      }
      ctx.out(out + '\n');
    }
    const b = await ctx.client.buildPrune(filters, o.all);
    space += b.SpaceReclaimed ?? 0;
    ctx.out(list('Deleted build cache objects', b.CachesDeleted));
    ctx.out(`Total reclaimed space: ${humanSize(space)}\n`);
  },
};
