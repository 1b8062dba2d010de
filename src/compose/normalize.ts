// From the merged document to the canonical model (types.ts), as compose-go
// normalises it: short syntaxes expanded, relative paths resolved against
// the project directory, list-or-mapping keys as mappings.
import os from 'node:os';
import path from 'node:path';
import { ComposeError } from './errors';
import { listToMap } from './merge';
import type { BuildConfig, DependsOn, Healthcheck, PortConfig, ServiceConfig, ServiceNetwork, VolumeMount } from './types';

/** POSIX shell-like word splitting (mattn/go-shellwords, as compose-go uses for string commands). */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let q: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = undefined;
      else if (c === '\\' && q === '"' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
      continue;
    }
    if (c === "'" || c === '"') { q = c; inWord = true; continue; }
    if (c === '\\' && i + 1 < s.length) { cur += s[++i]; inWord = true; continue; }
    if (/\s/.test(c)) {
      if (inWord) { out.push(cur); cur = ''; inWord = false; }
      continue;
    }
    cur += c;
    inWord = true;
  }
  if (q) throw new ComposeError(`invalid command line string`);
  if (inWord) out.push(cur);
  return out;
}

function resolvePath(dir: string, p: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(dir, p);
}

function strMap(v: unknown): Record<string, string> {
  const m = listToMap(v) as Record<string, unknown> | undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(m ?? {})) out[k] = x === null || x === undefined ? '' : String(x);
  return out;
}

function envMap(v: unknown): Record<string, string | null> {
  const m = listToMap(v) as Record<string, unknown> | undefined;
  const out: Record<string, string | null> = {};
  for (const [k, x] of Object.entries(m ?? {})) out[k] = x === null || x === undefined ? null : String(x);
  return out;
}

/** `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`, ranges expanded into one entry per port. */
export function parsePortShort(spec: string, where: string): PortConfig[] {
  let rest = spec;
  let protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) { protocol = rest.slice(slash + 1); rest = rest.slice(0, slash); }
  let hostIp: string | undefined;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) { hostIp = v6[1]; rest = v6[2]; }
  const parts = rest.split(':');
  let published = '';
  let target: string;
  if (parts.length === 1) target = parts[0];
  else if (parts.length === 2) [published, target] = parts;
  else if (parts.length === 3 && !hostIp) [hostIp, published, target] = parts;
  else throw new ComposeError(`${where}: invalid port "${spec}"`);
  const range = (s: string) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(s);
    if (!m) throw new ComposeError(`${where}: invalid ${s === target ? 'containerPort' : 'hostPort'}: ${s}`);
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    if (b < a || b > 65535) throw new ComposeError(`${where}: invalid port range: ${s}`);
    return [a, b];
  };
  const [t0, t1] = range(target);
  if (!['tcp', 'udp', 'sctp'].includes(protocol)) throw new ComposeError(`${where}: invalid proto: ${protocol}`);
  const out: PortConfig[] = [];
  if (published) {
    const [p0, p1] = range(published);
    if (p1 - p0 !== t1 - t0 && t0 !== t1) throw new ComposeError(`${where}: invalid port range: ${spec}`);
    for (let i = 0; i <= t1 - t0; i++) {
      // a host range for a single container port: docker picks one from the range
      const pub = t0 === t1 && p1 !== p0 ? `${p0}-${p1}` : String(p0 + i);
      out.push({ mode: 'ingress', ...(hostIp ? { host_ip: hostIp } : {}), target: t0 + i, published: pub, protocol });
    }
  } else {
    for (let t = t0; t <= t1; t++) out.push({ mode: 'ingress', ...(hostIp ? { host_ip: hostIp } : {}), target: t, protocol });
  }
  return out;
}

function ports(v: unknown, where: string): PortConfig[] {
  const out: PortConfig[] = [];
  for (const [i, p] of (v as unknown[]).entries()) {
    if (typeof p === 'number') out.push({ mode: 'ingress', target: p, protocol: 'tcp' });
    else if (typeof p === 'string') out.push(...parsePortShort(p, `${where}[${i}]`));
    else if (p && typeof p === 'object') {
      const o = p as Record<string, any>;
      if (o.target === undefined) throw new ComposeError(`${where}[${i}].target is required`);
      out.push({
        ...(o.name ? { name: String(o.name) } : {}),
        mode: o.mode ?? 'ingress',
        ...(o.host_ip ? { host_ip: String(o.host_ip) } : {}),
        target: Number(o.target),
        ...(o.published !== undefined && o.published !== null ? { published: String(o.published) } : {}),
        protocol: o.protocol ?? 'tcp',
        ...(o.app_protocol ? { app_protocol: o.app_protocol } : {}),
      });
    } else throw new ComposeError(`${where}[${i}] must be a string, number or mapping`);
  }
  return out;
}

const isPath = (s: string) => s.startsWith('.') || s.startsWith('/') || s.startsWith('~') || /^[a-zA-Z]:[\\/]/.test(s);

/** `[SOURCE:]TARGET[:MODE]` → long syntax (compose-go's ParseVolume). */
export function parseVolumeShort(spec: string, dir: string, where: string): VolumeMount {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw new ComposeError(`${where}: invalid spec: ${spec}: too many colons`);
  if (parts.length === 1) return { type: 'volume', target: parts[0], volume: {} };
  const [source, target, mode] = parts.length === 2 && parts[1].startsWith('/') ? [parts[0], parts[1], undefined] : parts.length === 2 ? [undefined, parts[0], parts[1]] : parts;
  const v: VolumeMount = source === undefined ? { type: 'volume', target } : isPath(source) ? { type: 'bind', source: resolvePath(dir, source), target } : { type: 'volume', source, target };
  for (const opt of (mode ?? '').split(',').filter(Boolean)) {
    if (opt === 'ro') v.read_only = true;
    else if (opt === 'rw') v.read_only = false;
    else if (opt === 'nocopy') v.volume = { ...(v.volume ?? {}), nocopy: true };
    else if (opt === 'z' || opt === 'Z') v.bind = { ...(v.bind ?? {}), selinux: opt };
    else if (['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'].includes(opt)) v.bind = { ...(v.bind ?? {}), propagation: opt };
    else if (['cached', 'delegated', 'consistent'].includes(opt)) v.consistency = opt;
    else throw new ComposeError(`${where}: invalid mode "${opt}" in ${spec}`);
  }
  // as compose-go's ParseVolume: a short bind creates its host path, a short volume has (empty) volume options
  if (v.type === 'bind') v.bind = { create_host_path: true, ...(v.bind ?? {}) };
  else v.volume = { ...(v.volume ?? {}) };
  if (v.read_only === false) delete v.read_only;
  return v;
}

function volumes(v: unknown, dir: string, where: string): VolumeMount[] {
  return (v as unknown[]).map((x, i) => {
    if (typeof x === 'string') return parseVolumeShort(x, dir, `${where}[${i}]`);
    if (x && typeof x === 'object') {
      const o = { ...(x as Record<string, any>) } as VolumeMount;
      if (!o.type) throw new ComposeError(`${where}[${i}] missing type`);
      if (!o.target) throw new ComposeError(`${where}[${i}] missing target`);
      if (o.type === 'bind' && o.source) o.source = resolvePath(dir, o.source);
      // the long syntax creates a missing host path only when `bind:` is written (compose-go's default for bind.create_host_path)
      if (o.type === 'bind' && o.bind) o.bind = { create_host_path: true, ...o.bind };
      return o;
    }
    throw new ComposeError(`${where}[${i}] must be a string or mapping`);
  });
}

function command(v: unknown): string[] | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === 'string') return shellSplit(v);
  return (v as unknown[]).map(String);
}

function healthcheck(v: Record<string, any>): Healthcheck {
  const h: Healthcheck = {};
  if (v.test !== undefined) h.test = typeof v.test === 'string' ? ['CMD-SHELL', v.test] : (v.test as unknown[]).map(String);
  for (const k of ['interval', 'timeout', 'start_period', 'start_interval'] as const) if (v[k] !== undefined) h[k] = String(v[k]);
  if (v.retries !== undefined) h.retries = Number(v.retries);
  if (v.disable) h.disable = true;
  return h;
}

function build(v: Record<string, any>, dir: string): BuildConfig {
  const b: BuildConfig = { ...v, context: v.context === undefined ? dir : /^[a-z]+:\/\//.test(v.context) ? v.context : resolvePath(dir, String(v.context)) };
  if (!b.dockerfile_inline) b.dockerfile = v.dockerfile ?? 'Dockerfile';
  if (v.args) b.args = envMap(v.args);
  if (v.labels) b.labels = strMap(v.labels);
  if (v.extra_hosts) b.extra_hosts = hostList(v.extra_hosts);
  return b;
}

function hostList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map((h) => String(h).replace('=', ':'));
  return Object.entries(v as Record<string, unknown>).flatMap(([h, ip]) => (Array.isArray(ip) ? ip : [ip]).map((x) => `${h}:${x}`));
}

const NUMERIC = ['cpus', 'cpu_shares', 'cpu_quota', 'cpu_period', 'pids_limit', 'scale', 'cpu_count', 'cpu_percent', 'mem_swappiness', 'oom_score_adj'];

/** Normalise one merged service. */
export function normalizeService(name: string, raw: Record<string, any>, dir: string): ServiceConfig {
  const where = `services.${name}`;
  const s: ServiceConfig = { ...raw, name } as ServiceConfig;
  for (const k of NUMERIC) {
    if (s[k] === undefined) continue;
    const n = Number(s[k]);
    if (Number.isNaN(n)) throw new ComposeError(`${where}.${k} must be a number`);
    s[k] = n;
  }
  if ('command' in raw) s.command = command(raw.command);
  if ('entrypoint' in raw) s.entrypoint = command(raw.entrypoint);
  if (raw.environment) s.environment = envMap(raw.environment);
  if (raw.labels) s.labels = strMap(raw.labels);
  if (raw.annotations) s.annotations = strMap(raw.annotations);
  if (raw.sysctls) s.sysctls = strMap(raw.sysctls);
  if (raw.extra_hosts) s.extra_hosts = hostList(raw.extra_hosts);
  if (raw.build !== undefined) s.build = build(typeof raw.build === 'string' ? { context: raw.build } : raw.build, dir);
  if (raw.env_file) {
    s.env_file = (Array.isArray(raw.env_file) ? raw.env_file : [raw.env_file]).map((e: any) =>
      typeof e === 'string' ? { path: resolvePath(dir, e), required: true } : { path: resolvePath(dir, String(e.path)), required: e.required ?? true });
  }
  if (raw.ports) s.ports = ports(raw.ports, `${where}.ports`);
  if (raw.expose) s.expose = (raw.expose as unknown[]).map(String);
  if (raw.volumes) s.volumes = volumes(raw.volumes, dir, `${where}.volumes`);
  for (const k of ['dns', 'dns_search', 'tmpfs']) if (typeof raw[k] === 'string') s[k] = [raw[k]];
  if (raw.depends_on) {
    const d: Record<string, DependsOn> = {};
    const m = Array.isArray(raw.depends_on) ? Object.fromEntries(raw.depends_on.map((x: string) => [x, {}])) : raw.depends_on;
    for (const [dep, c] of Object.entries(m as Record<string, any>)) {
      d[dep] = { condition: c?.condition ?? 'service_started', required: c?.required ?? true, ...(c?.restart !== undefined ? { restart: !!c.restart } : {}) };
    }
    s.depends_on = d;
  }
  if (raw.networks) {
    const m = Array.isArray(raw.networks) ? Object.fromEntries(raw.networks.map((x: string) => [x, null])) : raw.networks;
    const out: Record<string, ServiceNetwork | null> = {};
    for (const [n, c] of Object.entries(m as Record<string, any>)) out[n] = c ? { ...c } : null;
    s.networks = out;
  }
  if (raw.healthcheck) s.healthcheck = healthcheck(raw.healthcheck);
  if (raw.deploy?.replicas !== undefined) s.deploy = { ...raw.deploy, replicas: Number(raw.deploy.replicas) };
  if (s.scale !== undefined && s.deploy?.replicas !== undefined && s.scale !== s.deploy.replicas) {
    throw new ComposeError(`${where}: can't set distinct values on 'scale' and 'deploy.replicas'`);
  }
  if (raw.container_name && (s.scale ?? s.deploy?.replicas ?? 1) > 1) {
    // compose refuses this at up time; the model is already known to be wrong
  }
  if (!s.network_mode && !s.networks) s.networks = { default: null };
  if (raw.ulimits) {
    const u: Record<string, any> = {};
    for (const [k, x] of Object.entries(raw.ulimits as Record<string, any>)) u[k] = typeof x === 'object' ? { soft: Number(x.soft), hard: Number(x.hard) } : Number(x);
    s.ulimits = u;
  }
  if (raw.logging?.options) s.logging = { ...raw.logging, options: strMap(raw.logging.options) };
  return s;
}
