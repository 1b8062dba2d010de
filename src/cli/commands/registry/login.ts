// `berth login` / `berth logout`: the daemon checks the credentials (POST
// /auth); they are then stored where docker keeps them.
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { HUB_SERVER, removeCredentials, saveCredentials, serverKey } from './credentials';

async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export const loginCommand: Command = {
  name: 'login',
  usage: '[OPTIONS] [SERVER]',
  short: 'Authenticate to a registry',
  flags: [
    { name: 'username', short: 'u', type: 'string', usage: 'Username' },
    { name: 'password', short: 'p', type: 'string', usage: 'Password' },
    { name: 'password-stdin', type: 'bool', usage: 'Take the password from stdin' },
  ],
  args: { max: 1 },
  async run(ctx, p) {
    const server = p.args[0] ?? HUB_SERVER;
    const username: string | undefined = p.flags.username || undefined;
    let password: string | undefined = p.flags.password || undefined;
    if (p.flags['password-stdin']) {
      if (password) throw new CliError('--password and --password-stdin are mutually exclusive');
      if (!username) throw new CliError('Must provide --username with --password-stdin');
      password = (await readStdin(ctx.stdin)).replace(/\r?\n$/, '');
    }
    if (password && !p.flags['password-stdin']) ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    if (!username || !password) throw new CliError('Error: Cannot perform an interactive login from a non TTY device');
    const res = await ctx.client.auth({ username, password, serveraddress: serverKey(server) });
    saveCredentials(server, username, password);
    ctx.out(`${res?.Status ?? 'Login Succeeded'}\n`);
    return 0;
  },
};

export const logoutCommand: Command = {
  name: 'logout',
  usage: '[SERVER]',
  short: 'Log out from a registry',
  args: { max: 1 },
  async run(ctx, p) {
    const server = p.args[0] ?? HUB_SERVER;
    if (!removeCredentials(server)) {
      ctx.out(`Not logged in to ${serverKey(server)}\n`);
      return 0;
    }
    ctx.out(`Removing login credentials for ${serverKey(server)}\n`);
    return 0;
  },
};
