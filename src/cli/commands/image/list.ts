// images / image ls: one row per repository:tag (docker's imageFormat), sizes
// and ages as docker prints them.
import type { Command } from '../../registry';
import { parseFilters } from '../../flags';
import { formatRows, sortedJson } from '../../format';
import { goTimeString, humanSize, shortId, since } from '../../units';
import type { ImageSummary } from '../../../client';
import { familiarName, parseRef } from '../../refs';

export const imageHeaders: Record<string, string> = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT',
  Size: 'SIZE', Containers: 'CONTAINERS', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE',
};

function rowContext(img: ImageSummary, repo: string, tag: string, digest: string, trunc: boolean): Record<string, unknown> {
  const ctx: Record<string, unknown> = {
    ID: trunc ? shortId(img.Id) : img.Id,
    Repository: repo,
    Tag: tag,
    Digest: digest,
    CreatedSince: since(img.Created),
    CreatedAt: goTimeString(new Date(img.Created * 1000)),
    Size: humanSize(img.Size, 3),
    Containers: img.Containers === -1 ? 'N/A' : String(img.Containers),
    VirtualSize: humanSize(img.VirtualSize ?? img.Size),
    SharedSize: img.SharedSize === -1 ? 'N/A' : humanSize(img.SharedSize),
    UniqueSize: img.SharedSize === -1 ? 'N/A' : humanSize(img.Size - img.SharedSize),
  };
  Object.defineProperty(ctx, 'toJSON', { value: () => sortedJson({ ...ctx }), enumerable: false });
  return ctx;
}

/** Rows for one image: per tag (with digests when asked), then digest-only references. */
export function imageRows(img: ImageSummary, digests: boolean, trunc: boolean): Array<Record<string, unknown>> {
  const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
  const dgs = (img.RepoDigests ?? []).filter((d) => d !== '<none>@<none>');
  if (!tags.length && !dgs.length) return [rowContext(img, '<none>', '<none>', '<none>', trunc)];
  const repoTags = new Map<string, string[]>();
  const repoDigests = new Map<string, string[]>();
  for (const t of tags) {
    const r = parseRef(t);
    if (!r.tag) continue;
    const name = familiarName(r.name);
    repoTags.set(name, [...(repoTags.get(name) ?? []), r.tag]);
  }
  for (const d of dgs) {
    const r = parseRef(d);
    if (!r.digest) continue;
    const name = familiarName(r.name);
    repoDigests.set(name, [...(repoDigests.get(name) ?? []), r.digest]);
  }
  const rows: Array<Record<string, unknown>> = [];
  for (const [repo, ts] of repoTags) {
    const ds = digests ? repoDigests.get(repo) ?? [] : [];
    repoDigests.delete(repo);
    for (const t of ts) {
      if (!ds.length) rows.push(rowContext(img, repo, t, '<none>', trunc));
      else for (const d of ds) rows.push(rowContext(img, repo, t, d, trunc));
    }
  }
  for (const [repo, ds] of repoDigests) {
    if (digests) for (const d of ds) rows.push(rowContext(img, repo, '<none>', d, trunc));
    else rows.push(rowContext(img, repo, '<none>', '', trunc));
  }
  return rows;
}

export const imageListCommand: Command = {
  name: 'ls',
  aliases: ['images', 'list'],
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  short: 'List images',
  flags: [
    { name: 'all', short: 'a', type: 'bool', usage: 'Show all images (default hides intermediate images)' },
    { name: 'digests', type: 'bool', usage: 'Show digests' },
    { name: 'filter', short: 'f', type: 'list', usage: 'Filter output based on conditions provided', valueName: 'filter' },
    { name: 'format', type: 'string', usage: 'Format output using a custom template' },
    { name: 'no-trunc', type: 'bool', usage: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only show image IDs' },
  ],
  args: { max: 1 },
  async run(ctx, p) {
    const f = p.flags;
    const filters = parseFilters(f.filter);
    if (p.args[0]) (filters.reference ??= []).push(p.args[0]);
    const list = await ctx.client.imageList({ all: f.all, filters });
    let format: string = f.format;
    if (f.quiet) format = '{{.ID}}';
    if (!format) format = 'table';
    const table = f.digests
      ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
      : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
    const rows = list.flatMap((img) => imageRows(img, !!f.digests || /\.Digest\b/.test(format), !f['no-trunc']));
    ctx.out(formatRows({ format, defaultTable: table, headers: imageHeaders }, rows));
  },
};
