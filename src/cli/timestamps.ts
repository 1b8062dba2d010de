// --since/--until values turned into what the Engine API takes, on the client
// as the docker CLI does (its timetypes.GetTimestamp): a Go duration is
// "that long before now" in unix seconds, a date/time becomes
// "seconds.nanoseconds" (local time unless it names a zone), and a unix
// timestamp passes through. Anything else is an error before any request.
import { parseDuration } from './flags';

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;

export function apiTimestamp(value: string | undefined, now: number = Date.now()): string | undefined {
  if (value === undefined || value === '') return undefined;
  const d = value !== '0' ? parseDuration(value) : undefined;
  if (d !== undefined) return String(Math.floor((now - d) / 1000));
  const m = DATE_TIME.exec(value);
  if (m) {
    const [, y, mo, da, h = '0', mi = '0', s = '0', frac = '', zone] = m;
    let ms: number;
    if (zone) {
      const off = /^[zZ]$/.test(zone) ? 'Z' : zone;
      ms = Date.parse(`${y}-${mo}-${da}T${h.padStart(2, '0')}:${mi.padStart(2, '0')}:${s.padStart(2, '0')}${off}`);
    } else {
      ms = new Date(Number(y), Number(mo) - 1, Number(da), Number(h), Number(mi), Number(s)).getTime();
    }
    if (Number.isNaN(ms)) throw new Error(`parsing time ${JSON.stringify(value)}: out of range`);
    return `${Math.floor(ms / 1000)}.${frac.padEnd(9, '0')}`;
  }
  if (value.includes('-')) throw new Error(`parsing time ${JSON.stringify(value)}: cannot parse as a timestamp`);
  if (/^\d+(\.\d{1,9})?$/.test(value)) return value;
  throw new Error(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
}
