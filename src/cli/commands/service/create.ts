// service create, update and rollback: docker's flags turned into a
// ServiceSpec (cli/command/service/opts.go and update.go in docker/cli);
// without --detach the convergence progress follows.
import type { Command, CommandContext } from '../../registry';
import { CliError } from '../../registry';
import { FlagError, keyValue, parseDuration, type FlagDef, type Parsed } from '../../flags';
import { parseMount, ramInBytes } from '../container/opts';
import { waitConverged } from './commands';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const NS = 1_000_000;

function duration(v: string, flag: string): number {
  const ms = parseDuration(v);
  if (ms === undefined) throw new FlagError(`invalid argument "${v}" for "--${flag}" flag: time: invalid duration "${v}"`);
  return Math.round(ms * NS);
}

function nanoCpus(v: string, flag: string): number {
  const n = Number(v);
  if (!v || Number.isNaN(n)) throw new FlagError(`invalid argument "${v}" for "--${flag}" flag: failed to parse ${v} as a rational number`);
  return Math.round(n * 1e9);
}

/** --secret/--config: a name, or source=,target=,uid=,gid=,mode= (mode octal). */
function fileRef(kind: 'secret' | 'config', v: string): Json {
  const o: Record<string, string> = {};
  if (!v.includes('=')) o.source = v;
  else for (const part of v.split(',')) {
    const i = part.indexOf('=');
    const k = part.slice(0, i).trim().toLowerCase();
    if (!['source', 'src', 'target', 'uid', 'gid', 'mode'].includes(k)) throw new FlagError(`invalid field '${k}' must be a key=value pair`);
    o[k === 'src' ? 'source' : k] = part.slice(i + 1);
  }
  if (!o.source) throw new FlagError(`source is required`);
  const target = o.target || o.source;
  const ref: Json = { File: { Name: kind === 'config' && !o.target ? o.source : target, UID: o.uid ?? '0', GID: o.gid ?? '0', Mode: o.mode ? parseInt(o.mode, 8) : 0o444 } };
  ref[kind === 'secret' ? 'SecretName' : 'ConfigName'] = o.source;
  return ref;
}

/** --publish: published:target[/proto] or published=,target=,protocol=,mode=. */
function portConfig(v: string): Json {
  if (v.includes('=')) {
    const o: Record<string, string> = {};
    for (const part of v.split(',')) {
      const i = part.indexOf('=');
      o[part.slice(0, i).trim().toLowerCase()] = part.slice(i + 1);
    }
    return { Protocol: o.protocol || 'tcp', TargetPort: Number(o.target), PublishedPort: o.published ? Number(o.published) : undefined, PublishMode: o.mode || 'ingress' };
  }
  const [ports, proto = 'tcp'] = v.split('/');
  const parts = ports.split(':');
  const target = Number(parts[parts.length - 1]);
  const published = parts.length > 1 ? Number(parts[parts.length - 2]) : undefined;
  return { Protocol: proto, TargetPort: target, PublishedPort: published, PublishMode: 'ingress' };
}

const common: FlagDef[] = [
  { name: 'detach', short: 'd', type: 'bool', usage: 'Exit immediately instead of waiting for the service to converge' },
  { name: 'quiet', short: 'q', type: 'bool', usage: 'Suppress progress output' },
  { name: 'replicas', type: 'string', usage: 'Number of tasks' },
  { name: 'constraint', type: 'list', usage: 'Placement constraints' },
  { name: 'placement-pref', type: 'list', usage: 'Add a placement preference' },
  { name: 'limit-cpu', type: 'string', usage: 'Limit CPUs' },
  { name: 'limit-memory', type: 'string', usage: 'Limit Memory' },
  { name: 'reserve-cpu', type: 'string', usage: 'Reserve CPUs' },
  { name: 'reserve-memory', type: 'string', usage: 'Reserve Memory' },
  { name: 'restart-condition', type: 'string', usage: 'Restart when condition is met ("none"|"on-failure"|"any")' },
  { name: 'restart-delay', type: 'string', usage: 'Delay between restart attempts (ns|us|ms|s|m|h)' },
  { name: 'restart-max-attempts', type: 'string', usage: 'Maximum number of restarts before giving up' },
  { name: 'restart-window', type: 'string', usage: 'Window used to evaluate the restart policy (ns|us|ms|s|m|h)' },
  { name: 'endpoint-mode', type: 'string', usage: 'Endpoint mode (vip or dnsrr)' },
  { name: 'no-resolve-image', type: 'bool', usage: 'Do not query the registry to resolve image digest and supported platforms' },
  { name: 'user', short: 'u', type: 'string', usage: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'workdir', short: 'w', type: 'string', usage: 'Working directory inside the container' },
  { name: 'hostname', type: 'string', usage: 'Container hostname' },
  { name: 'entrypoint', type: 'string', usage: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'stop-grace-period', type: 'string', usage: 'Time to wait before force killing a container (ns|us|ms|s|m|h)' },
  { name: 'with-registry-auth', type: 'bool', usage: 'Send registry authentication details to swarm agents' },
];
for (const p of ['update', 'rollback']) {
  const t = p === 'update' ? 'Update' : 'Rollback';
  common.push(
    { name: `${p}-parallelism`, type: 'string', usage: `Maximum number of tasks ${p === 'update' ? 'updated' : 'rolled back'} simultaneously (0 to ${p} all at once)` },
    { name: `${p}-delay`, type: 'string', usage: `Delay between task ${p}s (ns|us|ms|s|m|h)` },
    { name: `${p}-failure-action`, type: 'string', usage: `Action on ${p} failure ("pause"|"continue"${p === 'update' ? '|"rollback"' : ''})` },
    { name: `${p}-monitor`, type: 'string', usage: `Duration after each task ${p} to monitor for failure (ns|us|ms|s|m|h)` },
    { name: `${p}-max-failure-ratio`, type: 'string', usage: `Failure rate to tolerate during ${t.toLowerCase()}` },
    { name: `${p}-order`, type: 'string', usage: `${t} order ("start-first"|"stop-first")` },
  );
}

/** The flags both create and update take, applied to a spec (only those given on update). */
function applyCommon(spec: Json, p: Parsed, isSet: (n: string) => boolean): void {
  const f = p.flags;
  const tt = obj(spec.TaskTemplate);
  spec.TaskTemplate = tt;
  const cs = obj(tt.ContainerSpec);
  tt.ContainerSpec = cs;
  if (isSet('replicas')) {
    if (!obj(spec.Mode).Replicated && obj(spec.Mode).Global) throw new CliError('replicas can only be used with replicated or replicated-job mode');
    if (!/^\d+$/.test(f.replicas)) throw new FlagError(`invalid argument "${f.replicas}" for "--replicas" flag: strconv.ParseUint: parsing "${f.replicas}": invalid syntax`);
    spec.Mode = { Replicated: { Replicas: Number(f.replicas) } };
  }
  const placement = obj(tt.Placement);
  if (isSet('constraint')) placement.Constraints = [...((placement.Constraints as string[] | undefined) ?? []), ...(f.constraint as string[])];
  if (isSet('placement-pref')) {
    placement.Preferences = [...((placement.Preferences as Json[] | undefined) ?? []), ...(f['placement-pref'] as string[]).map((v) => {
      const m = /^spread=(.+)$/.exec(v);
      if (!m) throw new FlagError(`invalid argument "${v}" for "--placement-pref" flag: unsupported placement preference ${v.split('=')[0]} (only spread is supported)`);
      return { Spread: { SpreadDescriptor: m[1] } };
    })];
  }
  if (Object.keys(placement).length) tt.Placement = placement;
  const res = obj(tt.Resources);
  const limits = obj(res.Limits);
  const reserve = obj(res.Reservations);
  if (isSet('limit-cpu')) limits.NanoCPUs = nanoCpus(f['limit-cpu'], 'limit-cpu');
  if (isSet('limit-memory')) limits.MemoryBytes = ramInBytes(f['limit-memory'], '--limit-memory');
  if (isSet('reserve-cpu')) reserve.NanoCPUs = nanoCpus(f['reserve-cpu'], 'reserve-cpu');
  if (isSet('reserve-memory')) reserve.MemoryBytes = ramInBytes(f['reserve-memory'], '--reserve-memory');
  if (Object.keys(limits).length || Object.keys(reserve).length) tt.Resources = { ...res, Limits: limits, Reservations: reserve };
  const rp = obj(tt.RestartPolicy);
  if (isSet('restart-condition')) rp.Condition = f['restart-condition'];
  if (isSet('restart-delay')) rp.Delay = duration(f['restart-delay'], 'restart-delay');
  if (isSet('restart-max-attempts')) rp.MaxAttempts = Number(f['restart-max-attempts']);
  if (isSet('restart-window')) rp.Window = duration(f['restart-window'], 'restart-window');
  if (Object.keys(rp).length) tt.RestartPolicy = rp;
  for (const [p2, key] of [['update', 'UpdateConfig'], ['rollback', 'RollbackConfig']] as const) {
    const c = obj(spec[key]);
    if (isSet(`${p2}-parallelism`)) c.Parallelism = Number(f[`${p2}-parallelism`]);
    if (isSet(`${p2}-delay`)) c.Delay = duration(f[`${p2}-delay`], `${p2}-delay`);
    if (isSet(`${p2}-failure-action`)) c.FailureAction = f[`${p2}-failure-action`];
    if (isSet(`${p2}-monitor`)) c.Monitor = duration(f[`${p2}-monitor`], `${p2}-monitor`);
    if (isSet(`${p2}-max-failure-ratio`)) c.MaxFailureRatio = Number(f[`${p2}-max-failure-ratio`]);
    if (isSet(`${p2}-order`)) c.Order = f[`${p2}-order`];
    if (Object.keys(c).length) spec[key] = c;
  }
  if (isSet('endpoint-mode')) spec.EndpointSpec = { ...obj(spec.EndpointSpec), Mode: f['endpoint-mode'] };
  if (isSet('user')) cs.User = f.user;
  if (isSet('workdir')) cs.Dir = f.workdir;
  if (isSet('hostname')) cs.Hostname = f.hostname;
  if (isSet('entrypoint')) cs.Command = f.entrypoint ? String(f.entrypoint).split(/\s+/) : undefined;
  if (isSet('stop-grace-period')) cs.StopGracePeriod = duration(f['stop-grace-period'], 'stop-grace-period');
}

async function afterWrite(ctx: CommandContext, p: Parsed, id: string, warnings: string[] | null | undefined): Promise<void> {
  for (const w of warnings ?? []) ctx.err(w + '\n');
  if (p.flags.detach) return;
  if (p.flags.quiet) {
    await waitConverged({ ...ctx, out: () => undefined }, id);
    return;
  }
  await waitConverged(ctx, id);
}

export const createCommand: Command = {
  name: 'create',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create a new service',
  interspersed: false,
  flags: [
    { name: 'name', type: 'string', usage: 'Service name' },
    { name: 'mode', type: 'string', default: 'replicated', usage: 'Service mode (replicated, global, replicated-job, or global-job)' },
    { name: 'env', short: 'e', type: 'list', usage: 'Set environment variables' },
    { name: 'label', short: 'l', type: 'list', usage: 'Service labels' },
    { name: 'container-label', type: 'list', usage: 'Container labels' },
    { name: 'secret', type: 'list', usage: 'Specify secrets to expose to the service' },
    { name: 'config', type: 'list', usage: 'Specify configurations to expose to the service' },
    { name: 'mount', type: 'list', usage: 'Attach a filesystem mount to the service' },
    { name: 'publish', short: 'p', type: 'list', usage: 'Publish a port as a node port' },
    { name: 'network', type: 'list', usage: 'Network attachments' },
    ...common,
  ],
  args: { min: 1 },
  async run(ctx, p) {
    const f = p.flags;
    const [given, ...args] = p.args;
    // reference.TagNameOnly: a reference without tag or digest gets :latest
    const image = /@sha256:|:[^/]+$/.test(given) ? given : `${given}:latest`;
    const mode = String(f.mode || 'replicated');
    if (!['replicated', 'global', 'replicated-job', 'global-job'].includes(mode)) throw new CliError(`invalid replicated mode ${JSON.stringify(mode)}`);
    const cs: Json = { Image: image, Labels: keyValue(f['container-label'] ?? []) };
    cs.Init = false;
    if (args.length) cs.Args = args;
    if ((f.env ?? []).length) cs.Env = f.env;
    if ((f.mount ?? []).length) cs.Mounts = (f.mount as string[]).map(parseMount);
    const spec: Json = {
      Name: f.name ?? '',
      Labels: keyValue(f.label ?? []),
      TaskTemplate: { ContainerSpec: cs, ForceUpdate: 0 },
      Mode: mode === 'global' ? { Global: {} } : mode === 'replicated' ? { Replicated: { Replicas: 1 } } : mode === 'replicated-job' ? { ReplicatedJob: {} } : { GlobalJob: {} },
      UpdateConfig: { Parallelism: 1, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' },
      RollbackConfig: { Parallelism: 1, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' },
      EndpointSpec: { Mode: 'vip' },
    };
    applyCommon(spec, p, (n) => p.changed.has(n));
    await resolveFiles(ctx, obj(obj(spec.TaskTemplate).ContainerSpec), f.secret ?? [], f.config ?? []);
    if ((f.network ?? []).length) obj(spec.TaskTemplate).Networks = (f.network as string[]).map((n) => ({ Target: n }));
    if ((f.publish ?? []).length) spec.EndpointSpec = { ...obj(spec.EndpointSpec), Ports: (f.publish as string[]).map(portConfig) };
    const r = await ctx.client.serviceCreate(spec);
    if (!f['no-resolve-image']) ctx.err(`image ${image} could not be accessed on a registry to record\nits digest. Each node will access ${image} independently,\npossibly leading to different nodes running different\nversions of the image.\n\n`);
    ctx.out(r.ID + '\n');
    await afterWrite(ctx, p, r.ID, r.Warnings);
  },
};

/** Secret and config names to references with IDs, as the docker CLI does (it lists them by name). */
async function resolveFiles(ctx: CommandContext, cs: Json, secrets: string[], configs: string[]): Promise<void> {
  for (const [kind, list] of [['secret', secrets], ['config', configs]] as const) {
    if (!list.length) continue;
    const refs = list.map((v) => fileRef(kind, v));
    const nameKey = kind === 'secret' ? 'SecretName' : 'ConfigName';
    const found = await ctx.client.fileList(kind === 'secret' ? 'secrets' : 'configs', { name: refs.map((r) => String(r[nameKey])) });
    for (const r of refs) {
      const hit = found.find((s) => s.Spec.Name === r[nameKey]);
      if (!hit) throw new CliError(`${kind} not found: ${String(r[nameKey])}`);
      r[kind === 'secret' ? 'SecretID' : 'ConfigID'] = hit.ID;
    }
    const key = kind === 'secret' ? 'Secrets' : 'Configs';
    cs[key] = [...((cs[key] as Json[] | undefined) ?? []), ...refs];
  }
}

export const updateCommand: Command = {
  name: 'update',
  usage: '[OPTIONS] SERVICE',
  short: 'Update a service',
  flags: [
    { name: 'image', type: 'string', usage: 'Service image tag' },
    { name: 'args', type: 'string', usage: 'Service command args' },
    { name: 'force', type: 'bool', usage: 'Force update even if no changes require it' },
    { name: 'rollback', type: 'bool', usage: 'Rollback to previous specification' },
    { name: 'env-add', type: 'list', usage: 'Add or update an environment variable' },
    { name: 'env-rm', type: 'list', usage: 'Remove an environment variable' },
    { name: 'label-add', type: 'list', usage: 'Add or update a service label' },
    { name: 'label-rm', type: 'list', usage: 'Remove a label by its key' },
    { name: 'container-label-add', type: 'list', usage: 'Add or update a container label' },
    { name: 'container-label-rm', type: 'list', usage: 'Remove a container label by its key' },
    { name: 'constraint-add', type: 'list', usage: 'Add or update a placement constraint' },
    { name: 'constraint-rm', type: 'list', usage: 'Remove a constraint' },
    { name: 'secret-add', type: 'list', usage: 'Add or update a secret on a service' },
    { name: 'secret-rm', type: 'list', usage: 'Remove a secret' },
    { name: 'config-add', type: 'list', usage: 'Add or update a config file on a service' },
    { name: 'config-rm', type: 'list', usage: 'Remove a configuration file' },
    { name: 'publish-add', type: 'list', usage: 'Add or update a published port' },
    { name: 'publish-rm', type: 'list', usage: 'Remove a published port by its target port' },
    ...common,
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const f = p.flags;
    const s = await ctx.client.serviceGet(p.args[0]);
    if (f.rollback) {
      const r = await ctx.client.serviceUpdate(s.ID, s.Version.Index, s.Spec, 'previous');
      ctx.out(p.args[0] + '\n');
      await afterWrite(ctx, p, s.ID, r.Warnings);
      return;
    }
    const spec: Json = structuredClone(s.Spec);
    const tt = obj(spec.TaskTemplate);
    spec.TaskTemplate = tt;
    const cs = obj(tt.ContainerSpec);
    tt.ContainerSpec = cs;
    applyCommon(spec, p, (n) => p.changed.has(n));
    if (p.changed.has('image')) cs.Image = f.image;
    if (p.changed.has('args')) cs.Args = String(f.args).split(/\s+/).filter(Boolean);
    const editMap = (m: unknown, add: string[], rm: string[]) => {
      const out = { ...obj(m) } as Record<string, string>;
      for (const k of rm) delete out[k];
      Object.assign(out, keyValue(add));
      return out;
    };
    if (p.changed.has('label-add') || p.changed.has('label-rm')) spec.Labels = editMap(spec.Labels, f['label-add'] ?? [], f['label-rm'] ?? []);
    if (p.changed.has('container-label-add') || p.changed.has('container-label-rm')) cs.Labels = editMap(cs.Labels, f['container-label-add'] ?? [], f['container-label-rm'] ?? []);
    if (p.changed.has('env-add') || p.changed.has('env-rm')) {
      const env = ((cs.Env as string[] | undefined) ?? []).filter((e) => {
        const k = e.split('=')[0];
        return !(f['env-rm'] as string[]).includes(k) && !(f['env-add'] as string[]).some((a) => a.split('=')[0] === k);
      });
      cs.Env = [...env, ...(f['env-add'] as string[])];
    }
    if (p.changed.has('constraint-add') || p.changed.has('constraint-rm')) {
      const placement = obj(tt.Placement);
      const cur = ((placement.Constraints as string[] | undefined) ?? []).filter((c) => !(f['constraint-rm'] as string[]).includes(c));
      placement.Constraints = [...cur, ...(f['constraint-add'] as string[]).filter((c) => !cur.includes(c))];
      tt.Placement = placement;
    }
    if (p.changed.has('secret-rm')) cs.Secrets = ((cs.Secrets as Json[] | undefined) ?? []).filter((r) => !(f['secret-rm'] as string[]).includes(String(r.SecretName)) && !(f['secret-rm'] as string[]).includes(String(r.SecretID)));
    if (p.changed.has('config-rm')) cs.Configs = ((cs.Configs as Json[] | undefined) ?? []).filter((r) => !(f['config-rm'] as string[]).includes(String(r.ConfigName)) && !(f['config-rm'] as string[]).includes(String(r.ConfigID)));
    await resolveFiles(ctx, cs, f['secret-add'] ?? [], f['config-add'] ?? []);
    if (p.changed.has('publish-add') || p.changed.has('publish-rm')) {
      const ep = obj(spec.EndpointSpec);
      const rm = (f['publish-rm'] as string[]).map((v) => Number(v.split('/')[0].split(':').pop()));
      const ports = ((ep.Ports as Json[] | undefined) ?? []).filter((x) => !rm.includes(Number(x.TargetPort)));
      ep.Ports = [...ports, ...(f['publish-add'] as string[]).map(portConfig)];
      spec.EndpointSpec = ep;
    }
    if (f.force) tt.ForceUpdate = Number(tt.ForceUpdate ?? 0) + 1;
    const r = await ctx.client.serviceUpdate(s.ID, s.Version.Index, spec);
    ctx.out(p.args[0] + '\n');
    await afterWrite(ctx, p, s.ID, r.Warnings);
  },
};

export const rollbackCommand: Command = {
  name: 'rollback',
  usage: '[OPTIONS] SERVICE',
  short: 'Revert changes to a service\'s configuration',
  flags: [
    { name: 'detach', short: 'd', type: 'bool', usage: 'Exit immediately instead of waiting for the service to converge' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Suppress progress output' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const s = await ctx.client.serviceGet(p.args[0]);
    const r = await ctx.client.serviceUpdate(s.ID, s.Version.Index, s.Spec, 'previous');
    ctx.out(p.args[0] + '\n');
    await afterWrite(ctx, p, s.ID, r.Warnings);
  },
};
