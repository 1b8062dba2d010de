// ps / container ls: docker's columns, truncation and --format contexts.
import type { Command } from '../../registry';
import { parseFilters } from '../../flags';
import { formatRows, sortedJson } from '../../format';
import { ellipsis, goTimeString, humanSize, shortId, since } from '../../units';
import type { ContainerSummary, Port } from '../../../client';
import { parseRef, familiarName } from '../../refs';

export const psHeaders: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED',
  Ports: 'PORTS', State: 'STATE', Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Label: 'LABEL',
  Mounts: 'MOUNTS', LocalVolumes: 'LOCAL VOLUMES', Networks: 'NETWORKS', Platform: 'PLATFORM',
};

/** formatter.DisplayablePorts: group consecutive ports, list host mappings after. */
export function displayablePorts(ports: Port[]): string {
  if (!ports.length) return '';
  const sorted = [...ports].sort((a, b) =>
    a.PrivatePort !== b.PrivatePort ? a.PrivatePort - b.PrivatePort
      : (a.IP ?? '') !== (b.IP ?? '') ? ((a.IP ?? '') < (b.IP ?? '') ? -1 : 1)
      : (a.PublicPort ?? 0) !== (b.PublicPort ?? 0) ? (a.PublicPort ?? 0) - (b.PublicPort ?? 0)
      : a.Type < b.Type ? -1 : a.Type > b.Type ? 1 : 0);
  const groups = new Map<string, { first: number; last: number }>();
  const order: string[] = [];
  const result: string[] = [];
  const host: string[] = [];
  const form = (key: string, a: number, b: number) => {
    const parts = key.split('/');
    let type = parts[0];
    let ip = '';
    if (parts.length > 1) { ip = parts.slice(0, -1).join('/'); type = parts[parts.length - 1]; }
    let g = String(a);
    if (a !== b) g = `${g}-${b}`;
    if (ip) g = `${ip.includes(':') ? `[${ip}]` : ip}:${g}->${g}`;
    return `${g}/${type}`;
  };
  for (const p of sorted) {
    const cur = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if (p.PublicPort !== cur) {
        const hp = p.IP.includes(':') ? `[${p.IP}]:${p.PublicPort}` : `${p.IP}:${p.PublicPort}`;
        host.push(`${hp}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) { groups.set(key, { first: cur, last: cur }); order.push(key); continue; }
    if (cur === g.last + 1) { g.last = cur; continue; }
    result.push(form(key, g.first, g.last));
    groups.set(key, { first: cur, last: cur });
  }
  for (const k of order) { const g = groups.get(k)!; result.push(form(k, g.first, g.last)); }
  return [...result, ...host].join(', ');
}

/** `docker ps`'s IMAGE for a name: parsed once per name (1,000 rows share a few). */
const imageShown = new Map<string, string>();
function shownImage(image: string): string {
  let v = imageShown.get(image);
  if (v === undefined) {
    const r = parseRef(image);
    v = r.digest && !r.tag ? familiarName(r.name) : r.tag ? `${familiarName(r.name)}:${r.tag}` : familiarName(r.name);
    if (imageShown.size >= 256) imageShown.clear();
    imageShown.set(image, v);
  }
  return v;
}

const SUMMARY = Symbol('summary');
const TRUNC = Symbol('trunc');
type Ctx = { [SUMMARY]: ContainerSummary; [TRUNC]: boolean };
/** The fields, in the order Go's formatter has them (json sorts them). */
const FIELDS = ['ID', 'Names', 'Image', 'Command', 'CreatedAt', 'RunningFor', 'Ports', 'State', 'Status', 'Size', 'Labels', 'Mounts', 'LocalVolumes', 'Networks', 'Platform'] as const;
const fieldOf: Record<(typeof FIELDS)[number], (c: ContainerSummary, trunc: boolean) => unknown> = {
  ID: (c, trunc) => (trunc ? shortId(c.Id) : c.Id),
  Names: (c, trunc) => {
    let names = (c.Names ?? []).map((n) => n.replace(/^\//, ''));
    if (trunc) { const top = names.find((n) => !n.includes('/')); if (top !== undefined) names = [top]; }
    return names.join(',');
  },
  Image: (c, trunc) => {
    if (!c.Image) return '<no image>';
    if (trunc) {
      if (shortId(c.ImageID ?? '') === shortId(c.Image)) return shortId(c.Image);
      return shownImage(c.Image);
    }
    return c.Image;
  },
  Command: (c, trunc) => JSON.stringify(trunc ? ellipsis(c.Command ?? '', 20) : c.Command ?? ''),
  CreatedAt: (c) => goTimeString(new Date(c.Created * 1000)),
  RunningFor: (c) => since(c.Created),
  Ports: (c) => displayablePorts(c.Ports ?? []),
  State: (c) => c.State,
  Status: (c) => c.Status,
  Size: (c) => {
    const rw = humanSize(c.SizeRw ?? 0, 3);
    return (c.SizeRootFs ?? 0) > 0 ? `${rw} (virtual ${humanSize(c.SizeRootFs!, 3)})` : rw;
  },
  Labels: (c) => { const l = c.Labels ?? {}; return Object.keys(l).sort().map((k) => `${k}=${l[k]}`).join(','); },
  Mounts: (c, trunc) => (c.Mounts ?? []).map((m) => (trunc ? ellipsis(m.Name || m.Source || '', 15) : m.Name || m.Source || '')).join(','),
  LocalVolumes: (c) => String((c.Mounts ?? []).filter((m: any) => m.Driver === 'local').length),
  Networks: (c) => Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
  Platform: () => null,
};
/**
 * One prototype for every row: its getters compute a field when a template
 * asks for it (the default table uses seven), and a row is one small object
 * — 1,000 rows with a closure per field were most of `ps`'s formatting and
 * its garbage. A plain-object prototype: templates see it as they saw the
 * object literal it replaces (a missing field is "<no value>", not an error).
 */
const rowProto: object = Object.create(Object.prototype, {
  ...Object.fromEntries(FIELDS.map((f) => [f, { enumerable: true, get(this: Ctx) { return fieldOf[f](this[SUMMARY], this[TRUNC]); } }])),
  Label: { value(this: Ctx, k: string) { return this[SUMMARY].Labels?.[k] ?? ''; } },
  toJSON: { value(this: Ctx) { const o: Record<string, unknown> = {}; for (const f of FIELDS) o[f] = fieldOf[f](this[SUMMARY], this[TRUNC]); return sortedJson(o); } },
});

/** The fields `--format` can use for one container (docker's ContainerContext). */
export function containerContext(c: ContainerSummary, trunc: boolean): Record<string, unknown> {
  const ctx = Object.create(rowProto) as Ctx;
  ctx[SUMMARY] = c;
  ctx[TRUNC] = trunc;
  return ctx as unknown as Record<string, unknown>;
}

/** `ps`'s default table (with --size, its SIZE column). */
export function listTableFormat(size: boolean): string {
  return 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}' + (size ? '\t{{.Size}}' : '');
}

/**
 * The entry keys the default table or -q shows (asked of berthd, which then
 * sends 300 KB instead of 800 KB for 1,000 rows); a custom format gets them all.
 */
export function listFields(format: string, size: boolean): string[] | undefined {
  if (format === '{{.ID}}') return ['Id'];
  if (format !== 'table') return undefined;
  return ['Id', 'Names', 'Image', 'ImageID', 'Command', 'Created', 'Ports', 'Status', ...(size ? ['SizeRw', 'SizeRootFs'] : [])];
}

export const listCommand: Command = {
  name: 'ls',
  aliases: ['ps', 'list'],
  usage: '[OPTIONS]',
  short: 'List containers',
  flags: [
    { name: 'all', short: 'a', type: 'bool', usage: 'Show all containers (default shows just running)' },
    { name: 'filter', short: 'f', type: 'list', usage: 'Filter output based on conditions provided', valueName: 'filter' },
    { name: 'format', type: 'string', usage: 'Format output using a custom template' },
    { name: 'last', short: 'n', type: 'int', usage: 'Show n last created containers (includes all states)', default: -1 },
    { name: 'latest', short: 'l', type: 'bool', usage: 'Show the latest created container (includes all states)' },
    { name: 'no-trunc', type: 'bool', usage: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display container IDs' },
    { name: 'size', short: 's', type: 'bool', usage: 'Display total file sizes' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const f = p.flags;
    let limit = f.last as number;
    if (f.latest) limit = 1;
    let format: string = f.format;
    if (f.quiet && format) ctx.err('WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
    if (f.quiet) format = '{{.ID}}';
    if (!format) format = 'table';
    // Like docker, ask for sizes when the template uses them ({{json .}} uses every field).
    const size = !!f.size || /\.Size\b/.test(format) || /json \.\s*}}/.test(format);
    const list = await ctx.client.containerList({ all: f.all || limit > 0, limit: limit > 0 ? limit : undefined, size, filters: parseFilters(f.filter), fields: listFields(format, !!f.size) });
    ctx.out(formatRows({ format, defaultTable: listTableFormat(!!f.size), headers: psHeaders }, list.map((c) => containerContext(c, !f['no-trunc']))));
  },
};
