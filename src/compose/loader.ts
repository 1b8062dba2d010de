// Loads a Compose project: files → YAML (with `!reset`/`!override`, anchors
// and `<<`) → interpolation → schema checks → merge → normalisation →
// profiles → model checks (undefined services/networks/volumes, cycles).
import fs from 'node:fs';
import path from 'node:path';
import type { Pair, YAMLMap } from 'yaml';
import { ComposeError } from './errors';
import { discoverFiles, projectName } from './discover';
import { parseDotenv } from './dotenv';
import { interpolateTree } from './interpolate';
import { validateFile } from './schema';
import { canonicalService, mergeValues, strip, RESET, OVERRIDE_SUFFIX } from './merge';
import { normalizeService } from './normalize';
import { checkCycles } from './graph';
import { cachedProject, cacheKey, contentHash, storeProject, type Read } from './cache';
import type { FileObjectConfig, NetworkConfig, Project, ServiceConfig, VolumeConfig } from './types';

export interface LoadOptions {
  files?: string[];
  projectDirectory?: string;
  projectName?: string;
  envFiles?: string[];
  profiles?: string[];
  /** Services named on the command line: enabled whatever their profiles, with their dependencies. */
  services?: string[];
  cwd?: string;
  env?: Record<string, string | undefined>;
}

/** Parse one YAML file; the merge tags become markers merge.ts understands. */
export function parseYaml(text: string, file: string): unknown {
  return parseYamlWithLines(text, file).value;
}

/** As parseYaml, with the line (1-based) each key path was written on, for error messages. */
export function parseYamlWithLines(text: string, file: string): { value: unknown; lineOf: (p: string[]) => number | undefined } {
  // the parser is loaded when a file is parsed, not when a cached project is used
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require('yaml') as typeof import('yaml');
  const { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, Scalar } = YAML;
  const lines = new LineCounter();
  const doc = YAML.parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: true, lineCounter: lines });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line;
    throw new ComposeError(`${file}: yaml: ${line ? `line ${line}: ` : ''}${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  YAML.visit(doc, {
    Pair(_k, pair) {
      if (!isPair(pair)) return;
      const v = pair.value as { tag?: string } | null;
      if (v && v.tag === '!reset') pair.value = new Scalar(RESET);
      else if (v && v.tag === '!override') {
        v.tag = undefined;
        if (isScalar(pair.key)) pair.key = new Scalar(String(pair.key.value) + OVERRIDE_SUFFIX);
      }
    },
  });
  const lineOf = (p: string[]): number | undefined => {
    // walk the node tree as far as it goes (aliases followed, `<<` merges searched); the deepest node found names the line
    let node: unknown = doc.contents;
    let range: [number, number, number] | null | undefined = (node as { range?: [number, number, number] } | null)?.range;
    for (const seg of p) {
      if (isAlias(node)) node = node.resolve(doc);
      let next: { key?: unknown; value?: unknown } | undefined;
      if (isMap(node)) {
        const find = (m: YAMLMap): Pair | undefined => {
          for (const it of m.items) {
            const k = isScalar(it.key) && typeof it.key.value !== 'symbol' ? String(it.key.value) : String(it.key);
            if (k === seg || k === seg + OVERRIDE_SUFFIX) return it;
          }
          for (const it of m.items) {
            if (!isScalar(it.key) || (it.key.value !== '<<' && (it.key as { source?: string }).source !== '<<')) continue;
            for (let src of isSeq(it.value) ? it.value.items : [it.value]) {
              if (isAlias(src)) src = src.resolve(doc);
              const hit = isMap(src) ? find(src) : undefined;
              if (hit) return hit;
            }
          }
          return undefined;
        };
        next = find(node);
      } else if (isSeq(node) && /^\d+$/.test(seg)) {
        const item = node.items[Number(seg)];
        next = item === undefined ? undefined : { value: item };
      }
      if (!next) break;
      const keyRange = (next.key as { range?: [number, number, number] } | null)?.range;
      node = next.value;
      range = keyRange ?? (node as { range?: [number, number, number] } | null)?.range ?? range;
    }
    return range ? lines.linePos(range[0]).line : undefined;
  };
  return { value: doc.toJS({ maxAliasCount: 10000 }), lineOf };
}

/** The variables for interpolation: the OS environment, then the env files under it. */
export function projectEnvironment(opts: LoadOptions, projectDir: string): { env: Record<string, string>; files: string[] } {
  const osEnv = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.envFiles?.length ? opts.envFiles : osEnv.COMPOSE_ENV_FILES ? osEnv.COMPOSE_ENV_FILES.split(',') : [];
  const files = explicit.length ? explicit.map((f) => path.resolve(cwd, f)) : [path.join(projectDir, '.env')];
  const fromFiles: Record<string, string> = {};
  for (const f of files) {
    if (!fs.existsSync(f)) {
      if (explicit.length) throw new ComposeError(`couldn't find env file: ${f}`);
      continue;
    }
    if (fs.statSync(f).isDirectory()) {
      if (explicit.length) throw new ComposeError(`${f} is a directory`);
      continue;
    }
    Object.assign(fromFiles, parseDotenv(fs.readFileSync(f, 'utf8'), f, (n) => osEnv[n] ?? fromFiles[n]));
  }
  const env: Record<string, string> = { ...fromFiles };
  for (const [k, v] of Object.entries(osEnv)) if (v !== undefined) env[k] = v;
  return { env, files: files.filter((f) => fs.existsSync(f)) };
}

const isPathLike = (s: string) => s.startsWith('.') || s.startsWith('~');

/**
 * Make a service's relative paths absolute against `dir`: what an included
 * or extended file says is relative to that file, not to the project.
 */
function absolutize(s: Record<string, any>, dir: string): Record<string, any> {
  const abs = (p: string) => (p.startsWith('~') || path.isAbsolute(p) ? p : path.resolve(dir, p));
  const out = { ...s };
  if (out.build && typeof out.build === 'object' && typeof out.build.context === 'string' && !/^[a-z]+:\/\//.test(out.build.context)) out.build = { ...out.build, context: abs(out.build.context) };
  else if (out.build && typeof out.build === 'object' && out.build.context === undefined) out.build = { ...out.build, context: dir };
  if (Array.isArray(out.env_file)) out.env_file = out.env_file.map((e: any) => (typeof e === 'string' ? abs(e) : { ...e, path: abs(String(e.path)) }));
  if (Array.isArray(out.volumes)) {
    out.volumes = out.volumes.map((v: any) => {
      if (typeof v === 'string') {
        const i = v.indexOf(':');
        return i > 0 && isPathLike(v.slice(0, i)) ? abs(v.slice(0, i)) + v.slice(i) : v;
      }
      return v && v.type === 'bind' && typeof v.source === 'string' ? { ...v, source: abs(v.source) } : v;
    });
  }
  return out;
}

/** Reads one file into a document ready to merge: parsed, interpolated, checked, includes and extends resolved. */
class FileReader {
  private extendsStack: string[] = [];
  /** Every file read, with its content hash (the project cache's key material). */
  readonly reads: Read[] = [];
  constructor(private readonly lookup: (n: string) => string | undefined, private readonly onUnset: (n: string) => void, private readonly warnings: string[], _projectDir: string) {}

  private parse(file: string): Record<string, any> {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ComposeError(`open ${file}: ${(e as NodeJS.ErrnoException).code === 'EISDIR' ? 'is a directory' : 'no such file or directory'}`);
    }
    this.reads.push({ file, sha: contentHash(text) });
    const parsed = parseYamlWithLines(text, file);
    let doc = parsed.value;
    if (doc === null || doc === undefined) doc = {};
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new ComposeError(`validating ${file}: (root) must be a mapping`);
    doc = interpolateTree(doc, this.lookup, this.onUnset);
    validateFile(strip(doc), file, parsed.lineOf);
    return doc as Record<string, any>;
  }

  /** `top`: a file given to the project (its relative paths stay relative to the project directory). */
  read(file: string, top: boolean, seen: string[] = []): Record<string, any> {
    if (seen.includes(file)) throw new ComposeError(`include cycle detected: ${[...seen, file].join(' -> ')}`);
    const d = this.parse(file);
    const dir = path.dirname(file);
    if ('version' in d && top) this.warnings.push(`${file}: the attribute \`version\` is obsolete, it will be ignored, please remove it to avoid potential confusion`);
    const raw = (d.services ?? {}) as Record<string, any>;
    const svcs: Record<string, any> = {};
    for (const n of Object.keys(raw)) svcs[n] = this.resolveExtends(n, raw, file);
    for (const n of Object.keys(svcs)) {
      let v = svcs[n] && typeof svcs[n] === 'object' ? canonicalService(svcs[n]) : svcs[n] ?? {};
      if (!top && v && typeof v === 'object') v = absolutize(v, dir);
      svcs[n] = v;
    }
    if (d.services) d.services = svcs;
    if (!top) for (const kind of ['secrets', 'configs']) for (const o of Object.values((d[kind] ?? {}) as Record<string, any>)) if (o?.file) o.file = path.resolve(dir, o.file);
    // include: each listed file is its own model, merged in first; a name defined twice is an error
    const includes = (d.include ?? []) as Array<string | { path: string | string[] }>;
    delete d.include;
    let base: Record<string, any> = {};
    for (const inc of includes) {
      const paths = typeof inc === 'string' ? [inc] : Array.isArray(inc.path) ? inc.path : [inc.path];
      for (const p of paths) {
        const f = path.resolve(dir, p);
        const sub = this.read(f, false, [...seen, file]);
        for (const kind of ['services', 'networks', 'volumes', 'secrets', 'configs']) {
          for (const k of Object.keys(sub[kind] ?? {})) {
            if (d[kind]?.[k] !== undefined || base[kind]?.[k] !== undefined) throw new ComposeError(`imported compose file ${f} defines conflicting ${kind.slice(0, -1)} ${k}`);
          }
        }
        base = mergeValues(base, sub) as Record<string, any>;
      }
    }
    return includes.length ? (mergeValues(base, d) as Record<string, any>) : d;
  }

  /** A service with `extends` (same file or `file:`) merged over its base, recursively. */
  private resolveExtends(name: string, services: Record<string, any>, file: string): Record<string, any> {
    const s = services[name];
    if (!s || typeof s !== 'object' || s.extends === undefined) return s;
    const ext = typeof s.extends === 'string' ? { service: s.extends } : s.extends;
    const key = `${file}#${name}`;
    if (this.extendsStack.includes(key)) throw new ComposeError(`circular reference with extends: ${[...this.extendsStack, key].join(' -> ')}`);
    this.extendsStack.push(key);
    try {
      let base: Record<string, any>;
      if (ext.file) {
        const f = path.resolve(path.dirname(file), ext.file);
        const other = this.parse(f);
        const svcs = (other.services ?? {}) as Record<string, any>;
        if (!svcs[ext.service]) throw new ComposeError(`cannot extend service "${name}" in ${file}: service "${ext.service}" not found in ${f}`);
        base = absolutize(canonicalService(this.resolveExtends(ext.service, svcs, f)), path.dirname(f));
      } else {
        if (!services[ext.service]) throw new ComposeError(`cannot extend service "${name}" in ${file}: service "${ext.service}" not found`);
        base = canonicalService(this.resolveExtends(ext.service, services, file));
      }
      const own = { ...s };
      delete own.extends;
      return mergeValues(base, canonicalService(own), ['services', name]) as Record<string, any>;
    } finally {
      this.extendsStack.pop();
    }
  }
}

function activeByProfile(s: ServiceConfig, profiles: string[]): boolean {
  if (!s.profiles?.length) return true;
  return profiles.includes('*') || s.profiles.some((p) => profiles.includes(p));
}

export function loadProject(opts: LoadOptions = {}): Project {
  const cwd = opts.cwd ?? process.cwd();
  const osEnv = opts.env ?? process.env;
  const found = discoverFiles(opts.files ?? [], cwd, osEnv);
  const workingDir = path.resolve(cwd, opts.projectDirectory ?? path.dirname(found.files[0]));
  const { env, files: envFiles } = projectEnvironment(opts, workingDir);
  // stdin cannot be read twice to check it; everything else is
  const cacheable = !found.files.includes('-');
  const key = cacheKey([found, workingDir, env, envFiles, opts.projectName, opts.profiles, opts.services, osEnv.COMPOSE_PROFILES]);
  const hit = cacheable ? cachedProject(key) : undefined;
  // the variables are not written to the cache (they may hold secrets); they were just read again
  if (hit) return { ...hit, environment: env };
  const { project, reads } = loadFresh(opts, osEnv, found, workingDir, env, envFiles);
  if (cacheable) storeProject(key, reads, { ...project, environment: {} });
  return project;
}

function loadFresh(opts: LoadOptions, osEnv: Record<string, string | undefined>, found: { files: string[]; warnings: string[] }, workingDir: string, env: Record<string, string>, envFiles: string[]): { project: Project; reads: Read[] } {
  const warnings = [...found.warnings];
  const unset = new Set<string>();
  let merged: Record<string, any> = {};
  const reader = new FileReader((n) => env[n], (n) => unset.add(n), warnings, workingDir);
  for (const file of found.files) merged = mergeValues(merged, reader.read(file, true)) as Record<string, any>;
  for (const n of [...unset].sort()) warnings.push(`The "${n}" variable is not set. Defaulting to a blank string.`);

  const name = projectName({ flag: opts.projectName, env: env.COMPOSE_PROJECT_NAME, fromFile: merged.name ? String(merged.name) : undefined, dir: workingDir });
  const all: Record<string, ServiceConfig> = {};
  for (const [n, raw] of Object.entries((merged.services ?? {}) as Record<string, any>)) {
    if (!/^[a-zA-Z0-9._-]+$/.test(n)) throw new ComposeError(`invalid service name "${n}"`);
    all[n] = normalizeService(n, raw ?? {}, workingDir);
    if (!all[n].image && !all[n].build) throw new ComposeError(`service "${n}" has neither an image nor a build context specified: invalid compose project`);
  }

  // profiles: named services and their dependencies are enabled too
  const profiles = opts.profiles?.length ? opts.profiles : (osEnv.COMPOSE_PROFILES ?? env.COMPOSE_PROFILES ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  const services: Record<string, ServiceConfig> = {};
  const disabled: Record<string, ServiceConfig> = {};
  const enable = (n: string) => {
    if (services[n] || !all[n]) return;
    services[n] = all[n];
    for (const d of Object.keys(all[n].depends_on ?? {})) if (all[n].depends_on![d].required !== false || all[d]) enable(d);
  };
  for (const [n, s] of Object.entries(all)) if (activeByProfile(s, profiles)) services[n] = s;
  for (const n of opts.services ?? []) {
    if (!all[n]) throw new ComposeError(`no such service: ${n}`);
    enable(n);
  }
  for (const [n, s] of Object.entries(all)) if (!services[n]) disabled[n] = s;

  for (const s of Object.values(services)) {
    for (const [dep, c] of Object.entries(s.depends_on ?? {})) {
      if (!services[dep] && c.required !== false) {
        throw new ComposeError(all[dep] ? `service "${dep}" was pulled in as a dependency of service "${s.name}" but is not enabled by the active profiles. You may fix this by adding a common profile to "${dep}" and "${s.name}".` : `service "${s.name}" depends on undefined service "${dep}": invalid compose project`);
      }
    }
    if (s.network_mode?.startsWith('service:')) {
      const ref = s.network_mode.slice(8);
      if (!all[ref]) throw new ComposeError(`service "${s.name}" depends on undefined service "${ref}": invalid compose project`);
    }
  }
  checkCycles(services);

  const networks: Record<string, NetworkConfig> = {};
  for (const [k, v] of Object.entries((merged.networks ?? {}) as Record<string, any>)) networks[k] = resource(k, v ?? {}, name) as NetworkConfig;
  const usesDefault = Object.values(services).some((s) => s.networks && 'default' in s.networks);
  if (usesDefault && !networks.default) networks.default = { name: `${name}_default` };
  const volumes: Record<string, VolumeConfig> = {};
  for (const [k, v] of Object.entries((merged.volumes ?? {}) as Record<string, any>)) volumes[k] = resource(k, v ?? {}, name) as VolumeConfig;
  const fileObjs = (kind: 'secrets' | 'configs') => {
    const out: Record<string, FileObjectConfig> = {};
    for (const [k, v] of Object.entries((merged[kind] ?? {}) as Record<string, any>)) {
      const o = { ...(v ?? {}), name: v?.name ?? (v?.external ? k : `${name}_${k}`) } as FileObjectConfig;
      if (o.file) o.file = path.resolve(workingDir, o.file);
      if (!o.file && o.environment === undefined && o.content === undefined && !o.external) throw new ComposeError(`${kind}.${k}: one of file, environment or content is required`);
      out[k] = o;
    }
    return out;
  };
  const secrets = fileObjs('secrets');
  const configs = fileObjs('configs');

  for (const s of Object.values(services)) {
    for (const n of Object.keys(s.networks ?? {})) if (!networks[n]) throw new ComposeError(`service "${s.name}" refers to undefined network ${n}: invalid compose project`);
    for (const v of s.volumes ?? []) {
      if (v.type === 'volume' && v.source && !volumes[v.source]) throw new ComposeError(`service "${s.name}" refers to undefined volume ${v.source}: invalid compose project`);
    }
    for (const kind of ['secrets', 'configs'] as const) {
      for (const ref of (s[kind] ?? []) as Array<string | { source: string }>) {
        const src = typeof ref === 'string' ? ref : ref.source;
        if (!(kind === 'secrets' ? secrets : configs)[src]) throw new ComposeError(`service "${s.name}" refers to undefined ${kind.slice(0, -1)} ${src}: invalid compose project`);
      }
    }
    if (s.container_name && (s.scale ?? s.deploy?.replicas ?? 1) > 1) {
      throw new ComposeError(`services.${s.name}: can't set container_name and ${s.name} as container name must be unique: invalid compose project`);
    }
  }
  const extensions: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(merged)) if (k.startsWith('x-')) extensions[k] = v;
  return { project: { name, workingDir, configFiles: found.files, envFiles, environment: env, services, disabled, networks, volumes, secrets, configs, extensions, warnings }, reads: reader.reads };
}

/** A top-level network or volume: its engine name is `<project>_<key>` unless external or named. */
function resource(key: string, v: Record<string, any>, project: string): Record<string, any> {
  const ext = v.external;
  const external = ext === true || (ext && typeof ext === 'object');
  const name = v.name ?? ((ext && typeof ext === 'object' && ext.name) || (external ? key : `${project}_${key}`));
  const out: Record<string, any> = { ...v, name: String(name) };
  if (external) out.external = true;
  if (v.labels) out.labels = Object.fromEntries(Object.entries((Array.isArray(v.labels) ? Object.fromEntries(v.labels.map((l: string) => l.split(/=(.*)/s).slice(0, 2))) : v.labels) as Record<string, unknown>).map(([a, b]) => [a, String(b ?? '')]));
  return out;
}
