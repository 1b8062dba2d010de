// service ls, ps, inspect, rm, scale; the convergence progress that create,
// update, scale and rollback show without --detach.
import type { Command, CommandContext } from '../../registry';
import { CliError } from '../../registry';
import { parseFilters } from '../../flags';
import { forEach, inspectEach } from '../../each';
import { formatRows, sortedJson } from '../../format';
import { shortId } from '../../units';
import { ApiError, type SwarmService } from '../../../client';
import { naturalLess } from '../node/view';
import { printTasks } from '../node/ps';
import { prettyService } from './pretty';

const FORMAT_USAGE = 'Pretty-print services using a Go template';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});

function imageOf(s: SwarmService): string {
  const image = String(obj(obj(s.Spec.TaskTemplate).ContainerSpec).Image ?? '');
  // docker shows the reference without its digest when it has a tag
  const m = /^(.*?)(@sha256:[0-9a-f]{64})$/.exec(image);
  if (!m) return image;
  return /:[^/]+$/.test(m[1]) ? m[1] : image;
}

function modeOf(s: SwarmService): string {
  const mode = obj(s.Spec.Mode);
  if (mode.Global) return 'global';
  if (mode.ReplicatedJob) return 'replicated job';
  if (mode.GlobalJob) return 'global job';
  return 'replicated';
}

function replicasOf(s: SwarmService): string {
  const st = s.ServiceStatus;
  const mode = obj(s.Spec.Mode);
  const max = Number(obj(obj(s.Spec.TaskTemplate).Placement).MaxReplicas ?? 0);
  const base = `${st?.RunningTasks ?? 0}/${st?.DesiredTasks ?? (mode.Replicated ? Number(obj(mode.Replicated).Replicas ?? 0) : 0)}`;
  return max > 0 ? `${base} (max ${max} per node)` : base;
}

function portsOf(s: SwarmService): string {
  return (s.Endpoint?.Ports ?? [])
    .filter((p) => (p.PublishMode ?? 'ingress') === 'ingress' && p.PublishedPort)
    .map((p) => `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? 'tcp'}`)
    .join(', ');
}

export const lsCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: '[OPTIONS]',
  short: 'List services',
  flags: [
    { name: 'filter', short: 'f', type: 'list', usage: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', usage: FORMAT_USAGE },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display IDs' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const f = p.flags;
    const list = await ctx.client.serviceList(parseFilters(f.filter ?? []), !f.quiet);
    list.sort((a, b) => (naturalLess(a.Spec.Name, b.Spec.Name) ? -1 : naturalLess(b.Spec.Name, a.Spec.Name) ? 1 : 0));
    let format: string = f.format || 'table';
    if (f.quiet && format === 'table') format = '{{.ID}}';
    const rows = list.map((s) => sortedJson({ ID: shortId(s.ID), Name: s.Spec.Name, Mode: modeOf(s), Replicas: replicasOf(s), Image: imageOf(s), Ports: portsOf(s) }));
    ctx.out(formatRows({ format, defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}', headers: { ID: 'ID', Name: 'NAME', Mode: 'MODE', Replicas: 'REPLICAS', Image: 'IMAGE', Ports: 'PORTS' } }, rows));
  },
};

export const inspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] SERVICE [SERVICE...]',
  short: 'Display detailed information on one or more services',
  flags: [
    { name: 'format', short: 'f', type: 'string', usage: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates" },
    { name: 'pretty', type: 'bool', usage: 'Print the information in a human friendly format' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    if (p.flags.pretty && p.flags.format) throw new CliError('--format is incompatible with human friendly format');
    // docker asks for the defaults filled in (insertDefaults), as the page shows them
    const get = async (ref: string) => {
      try {
        return await ctx.client.serviceGet(ref, true);
      } catch (e) {
        // docker's inspect says so for a 404
        if (e instanceof ApiError && e.status === 404) throw new Error(`Error: no such service: ${ref}`);
        throw e;
      }
    };
    if (p.flags.pretty) {
      // docker renders every page before printing any: one missing service prints nothing
      let out = '';
      for (const ref of p.args) {
        let s;
        try {
          s = await get(ref);
        } catch (e) {
          throw new CliError((e as Error).message);
        }
        const names = new Map<string, string>();
        for (const n of (obj(obj(s.Spec.TaskTemplate)).Networks as Array<{ Target?: string }> | undefined) ?? []) {
          if (!n?.Target) continue;
          try {
            const net = await ctx.client.networkInspect(n.Target, { scope: 'swarm' });
            names.set(net.ID, net.Name);
          } catch {
            // docker shows the target as it is when the network cannot be read
          }
        }
        out += prettyService(s, names);
      }
      ctx.out(out);
      return;
    }
    await inspectEach(ctx, p.args, p.flags.format ?? '', get);
  },
};

export const psCommand: Command = {
  name: 'ps',
  usage: '[OPTIONS] SERVICE [SERVICE...]',
  short: 'List the tasks of one or more services',
  flags: [
    { name: 'filter', short: 'f', type: 'list', usage: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', usage: 'Pretty-print tasks using a Go template' },
    { name: 'no-resolve', type: 'bool', usage: 'Do not map IDs to Names' },
    { name: 'no-trunc', type: 'bool', usage: 'Do not truncate output' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display task IDs' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    const filters = parseFilters(p.flags.filter ?? []);
    const ids: string[] = [];
    const missing: string[] = [];
    for (const ref of p.args) {
      // docker looks services up by ID prefix, then by name
      const byId = await ctx.client.serviceList({ id: [ref] }, false);
      const exact = byId.find((s) => s.ID === ref) ?? (byId.length === 1 ? byId[0] : undefined);
      const byName = exact ? [] : (await ctx.client.serviceList({ name: [ref] }, false)).filter((s) => s.Spec.Name === ref);
      const s = exact ?? byName[0];
      if (s) ids.push(s.ID);
      else missing.push(ref);
    }
    if (missing.length) throw new CliError(`no such service: ${missing.join('\n')}`);
    filters.service = ids;
    const tasks = await ctx.client.taskList(filters);
    // docker's service ps: --quiet prints whole IDs
    await printTasks(ctx, tasks, p.flags.quiet ? { ...p.flags, 'no-trunc': true } : p.flags);
  },
};

export const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: 'SERVICE [SERVICE...]',
  short: 'Remove one or more services',
  args: { min: 1 },
  async run(ctx, p) {
    await forEach(ctx, p.args, async (ref) => {
      await ctx.client.serviceRemove(ref);
      return ref;
    });
  },
};

export const scaleCommand: Command = {
  name: 'scale',
  usage: 'SERVICE=REPLICAS [SERVICE=REPLICAS...]',
  short: 'Scale one or multiple replicated services',
  flags: [{ name: 'detach', short: 'd', type: 'bool', usage: 'Exit immediately instead of waiting for the service to converge' }],
  args: { min: 1 },
  async run(ctx, p) {
    for (const a of p.args) {
      const [name, n] = a.split('=', 2);
      if (n === undefined || !name) throw new CliError(`Invalid scale specifier '${a}'.\nSee '${ctx.prog} service scale --help'.\n\nUsage:  ${ctx.prog} service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]\n\nScale one or multiple replicated services`);
      if (!/^\d+$/.test(n)) throw new CliError(`invalid replicas value ${n}: strconv.ParseUint: parsing "${n}": invalid syntax`);
    }
    const errs: string[] = [];
    const done: string[] = [];
    for (const a of p.args) {
      const [name, n] = a.split('=', 2);
      try {
        const s = await ctx.client.serviceGet(name);
        const mode = obj(s.Spec.Mode);
        if (!mode.Replicated) throw new Error(`scale can only be used with replicated or replicated-job mode`);
        const spec = { ...s.Spec, Mode: { Replicated: { Replicas: Number(n) } } };
        await ctx.client.serviceUpdate(s.ID, s.Version.Index, spec);
        ctx.out(`${name} scaled to ${n}\n`);
        done.push(s.ID);
      } catch (e) {
        errs.push(`${name}: ${(e as Error).message}`);
      }
    }
    if (!p.flags.detach) for (const id of done) await waitConverged(ctx, id);
    if (errs.length) throw new CliError(errs.join('\n'));
  },
};

/**
 * docker's progress for a replicated or global service, as it prints it
 * without a terminal: "overall progress: R out of N tasks" when the count
 * changes, then the 5 s stability wait and "verify: Service converged".
 */
export async function waitConverged(ctx: CommandContext, id: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let stableSince = 0;
  for (;;) {
    const s = await ctx.client.serviceGet(id);
    const tasks = (await ctx.client.taskList({ service: [id], '_up-to-date': ['true'] }))
      .filter((t) => t.DesiredState !== 'shutdown' && t.DesiredState !== 'remove');
    const mode = obj(s.Spec.Mode);
    const want = mode.Replicated ? Number(obj(mode.Replicated).Replicas ?? 0) : tasks.length;
    const running = tasks.filter((t) => t.Status?.State === 'running' && (!mode.Replicated || (t.Slot ?? 0) <= want)).length;
    const line = `overall progress: ${Math.min(running, want)} out of ${want} tasks`;
    if (line !== last) {
      ctx.out(line + '\n');
      last = line;
    }
    const paused = s.UpdateStatus?.State === 'paused' || s.UpdateStatus?.State === 'rollback_paused';
    if (paused) throw new CliError(`service update paused: ${s.UpdateStatus?.Message ?? ''}`);
    const updating = s.UpdateStatus?.State === 'updating' || s.UpdateStatus?.State === 'rollback_started';
    if (running >= want && !updating) {
      if (!stableSince) {
        stableSince = Date.now();
        ctx.out('verify: Waiting 5 seconds to verify that tasks are stable...\n');
      } else if (Date.now() - stableSince >= 5000) {
        ctx.out('verify: Service converged\n');
        return;
      }
    } else stableSince = 0;
    if (Date.now() > deadline) throw new CliError(`service ${id} did not converge within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
