// A pflag-like command-line parser: `--flag=v`, `--flag v`, `-dit`, `-eK=V`,
// `-p=80`, repeatable list flags, `--` and interspersed=false (for run,
// create and exec everything after the first positional is the command).

import { goDurationMs, getTimestamp } from '../common/time';

export type FlagType = 'bool' | 'string' | 'int' | 'float' | 'list' | 'duration';

export interface FlagDef {
  name: string;
  short?: string;
  type: FlagType;
  usage?: string;
  default?: unknown;
  hidden?: boolean;
  /** Help text shows this instead of the type name (e.g. "list", "bytes"). */
  valueName?: string;
}

export type FlagValues = Record<string, any>;

export interface Parsed {
  flags: FlagValues;
  /** Names of flags the user set explicitly. */
  changed: Set<string>;
  args: string[];
}

/** A bad flag (unknown, missing value, bad number). The CLI prints it with usage and exits 125. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

function defaultOf(d: FlagDef): unknown {
  if (d.default !== undefined) return Array.isArray(d.default) ? [...d.default] : d.default;
  switch (d.type) {
    case 'bool': return false;
    case 'list': return [];
    case 'int': case 'float': return 0;
    default: return '';
  }
}

function flagLabel(d: FlagDef): string {
  return d.short ? `-${d.short}, --${d.name}` : `--${d.name}`;
}

/** A --since/--until value as the API wants it; as docker's client, a bad value fails before any request, naming the flag. */
export function flagTimestamp(name: string, v: string | undefined): string | undefined {
  try {
    return v ? getTimestamp(v) : undefined;
  } catch (e) {
    throw new Error(`invalid value for ${JSON.stringify(name)}: ${(e as Error).message}`);
  }
}

/** A Go duration ("10s", "1m30s", "1.5h") in milliseconds; undefined if it is not one. */
export function parseDuration(v: string): number | undefined {
  try {
    return goDurationMs(v);
  } catch {
    return undefined;
  }
}

function convert(d: FlagDef, raw: string, shownAs: string): unknown {
  switch (d.type) {
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw)) throw new FlagError(`invalid argument "${raw}" for "${shownAs}" flag: strconv.ParseInt: parsing "${raw}": invalid syntax`);
      return parseInt(raw, 10);
    }
    case 'float': {
      const n = Number(raw);
      if (raw.trim() === '' || Number.isNaN(n)) throw new FlagError(`invalid argument "${raw}" for "${shownAs}" flag: strconv.ParseFloat: parsing "${raw}": invalid syntax`);
      return n;
    }
    case 'bool': {
      const t = ['1', 't', 'T', 'true', 'TRUE', 'True'];
      const f = ['0', 'f', 'F', 'false', 'FALSE', 'False'];
      if (t.includes(raw)) return true;
      if (f.includes(raw)) return false;
      throw new FlagError(`invalid argument "${raw}" for "${shownAs}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`);
    }
    case 'duration': {
      try {
        return goDurationMs(raw);
      } catch (e) {
        throw new FlagError(`invalid argument "${raw}" for "${shownAs}" flag: ${(e as Error).message}`);
      }
    }
    default:
      return raw;
  }
}

export class FlagSet {
  private byName = new Map<string, FlagDef>();
  private byShort = new Map<string, FlagDef>();

  constructor(readonly defs: FlagDef[], readonly interspersed = true) {
    for (const d of defs) {
      this.byName.set(d.name, d);
      if (d.short) this.byShort.set(d.short, d);
    }
  }

  parse(argv: string[]): Parsed {
    const flags: FlagValues = {};
    const changed = new Set<string>();
    for (const d of this.defs) flags[d.name] = defaultOf(d);
    const args: string[] = [];
    const set = (d: FlagDef, raw: string, shownAs: string) => {
      const v = convert(d, raw, shownAs);
      if (d.type === 'list') {
        // The first explicit value replaces the default list.
        if (!changed.has(d.name)) flags[d.name] = [];
        (flags[d.name] as string[]).push(v as string);
      } else flags[d.name] = v;
      changed.add(d.name);
    };
    let i = 0;
    while (i < argv.length) {
      const a = argv[i++];
      if (a === '--') {
        args.push(...argv.slice(i));
        break;
      }
      if (a.startsWith('--') && a.length > 2) {
        const eq = a.indexOf('=');
        const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
        const d = this.byName.get(name);
        if (!d) {
          if (name === 'help') throw new HelpRequested();
          throw new FlagError(`unknown flag: --${name}`);
        }
        if (eq >= 0) set(d, a.slice(eq + 1), flagLabel(d));
        else if (d.type === 'bool') set(d, 'true', flagLabel(d));
        else {
          if (i >= argv.length) throw new FlagError(`flag needs an argument: --${name}`);
          set(d, argv[i++], flagLabel(d));
        }
        continue;
      }
      if (a.startsWith('-') && a.length > 1) {
        // A run of shorthand letters; a value-taking one eats the rest (or the next arg).
        let j = 1;
        while (j < a.length) {
          const c = a[j++];
          const d = this.byShort.get(c);
          if (!d) {
            if (c === 'h') throw new HelpRequested();
            throw new FlagError(`unknown shorthand flag: '${c}' in ${a}`);
          }
          if (d.type === 'bool') {
            if (a[j] === '=') {
              set(d, a.slice(j + 1), flagLabel(d));
              j = a.length;
            } else set(d, 'true', flagLabel(d));
            continue;
          }
          let rest = a.slice(j);
          if (rest.startsWith('=')) rest = rest.slice(1);
          if (rest.length > 0 || a[j] === '=') set(d, rest, flagLabel(d));
          else {
            if (i >= argv.length) throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
            set(d, argv[i++], flagLabel(d));
          }
          j = a.length;
        }
        continue;
      }
      args.push(a);
      if (!this.interspersed) {
        args.push(...argv.slice(i));
        break;
      }
    }
    return { flags, changed, args };
  }

  /** The Options block of `--help`, laid out as cobra does. */
  help(): string {
    const rows: Array<[string, string]> = [];
    for (const d of this.defs) {
      if (d.hidden) continue;
      const type = d.type === 'bool' ? '' : ' ' + (d.valueName ?? (d.type === 'list' ? 'list' : d.type));
      const left = (d.short ? `  -${d.short}, ` : '      ') + `--${d.name}${type}`;
      let usage = d.usage ?? '';
      if (d.default !== undefined && d.default !== '' && d.default !== false && d.type !== 'list') usage += ` (default ${typeof d.default === 'string' ? `"${d.default}"` : d.type === 'duration' ? goDuration(Number(d.default)) : d.default})`;
      rows.push([left, usage]);
    }
    rows.push(['      --help', 'Print usage']);
    const w = Math.max(...rows.map((r) => r[0].length));
    return rows.map(([l, u]) => `${l.padEnd(w)}   ${u}`).join('\n');
  }
}

/** Go's time.Duration.String() of whole seconds (a duration flag's default in help). */
function goDuration(ms: number): string {
  if (ms % 1000 !== 0) return `${ms}ms`;
  const s = ms / 1000;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h}h${m}m${s % 60}s`;
  return m ? `${m}m${s % 60}s` : `${s}s`;
}

/** `-h`/`--help` anywhere among a command's flags. */
export class HelpRequested extends Error {
  constructor() {
    super('help requested');
    this.name = 'HelpRequested';
  }
}

/** Split `KEY=VALUE` into a map entry (labels, build args); a bare key gets "". */
export function keyValue(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf('=');
    if (i < 0) out[item] = '';
    else out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** `--filter key=value` flags as the API's filters map ({key: [values]}). */
export function parseFilters(list: string[], label = '-f, --filter'): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of list) {
    if (f === '') continue; // docker's FilterOpt skips an empty value
    const i = f.indexOf('=');
    // pflag's wording, as the value is refused while the flag is set
    if (i < 0) throw new FlagError(`invalid argument "${f}" for "${label}" flag: bad format of filter (expected name=value)`);
    const k = f.slice(0, i).trim().toLowerCase();
    (out[k] ??= []).push(f.slice(i + 1).trim());
  }
  return out;
}
