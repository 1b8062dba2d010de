// image inspect, history, tag, rm, prune.
import type { Command } from '../../registry';
import { CliError, StatusError } from '../../registry';
import { formatRows } from '../../format';
import { ellipsis, humanSize, shortId, since } from '../../units';
import { forEach, inspectEach, inspectFlags } from '../../each';
import { confirm } from '../../confirm';
import { parseFilters } from '../../flags';
import { checkTagReference, parseRef } from '../../refs';

/** Go's time.RFC3339 in local time. */
function rfc3339(unix: number): string {
  const d = new Date(unix * 1000);
  const off = -d.getTimezoneOffset();
  const local = new Date(unix * 1000 + off * 60000).toISOString().slice(0, 19);
  if (off === 0) return local + 'Z';
  const a = Math.abs(off);
  return `${local}${off > 0 ? '+' : '-'}${String(Math.trunc(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

export const imageInspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  short: 'Display detailed information on one or more images',
  flags: [inspectFlags[0]],
  args: { min: 1 },
  async run(ctx, p) {
    await inspectEach(ctx, p.args, p.flags.format, (r) => ctx.client.imageInspect(r));
  },
};

export const historyCommand: Command = {
  name: 'history',
  usage: '[OPTIONS] IMAGE',
  short: 'Show the history of an image',
  flags: [
    { name: 'format', type: 'string', usage: 'Format output using a custom template' },
    { name: 'human', short: 'H', type: 'bool', usage: 'Print sizes and dates in human readable format', default: true },
    { name: 'no-trunc', type: 'bool', usage: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only show image IDs' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const f = p.flags;
    const items = await ctx.client.imageHistory(p.args[0]);
    const trunc = !f['no-trunc'];
    const rows = items.map((h) => {
      const createdBy = h.CreatedBy.replace(/\t/g, ' ');
      return {
        ID: h.Id === '<missing>' ? '<missing>' : trunc ? shortId(h.Id) : h.Id,
        CreatedSince: f.human ? since(h.Created) : rfc3339(h.Created),
        CreatedAt: rfc3339(h.Created),
        CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
        Size: f.human ? humanSize(h.Size, 3) : String(h.Size),
        Comment: h.Comment,
        Tags: (h.Tags ?? []).join(', '),
      };
    });
    let format: string = f.format;
    if (f.quiet) format = '{{.ID}}';
    if (!format) format = 'table';
    ctx.out(formatRows({
      format,
      defaultTable: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
      headers: { ID: 'IMAGE', CreatedSince: f.human ? 'CREATED' : 'CREATED AT', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT', Tags: 'TAGS' },
    }, rows));
  },
};

export const tagCommand: Command = {
  name: 'tag',
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  short: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  args: { min: 2, max: 2 },
  async run(ctx, p) {
    checkTagReference(p.args[0], true);
    checkTagReference(p.args[1], false);
    const r = parseRef(p.args[1]);
    if (r.digest) throw new CliError('refusing to create a tag with a digest reference');
    await ctx.client.imageTag(p.args[0], r.name, r.tag ?? 'latest');
  },
};

export const imageRmCommand: Command = {
  name: 'rm',
  aliases: ['rmi', 'remove'],
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  short: 'Remove one or more images',
  flags: [
    { name: 'force', short: 'f', type: 'bool', usage: 'Force removal of the image' },
    { name: 'no-prune', type: 'bool', usage: 'Do not delete untagged parents' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    await forEach(ctx, p.args, async (img) => {
      const dels = (await ctx.client.imageRemove(img, { force: p.flags.force, noprune: p.flags['no-prune'] })) ?? [];
      for (const d of dels) {
        if (d.Untagged) ctx.out(`Untagged: ${d.Untagged}\n`);
        if (d.Deleted) ctx.out(`Deleted: ${d.Deleted}\n`);
      }
    });
  },
};

export const imagePruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  short: 'Remove unused images',
  flags: [
    { name: 'all', short: 'a', type: 'bool', usage: 'Remove all unused images, not just dangling ones' },
    { name: 'filter', type: 'list', usage: 'Provide filter values (e.g. "until=<timestamp>")', valueName: 'filter' },
    { name: 'force', short: 'f', type: 'bool', usage: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const filters = parseFilters(p.flags.filter, '--filter');
    filters.dangling = [p.flags.all ? 'false' : 'true'];
    const warning = p.flags.all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.';
    if (!p.flags.force && !(await confirm(ctx, warning))) throw new StatusError('', 0);
    const r = await ctx.client.imagePrune(filters);
    if (r.ImagesDeleted?.length) {
      let out = 'Deleted Images:\n';
      for (const d of r.ImagesDeleted) {
        if (d.Untagged) out += `untagged: ${d.Untagged}\n`;
        if (d.Deleted) out += `deleted: ${d.Deleted}\n`;
      }
      ctx.out(out + '\n');
    }
    ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
  },
};
