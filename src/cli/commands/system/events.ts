// events: the daemon's event stream, printed as docker does (or --format).
import { getTimestamp } from '../../../common/time';
import type { Command } from '../../registry';
import { parseFilters } from '../../flags';
import { Template } from '../../template';
import type { EngineEvent } from '../../../client';

/** jsonmessage.RFC3339NanoFixed in local time: "2006-01-02T15:04:05.000000000Z07:00". */
function eventTime(ev: EngineEvent): string {
  const ns = ev.timeNano ? BigInt(ev.timeNano) : BigInt(ev.time) * 1000000000n;
  const ms = Number(ns / 1000000n);
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const local = new Date(ms + off * 60000);
  const frac = (ns % 1000000000n).toString().padStart(9, '0');
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${String(Math.trunc(Math.abs(off) / 60)).padStart(2, '0')}:${String(Math.abs(off) % 60).padStart(2, '0')}`;
  return `${local.toISOString().slice(0, 19)}.${frac}${zone}`;
}

function prettyEvent(ev: EngineEvent): string {
  let s = ev.timeNano || ev.time ? `${eventTime(ev)} ` : '';
  s += `${ev.Type} ${ev.Action} ${ev.Actor?.ID ?? ''}`;
  const attrs = ev.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length) s += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
  return s + '\n';
}

/**
 * The event as docker's templates see it: Go field names (.ID, .Status,
 * .From, .Scope, .Time, .TimeNano) next to the JSON keys, which are the only
 * ones `{{json .}}` prints, in events.Message's order with sorted attributes
 * and timeNano as an exact integer.
 */
function templateView(ev: EngineEvent): EngineEvent {
  const raw = ev as unknown as Record<string, unknown>;
  const actor = (raw.Actor ?? {}) as { ID?: string; Attributes?: Record<string, string> };
  const attrs = Object.fromEntries(Object.entries(actor.Attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const view: Record<string, unknown> = {};
  for (const k of ['status', 'id', 'from']) if (raw[k]) view[k] = raw[k];
  Object.assign(view, { Type: raw.Type, Action: raw.Action, Actor: { ID: actor.ID ?? '', Attributes: attrs }, scope: raw.scope, time: raw.time });
  view.timeNano = raw.timeNano !== undefined && /^\d+$/.test(String(raw.timeNano)) ? BigInt(String(raw.timeNano)) : raw.timeNano;
  const go: Record<string, string> = { ID: 'id', Status: 'status', From: 'from', Scope: 'scope', Time: 'time', TimeNano: 'timeNano' };
  for (const [field, key] of Object.entries(go)) Object.defineProperty(view, field, { value: view[key] ?? (key === 'id' || key === 'status' || key === 'from' ? '' : undefined), enumerable: false });
  return view as unknown as EngineEvent;
}

export const eventsCommand: Command = {
  name: 'events',
  usage: '[OPTIONS]',
  short: 'Get real time events from the server',
  flags: [
    { name: 'filter', short: 'f', type: 'list', usage: 'Filter output based on conditions provided', valueName: 'filter' },
    { name: 'format', type: 'string', usage: 'Format output using a custom template' },
    { name: 'since', type: 'string', usage: 'Show all events created since timestamp' },
    { name: 'until', type: 'string', usage: 'Stream events until this timestamp' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const f = p.flags;
    const tmpl = f.format ? new Template(f.format === 'json' ? '{{json .}}' : f.format) : undefined;
    // as docker's client: converted (and a bad value refused) before the request
    const ts = (v: string | undefined) => (v ? getTimestamp(v) : undefined);
    const { stream, close } = await ctx.client.events({ since: ts(f.since), until: ts(f.until), filters: parseFilters(f.filter) });
    const stop = () => close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for await (const ev of stream) ctx.out(tmpl ? tmpl.execute(templateView(ev)) + '\n' : prettyEvent(ev));
    } catch (e) {
      // Interrupted by the user: the stream was closed on purpose.
      if ((e as NodeJS.ErrnoException)?.code !== 'ECONNRESET' && !/aborted/.test((e as Error)?.message ?? '')) throw e;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};
