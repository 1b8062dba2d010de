// com.docker.compose.config-hash, byte for byte as Docker's Compose v2
// computes it (pkg/compose/hash.go ServiceHash): sha256 of Go's json.Marshal
// of compose-go's types.ServiceConfig with build, pull_policy, scale,
// deploy.replicas, depends_on and profiles cleared, after the environment
// was resolved (env_file contents under `environment`, env_file dropped).
// So a project `berth compose up` made is left alone by `docker compose up`
// and the reverse. Go's encoder is reproduced here: struct fields in
// declaration order with their omitempty rules, map keys sorted, compose-go's
// own marshalers (durations as "1m30s", byte sizes as "123", extra_hosts as a
// sorted "host=ip" list), HTML characters escaped.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { parseDotenv } from './dotenv';
import type { Project, ServiceConfig } from './types';

type Enc =
  | 'string' | 'int' | 'float32' | 'bool' | 'ptrbool' | 'ptrint' | 'strlist' | 'shellcmd' | 'strmap' | 'envmap'
  | 'bytes' | 'duration' | 'ptrduration' | 'hosts' | 'ulimits' | 'filemode' | 'optout' | 'any'
  | { ptr: Field[] } | { val: Field[] } | { list: Enc } | { map: Enc };
type Field = [string, Enc];

// compose-go v2 types, in declaration order (types/types.go, healthcheck.go, …)
const PORT: Field[] = [['name', 'string'], ['mode', 'string'], ['host_ip', 'string'], ['target', 'int'], ['published', 'string'], ['protocol', 'string'], ['app_protocol', 'string']];
const VOLUME: Field[] = [
  ['type', 'string'], ['source', 'string'], ['target', 'string'], ['read_only', 'bool'], ['consistency', 'string'],
  ['bind', { ptr: [['selinux', 'string'], ['propagation', 'string'], ['create_host_path', 'optout'], ['recursive', 'string']] }],
  ['volume', { ptr: [['labels', 'strmap'], ['nocopy', 'bool'], ['subpath', 'string']] }],
  ['tmpfs', { ptr: [['size', 'bytes'], ['mode', 'int']] }],
  ['image', { ptr: [['subpath', 'string']] }],
];
const FILE_REF: Field[] = [['source', 'string'], ['target', 'string'], ['uid', 'string'], ['gid', 'string'], ['mode', 'filemode']];
const NETWORK: Field[] = [
  ['aliases', 'strlist'], ['driver_opts', 'strmap'], ['gw_priority', 'int'], ['interface_name', 'string'], ['ipv4_address', 'string'],
  ['ipv6_address', 'string'], ['link_local_ips', 'strlist'], ['mac_address', 'string'], ['priority', 'int'],
];
const HEALTH: Field[] = [
  ['test', 'strlist'], ['timeout', 'ptrduration'], ['interval', 'ptrduration'], ['retries', 'ptrint'], ['start_period', 'ptrduration'],
  ['start_interval', 'ptrduration'], ['disable', 'bool'],
];
const RESOURCE: Field[] = [['cpus', 'float32'], ['memory', 'bytes'], ['pids', 'int'], ['devices', { list: 'any' }], ['generic_resources', { list: 'any' }]];
const UPDATE: Field[] = [['parallelism', 'ptrint'], ['delay', 'duration'], ['failure_action', 'string'], ['monitor', 'duration'], ['max_failure_ratio', 'float32'], ['order', 'string']];
const DEPLOY: Field[] = [
  ['mode', 'string'], ['replicas', 'ptrint'], ['labels', 'strmap'], ['update_config', { ptr: UPDATE }], ['rollback_config', { ptr: UPDATE }],
  ['resources', { val: [['limits', { ptr: RESOURCE }], ['reservations', { ptr: RESOURCE }]] }],
  ['restart_policy', { ptr: [['condition', 'string'], ['delay', 'ptrduration'], ['max_attempts', 'ptrint'], ['window', 'ptrduration']] }],
  ['placement', { val: [['constraints', 'strlist'], ['preferences', { list: { val: [['spread', 'string']] } }], ['max_replicas_per_node', 'int']] }],
  ['endpoint_mode', 'string'],
];
const SERVICE: Field[] = [
  ['profiles', 'strlist'], ['annotations', 'strmap'], ['attach', 'ptrbool'], ['build', 'any'], ['develop', 'any'], ['blkio_config', 'any'],
  ['cap_add', 'strlist'], ['cap_drop', 'strlist'], ['cgroup_parent', 'string'], ['cgroup', 'string'], ['cpu_count', 'int'], ['cpu_percent', 'float32'],
  ['cpu_period', 'int'], ['cpu_quota', 'int'], ['cpu_rt_period', 'int'], ['cpu_rt_runtime', 'int'], ['cpus', 'float32'], ['cpuset', 'string'],
  ['cpu_shares', 'int'], ['command', 'shellcmd'], ['configs', { list: { val: FILE_REF } }], ['container_name', 'string'], ['credential_spec', 'any'],
  ['depends_on', 'any'], ['deploy', { ptr: DEPLOY }], ['device_cgroup_rules', 'strlist'],
  ['devices', { list: { val: [['source', 'string'], ['target', 'string'], ['permissions', 'string']] } }],
  ['dns', 'strlist'], ['dns_opt', 'strlist'], ['dns_search', 'strlist'], ['dockerfile', 'string'], ['domainname', 'string'], ['entrypoint', 'shellcmd'],
  ['provider', 'any'], ['environment', 'envmap'], ['env_file', 'any'], ['expose', 'strlist'], ['extends', 'any'], ['external_links', 'strlist'],
  ['extra_hosts', 'hosts'], ['group_add', 'strlist'], ['gpus', { list: 'any' }], ['hostname', 'string'], ['healthcheck', { ptr: HEALTH }],
  ['image', 'string'], ['init', 'ptrbool'], ['ipc', 'string'], ['isolation', 'string'], ['labels', 'strmap'], ['label_file', 'strlist'],
  ['links', 'strlist'], ['logging', { ptr: [['driver', 'string'], ['options', 'strmap']] }], ['log_driver', 'string'], ['log_opt', 'strmap'],
  ['mem_limit', 'bytes'], ['mem_reservation', 'bytes'], ['memswap_limit', 'bytes'], ['mem_swappiness', 'bytes'], ['mac_address', 'string'],
  ['models', 'any'], ['net', 'string'], ['network_mode', 'string'], ['networks', { map: { ptr: NETWORK } }], ['oom_kill_disable', 'bool'],
  ['oom_score_adj', 'int'], ['pid', 'string'], ['pids_limit', 'int'], ['platform', 'string'], ['ports', { list: { val: PORT } }],
  ['privileged', 'bool'], ['pull_policy', 'string'], ['read_only', 'bool'], ['restart', 'string'], ['runtime', 'string'], ['scale', 'ptrint'],
  ['secrets', { list: { val: FILE_REF } }], ['security_opt', 'strlist'], ['shm_size', 'bytes'], ['stdin_open', 'bool'],
  ['stop_grace_period', 'ptrduration'], ['stop_signal', 'string'], ['storage_opt', 'strmap'], ['sysctls', 'strmap'], ['tmpfs', 'strlist'],
  ['tty', 'bool'], ['ulimits', 'ulimits'], ['use_api_socket', 'bool'], ['user', 'string'], ['userns_mode', 'string'], ['uts', 'string'],
  ['volume_driver', 'string'], ['volumes', { list: { val: VOLUME } }], ['volumes_from', 'strlist'], ['working_dir', 'string'],
  ['pre_start', { list: 'any' }], ['post_start', { list: 'any' }], ['pre_stop', { list: 'any' }],
];

/** A Go string literal as encoding/json writes it (HTML characters escaped). */
export function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A float32 as Go formats it: the shortest decimal that reads back as the same float32. */
export function goFloat32(n: number): string {
  const f = Math.fround(n);
  let s = String(f);
  for (let p = 1; p <= 9; p++) {
    const t = f.toPrecision(p);
    if (Math.fround(Number(t)) === f) { s = String(Number(t)); break; }
  }
  // Go uses exponent form below 1e-6 and from 1e21, like JavaScript; only the exponent's spelling differs
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86400e9, w: 604800e9 };

/** A Compose duration ("1m30s", "1.5s", "10") in nanoseconds. */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') return v * 1e9;
  let ns = 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)/g;
  let m: RegExpExecArray | null;
  let seen = '';
  while ((m = re.exec(v))) { ns += Number(m[1]) * UNITS[m[2]]; seen += m[0]; }
  if (seen !== v.replace(/^[+]/, '')) {
    if (/^\d+$/.test(v)) return Number(v) * 1e9;
    throw new Error(`invalid duration ${v}`);
  }
  return Math.round(ns);
}

/** time.Duration.String(). */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  const frac = (v: number, digits: number) => {
    const s = String(v % 10 ** digits).padStart(digits, '0').replace(/0+$/, '');
    return `${Math.floor(v / 10 ** digits)}${s ? `.${s}` : ''}`;
  };
  let out: string;
  if (u < 1e3) out = `${u}ns`;
  else if (u < 1e6) out = `${frac(u, 3)}µs`;
  else if (u < 1e9) out = `${frac(u, 6)}ms`;
  else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    out = `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${frac(u, 9)}s`;
  }
  return neg ? `-${out}` : out;
}

/** units.RAMInBytes, as compose-go reads mem_limit, shm_size, tmpfs size… */
function ramBytes(v: unknown): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(String(v).trim());
  if (!m) return Number(v) || 0;
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.trunc(Number(m[1]) * mult[m[2].toLowerCase()]);
}

const empty = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

/** Sorted-key JSON for the few nested types not described above (develop, blkio_config, gpus, …). */
function anyJSON(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'string') return goString(v);
  if (typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(anyJSON).join(',')}]`;
  return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${goString(k)}:${anyJSON((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

function mapJSON(m: Record<string, unknown>, each: (v: unknown) => string): string {
  return `{${Object.keys(m).sort().map((k) => `${goString(k)}:${each(m[k])}`).join(',')}}`;
}

/** One value; undefined when Go's omitempty/omitzero leaves the field out. */
function encode(v: unknown, enc: Enc): string | undefined {
  switch (enc) {
    case 'string': return v === undefined || v === null || v === '' ? undefined : goString(String(v));
    case 'int': return !v ? undefined : String(Math.trunc(Number(v)));
    case 'float32': return !v || !Number(v) ? undefined : goFloat32(Number(v));
    case 'bool': return v ? 'true' : undefined;
    case 'ptrbool': return v === undefined || v === null ? undefined : String(!!v);
    case 'ptrint': return v === undefined || v === null ? undefined : String(Math.trunc(Number(v)));
    case 'strlist': return empty(v) ? undefined : `[${(v as unknown[]).map((x) => goString(String(x))).join(',')}]`;
    case 'shellcmd': return v === undefined || v === null ? 'null' : `[${(v as unknown[]).map((x) => goString(String(x))).join(',')}]`;
    case 'strmap': return empty(v) ? undefined : mapJSON(v as Record<string, unknown>, (x) => goString(x === null || x === undefined ? '' : String(x)));
    case 'envmap': return empty(v) ? undefined : mapJSON(v as Record<string, unknown>, (x) => (x === null || x === undefined ? 'null' : goString(String(x))));
    case 'bytes': { const n = ramBytes(v); return !n ? undefined : `"${n}"`; }
    case 'duration': { if (v === undefined || v === null) return undefined; const n = parseDuration(v as string); return n ? goString(goDuration(n)) : undefined; }
    case 'ptrduration': return v === undefined || v === null ? undefined : goString(goDuration(parseDuration(v as string)));
    case 'hosts': {
      if (empty(v)) return undefined;
      // compose-go keeps host → IPs and writes them back as sorted "host=ip"
      const list = (v as string[]).flatMap((h) => {
        const i = h.search(/[=:]/);
        return i < 0 ? [h] : h.slice(i + 1).split(',').map((ip) => `${h.slice(0, i)}=${ip}`);
      }).sort();
      return `[${list.map(goString).join(',')}]`;
    }
    case 'ulimits':
      return empty(v) ? undefined : mapJSON(v as Record<string, unknown>, (u) => (typeof u === 'number' || typeof u === 'string' ? String(Number(u))
        : encodeStruct(u as Record<string, unknown>, [['soft', 'int'], ['hard', 'int']])));
    case 'filemode': {
      if (v === undefined || v === null) return undefined;
      const n = typeof v === 'string' ? parseInt(v, 8) : Number(v);
      return `"0${n.toString(8)}"`;
    }
    case 'optout': return v === true || v === undefined ? undefined : 'false';
    case 'any': return v === undefined || v === null ? undefined : anyJSON(v);
  }
  if ('ptr' in enc) return v === undefined || v === null ? undefined : encodeStruct(v as Record<string, unknown>, enc.ptr);
  if ('val' in enc) return encodeStruct((v ?? {}) as Record<string, unknown>, enc.val);
  if ('list' in enc) return empty(v) ? undefined : `[${(v as unknown[]).map((x) => encode(x, enc.list) ?? 'null').join(',')}]`;
  return empty(v) ? undefined : mapJSON(v as Record<string, unknown>, (x) => encode(x, enc.map) ?? 'null');
}

function encodeStruct(o: Record<string, unknown>, fields: Field[]): string {
  const parts: string[] = [];
  for (const [k, enc] of fields) {
    const s = encode(o[k], enc);
    if (s !== undefined) parts.push(`${goString(k)}:${s}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * The environment as compose-go's WithServicesEnvironmentResolved leaves it:
 * env_file entries, overridden by `environment`, whose names without a
 * value take the project's value (or stay null).
 */
export function hashEnvironment(s: ServiceConfig, projectEnv: Record<string, string>): Record<string, string | null> {
  const env: Record<string, string | null> = {};
  for (const f of s.env_file ?? []) {
    let text: string;
    try {
      text = fs.readFileSync(f.path, 'utf8');
    } catch {
      continue; // a missing required file is refused when the container is made
    }
    Object.assign(env, parseDotenv(text, f.path, (n) => projectEnv[n] ?? (s.environment?.[n] ?? undefined)));
  }
  for (const [k, v] of Object.entries(s.environment ?? {})) env[k] = v ?? projectEnv[k] ?? null;
  return env;
}

/** The bytes Compose v2 hashes for this service (json.Marshal of its ServiceConfig). */
export function serviceHashInput(s: ServiceConfig, project?: Pick<Project, 'environment'>): string {
  const projectEnv = project?.environment ?? {};
  const o: Record<string, unknown> = { ...s };
  // what ServiceHash clears, and what WithServicesEnvironmentResolved(true) drops
  for (const k of ['build', 'pull_policy', 'scale', 'depends_on', 'profiles', 'env_file', 'extends']) delete o[k];
  if (s.deploy) o.deploy = { ...s.deploy, replicas: undefined };
  if (s.environment || s.env_file?.length) o.environment = hashEnvironment(s, projectEnv);
  // compose-go's long forms of entries our model keeps short
  if (Array.isArray(s.devices)) {
    o.devices = s.devices.map((d: unknown) => {
      if (typeof d !== 'string') return d;
      const [source, target, permissions] = d.split(':');
      return { source, target: target || source, permissions: permissions ?? 'rwm' };
    });
  }
  for (const kind of ['secrets', 'configs'] as const) {
    if (!Array.isArray(s[kind])) continue;
    o[kind] = (s[kind] as unknown[]).map((r) => {
      const ref: Record<string, unknown> = typeof r === 'string' ? { source: r } : { ...(r as Record<string, unknown>) };
      if (kind === 'secrets' && ref.target === undefined) ref.target = `/run/secrets/${ref.source}`;
      return ref;
    });
  }
  return encodeStruct(o, SERVICE);
}

export function serviceHash(s: ServiceConfig, project?: Pick<Project, 'environment'>): string {
  return createHash('sha256').update(serviceHashInput(s, project)).digest('hex');
}
