// go-units and docker's display helpers: sizes ("4.86MB"), durations
// ("2 minutes ago"), IDs and ellipsis.
import { humanDuration } from '../common/duration';

/** Go's fmt %.<prec>g. */
export function goG(x: number, prec: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN';
  const e = x.toExponential(prec - 1);
  const [mant, expS] = e.split('e');
  const exp = Number(expS);
  if (exp < -4 || exp >= prec) {
    const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    const ae = Math.abs(exp);
    return `${m}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' + ae : ae}`;
  }
  const f = x.toFixed(Math.max(0, prec - 1 - exp));
  return f.includes('.') ? f.replace(/0+$/, '').replace(/\.$/, '') : f;
}

const decimalAbbrs = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const binaryAbbrs = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function sizeAndUnit(size: number, base: number, abbrs: string[]): [number, string] {
  let i = 0;
  while (size >= base && i < abbrs.length - 1) {
    size /= base;
    i++;
  }
  return [size, abbrs[i]];
}

/** units.HumanSizeWithPrecision: decimal units. */
export function humanSize(size: number, precision = 4): string {
  const [s, u] = sizeAndUnit(size, 1000, decimalAbbrs);
  return goG(s, precision) + u;
}

/** units.BytesSize: binary units, %.4g. */
export function bytesSize(size: number): string {
  const [s, u] = sizeAndUnit(size, 1024, binaryAbbrs);
  return goG(s, 4) + u;
}

export { humanDuration };

/** "<duration> ago" from a unix-seconds timestamp. */
export function since(unixSeconds: number, now = Date.now()): string {
  return humanDuration(now - unixSeconds * 1000) + ' ago';
}

/** stringid.TruncateID: drop "sha256:" and keep 12 characters. */
export function shortId(id: string): string {
  const i = id.indexOf(':');
  const s = i >= 0 ? id.slice(i + 1) : id;
  return s.slice(0, 12);
}

/** formatter.Ellipsis: cut to `max` display columns ending in "…". */
export function ellipsis(s: string, max: number): string {
  // no longer in UTF-16 units than max: no longer in code points either (every `ps` row's command)
  if (s.length <= max) return s;
  const cs = [...s];
  if (cs.length <= max) return s;
  if (max <= 0) return '';
  if (max === 1) return cs[0];
  return cs.slice(0, max - 1).join('') + '…';
}

/** Go's time.Time.String() in local time: "2006-01-02 15:04:05 -0700 MST". */
export function goTimeString(d: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const ao = Math.abs(off);
  let zone = 'UTC';
  if (off !== 0) {
    const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName');
    zone = part?.value ?? `${sign}${pad(Math.trunc(ao / 60))}`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.trunc(ao / 60))}${pad(ao % 60)} ${zone}`;
}

