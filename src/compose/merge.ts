// Merging several Compose files (-f a -f b) by the Compose Specification's
// rules: mappings merge key by key, scalars are replaced; `command`,
// `entrypoint` and `healthcheck.test` are replaced whole; ports, volumes,
// secrets, configs and devices merge by their target; other sequences are
// appended without duplicates. Mappings that may be written as lists
// (environment, labels, depends_on, networks, ...) are made mappings first.
// `!reset` removes the value, `!override` replaces it without merging.
export const RESET = '\u0000compose-reset';
export const OVERRIDE_SUFFIX = '\u0000override';

/** KEY=VALUE lists → mappings (a bare KEY maps to null). */
export function listToMap(v: unknown, sep = '='): unknown {
  if (!Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const item of v) {
    const s = String(item);
    const i = s.indexOf(sep);
    if (i < 0) out[s] = null;
    else out[s.slice(0, i)] = s.slice(i + 1);
  }
  return out;
}

/** depends_on / networks as lists → mappings with null/default entries. */
function namesToMap(v: unknown, entry: () => unknown): unknown {
  if (!Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const n of v) out[String(n)] = entry();
  return out;
}

/** Make the list-or-mapping keys of a service mappings so two files merge key by key. */
export function canonicalService(s: Record<string, any>): Record<string, any> {
  const out = { ...s };
  for (const k of ['environment', 'labels', 'annotations', 'sysctls']) if (k in out) out[k] = listToMap(out[k]);
  if ('depends_on' in out) out.depends_on = namesToMap(out.depends_on, () => ({ condition: 'service_started', required: true }));
  if ('networks' in out) out.networks = namesToMap(out.networks, () => null);
  if (out.build && typeof out.build === 'object' && 'args' in out.build) out.build = { ...out.build, args: listToMap(out.build.args) };
  if (typeof out.build === 'string') out.build = { context: out.build };
  for (const k of ['dns', 'dns_search', 'tmpfs', 'env_file']) if (typeof out[k] === 'string') out[k] = [out[k]];
  return out;
}

const REPLACED = new Set(['command', 'entrypoint']);
const BY_TARGET = new Set(['ports', 'volumes', 'secrets', 'configs', 'devices']);

/** Which sequence rule applies at this path (only service keys have special ones). */
function rule(path: string[]): 'replace' | 'target' | 'append' {
  const svcKey = path[0] === 'services' && path.length === 3 ? path[2] : undefined;
  if (svcKey && REPLACED.has(svcKey)) return 'replace';
  if (path[0] === 'services' && path.length === 4 && path[2] === 'healthcheck' && path[3] === 'test') return 'replace';
  if (svcKey && BY_TARGET.has(svcKey)) return 'target';
  return 'append';
}

function targetKey(kind: string, item: unknown): string {
  if (item && typeof item === 'object') {
    const o = item as Record<string, unknown>;
    if (kind === 'ports') return `${o.host_ip ?? ''}:${o.published ?? ''}:${o.target}/${o.protocol ?? 'tcp'}`;
    if (kind === 'volumes' || kind === 'devices') return String(o.target);
    return String(o.target ?? o.source);
  }
  const s = String(item);
  if (kind === 'volumes') {
    // short syntax: the target is the second field (or the only one)
    const parts = s.split(':');
    return parts.length === 1 ? parts[0] : parts[1];
  }
  if (kind === 'secrets' || kind === 'configs') return s;
  return s;
}

function mergeSeq(key: string, byTarget: boolean, base: unknown[], over: unknown[]): unknown[] {
  if (byTarget) {
    const out = new Map<string, unknown>();
    for (const item of base) out.set(targetKey(key, item), item);
    for (const item of over) out.set(targetKey(key, item), item);
    return [...out.values()];
  }
  const seen = new Set(base.map((x) => JSON.stringify(x)));
  const out = [...base];
  for (const item of over) if (!seen.has(JSON.stringify(item))) { out.push(item); seen.add(JSON.stringify(item)); }
  return out;
}

/** Merge `over` into `base` (neither is modified). */
export function mergeValues(base: unknown, over: unknown, path: string[] = []): unknown {
  if (over === RESET) return undefined;
  if (base === undefined || base === null) return strip(over);
  const r = rule(path);
  if (r === 'replace') return strip(over);
  if (Array.isArray(base) && Array.isArray(over)) return mergeSeq(path[path.length - 1] ?? '', r === 'target', base, strip(over) as unknown[]);
  if (isMap(base) && isMap(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k0, v] of Object.entries(over)) {
      if (k0.endsWith(OVERRIDE_SUFFIX)) {
        const k = k0.slice(0, -OVERRIDE_SUFFIX.length);
        out[k] = strip(v);
        continue;
      }
      const merged = mergeValues(out[k0], v, [...path, k0]);
      if (merged === undefined) delete out[k0];
      else out[k0] = merged;
    }
    return out;
  }
  return strip(over);
}

/** Remove the merge markers from a value that is taken as is. */
export function strip(v: unknown): unknown {
  if (v === RESET) return undefined;
  if (Array.isArray(v)) return v.filter((x) => x !== RESET).map(strip);
  if (isMap(v)) {
    const out: Record<string, unknown> = {};
    for (const [k0, x] of Object.entries(v)) {
      if (x === RESET) continue;
      const k = k0.endsWith(OVERRIDE_SUFFIX) ? k0.slice(0, -OVERRIDE_SUFFIX.length) : k0;
      out[k] = strip(x);
    }
    return out;
  }
  return v;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}
