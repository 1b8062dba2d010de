// `berth system check`: what this host lacks for berthd, with the fix for
// each (the checks are in host/hostcheck.ts; no daemon is needed).
import type { Command } from '../../registry';
import { checkHost } from '../../../host/hostcheck';

export const checkCommand: Command = {
  name: 'check',
  usage: '[OPTIONS]',
  short: 'Check this host for what berthd needs',
  flags: [{ name: 'quiet', short: 'q', type: 'bool', usage: 'Only print problems' }],
  args: { max: 0 },
  async run(ctx, p) {
    const checks = checkHost();
    const w = Math.max(...checks.map((c) => c.name.length)) + 2;
    const tag = { ok: 'ok', warn: 'WARN', missing: 'MISSING' } as const;
    let out = '';
    for (const c of checks) {
      if (p.flags.quiet && c.status === 'ok') continue;
      out += `${`[${tag[c.status]}]`.padEnd(10)}${c.name.padEnd(w)}${c.detail}\n`;
      if (c.fix) out += `${''.padEnd(10 + w)}fix: ${c.fix}\n`;
    }
    const missing = checks.filter((c) => c.status === 'missing');
    const warns = checks.filter((c) => c.status === 'warn');
    out += missing.length
      ? `\n${missing.length} required item${missing.length === 1 ? ' is' : 's are'} missing: ${missing.map((c) => c.name).join(', ')}\n`
      : `\nThis host has what berthd needs${warns.length ? ` (${warns.length} optional item${warns.length === 1 ? '' : 's'} missing: ${warns.map((c) => c.name).join(', ')})` : ''}.\n`;
    ctx.out(out);
    return missing.length ? 1 : 0;
  },
};
