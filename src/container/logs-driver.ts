// Log drivers a container can have (HostConfig.LogConfig) and their options,
// checked at create as Docker does (moby's mergeAndVerifyLogConfig and each
// driver's option validator), plus where each driver keeps its files.
//
// conmon always writes its k8s-file output to a spool (see logs-pump.ts);
// the driver decides what berthd makes of it: `json-file` (Docker's default
// and on-disk format), `local` (Docker's protobuf-framed files) or `none`.
// `k8s-file` is not a Docker driver: it only names records made before
// drivers existed, whose log is the spool itself.
import path from 'node:path';
import { InvalidParameter } from '../util/errors';

export const LOG_DRIVERS = ['json-file', 'local', 'none'] as const;
export type LogDriver = typeof LOG_DRIVERS[number] | 'k8s-file';

export interface LogConfig { Type: string; Config: Record<string, string> }

/** What the writer needs: rotation at `maxSize` bytes (-1: never), `maxFile` files in all. */
export interface LogSettings {
  driver: LogDriver;
  maxSize: number;
  maxFile: number;
  compress: boolean;
}

const JSON_OPTS = new Set(['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag']);
const LOCAL_OPTS = new Set(['max-file', 'max-size', 'compress']);
/** Options every driver takes (moby's builtInLogOpts). */
const BUILTIN_OPTS = new Set(['mode', 'max-buffer-size']);

/**
 * The container's log config: the request's, else the daemon default
 * (whose options also fill the request's gaps when the types match, as
 * Docker's merge does). Throws Docker's errors for what Docker refuses.
 */
export function mergeLogConfig(req: Partial<LogConfig> | undefined, daemon: LogConfig): LogConfig {
  const type = req?.Type || daemon.Type;
  const config: Record<string, string> = { ...(req?.Config ?? {}) };
  if (type === daemon.Type) for (const [k, v] of Object.entries(daemon.Config)) if (!(k in config)) config[k] = v;
  checkLogConfig({ Type: type, Config: config });
  return { Type: type, Config: config };
}

/** Docker's ValidateLogOpts and the drivers' option parsing, at create (Docker fails some at start). */
export function checkLogConfig(lc: LogConfig): LogSettings {
  const type = lc.Type;
  if (type === 'none') return { driver: 'none', maxSize: -1, maxFile: 1, compress: false };
  const mode = lc.Config.mode;
  if (mode && mode !== 'blocking' && mode !== 'non-blocking') throw new InvalidParameter(`logger: logging mode not supported: ${mode}`);
  if ('max-buffer-size' in lc.Config && mode !== 'non-blocking') {
    throw new InvalidParameter('logger: max-buffer-size option is only supported with \'mode=non-blocking\'');
  }
  if (type !== 'json-file' && type !== 'local') throw new InvalidParameter(`logger: no log driver named '${type}' is registered`);
  const allowed = type === 'json-file' ? JSON_OPTS : LOCAL_OPTS;
  for (const k of Object.keys(lc.Config)) {
    if (BUILTIN_OPTS.has(k) || allowed.has(k)) continue;
    throw new InvalidParameter(type === 'json-file' ? `unknown log opt '${k}' for json-file log driver` : `unknown log opt '${k}' for log driver ${type}`);
  }
  // local's defaults: 20 MiB × 5 files, compressed (moby daemon/logger/local/config.go).
  const local = type === 'local';
  let maxSize = local ? 20 * 1024 * 1024 : -1;
  if ('max-size' in lc.Config) {
    maxSize = parseHumanSize(lc.Config['max-size']);
    if (maxSize <= 0) throw new InvalidParameter('max-size must be a positive number');
  }
  let maxFile = local ? 5 : 1;
  if ('max-file' in lc.Config) {
    const v = lc.Config['max-file'];
    if (!/^[+-]?\d+$/.test(v)) throw new InvalidParameter(`strconv.Atoi: parsing "${v}": invalid syntax`);
    maxFile = Number(v);
    if (maxFile < 1) throw new InvalidParameter(local ? 'max-file must be greater than 0' : 'max-file cannot be less than 1');
  }
  let compress = local;
  if ('compress' in lc.Config) {
    compress = parseBool(lc.Config.compress);
    if (!local && compress && (maxFile === 1 || maxSize === -1)) {
      throw new InvalidParameter('compress cannot be true when max-file is less than 2 or max-size is not set');
    }
  }
  return { driver: type, maxSize, maxFile, compress };
}

/** The settings of a stored record (records from before drivers read their spool). */
export function settingsOf(lc: LogConfig | undefined, logPath: string): LogSettings {
  if (isLegacy(lc, logPath)) return { driver: 'k8s-file', maxSize: -1, maxFile: 1, compress: false };
  try {
    return checkLogConfig(lc!);
  } catch {
    return { driver: 'json-file', maxSize: -1, maxFile: 1, compress: false };
  }
}

/** A record made before log drivers: conmon's k8s-file log is all there is. */
export function isLegacy(lc: LogConfig | undefined, logPath: string): boolean {
  return !lc || lc.Type === 'k8s-file' || path.basename(logPath) === 'ctr.log';
}

/** Docker's files: json-file at <dir>/<id>-json.log (the LogPath inspect shows), local under local-logs/. */
export function driverFile(dir: string, id: string, driver: LogDriver): string {
  if (driver === 'json-file') return path.join(dir, `${id}-json.log`);
  if (driver === 'local') return path.join(dir, 'local-logs', 'container.log');
  return '';
}

/** What inspect's LogPath shows: Docker sets it for json-file only. */
export function inspectLogPath(dir: string, id: string, driver: LogDriver): string {
  return driver === 'json-file' ? driverFile(dir, id, driver) : '';
}

/** go-units FromHumanSize: decimal multipliers (1k = 1000), as json-file parses max-size. */
export function parseHumanSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP])?[bB]?\s*$/.exec(s);
  if (!m) throw new InvalidParameter(`invalid size: '${s}'`);
  const mult: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
  return Math.floor(Number(m[1]) * (m[2] ? mult[m[2].toLowerCase()] : 1));
}

/** Go's strconv.ParseBool. */
function parseBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new InvalidParameter(`strconv.ParseBool: parsing "${s}": invalid syntax`);
}
