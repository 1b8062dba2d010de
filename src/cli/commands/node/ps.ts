// node ps: the tasks on one or more nodes (default: this one), in docker's
// task table (service.slot names, previous tasks of a slot indented).
import type { Command, CommandContext } from '../../registry';
import { CliError } from '../../registry';
import { parseFilters, type FlagValues } from '../../flags';
import { formatRows } from '../../format';
import { shortId, ellipsis } from '../../units';
import { humanDuration } from '../../../common/duration';
import { ApiError, ConnectionError, type SwarmTask } from '../../../client';
import { naturalLess, nodeReference, pretty } from './view';

const TASK_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}';
const TASK_HEADERS = { ID: 'ID', Name: 'NAME', Image: 'IMAGE', Node: 'NODE', DesiredState: 'DESIRED STATE', CurrentState: 'CURRENT STATE', Error: 'ERROR', Ports: 'PORTS' };

/** idresolver: service and node IDs to names (a node's Spec.Name, then its hostname), cached; --no-resolve keeps IDs. */
export function resolver(ctx: CommandContext, noResolve: boolean) {
  const cache = new Map<string, string>();
  return async (kind: 'node' | 'service', id: string): Promise<string> => {
    if (noResolve || !id) return id;
    const key = `${kind}/${id}`;
    if (!cache.has(key)) {
      let name = id;
      try {
        if (kind === 'node') {
          const n = await ctx.client.nodeInspect(id);
          name = n.Spec?.Name || n.Description?.Hostname || id;
        } else {
          name = (await ctx.client.serviceInspect(id)).Spec?.Name || id;
        }
      } catch { /* unknown: the ID */ }
      cache.set(key, name);
    }
    return cache.get(key)!;
  };
}

/** The image as docker shows it truncated: the tag kept, a digest dropped. */
function displayImage(image: string, trunc: boolean): string {
  if (!trunc) return image;
  return image.replace(/@sha256:[0-9a-f]{64}$/, '').replace(/^docker\.io\/(library\/)?/, '');
}

export const psCommand: Command = {
  name: 'ps',
  usage: '[OPTIONS] [NODE...]',
  short: 'List tasks running on one or more nodes, defaults to current node',
  flags: [
    { name: 'filter', short: 'f', type: 'list', usage: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', usage: 'Pretty-print tasks using a Go template' },
    { name: 'no-resolve', type: 'bool', usage: 'Do not map IDs to Names' },
    { name: 'no-trunc', type: 'bool', usage: 'Do not truncate output' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display task IDs' },
  ],
  args: { min: 0 },
  async run(ctx, p) {
    const f = p.flags;
    const refs = p.args.length ? p.args : ['self'];
    const errs: string[] = [];
    const tasks: SwarmTask[] = [];
    for (const ref of refs) {
      try {
        const node = await ctx.client.nodeInspect(await nodeReference(ctx, ref));
        const filters = parseFilters(f.filter ?? []);
        filters.node = [...(filters.node ?? []), node.ID];
        tasks.push(...await ctx.client.taskList(filters));
      } catch (e) {
        if (e instanceof ConnectionError) throw e;
        errs.push(e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message);
      }
    }
    if (!errs.length || tasks.length) await printTasks(ctx, tasks, f);
    if (errs.length) throw new CliError(errs.join('\n'));
  },
};

/** docker's task table (node ps, service ps): same slot together, most recent first, history indented. */
export async function printTasks(ctx: CommandContext, tasks: SwarmTask[], f: FlagValues): Promise<void> {
    const trunc = !f['no-trunc'];
    const resolve = resolver(ctx, !!f['no-resolve']);
    const named: Array<{ t: SwarmTask; name: string }> = [];
    for (const t of tasks) {
      const service = await resolve('service', t.ServiceID ?? '');
      named.push({ t, name: t.Slot ? `${service}.${t.Slot}` : `${service}.${t.NodeID ?? ''}` });
    }
    // Same slot together, most recent first (docker's tasksSortable).
    named.sort((a, b) => {
      if (a.name !== b.name) return naturalLess(a.name, b.name) ? -1 : 1;
      return Date.parse(b.t.CreatedAt ?? '') - Date.parse(a.t.CreatedAt ?? '');
    });
    let format: string = f.format || 'table';
    if (format === 'table' && f.quiet) format = '{{.ID}}';
    const table = format.startsWith('table');
    const rows = [];
    let prev = '';
    for (const { t, name } of named) {
      const err = trunc ? ellipsis(t.Status?.Err ?? '', 30) : t.Status?.Err ?? '';
      const ports = (t.Status?.PortStatus?.Ports ?? []).map((x) => `*:${x.PublishedPort ?? 0}->${x.TargetPort ?? 0}/${x.Protocol ?? 'tcp'}`).join(',');
      rows.push({
        ID: trunc ? shortId(t.ID) : t.ID,
        Name: table && name === prev ? ` \\_ ${name}` : name,
        Image: displayImage(t.Spec?.ContainerSpec?.Image ?? '', trunc),
        Node: await resolve('node', t.NodeID ?? ''),
        DesiredState: pretty(t.DesiredState),
        CurrentState: `${pretty(t.Status?.State)} ${humanDuration(Date.now() - Date.parse(t.Status?.Timestamp ?? '')).toLowerCase()} ago`,
        Error: err ? `"${err}"` : '',
        Ports: ports,
      });
      prev = name;
    }
    ctx.out(formatRows({ format, defaultTable: TASK_TABLE, headers: TASK_HEADERS }, rows));
}
