// Docker's event filters (type, event/action, container, image, label, ...)
// and its time forms for since/until (unix seconds, fractions, RFC 3339, durations).
import type { EngineEvent } from './bus';
import { InvalidParameter } from '../util/errors';

export function matchEvent(ev: EngineEvent, f: Record<string, string[]>): boolean {
  const any = (key: string, pred: (v: string) => boolean) => !f[key] || f[key].length === 0 || f[key].some(pred);
  const attrs = ev.Actor.Attributes;
  const actionMatches = (v: string) => ev.Action === v || ev.Action.startsWith(v + ':') || ev.Action.split(':')[0] === v;
  return (
    any('type', (v) => ev.Type === v) &&
    any('event', actionMatches) &&
    any('container', (v) => ev.Type === 'container' && (ev.Actor.ID.startsWith(v) || attrs.name === v)) &&
    any('image', (v) =>
      (ev.Type === 'image' && (ev.Actor.ID === v || ev.Actor.ID.replace(/^sha256:/, '').startsWith(v.replace(/^sha256:/, '')) || attrs.name === v)) ||
      (ev.Type === 'container' && attrs.image === v),
    ) &&
    any('volume', (v) => ev.Type === 'volume' && ev.Actor.ID === v) &&
    any('network', (v) => ev.Type === 'network' && (ev.Actor.ID.startsWith(v) || attrs.name === v)) &&
    any('daemon', (v) => ev.Type === 'daemon' && (ev.Actor.ID === v || attrs.name === v)) &&
    any('scope', (v) => ev.scope === v) &&
    any('label', (v) => {
      const i = v.indexOf('=');
      return i < 0 ? v in attrs : attrs[v.slice(0, i)] === v.slice(i + 1);
    })
  );
}

/** Nanoseconds since the epoch for a since/until value. */
export function parseEventTime(v: string, nowNs: number): number {
  if (/^\d+(\.\d+)?$/.test(v)) {
    const [s, frac = ''] = v.split('.');
    return Number(s) * 1e9 + Number((frac + '000000000').slice(0, 9));
  }
  const dur = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(v);
  if (dur) {
    const mult: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
    return nowNs - Number(dur[1]) * mult[dur[2]];
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidParameter(`failed to parse value ${v} as a timestamp`);
  return t * 1e6;
}
