// Commands over several arguments, as the docker CLI runs them: each one in
// turn, successes printed, errors collected and joined (exit 1); inspect's
// printer. Shared by every command group.
import type { CommandContext } from './registry';
import { CliError } from './registry';
import { ApiError, ConnectionError } from '../client';
import { Template } from './template';

/** Run `fn` for each argument; print successes, collect errors (docker joins them, exit 1). */
export async function forEach(ctx: CommandContext, items: string[], fn: (x: string) => Promise<string | void>): Promise<void> {
  const errs: string[] = [];
  for (const x of items) {
    try {
      const out = await fn(x);
      if (out !== undefined) ctx.out(out + '\n');
    } catch (e) {
      if (e instanceof ConnectionError) throw e;
      errs.push(e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message);
    }
  }
  if (errs.length) throw new CliError(errs.join('\n'), 1);
}

/** Print inspect results as docker does: an indented JSON array, or the template per object. */
function printInspect(ctx: CommandContext, results: unknown[], format: string): void {
  if (!format) {
    ctx.out(JSON.stringify(results, null, 4).replace(/^\[\]$/, '[]') + '\n');
    return;
  }
  if (format === 'json') {
    for (const r of results) ctx.out(JSON.stringify(r) + '\n');
    return;
  }
  const tmpl = new Template(format.replace(/\\t/g, '\t').replace(/\\n/g, '\n'));
  for (const r of results) ctx.out(tmpl.execute(r) + '\n');
}

/** Inspect each reference with `get`; print what was found, then the errors (exit 1). */
export async function inspectEach(ctx: CommandContext, refs: string[], format: string, get: (ref: string) => Promise<unknown>): Promise<void> {
  const results: unknown[] = [];
  const errs: string[] = [];
  for (const r of refs) {
    try {
      results.push(await get(r));
    } catch (e) {
      if (e instanceof ConnectionError) throw e;
      errs.push(e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message);
    }
  }
  if (results.length || !format) printInspect(ctx, results, format);
  if (errs.length) throw new CliError(errs.join('\n'));
}

export const inspectFlags = [
  { name: 'format', short: 'f', type: 'string' as const, usage: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template." },
  { name: 'size', short: 's', type: 'bool' as const, usage: 'Display total file sizes' },
];
