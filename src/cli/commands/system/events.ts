// events: the daemon's event stream, printed as docker does (or --format).
import { apiTimestamp } from '../../timestamps';
import type { Command } from '../../registry';
import { parseFilters } from '../../flags';
import { Template } from '../../template';
import type { EngineEvent } from '../../../client';

/** jsonmessage.RFC3339NanoFixed in local time: "2006-01-02T15:04:05.000000000Z07:00". */
export function eventTime(ev: EngineEvent): string {
  const ns = ev.timeNano ? BigInt(ev.timeNano) : BigInt(ev.time) * 1000000000n;
  const ms = Number(ns / 1000000n);
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const local = new Date(ms + off * 60000);
  const frac = (ns % 1000000000n).toString().padStart(9, '0');
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${String(Math.trunc(Math.abs(off) / 60)).padStart(2, '0')}:${String(Math.abs(off) % 60).padStart(2, '0')}`;
  return `${local.toISOString().slice(0, 19)}.${frac}${zone}`;
}

export function prettyEvent(ev: EngineEvent): string {
  let s = ev.timeNano || ev.time ? `${eventTime(ev)} ` : '';
  s += `${ev.Type} ${ev.Action} ${ev.Actor?.ID ?? ''}`;
  const attrs = ev.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length) s += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
  return s + '\n';
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
    const { stream, close } = await ctx.client.events({ since: apiTimestamp(f.since), until: apiTimestamp(f.until), filters: parseFilters(f.filter) });
    const stop = () => close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for await (const ev of stream) ctx.out(tmpl ? tmpl.execute(ev) + '\n' : prettyEvent(ev));
    } catch (e) {
      // Interrupted by the user: the stream was closed on purpose.
      if ((e as NodeJS.ErrnoException)?.code !== 'ECONNRESET' && !/aborted/.test((e as Error)?.message ?? '')) throw e;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};
