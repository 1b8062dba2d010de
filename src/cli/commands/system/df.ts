// `berth system df [-v]`: docker's disk usage summary (formatter.DiskUsageContext,
// whose totals the client computes from /system/df) and its verbose tables.
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { formatRows } from '../../format';
import { humanSize, shortId, since } from '../../units';
import { imageHeaders, imageRows } from '../image/list';
import { containerContext, psHeaders } from '../container/list';

const summaryHeaders = { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };
const SUMMARY_TABLE = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';

/** "1.2MB (50%)" as docker prints a reclaimable amount out of a total. */
function reclaimable(r: number, total: number): string {
  return total > 0 ? `${humanSize(r)} (${Math.trunc((r * 100) / total)}%)` : humanSize(r);
}

function summary(du: any): Array<Record<string, string>> {
  const images: any[] = du.Images ?? [];
  const containers: any[] = du.Containers ?? [];
  const volumes: any[] = du.Volumes ?? [];
  const cache: any[] = du.BuildCache ?? [];
  const layers = du.LayersSize ?? 0;
  // An image in use keeps what is not shared with others; the rest can go.
  let used = 0;
  for (const i of images) if (i.Containers > 0 && i.Size !== -1 && i.SharedSize !== -1) used += i.Size - i.SharedSize;
  const active = (c: any) => ['running', 'paused', 'restarting'].includes(c.State);
  const sum = (xs: any[], f: (x: any) => number) => xs.reduce((a, x) => a + f(x), 0);
  const cSize = sum(containers, (c) => c.SizeRw ?? 0);
  const vSize = sum(volumes, (v) => (v.UsageData?.Size > 0 ? v.UsageData.Size : 0));
  const bSize = sum(cache, (b) => (b.Shared ? 0 : b.Size ?? 0));
  return [
    { Type: 'Images', TotalCount: String(images.length), Active: String(images.filter((i) => i.Containers > 0).length), Size: humanSize(layers), Reclaimable: reclaimable(layers - used, layers) },
    {
      Type: 'Containers', TotalCount: String(containers.length), Active: String(containers.filter(active).length), Size: humanSize(cSize),
      Reclaimable: reclaimable(sum(containers.filter((c) => !active(c)), (c) => c.SizeRw ?? 0), cSize),
    },
    {
      Type: 'Local Volumes', TotalCount: String(volumes.length), Active: String(volumes.filter((v) => v.UsageData?.RefCount > 0).length), Size: humanSize(vSize),
      Reclaimable: reclaimable(sum(volumes.filter((v) => v.UsageData?.RefCount === 0), (v) => (v.UsageData.Size > 0 ? v.UsageData.Size : 0)), vSize),
    },
    {
      Type: 'Build Cache', TotalCount: String(cache.length), Active: String(cache.filter((b) => b.InUse).length), Size: humanSize(bSize),
      Reclaimable: humanSize(sum(cache.filter((b) => !b.InUse && !b.Shared), (b) => b.Size ?? 0)),
    },
  ];
}

function verbose(du: any, trunc: boolean): string {
  let out = 'Images space usage:\n\n';
  const images = (du.Images ?? []).map((i: any) => imageRows(i, false, trunc)[0]);
  out += formatRows({
    format: 'table',
    defaultTable: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
    headers: imageHeaders,
  }, images);
  out += '\nContainers space usage:\n\n';
  // docker leaves the virtual size out here
  const containers = (du.Containers ?? []).map((c: any) => containerContext({ ...c, SizeRootFs: 0 }, trunc));
  out += formatRows({
    format: 'table',
    defaultTable: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}',
    headers: psHeaders,
  }, containers);
  out += '\nLocal Volumes space usage:\n\n';
  const volumes = (du.Volumes ?? []).map((v: any) => ({
    Name: v.Name,
    Links: v.UsageData ? String(v.UsageData.RefCount) : 'N/A',
    Size: v.UsageData ? humanSize(v.UsageData.Size) : 'N/A',
  }));
  out += formatRows({ format: 'table', defaultTable: 'table {{.Name}}\t{{.Links}}\t{{.Size}}', headers: { Name: 'VOLUME NAME', Links: 'LINKS', Size: 'SIZE' } }, volumes);
  const cache: any[] = du.BuildCache ?? [];
  out += `\nBuild cache usage: ${humanSize(cache.reduce((a, b) => a + (b.Shared ? 0 : b.Size ?? 0), 0))}\n\n`;
  const rows = cache.map((b) => ({
    ID: trunc ? shortId(b.ID) : b.ID,
    CacheType: b.Type,
    Size: humanSize(b.Size ?? 0),
    CreatedSince: since(Date.parse(b.CreatedAt) / 1000),
    LastUsedSince: b.LastUsedAt ? since(Date.parse(b.LastUsedAt) / 1000) : '',
    UsageCount: String(b.UsageCount ?? 0),
    Shared: String(!!b.Shared),
  }));
  out += formatRows({
    format: 'table',
    defaultTable: 'table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}',
    headers: { ID: 'CACHE ID', CacheType: 'CACHE TYPE', Size: 'SIZE', CreatedSince: 'CREATED', LastUsedSince: 'LAST USED', UsageCount: 'USAGE', Shared: 'SHARED' },
  }, rows);
  return out;
}

export const dfCommand: Command = {
  name: 'df',
  usage: '[OPTIONS]',
  short: 'Show Berth disk usage',
  flags: [
    { name: 'format', type: 'string', usage: 'Format output using a custom template' },
    { name: 'verbose', short: 'v', type: 'bool', usage: 'Show detailed information on space usage' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const format: string = p.flags.format || 'table';
    if (p.flags.verbose && format !== 'table') throw new CliError('--format is not supported with --verbose in berth');
    const du = await ctx.client.diskUsage();
    if (p.flags.verbose) {
      ctx.out(verbose(du, true));
      return;
    }
    const raw = format === 'raw' ? 'type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\nsize: {{.Size}}\nreclaimable: {{.Reclaimable}}\n' : format;
    ctx.out(formatRows({ format: raw, defaultTable: SUMMARY_TABLE, headers: summaryHeaders }, summary(du)));
  },
};
