// A task → the container that runs it: Docker's names and labels, and the
// create body made from the task's TaskTemplate as dockerd's cluster
// executor makes it (daemon/cluster/executor/container/container.go).
import type { TaskRecord, Json } from '../objects';

export const LABEL = {
  serviceId: 'com.docker.swarm.service.id',
  serviceName: 'com.docker.swarm.service.name',
  task: 'com.docker.swarm.task',
  taskId: 'com.docker.swarm.task.id',
  taskName: 'com.docker.swarm.task.name',
  nodeId: 'com.docker.swarm.node.id',
} as const;

export interface TaskService { name: string; global: boolean }

/** `<service>.<slot>.<taskid>`, or `<service>.<nodeid>.<taskid>` for a global service's task. */
export function taskContainerName(t: TaskRecord, svc: TaskService): string {
  const slot = svc.global || !t.slot ? t.nodeId : String(t.slot);
  return `${svc.name}.${slot}.${t.id}`;
}

/** The task's name as `docker service ps` shows it (no task id). */
export function taskName(t: TaskRecord, svc: TaskService): string {
  return `${svc.name}.${svc.global || !t.slot ? t.nodeId : t.slot}`;
}

export function containerSpec(t: TaskRecord): Json {
  return (t.spec.ContainerSpec ?? {}) as Json;
}

/** Seconds of StopGracePeriod (nanoseconds in the spec; Docker's default 10 s). */
export function stopGraceSeconds(t: TaskRecord): number {
  const ns = Number(containerSpec(t).StopGracePeriod ?? 0);
  return ns > 0 ? Math.ceil(ns / 1e9) : 10;
}

const arr = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * Docker's create body for the task; `binds` are the secret and config
 * files (host file → target, read-only).
 */
/** What a task's templates may name (swarmkit's template context). */
export interface TemplateNode { id: string; hostname: string; os: string; architecture: string }

/**
 * Expands swarmkit's placeholders ({{.Service.Name}}, {{.Task.Slot}},
 * {{.Node.Hostname}}, …) in the fields dockerd expands: Hostname, Env and
 * mount sources/targets. An unknown placeholder is left as it is.
 */
export function expandTemplates(t: TaskRecord, svc: TaskService, node: TemplateNode, text: string): string {
  const values: Record<string, string> = {
    '.Service.ID': t.serviceId,
    '.Service.Name': svc.name,
    '.Node.ID': node.id,
    '.Node.Hostname': node.hostname,
    '.Node.Platform.OS': node.os,
    '.Node.Platform.Architecture': node.architecture,
    '.Task.ID': t.id,
    '.Task.Name': taskContainerName(t, svc),
    '.Task.Slot': svc.global || !t.slot ? t.nodeId : String(t.slot),
  };
  return text.replace(/\{\{\s*(\.[A-Za-z.]+)\s*\}\}/g, (m, p: string) => (p in values ? values[p] : m));
}

export function createBody(t: TaskRecord, svc: TaskService, binds: Array<{ source: string; target: string }>, node?: TemplateNode): Json {
  const cs0 = containerSpec(t);
  const x = (v: string) => (node ? expandTemplates(t, svc, node, v) : v);
  const cs: Json = {
    ...cs0,
    ...(cs0.Hostname ? { Hostname: x(String(cs0.Hostname)) } : {}),
    ...(Array.isArray(cs0.Env) ? { Env: cs0.Env.map((e) => x(String(e))) } : {}),
    ...(Array.isArray(cs0.Mounts) ? { Mounts: (cs0.Mounts as Json[]).map((m) => ({ ...m, ...(typeof m.Source === 'string' ? { Source: x(m.Source) } : {}), ...(typeof m.Target === 'string' ? { Target: x(m.Target) } : {}) })) } : {}),
  };
  const labels: Record<string, string> = {
    ...((cs.Labels ?? {}) as Record<string, string>),
    [LABEL.serviceId]: t.serviceId,
    [LABEL.serviceName]: svc.name,
    [LABEL.task]: '',
    [LABEL.taskId]: t.id,
    [LABEL.taskName]: taskContainerName(t, svc),
    [LABEL.nodeId]: t.nodeId,
  };
  const command = arr(cs.Command);
  const args = arr(cs.Args);
  const config: Json = {
    Image: String(cs.Image ?? ''),
    Labels: labels,
    Env: arr(cs.Env) ?? [],
    Tty: !!cs.TTY,
    OpenStdin: !!cs.OpenStdin,
    StopTimeout: stopGraceSeconds(t),
  };
  if (command?.length) {
    config.Entrypoint = command;
    config.Cmd = args ?? [];
  } else if (args?.length) {
    config.Cmd = args;
  }
  if (cs.Hostname) config.Hostname = String(cs.Hostname);
  if (cs.Dir) config.WorkingDir = String(cs.Dir);
  if (cs.User) config.User = String(cs.User);
  if (cs.StopSignal) config.StopSignal = String(cs.StopSignal);
  if (cs.HealthCheck ?? cs.Healthcheck) config.Healthcheck = cs.HealthCheck ?? cs.Healthcheck;

  const res = (t.spec.Resources ?? {}) as { Limits?: Json; Reservations?: Json };
  const host: Json = {
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    ReadonlyRootfs: !!cs.ReadOnly,
    Mounts: [
      ...((Array.isArray(cs.Mounts) ? cs.Mounts : []) as Json[]).map(mountOf),
      ...binds.map((b) => ({ Type: 'bind', Source: b.source, Target: b.target, ReadOnly: true })),
    ],
  };
  if (typeof cs.Init === 'boolean') host.Init = cs.Init;
  if (cs.Sysctls && typeof cs.Sysctls === 'object') host.Sysctls = cs.Sysctls;
  if (arr(cs.CapabilityAdd)?.length) host.CapAdd = arr(cs.CapabilityAdd);
  if (arr(cs.CapabilityDrop)?.length) host.CapDrop = arr(cs.CapabilityDrop);
  if (arr(cs.Groups)?.length) host.GroupAdd = arr(cs.Groups);
  if (Array.isArray(cs.Ulimits) && cs.Ulimits.length) host.Ulimits = cs.Ulimits;
  if (cs.Isolation) host.Isolation = cs.Isolation;
  // "IP host [alias…]" → "host:IP" per name, as dockerd's executor converts them
  const hosts = arr(cs.Hosts) ?? [];
  if (hosts.length) {
    host.ExtraHosts = hosts.flatMap((h) => {
      const [ip, ...names] = h.trim().split(/\s+/);
      return names.map((n) => `${n}:${ip}`);
    });
  }
  const dns = (cs.DNSConfig ?? {}) as { Nameservers?: string[]; Search?: string[]; Options?: string[] };
  if (dns.Nameservers?.length) host.Dns = dns.Nameservers;
  if (dns.Search?.length) host.DnsSearch = dns.Search;
  if (dns.Options?.length) host.DnsOptions = dns.Options;
  const lim = res.Limits ?? {};
  const rsv = res.Reservations ?? {};
  if (num(lim.NanoCPUs) > 0) host.NanoCpus = num(lim.NanoCPUs);
  if (num(lim.MemoryBytes) > 0) host.Memory = num(lim.MemoryBytes);
  if (num(lim.Pids) > 0) host.PidsLimit = num(lim.Pids);
  if (num(rsv.MemoryBytes) > 0) host.MemoryReservation = num(rsv.MemoryBytes);
  const logDriver = (t.spec.LogDriver ?? undefined) as { Name?: string; Options?: Record<string, string> } | undefined;
  if (logDriver?.Name) host.LogConfig = { Type: logDriver.Name, Config: logDriver.Options ?? {} };
  // `--publish mode=host`: this node publishes the port, as `docker run -p` (an empty PublishedPort: a random one)
  if (t.hostPorts?.length) {
    const exposed: Json = {};
    const bindings: Json = {};
    for (const p of t.hostPorts) {
      const key = `${Number(p.TargetPort)}/${String(p.Protocol || 'tcp')}`;
      exposed[key] = {};
      bindings[key] = [...((bindings[key] as Json[] | undefined) ?? []), { HostIp: '', HostPort: p.PublishedPort ? String(p.PublishedPort) : '' }];
    }
    config.ExposedPorts = { ...((config.ExposedPorts as Json | undefined) ?? {}), ...exposed };
    host.PortBindings = bindings;
  }
  // overlays (TaskTemplate.Networks, ids once the manager stored the spec): the first is the network mode
  const nets = (Array.isArray(t.spec.Networks) ? t.spec.Networks : []) as Json[];
  if (nets.length) {
    host.NetworkMode = String(nets[0].Target);
    const endpoints: Json = {};
    for (const n of nets) endpoints[String(n.Target)] = { Aliases: arr(n.Aliases) ?? [] };
    return { ...config, HostConfig: host, NetworkingConfig: { EndpointsConfig: endpoints } };
  }
  return { ...config, HostConfig: host };
}

/** A service mount → a HostConfig mount (the same shape; unknown fields dropped). */
function mountOf(m: Json): Json {
  const out: Json = { Type: m.Type ?? 'volume', Target: m.Target };
  if (m.Source !== undefined && m.Source !== '') out.Source = m.Source;
  if (m.ReadOnly) out.ReadOnly = true;
  if (m.Consistency) out.Consistency = m.Consistency;
  if (m.BindOptions) out.BindOptions = m.BindOptions;
  if (m.VolumeOptions) out.VolumeOptions = m.VolumeOptions;
  if (m.TmpfsOptions) out.TmpfsOptions = m.TmpfsOptions;
  return out;
}
