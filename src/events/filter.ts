// Docker's event filters (type, event/action, container, image, label, ...);
// since/until are read by common/time's timestampNs.
import type { EngineEvent } from './bus';
import { Filters } from '../common/filters';

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
    // as moby: every label filter must match the attributes
    new Filters(f).matchKVList('label', attrs)
  );
}
