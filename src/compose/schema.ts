// The shape checks of the Compose Specification's JSON schema that matter in
// practice: allowed keys and value types of the top level, services,
// networks and volumes, with compose-go's wording ("services.web.ports must
// be a list", "services.web additional properties 'foo' not allowed").
// Run per file, after interpolation, before merging.
import { ComposeError } from './errors';

type T = 'string' | 'number' | 'integer' | 'boolean' | 'list' | 'mapping' | 'null';

const S: T[] = ['string'];
const N: T[] = ['number', 'string'];
const B: T[] = ['boolean'];
const L: T[] = ['list'];
const M: T[] = ['mapping'];
const SL: T[] = ['string', 'list'];
const LM: T[] = ['mapping', 'list'];

const SERVICE: Record<string, T[]> = {
  annotations: LM, attach: B, blkio_config: M, build: ['string', 'mapping'], cap_add: L, cap_drop: L, cgroup: S, cgroup_parent: S,
  command: ['null', 'string', 'list'], configs: L, container_name: S, cpu_count: N, cpu_percent: N, cpu_period: N, cpu_quota: N,
  cpu_rt_period: N, cpu_rt_runtime: N, cpu_shares: N, cpus: N, cpuset: S, credential_spec: M, depends_on: LM, deploy: ['mapping', 'null'],
  develop: M, device_cgroup_rules: L, devices: L, dns: SL, dns_opt: L, dns_search: SL, domainname: S, entrypoint: ['null', 'string', 'list'],
  env_file: SL, environment: LM, expose: L, extends: ['string', 'mapping'], external_links: L, extra_hosts: LM, gpus: ['string', 'list'], group_add: L,
  healthcheck: M, hostname: S, image: S, init: B, ipc: S, isolation: S, labels: LM, label_file: SL, links: L, logging: M, mac_address: S,
  mem_limit: N, mem_reservation: N, mem_swappiness: N, memswap_limit: N, network_mode: S, networks: LM, oom_kill_disable: B,
  oom_score_adj: N, pid: ['string', 'null'], pids_limit: N, platform: S, ports: L, post_start: L, pre_stop: L, privileged: B, profiles: L,
  pull_policy: S, read_only: B, restart: S, runtime: S, scale: N, secrets: L, security_opt: L, shm_size: N, stdin_open: B,
  stop_grace_period: S, stop_signal: S, storage_opt: M, sysctls: LM, tmpfs: SL, tty: B, ulimits: M, user: S, userns_mode: S, uts: S,
  volumes: L, volumes_from: L, working_dir: S,
};

const NETWORK: Record<string, T[]> = {
  name: S, driver: S, driver_opts: M, ipam: M, external: ['boolean', 'mapping'], internal: B, enable_ipv6: B, enable_ipv4: B, attachable: B, labels: LM,
};
const VOLUME: Record<string, T[]> = { name: S, driver: S, driver_opts: M, external: ['boolean', 'mapping'], labels: LM };
const FILE_OBJ: Record<string, T[]> = { name: S, file: S, environment: S, content: S, external: ['boolean', 'mapping'], labels: LM, driver: S, driver_opts: M, template_driver: S };
const TOP: Record<string, T[]> = { version: S, name: S, include: L, services: M, networks: M, volumes: M, secrets: M, configs: M, models: M };

const BUILD: Record<string, T[]> = {
  context: S, dockerfile: S, dockerfile_inline: S, args: LM, ssh: LM, labels: LM, cache_from: L, cache_to: L, no_cache: B, additional_contexts: LM,
  network: S, pull: B, target: S, shm_size: N, extra_hosts: LM, isolation: S, privileged: B, secrets: L, tags: L, ulimits: M, platforms: L, entitlements: L, provenance: ['boolean', 'string'], sbom: ['boolean', 'string'],
};
const HEALTH: Record<string, T[]> = { test: SL, interval: S, timeout: S, retries: N, start_period: S, start_interval: S, disable: B };
const DEPLOY: Record<string, T[]> = {
  mode: S, replicas: N, labels: LM, resources: M, restart_policy: M, placement: M, endpoint_mode: S, update_config: M, rollback_config: M,
};

export function typeOf(v: unknown): T {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'boolean') return 'boolean';
  return 'string';
}

function fits(v: unknown, allowed: T[]): boolean {
  const t = typeOf(v);
  if (allowed.includes(t)) return true;
  if (t === 'integer' && allowed.includes('number')) return true;
  // numbers and booleans written bare where a string is expected are fine in YAML-land
  if ((t === 'integer' || t === 'number') && allowed.includes('string')) return true;
  return false;
}

function human(allowed: T[]): string {
  const names = allowed.filter((t) => t !== 'null');
  if (names.length === 1) return names[0];
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

function checkKeys(obj: Record<string, unknown>, table: Record<string, T[]>, where: string, file: string): void {
  for (const [k, v] of Object.entries(obj)) {
    if (k.startsWith('x-')) continue;
    const allowed = table[k];
    if (!allowed) throw new ComposeError(`validating ${file}: ${where} additional properties '${k}' not allowed`);
    if (!fits(v, allowed)) throw new ComposeError(`validating ${file}: ${where === '(root)' ? k : `${where}.${k}`} must be a ${human(allowed)}`);
  }
}

/** Check one file's interpolated document; throws the first problem found. */
export function validateFile(doc: unknown, file: string): void {
  if (doc === null || doc === undefined) return;
  if (typeOf(doc) !== 'mapping') throw new ComposeError(`validating ${file}: (root) must be a mapping`);
  const top = doc as Record<string, unknown>;
  checkKeys(top, TOP, '(root)', file);
  for (const [name, svc] of Object.entries((top.services ?? {}) as Record<string, unknown>)) {
    const where = `services.${name}`;
    if (svc === null) continue;
    if (typeOf(svc) !== 'mapping') throw new ComposeError(`validating ${file}: ${where} must be a mapping`);
    const s = svc as Record<string, any>;
    checkKeys(s, SERVICE, where, file);
    if (s.build && typeof s.build === 'object') checkKeys(s.build, BUILD, `${where}.build`, file);
    if (s.healthcheck) checkKeys(s.healthcheck, HEALTH, `${where}.healthcheck`, file);
    if (s.deploy) checkKeys(s.deploy, DEPLOY, `${where}.deploy`, file);
    if (typeof s.restart === 'string' && !/^(no|always|on-failure(:\d+)?|unless-stopped)$/.test(s.restart)) {
      // compose-go accepts any string here and the engine refuses it; say it early
      throw new ComposeError(`validating ${file}: ${where}.restart invalid restart policy "${s.restart}"`);
    }
    if (Array.isArray(s.depends_on)) for (const d of s.depends_on) if (typeof d !== 'string') throw new ComposeError(`validating ${file}: ${where}.depends_on must be a mapping or list of strings`);
    if (s.depends_on && !Array.isArray(s.depends_on)) {
      for (const [d, c] of Object.entries(s.depends_on as Record<string, any>)) {
        if (c && c.condition && !['service_started', 'service_healthy', 'service_completed_successfully'].includes(c.condition)) {
          throw new ComposeError(`validating ${file}: ${where}.depends_on.${d}.condition must be one of the following: "service_started", "service_healthy", "service_completed_successfully"`);
        }
      }
    }
  }
  for (const [kind, table] of [['networks', NETWORK], ['volumes', VOLUME], ['secrets', FILE_OBJ], ['configs', FILE_OBJ]] as const) {
    for (const [name, def] of Object.entries((top[kind] ?? {}) as Record<string, unknown>)) {
      if (def === null || def === undefined) continue;
      if (typeOf(def) !== 'mapping') throw new ComposeError(`validating ${file}: ${kind}.${name} must be a mapping`);
      checkKeys(def as Record<string, unknown>, table, `${kind}.${name}`, file);
    }
  }
}
