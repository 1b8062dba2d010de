// ps, ls, config, images, top, port, logs, version, events.
import { CliError } from '../../registry';
import { tabwrite } from '../../tabwriter';
import { displayablePorts } from '../container/list';
import { ellipsis, humanSize, since } from '../../units';
import { L, COMPOSE_VERSION, shortName } from '../../../compose/labels';
import { projectContainers, containerName } from '../../../compose/state';
import { serviceHash } from '../../../compose/hash';
import { imageName } from '../../../compose/images';
import { LogPrinter, containerLogs } from '../../../compose/logs';
import type { Project } from '../../../compose/types';
import type { ContainerSummary } from '../../../client';
import type { ComposeCommand } from './context';

function healthOf(status: string): string {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status);
  return m ? m[1].replace('health: ', '') : '';
}

export const psCommand: ComposeCommand = {
  name: 'ps',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'List containers',
  flags: [
    { name: 'all', short: 'a', type: 'bool', usage: 'Show all stopped containers (including those created by the run command)' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display IDs' },
    { name: 'services', type: 'bool', usage: 'Display services' },
    { name: 'status', type: 'list', usage: 'Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]' },
    { name: 'format', type: 'string', usage: 'Format output using a custom template: \'table\' (default) or \'json\'', default: 'table' },
    { name: 'filter', type: 'string', usage: 'Filter services by a property (supported filters: status)' },
    { name: 'no-trunc', type: 'bool', usage: "Don't truncate output" },
  ],
  async run(c, p) {
    const name = c.projectName();
    const statuses: string[] = [...p.flags.status];
    if (p.flags.filter) {
      const [k, v] = String(p.flags.filter).split('=');
      if (k !== 'status') throw new CliError(`${k} filter is not supported`);
      statuses.push(v);
    }
    let list = await projectContainers(c.client, name, { oneoff: p.flags.all ? 'any' : false, services: p.args });
    if (!p.flags.all && !statuses.length) list = list.filter((x) => x.State === 'running' || x.State === 'restarting' || x.State === 'paused');
    if (statuses.length) list = list.filter((x) => statuses.includes(x.State));
    if (p.flags.quiet) { for (const x of list) c.ctx.out(`${x.Id}\n`); return; }
    if (p.flags.services) { for (const s of [...new Set(list.map((x) => x.Labels?.[L.service] ?? ''))]) c.ctx.out(`${s}\n`); return; }
    if (p.flags.format === 'json') {
      for (const x of list) c.ctx.out(JSON.stringify(psJson(x)) + '\n');
      return;
    }
    if (p.flags.format !== 'table') throw new CliError(`unsupported format "${p.flags.format}": use table or json`);
    const rows = ['NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS'];
    for (const x of list) {
      rows.push([containerName(x), x.Image, JSON.stringify(p.flags['no-trunc'] ? x.Command : ellipsis(x.Command ?? '', 20)), x.Labels?.[L.service] ?? '', since(x.Created), x.Status, displayablePorts(x.Ports ?? [])].join('\t'));
    }
    c.ctx.out(tabwrite(rows.join('\n') + '\n', { minwidth: 0, padding: 3 }));
  },
};

function psJson(x: ContainerSummary): Record<string, unknown> {
  return {
    Command: JSON.stringify(x.Command ?? ''),
    CreatedAt: new Date(x.Created * 1000).toISOString(),
    ExitCode: Number(/Exited \((\d+)\)/.exec(x.Status)?.[1] ?? 0),
    Health: healthOf(x.Status),
    ID: x.Id,
    Image: x.Image,
    Labels: Object.entries(x.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    LocalVolumes: String((x.Mounts ?? []).filter((m) => m.Type === 'volume').length),
    Mounts: (x.Mounts ?? []).map((m) => m.Name || m.Source).join(','),
    Name: containerName(x),
    Names: containerName(x),
    Networks: Object.keys(x.NetworkSettings?.Networks ?? {}).join(','),
    Ports: displayablePorts(x.Ports ?? []),
    Project: x.Labels?.[L.project] ?? '',
    Publishers: (x.Ports ?? []).map((pt) => ({ URL: pt.IP ?? '', TargetPort: pt.PrivatePort, PublishedPort: pt.PublicPort ?? 0, Protocol: pt.Type })),
    RunningFor: since(x.Created),
    Service: x.Labels?.[L.service] ?? '',
    Size: 0,
    State: x.State,
    Status: x.Status,
  };
}

export const lsCommand: ComposeCommand = {
  name: 'ls',
  usage: '[OPTIONS]',
  short: 'List running compose projects',
  flags: [
    { name: 'all', short: 'a', type: 'bool', usage: 'Show all stopped Compose projects' },
    { name: 'format', type: 'string', usage: 'Format the output. Values: [table | json]', default: 'table' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display project names' },
    { name: 'filter', type: 'list', usage: 'Filter output based on conditions provided' },
  ],
  args: { max: 0 },
  async run(c, p) {
    const list = await c.client.containerList({ all: true, filters: { label: [L.project] } });
    const projects = new Map<string, { states: Map<string, number>; files: Set<string> }>();
    for (const x of list) {
      const n = x.Labels?.[L.project] ?? '';
      const e = projects.get(n) ?? projects.set(n, { states: new Map(), files: new Set() }).get(n)!;
      e.states.set(x.State, (e.states.get(x.State) ?? 0) + 1);
      if (x.Labels?.[L.configFiles]) e.files.add(x.Labels[L.configFiles]);
    }
    const nameFilter = (p.flags.filter as string[]).filter((f) => f.startsWith('name=')).map((f) => f.slice(5));
    const rows = [...projects.entries()]
      .filter(([, e]) => p.flags.all || e.states.has('running'))
      .filter(([n]) => !nameFilter.length || nameFilter.some((f) => n.includes(f)))
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([n, e]) => ({ Name: n, Status: [...e.states.entries()].sort().map(([s, k]) => `${s}(${k})`).join(', '), ConfigFiles: [...e.files].join(',') }));
    if (p.flags.quiet) { for (const r of rows) c.ctx.out(`${r.Name}\n`); return; }
    if (p.flags.format === 'json') { c.ctx.out(JSON.stringify(rows) + '\n'); return; }
    c.ctx.out(tabwrite(['NAME\tSTATUS\tCONFIG FILES', ...rows.map((r) => `${r.Name}\t${r.Status}\t${r.ConfigFiles}`)].join('\n') + '\n', { minwidth: 0, padding: 3 }));
  },
};

/** The model as `config` prints it: services without their `name`, keys sorted. */
export function configDocument(project: Project): Record<string, unknown> {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().filter((k) => (v as any)[k] !== undefined).map((k) => [k, sortKeys((v as any)[k])]));
    return v;
  };
  const services: Record<string, unknown> = {};
  for (const n of Object.keys(project.services).sort()) {
    const { name: _n, ...rest } = project.services[n];
    services[n] = sortKeys(rest);
  }
  const doc: Record<string, unknown> = { name: project.name, services };
  for (const k of ['networks', 'volumes', 'secrets', 'configs'] as const) if (Object.keys(project[k]).length) doc[k] = sortKeys(project[k]);
  Object.assign(doc, project.extensions);
  return doc;
}

export const configCommand: ComposeCommand = {
  name: 'config',
  aliases: ['convert'],
  usage: '[OPTIONS] [SERVICE...]',
  short: 'Parse, resolve and render compose file in canonical format',
  flags: [
    { name: 'services', type: 'bool', usage: 'Print the service names, one per line.' },
    { name: 'volumes', type: 'bool', usage: 'Print the volume names, one per line.' },
    { name: 'profiles', type: 'bool', usage: 'Print the profile names, one per line.' },
    { name: 'images', type: 'bool', usage: 'Print the image names, one per line.' },
    { name: 'hash', type: 'string', usage: 'Print the service config hash, one per line.' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Only validate the configuration, don\'t print anything.' },
    { name: 'format', type: 'string', usage: 'Format the output. Values: [yaml | json]', default: 'yaml' },
    { name: 'output', short: 'o', type: 'string', usage: 'Save to file (default to stdout)' },
  ],
  async run(c, p) {
    const project = c.load(p.args);
    if (p.flags.quiet) return;
    const names = p.args.length ? p.args : Object.keys(project.services);
    if (p.flags.services) { for (const n of names) c.ctx.out(`${n}\n`); return; }
    if (p.flags.volumes) { for (const n of Object.keys(project.volumes)) c.ctx.out(`${n}\n`); return; }
    if (p.flags.profiles) {
      const all = new Set<string>();
      for (const s of [...Object.values(project.services), ...Object.values(project.disabled)]) for (const pr of s.profiles ?? []) all.add(pr);
      for (const pr of [...all].sort()) c.ctx.out(`${pr}\n`);
      return;
    }
    if (p.flags.images) { for (const n of names) c.ctx.out(`${imageName(project, project.services[n])}\n`); return; }
    if (p.changed.has('hash')) {
      const want = p.flags.hash === '*' ? names : String(p.flags.hash).split(',');
      for (const n of want) {
        if (!project.services[n]) throw new CliError(`no such service: ${n}`);
        c.ctx.out(`${n} ${serviceHash(project.services[n], project)}\n`);
      }
      return;
    }
    const doc = configDocument(project);
    if (p.args.length) doc.services = Object.fromEntries(Object.entries(doc.services as object).filter(([n]) => p.args.includes(n)));
    // the YAML writer loads only for `config` (a cached project needs no parser)
    const text = p.flags.format === 'json' ? JSON.stringify(doc, null, 2) + '\n' : (await import('yaml')).default.stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
    if (p.flags.output) (await import('node:fs')).writeFileSync(p.flags.output, text);
    else c.ctx.out(text);
  },
};

export const imagesCommand: ComposeCommand = {
  name: 'images',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'List images used by the created containers',
  flags: [{ name: 'quiet', short: 'q', type: 'bool', usage: 'Only display IDs' }, { name: 'format', type: 'string', default: 'table', usage: 'Format the output. Values: [table | json]' }],
  async run(c, p) {
    const list = await projectContainers(c.client, c.projectName(), { services: p.args });
    const rows: Array<Record<string, unknown>> = [];
    for (const x of list) {
      const img = await c.client.imageInspect(x.ImageID).catch(() => undefined);
      const ref = x.Image.includes('sha256:') ? '<none>:<none>' : x.Image;
      const colon = ref.lastIndexOf(':');
      const [repo, tag] = colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
      rows.push({ ContainerName: containerName(x), Repository: repo, Tag: tag, ID: x.ImageID, Size: img?.Size ?? 0 });
    }
    if (p.flags.quiet) { for (const id of new Set(rows.map((r) => r.ID))) c.ctx.out(`${id}\n`); return; }
    if (p.flags.format === 'json') { c.ctx.out(JSON.stringify(rows) + '\n'); return; }
    c.ctx.out(tabwrite(['CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE', ...rows.map((r) => `${r.ContainerName}\t${r.Repository}\t${r.Tag}\t${String(r.ID).replace('sha256:', '').slice(0, 12)}\t${humanSize(Number(r.Size), 3)}`)].join('\n') + '\n', { minwidth: 0, padding: 3 }));
  },
};

export const topCommand: ComposeCommand = {
  name: 'top',
  usage: '[SERVICES...]',
  short: 'Display the running processes',
  async run(c, p) {
    const list = (await projectContainers(c.client, c.projectName(), { services: p.args })).filter((x) => x.State === 'running');
    for (const x of list) {
      const top = await c.client.containerTop(x.Id);
      c.ctx.out(`${containerName(x)}\n`);
      c.ctx.out(tabwrite([top.Titles.join('\t'), ...top.Processes.map((r) => r.join('\t'))].join('\n') + '\n', { minwidth: 0, padding: 3 }) + '\n');
    }
  },
};

export const portCommand: ComposeCommand = {
  name: 'port',
  usage: '[OPTIONS] SERVICE PRIVATE_PORT',
  short: 'Print the public port for a port binding',
  flags: [{ name: 'index', type: 'int', default: 1, usage: 'Index of the container if service has multiple replicas' }, { name: 'protocol', type: 'string', default: 'tcp', usage: 'tcp or udp' }],
  args: { min: 2, max: 2 },
  async run(c, p) {
    const [svc, port] = p.args;
    const list = await projectContainers(c.client, c.projectName(), { services: [svc] });
    const x = list.find((y) => Number(y.Labels?.[L.number]) === p.flags.index);
    if (!x) throw new CliError(`service "${svc}" is not running`);
    const info = await c.client.containerInspect(x.Id);
    const b = info.NetworkSettings?.Ports?.[`${port}/${p.flags.protocol}`];
    if (!b?.length) throw new CliError(`no port ${port}/${p.flags.protocol} for container ${containerName(x)}`);
    c.ctx.out(`${b[0].HostIp}:${b[0].HostPort}\n`);
  },
};

export const logsCommand: ComposeCommand = {
  name: 'logs',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'View output from containers',
  flags: [
    { name: 'follow', short: 'f', type: 'bool', usage: 'Follow log output' },
    { name: 'tail', short: 'n', type: 'string', default: 'all', usage: 'Number of lines to show from the end of the logs for each container' },
    { name: 'timestamps', short: 't', type: 'bool', usage: 'Show timestamps' },
    { name: 'since', type: 'string', usage: 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
    { name: 'until', type: 'string', usage: 'Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
    { name: 'no-color', type: 'bool', usage: 'Produce monochrome output' },
    { name: 'no-log-prefix', type: 'bool', usage: "Don't print prefix in logs" },
    { name: 'index', type: 'int', usage: 'index of the container if service has multiple replicas' },
  ],
  async run(c, p) {
    let list = await projectContainers(c.client, c.projectName(), { services: p.args, oneoff: 'any' });
    if (p.flags.index) list = list.filter((x) => Number(x.Labels?.[L.number]) === p.flags.index);
    const printer = new LogPrinter((s) => c.ctx.stdout.write(s), { color: c.color && !p.flags['no-color'], prefix: !p.flags['no-log-prefix'] });
    const named = list.map((x) => ({ x, name: x.Labels?.[L.oneoff] === 'True' ? containerName(x) : shortName(x.Labels, containerName(x)) }));
    printer.register(named.map((n) => n.name));
    await Promise.all(named.map(async ({ x, name }) => {
      const info = await c.client.containerInspect(x.Id);
      await containerLogs(c.client, printer, { id: x.Id, name, tty: !!info.Config?.Tty }, { follow: p.flags.follow, tail: p.flags.tail === 'all' ? undefined : p.flags.tail, timestamps: p.flags.timestamps, since: p.flags.since || undefined, until: p.flags.until || undefined });
    }));
  },
};

export const versionCommand: ComposeCommand = {
  name: 'version',
  usage: '[OPTIONS]',
  short: 'Show the Docker Compose version information',
  flags: [{ name: 'format', short: 'f', type: 'string', usage: 'Format the output. Values: [pretty | json]', default: 'pretty' }, { name: 'short', type: 'bool', usage: 'Shows only Compose\'s version number' }],
  args: { max: 0 },
  async run(c, p) {
    if (p.flags.short) c.ctx.out(`${COMPOSE_VERSION}\n`);
    else if (p.flags.format === 'json') c.ctx.out(JSON.stringify({ version: `v${COMPOSE_VERSION}` }) + '\n');
    else c.ctx.out(`Docker Compose version v${COMPOSE_VERSION} (berth compose)\n`);
  },
};

export const eventsCommand: ComposeCommand = {
  name: 'events',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'Receive real time events from containers',
  flags: [{ name: 'json', type: 'bool', usage: 'Output events as a stream of json objects' }],
  async run(c, p) {
    const name = c.projectName();
    const { stream } = await c.client.events({ filters: { label: [`${L.project}=${name}`], type: ['container'] } });
    for await (const e of stream) {
      const svc = e.Actor.Attributes[L.service] ?? '';
      if (p.args.length && !p.args.includes(svc)) continue;
      const attrs = Object.fromEntries(Object.entries(e.Actor.Attributes).filter(([k]) => !k.startsWith('com.docker.compose.')));
      const time = new Date(Number(BigInt(e.timeNano) / 1000000n)).toISOString();
      if (p.flags.json) c.ctx.out(JSON.stringify({ time, type: 'container', action: e.Action, id: e.Actor.ID, service: svc, attributes: attrs }) + '\n');
      else c.ctx.out(`${time} container ${e.Action} ${e.Actor.ID} (${Object.entries(attrs).map(([k, v]) => `${k}=${v}`).join(', ')})\n`);
    }
  },
};
