// Go durations and Docker's timestamps, one parser for the CLI and the daemon:
// `--since`/`--until` of logs and events, `until=` filters of list and prune,
// durations of flags, HEALTHCHECK, --change and compose files. The grammars
// and error texts are Go's time.ParseDuration and moby's timetypes.
import { InvalidParameter } from '../util/errors';

const UNIT_NS: Record<string, bigint> = {
  ns: 1n, us: 1_000n, 'µs': 1_000n, 'μs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n,
};
const MAX_NS = (1n << 63n) - 1n;

/** Go's time.ParseDuration ("1h30m", "-1.5s", ".5ms", "0") in nanoseconds; Go's error texts. */
export function parseGoDuration(s: string): bigint {
  const bad = () => new InvalidParameter(`time: invalid duration ${goQuote(s)}`);
  let rest = s;
  let neg = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    neg = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') throw bad();
  let total = 0n;
  while (rest !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    const [num, int, frac] = m;
    if (int === '' && !frac) throw bad(); // no digits: "." or ".s"
    rest = rest.slice(num.length);
    const unitLen = /^[^.\d]*/.exec(rest)![0].length;
    if (unitLen === 0) throw new InvalidParameter(`time: missing unit in duration ${goQuote(s)}`);
    const unitName = rest.slice(0, unitLen);
    rest = rest.slice(unitLen);
    const unit = UNIT_NS[unitName];
    if (unit === undefined) throw new InvalidParameter(`time: unknown unit ${goQuote(unitName)} in duration ${goQuote(s)}`);
    let v = BigInt(int || '0') * unit;
    // Go scales the fraction in float64 and truncates; so do we.
    if (frac) v += BigInt(Math.trunc(Number(BigInt(frac)) * (Number(unit) / 10 ** frac.length)));
    total += v;
    if (total > MAX_NS + 1n) throw bad();
  }
  if (!neg && total > MAX_NS) throw bad();
  return neg ? -total : total;
}

/** parseGoDuration in milliseconds (a Number, fractions kept). */
export function goDurationMs(s: string): number {
  return Number(parseGoDuration(s)) / 1e6;
}

/** Go's time.Duration.String() of nanoseconds ("1m30s", "500ms", "0s"). */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    const [unit, div] = u < 1e3 ? ['ns', 1] : u < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = trimFrac((u / (div as number)).toFixed(9)) + unit;
  } else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    const sec = trimFrac((u / 1e9).toFixed(9)) + 's';
    out = h ? `${h}h${m}m${sec}` : m ? `${m}m${sec}` : sec;
  }
  return (neg ? '-' : '') + out;
}

function trimFrac(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

// moby's layouts: RFC 3339 with or without a zone, the time cut at hours or
// minutes, a date alone; a fraction only after the seconds.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{1,2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;

/**
 * moby's timetypes.GetTimestamp: a Go duration is "that long before now" in
 * unix seconds; a date/time becomes "seconds.nanoseconds" (local time unless
 * it names a zone); a unix timestamp passes through. What the docker CLI
 * sends for --since/--until, and how dockerd reads an `until` filter.
 */
export function getTimestamp(value: string, nowMs: number = Date.now()): string {
  if (value !== '0') {
    const d = tryDuration(value);
    if (d !== undefined) return String(Math.floor((nowMs - Number(d) / 1e6) / 1000));
  }
  // as moby: a zone is there if the value has z/Z/+ or three dashes
  const zoned = /[zZ+]/.test(value) || value.split('-').length - 1 === 3;
  const m = DATE_TIME.exec(value);
  if (m && zoned === (m[8] !== undefined)) {
    const [, y, mo, da, h = '0', mi = '0', s = '0', frac = '', zone] = m;
    const what = outOfRange(Number(y), Number(mo), Number(da), Number(h), Number(mi), Number(s));
    if (what) throw new InvalidParameter(`parsing time ${goQuote(value)}: ${what} out of range`);
    const t = new Date(0);
    if (zone) {
      t.setUTCFullYear(Number(y), Number(mo) - 1, Number(da));
      t.setUTCHours(Number(h), Number(mi), Number(s), 0);
    } else {
      t.setFullYear(Number(y), Number(mo) - 1, Number(da));
      t.setHours(Number(h), Number(mi), Number(s), 0);
    }
    const ms = t.getTime() - (zone ? zoneOffsetMs(zone) : 0);
    return `${Math.floor(ms / 1000)}.${frac.slice(0, 9).padEnd(9, '0')}`;
  }
  // a dash means a date was meant
  if (value.includes('-')) throw new InvalidParameter(`parsing time ${goQuote(value)}: cannot parse as a timestamp`);
  parseUnixTimestamp(value);
  return value;
}

/** moby's timetypes.ParseTimestamps: "seconds[.fraction]" → seconds and nanoseconds. */
export function parseUnixTimestamp(value: string): { sec: bigint; nsec: bigint } {
  const m = /^([+-]?\d+)(?:\.(\d+))?$/.exec(value);
  if (!m) throw new InvalidParameter(`failed to parse value as time or duration: ${goQuote(value)}`);
  const sec = BigInt(m[1]);
  if (m[2] === undefined) return { sec, nsec: 0n };
  const frac = m[2];
  // as moby: scaled to nanoseconds, digits past the ninth dropped
  return { sec, nsec: BigInt(frac.slice(0, 9).padEnd(9, '0')) };
}

/**
 * The daemon's since/until and `until=` filter: any GetTimestamp form, as
 * nanoseconds since the epoch. A duration keeps its sub-second part.
 */
export function timestampNs(value: string, nowMs: number = Date.now()): bigint {
  if (value !== '0') {
    const d = tryDuration(value);
    if (d !== undefined) return BigInt(Math.trunc(nowMs)) * 1_000_000n + BigInt(Math.round((nowMs % 1) * 1e6)) - d;
  }
  const { sec, nsec } = parseUnixTimestamp(getTimestamp(value, nowMs));
  return sec * 1_000_000_000n + nsec;
}

/** timestampNs in milliseconds since the epoch. */
export function timestampMs(value: string, nowMs: number = Date.now()): number {
  return Number(timestampNs(value, nowMs) / 1000n) / 1000;
}

function tryDuration(value: string): bigint | undefined {
  try {
    return parseGoDuration(value);
  } catch {
    return undefined;
  }
}

function outOfRange(y: number, mo: number, d: number, h: number, mi: number, s: number): string | undefined {
  if (mo < 1 || mo > 12) return 'month';
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d < 1 || d > days) return 'day';
  if (h > 23) return 'hour';
  if (mi > 59) return 'minute';
  if (s > 59) return 'second';
  return undefined;
}

function zoneOffsetMs(zone: string): number {
  if (zone === 'Z' || zone === 'z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
}

/** Go's %q for the texts above (ASCII as JSON writes it). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}
