// `berth registry serve` and `berth registry gc`: run locally (no daemon),
// delegating to the registry server module.
import type { Command } from '../../registry';
import { runRegistryCommand } from '../../../registry/cli';

function argv(flags: Record<string, any>, names: string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    const v = flags[n];
    if (v === undefined || v === '' || v === false) continue;
    if (v === true) out.push(`--${n}`);
    else out.push(`--${n}`, String(v));
  }
  return out;
}

export const serveCommand: Command = {
  name: 'serve',
  usage: '[OPTIONS]',
  short: 'Serve a registry (OCI distribution spec) from a root directory',
  flags: [
    { name: 'root', type: 'string', usage: 'Storage directory', default: '/var/lib/berth-registry' },
    { name: 'addr', type: 'string', usage: 'Address to listen on', default: '127.0.0.1:5000' },
    { name: 'htpasswd', type: 'string', usage: 'htpasswd file (bcrypt entries) for basic auth' },
    { name: 'realm', type: 'string', usage: 'Basic auth realm' },
    { name: 'tls-cert', type: 'string', usage: 'TLS certificate file' },
    { name: 'tls-key', type: 'string', usage: 'TLS key file' },
    { name: 'verbose', short: 'v', type: 'bool', usage: 'Log every request' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    return runRegistryCommand(['serve', ...argv(p.flags, ['root', 'addr', 'htpasswd', 'realm', 'tls-cert', 'tls-key', 'verbose'])], (s) => ctx.out(s));
  },
};

export const gcCommand: Command = {
  name: 'gc',
  aliases: ['garbage-collect'],
  usage: '[OPTIONS]',
  short: 'Remove blobs no manifest references',
  flags: [
    { name: 'root', type: 'string', usage: 'Storage directory', default: '/var/lib/berth-registry' },
    { name: 'dry-run', type: 'bool', usage: 'Only print what would be removed' },
    { name: 'delete-untagged', type: 'bool', usage: 'Also remove manifests no tag reaches' },
    { name: 'grace', type: 'string', usage: 'Keep anything newer than this (e.g. 0s, 30m)', default: '1h' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    return runRegistryCommand(['gc', ...argv(p.flags, ['root', 'dry-run', 'delete-untagged', 'grace'])], (s) => ctx.out(s));
  },
};
