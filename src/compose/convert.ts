// A service → the Engine API's container create body (Config + HostConfig +
// NetworkingConfig), as Compose v2's getCreateConfigs builds it.
import fs from 'node:fs';
import type { ContainerCreateBody } from '../client';
import { ComposeError } from './errors';
import { parseDotenv } from './dotenv';
import { L, COMPOSE_VERSION } from './labels';
import type { Project, ServiceConfig, ServiceNetwork } from './types';
import { fileTarget } from './secrets';
import { parseGoDuration } from '../common/time';

/** Go duration ("1m30s", "500ms") in nanoseconds. */
export function durationNs(v: string | number | undefined, where: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v * 1e9;
  try {
    return Number(parseGoDuration(v));
  } catch (e) {
    throw new ComposeError(`${where}: ${(e as Error).message}`);
  }
}

/** go-units RAMInBytes: "512m", "1.5g", plain numbers are bytes. */
export function bytes(v: string | number | undefined, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgtp]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw new ComposeError(`${where}: invalid size: '${v}'`);
  const mult: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.trunc(Number(m[1]) * mult[m[2].toLowerCase()]);
}

/** env_file contents, then `environment`; a name without a value comes from the project's environment. */
function resolveEnvironment(s: ServiceConfig, project: Project): string[] {
  const env: Record<string, string> = {};
  for (const f of s.env_file ?? []) {
    if (!fs.existsSync(f.path)) {
      if (f.required) throw new ComposeError(`env file ${f.path} not found: stat ${f.path}: no such file or directory`);
      continue;
    }
    Object.assign(env, parseDotenv(fs.readFileSync(f.path, 'utf8'), f.path, (n) => project.environment[n]));
  }
  for (const [k, v] of Object.entries(s.environment ?? {})) {
    if (v !== null) env[k] = v;
    else if (project.environment[k] !== undefined) env[k] = project.environment[k];
    else delete env[k];
  }
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** Networks by priority (highest first), then by name: the first is the container's primary one. */
export function sortedNetworks(s: ServiceConfig): Array<[string, ServiceNetwork | null]> {
  return Object.entries(s.networks ?? {}).sort((a, b) => (b[1]?.priority ?? 0) - (a[1]?.priority ?? 0) || a[0].localeCompare(b[0]));
}

export function endpointConfig(s: ServiceConfig, cfg: ServiceNetwork | null): Record<string, unknown> {
  const e: Record<string, unknown> = { Aliases: [s.name, ...(cfg?.aliases ?? [])] };
  if (cfg?.ipv4_address || cfg?.ipv6_address) e.IPAMConfig = { IPv4Address: cfg.ipv4_address, IPv6Address: cfg.ipv6_address };
  return e;
}

function restartPolicy(s: ServiceConfig): { Name: string; MaximumRetryCount?: number } | undefined {
  if (s.restart) {
    const [name, n] = String(s.restart).split(':');
    return { Name: name === 'no' ? 'no' : name, ...(n ? { MaximumRetryCount: Number(n) } : {}) };
  }
  const rp = s.deploy?.restart_policy;
  if (rp) {
    const c = rp.condition ?? 'any';
    return { Name: c === 'none' ? 'no' : c === 'any' ? 'always' : 'on-failure', ...(rp.max_attempts ? { MaximumRetryCount: Number(rp.max_attempts) } : {}) };
  }
  return undefined;
}

export interface CreateInput {
  project: Project;
  service: ServiceConfig;
  number: number;
  oneoff?: boolean;
  imageRef: string;
  imageId: string;
  hash: string;
  /** Container id for `network_mode: service:x`. */
  serviceContainer?: (name: string) => string | undefined;
}

export function toCreateBody(i: CreateInput): ContainerCreateBody {
  const { project, service: s } = i;
  const where = `services.${s.name}`;
  const labels: Record<string, string> = {
    ...(s.labels ?? {}),
    ...(s.annotations ?? {}),
    [L.project]: project.name,
    [L.service]: s.name,
    [L.number]: String(i.number),
    [L.oneoff]: i.oneoff ? 'True' : 'False',
    [L.hash]: i.hash,
    [L.workingDir]: project.workingDir,
    [L.configFiles]: project.configFiles.join(','),
    [L.envFile]: project.envFiles.join(','),
    [L.image]: i.imageId,
    [L.dependsOn]: Object.entries(s.depends_on ?? {}).map(([d, c]) => `${d}:${c.condition}:${c.restart ? 'true' : 'false'}`).join(','),
    [L.version]: COMPOSE_VERSION,
  };
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const e of s.expose ?? []) {
    const [port, proto = 'tcp'] = e.split('/');
    const [a, b] = port.split('-').map(Number);
    for (let p = a; p <= (b || a); p++) exposed[`${p}/${proto}`] = {};
  }
  for (const p of s.ports ?? []) {
    const key = `${p.target}/${p.protocol}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: p.host_ip ?? '', HostPort: p.published ?? '' });
  }
  const binds: string[] = [];
  const mounts: Array<Record<string, unknown>> = [];
  for (const v of s.volumes ?? []) {
    if (v.type === 'bind' && v.bind?.create_host_path && !v.bind.propagation && !v.bind.selinux) {
      binds.push(`${v.source}:${v.target}${v.read_only ? ':ro' : ':rw'}`);
    } else if (v.type === 'bind') {
      mounts.push({ Type: 'bind', Source: v.source, Target: v.target, ReadOnly: !!v.read_only, ...(v.bind?.propagation ? { BindOptions: { Propagation: v.bind.propagation } } : {}) });
    } else if (v.type === 'volume') {
      const src = v.source ? project.volumes[v.source]?.name ?? v.source : '';
      mounts.push({ Type: 'volume', Source: src, Target: v.target, ReadOnly: !!v.read_only, ...(v.volume?.nocopy ? { VolumeOptions: { NoCopy: true } } : {}) });
    } else if (v.type === 'tmpfs') {
      mounts.push({ Type: 'tmpfs', Target: v.target, ReadOnly: !!v.read_only, TmpfsOptions: { ...(v.tmpfs?.size !== undefined ? { SizeBytes: bytes(v.tmpfs.size, where) } : {}), ...(v.tmpfs?.mode !== undefined ? { Mode: v.tmpfs.mode } : {}) } });
    } else throw new ComposeError(`${where}: volume type ${v.type} is not supported`);
  }
  // file secrets and configs are bind-mounted read-only where Compose puts them
  for (const kind of ['secrets', 'configs'] as const) {
    for (const ref of (s[kind] ?? []) as Array<string | { source: string; target?: string }>) {
      const src = typeof ref === 'string' ? ref : ref.source;
      const def = project[kind][src];
      const target = fileTarget(kind, src, typeof ref === 'string' ? undefined : ref.target);
      if (def?.file) mounts.push({ Type: 'bind', Source: def.file, Target: target, ReadOnly: true });
    }
  }
  const lim = s.deploy?.resources?.limits ?? {};
  const res = s.deploy?.resources?.reservations ?? {};
  const cpus = s.cpus ?? (lim.cpus !== undefined ? Number(lim.cpus) : undefined);
  let networkMode: string | undefined = s.network_mode;
  if (networkMode?.startsWith('service:')) {
    const id = i.serviceContainer?.(networkMode.slice(8));
    if (!id) throw new ComposeError(`${where}: no container found for service "${networkMode.slice(8)}" (network_mode)`);
    networkMode = `container:${id}`;
  }
  const nets = sortedNetworks(s);
  const endpoints: Record<string, unknown> = {};
  if (!networkMode && nets.length) {
    const [key, cfg] = nets[0];
    networkMode = project.networks[key].name;
    endpoints[networkMode] = endpointConfig(s, cfg);
  }
  const hc = s.healthcheck;
  const healthcheck = hc
    ? hc.disable
      ? { Test: ['NONE'] }
      : {
        Test: hc.test,
        Interval: durationNs(hc.interval, `${where}.healthcheck.interval`),
        Timeout: durationNs(hc.timeout, `${where}.healthcheck.timeout`),
        Retries: hc.retries,
        StartPeriod: durationNs(hc.start_period, `${where}.healthcheck.start_period`),
        StartInterval: durationNs(hc.start_interval, `${where}.healthcheck.start_interval`),
      }
    : undefined;
  const hostConfig: Record<string, unknown> = {
    Binds: binds.length ? binds : undefined,
    Mounts: mounts.length ? mounts : undefined,
    PortBindings: Object.keys(bindings).length ? bindings : undefined,
    NetworkMode: networkMode,
    RestartPolicy: restartPolicy(s),
    Memory: bytes(s.mem_limit ?? lim.memory, `${where}.mem_limit`),
    MemorySwap: bytes(s.memswap_limit, `${where}.memswap_limit`),
    MemoryReservation: bytes(s.mem_reservation ?? res.memory, `${where}.mem_reservation`),
    NanoCpus: cpus !== undefined ? Math.round(cpus * 1e9) : undefined,
    CpuShares: s.cpu_shares,
    CpuQuota: s.cpu_quota,
    CpuPeriod: s.cpu_period,
    CpusetCpus: s.cpuset,
    PidsLimit: s.pids_limit ?? (lim.pids !== undefined ? Number(lim.pids) : undefined),
    CapAdd: s.cap_add,
    CapDrop: s.cap_drop,
    Privileged: s.privileged,
    Init: s.init,
    ReadonlyRootfs: s.read_only,
    ExtraHosts: s.extra_hosts,
    Dns: s.dns,
    DnsSearch: s.dns_search,
    DnsOptions: s.dns_opt,
    SecurityOpt: s.security_opt,
    Sysctls: s.sysctls,
    GroupAdd: s.group_add?.map(String),
    IpcMode: s.ipc,
    PidMode: s.pid,
    ShmSize: bytes(s.shm_size, `${where}.shm_size`),
    Tmpfs: s.tmpfs ? Object.fromEntries((s.tmpfs as string[]).map((t) => { const [p, o = ''] = t.split(/:(.*)/s); return [p, o]; })) : undefined,
    Ulimits: s.ulimits ? Object.entries(s.ulimits as Record<string, any>).map(([n, u]) => (typeof u === 'object' ? { Name: n, Soft: u.soft, Hard: u.hard } : { Name: n, Soft: u, Hard: u })) : undefined,
    LogConfig: s.logging ? { Type: s.logging.driver ?? '', Config: s.logging.options ?? {} } : undefined,
    Devices: s.devices?.map((d: string | Record<string, string>) => {
      if (typeof d !== 'string') return { PathOnHost: d.source, PathInContainer: d.target ?? d.source, CgroupPermissions: d.permissions ?? 'rwm' };
      const [h, c = h, p = 'rwm'] = d.split(':');
      return { PathOnHost: h, PathInContainer: c, CgroupPermissions: p };
    }),
    Links: s.links?.map((l: string) => { const [svc, alias = svc] = l.split(':'); return `${project.name}-${svc}-1:${alias}`; }).concat(s.external_links ?? []),
    VolumesFrom: s.volumes_from,
    OomKillDisable: s.oom_kill_disable,
    OomScoreAdj: s.oom_score_adj,
    CgroupParent: s.cgroup_parent,
    Runtime: s.runtime,
    UsernsMode: s.userns_mode,
    UTSMode: s.uts,
  };
  for (const k of Object.keys(hostConfig)) if (hostConfig[k] === undefined) delete hostConfig[k];
  const body: ContainerCreateBody = {
    Hostname: s.hostname,
    Domainname: s.domainname,
    User: s.user !== undefined ? String(s.user) : undefined,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: s.tty,
    OpenStdin: s.stdin_open,
    AttachStdin: false,
    AttachStdout: !i.oneoff ? true : undefined,
    AttachStderr: !i.oneoff ? true : undefined,
    Env: resolveEnvironment(s, project),
    Cmd: s.command ?? undefined,
    Entrypoint: s.entrypoint ?? undefined,
    Image: i.imageRef,
    Labels: labels,
    WorkingDir: s.working_dir,
    StopSignal: s.stop_signal,
    StopTimeout: s.stop_grace_period !== undefined ? Math.round(durationNs(s.stop_grace_period, `${where}.stop_grace_period`)! / 1e9) : undefined,
    Healthcheck: healthcheck,
    MacAddress: s.mac_address,
    HostConfig: hostConfig,
    NetworkingConfig: Object.keys(endpoints).length ? { EndpointsConfig: endpoints } : undefined,
  };
  for (const k of Object.keys(body)) if ((body as Record<string, unknown>)[k] === undefined) delete (body as Record<string, unknown>)[k];
  return body;
}
