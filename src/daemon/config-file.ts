// daemon.json, as dockerd reads it: the same keys as Docker's where they
// overlap, each mapped onto a berthd flag, so the file becomes a list of
// flags parsed by the one flag parser (config.ts). A key given both in the
// file and on the command line is an error (dockerd's message); unknown keys
// are refused. SIGHUP re-reads the file (reloadable keys: RELOADABLE).
import fs from 'node:fs';
import { parseDaemonArgs, DEFAULT_CONFIG_FILE, FLAG_ALIASES, FlagError, type DaemonConfig } from './config';

type Kind = 'string' | 'bool' | 'int' | 'list' | 'map' | 'runtimes';

/** daemon.json key → the berthd flag it stands for and the JSON type it takes. */
export const FILE_KEYS: Record<string, { flag: string; kind: Kind }> = {
  hosts: { flag: '--host', kind: 'list' },
  'data-root': { flag: '--data-root', kind: 'string' },
  'exec-root': { flag: '--exec-root', kind: 'string' },
  pidfile: { flag: '--pidfile', kind: 'string' },
  debug: { flag: '--debug', kind: 'bool' },
  'log-level': { flag: '--log-level', kind: 'string' },
  'default-runtime': { flag: '--default-runtime', kind: 'string' },
  runtimes: { flag: '--add-runtime', kind: 'runtimes' },
  bridge: { flag: '--bridge', kind: 'string' },
  bip: { flag: '--bip', kind: 'string' },
  'iptables-chain-prefix': { flag: '--iptables-chain-prefix', kind: 'string' },
  'insecure-registries': { flag: '--insecure-registry', kind: 'list' },
  'max-concurrent-downloads': { flag: '--max-concurrent-downloads', kind: 'int' },
  'max-concurrent-uploads': { flag: '--max-concurrent-uploads', kind: 'int' },
  labels: { flag: '--label', kind: 'list' },
  'live-restore': { flag: '--live-restore', kind: 'bool' },
  'log-driver': { flag: '--log-driver', kind: 'string' },
  'log-opts': { flag: '--log-opt', kind: 'map' },
  tls: { flag: '--tls', kind: 'bool' },
  tlscacert: { flag: '--tlscacert', kind: 'string' },
  tlscert: { flag: '--tlscert', kind: 'string' },
  tlskey: { flag: '--tlskey', kind: 'string' },
  tlsverify: { flag: '--tlsverify', kind: 'bool' },
};

/** What SIGHUP changes in a running daemon (a subset of dockerd's reloadable keys). */
export const RELOADABLE = ['debug', 'log-level', 'insecure-registries', 'labels', 'max-concurrent-downloads', 'max-concurrent-uploads', 'live-restore'] as const;

export class ConfigFileError extends Error {}

export interface LoadedConfig {
  config: DaemonConfig;
  /** The keys the file set (empty when there is no file). */
  fileKeys: string[];
}

/**
 * The daemon's configuration from its command line and config file. A missing
 * file is fine at the default path and an error when named by --config-file.
 */
export function loadDaemonConfig(argv: string[]): LoadedConfig | 'help' | 'version' {
  const cli = parseDaemonArgs(argv);
  if (cli === 'help' || cli === 'version') return cli;
  const file = cli.configFile;
  const explicit = givenFlags(argv).has('--config-file');
  const wrap = (msg: string) => new ConfigFileError(`unable to configure the Berth daemon with file ${file}: ${msg}`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !explicit && file === DEFAULT_CONFIG_FILE) return { config: cli, fileKeys: [] };
    const code = (e as NodeJS.ErrnoException).code;
    throw wrap(code === 'ENOENT' ? `open ${file}: no such file or directory` : code === 'EACCES' ? `open ${file}: permission denied` : (e as Error).message);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.trim() === '' ? '{}' : text);
  } catch (e) {
    throw wrap(`invalid JSON: ${(e as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw wrap('the configuration must be a JSON object');
  const obj = json as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !FILE_KEYS[k] || !flagKnown(FILE_KEYS[k].flag, FILE_KEYS[k].kind));
  if (unknown.length) throw wrap(`the following directives don't match any configuration option: ${unknown.join(', ')}`);
  const fileArgs: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const err = typeError(k, v);
    if (err) throw wrap(err);
    fileArgs.push(...toArgs(FILE_KEYS[k].flag, FILE_KEYS[k].kind, v));
  }
  const given = givenFlags(argv);
  const conflicts = Object.keys(obj)
    .filter((k) => given.has(FILE_KEYS[k].flag))
    .map((k) => `${k}: (from flag: ${show(flagValues(argv, FILE_KEYS[k].flag))}, from file: ${show(obj[k])})`);
  if (conflicts.length) throw wrap(`the following directives are specified both as a flag and in the configuration file: ${conflicts.join(', ')}`);
  let merged;
  try {
    merged = parseDaemonArgs([...fileArgs, ...argv]);
  } catch (e) {
    throw e instanceof FlagError ? wrap(e.message) : e;
  }
  if (merged === 'help' || merged === 'version') return merged;
  return { config: merged, fileKeys: Object.keys(obj) };
}

/**
 * The settings SIGHUP may change, from a fresh read of the file: copied onto
 * `live` (the object the services read). Returns the keys that changed.
 */
export function reloadInto(live: DaemonConfig, argv: string[]): string[] {
  const next = loadDaemonConfig(argv);
  if (next === 'help' || next === 'version') return [];
  const n = next.config;
  const changed: string[] = [];
  const set = <K extends keyof DaemonConfig>(key: K, name: string) => {
    if (JSON.stringify(live[key]) !== JSON.stringify(n[key])) {
      live[key] = n[key];
      changed.push(name);
    }
  };
  set('logLevel', 'log-level');
  set('debug', 'debug');
  set('insecureRegistries', 'insecure-registries');
  set('labels', 'labels');
  set('maxConcurrentDownloads', 'max-concurrent-downloads');
  set('maxConcurrentUploads', 'max-concurrent-uploads');
  set('liveRestore', 'live-restore');
  return changed;
}

/** Canonical names of the flags on a command line (`-H x`, `--host=x`, `-Hx` → --host). */
export function givenFlags(argv: string[]): Set<string> {
  const out = new Set<string>();
  for (const a of argv) {
    if (!a.startsWith('-') || a === '-' || a === '--') continue;
    const name = a.startsWith('--') ? a.replace(/=.*$/, '') : a.slice(0, 2);
    out.add(FLAG_ALIASES[name] ?? name);
  }
  return out;
}

/** The values a flag was given on the command line, for the conflict message. */
function flagValues(argv: string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith('--') ? a.replace(/=.*$/, '') : a.slice(0, 2);
    if ((FLAG_ALIASES[name] ?? name) !== flag) continue;
    if (a.includes('=') && a.startsWith('--')) out.push(a.slice(a.indexOf('=') + 1));
    else if (!a.startsWith('--') && a.length > 2) out.push(a.slice(2));
    else if (isBoolFlag(flag)) out.push('true');
    else if (i + 1 < argv.length) out.push(argv[++i]);
  }
  return out;
}

function isBoolFlag(flag: string): boolean {
  return Object.values(FILE_KEYS).some((k) => k.flag === flag && k.kind === 'bool');
}

/** Go's %v of the value: one value plain, several as [a b]. */
function show(v: unknown): string {
  if (Array.isArray(v)) return v.length === 1 ? String(v[0]) : `[${v.map(String).join(' ')}]`;
  if (v && typeof v === 'object') return `map[${Object.entries(v).map(([k, x]) => `${k}:${show(x)}`).join(' ')}]`;
  return String(v);
}

function typeError(key: string, v: unknown): string | undefined {
  const kind = FILE_KEYS[key].kind;
  const bad = (want: string) => `invalid value for "${key}": ${JSON.stringify(v)} (want ${want})`;
  switch (kind) {
    case 'string': return typeof v === 'string' ? undefined : bad('a string');
    case 'bool': return typeof v === 'boolean' ? undefined : bad('true or false');
    case 'int': return Number.isInteger(v) ? undefined : bad('an integer');
    case 'list': return Array.isArray(v) && v.every((x) => typeof x === 'string') ? undefined : bad('a list of strings');
    case 'map':
      return v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string') ? undefined : bad('an object of strings');
    case 'runtimes':
      return v && typeof v === 'object' && !Array.isArray(v) &&
        Object.values(v).every((r) => r && typeof r === 'object' && typeof (r as { path?: unknown }).path === 'string')
        ? undefined : bad('{"name": {"path": "/path/to/runtime"}}');
  }
}

function toArgs(flag: string, kind: Kind, v: unknown): string[] {
  switch (kind) {
    case 'bool': return [`${flag}=${v}`];
    case 'list': return (v as string[]).flatMap((x) => [flag, x]);
    case 'map': return Object.entries(v as Record<string, string>).flatMap(([k, x]) => [flag, `${k}=${x}`]);
    case 'runtimes': return Object.entries(v as Record<string, { path: string }>).flatMap(([k, r]) => [flag, `${k}=${r.path}`]);
    default: return [flag, String(v)];
  }
}

/** Whether the flag parser knows a flag (keys for flags berthd lacks are unknown directives). */
function flagKnown(flag: string, kind: Kind): boolean {
  const sample = kind === 'bool' ? [`${flag}=true`] : [flag, kind === 'int' ? '1' : kind === 'map' || kind === 'runtimes' ? 'a=b' : 'x'];
  try {
    parseDaemonArgs(sample);
    return true;
  } catch (e) {
    return !/^unknown flag/.test((e as Error).message);
  }
}

export { DEFAULT_CONFIG_FILE };
