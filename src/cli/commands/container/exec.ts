// `berth exec` and `berth attach`: as docker's (create + start hijacked +
// resize + exit code from exec inspect; attach with stdin and detach keys).
import type { Command } from '../../registry';
import { CliError, StatusError } from '../../registry';
import { pumpStreams, watchResize } from '../../attach';

export const execCommand: Command = {
  name: 'exec',
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  short: 'Execute a command in a running container',
  interspersed: false,
  errorCode: 126,
  flags: [
    { name: 'detach', short: 'd', type: 'bool', usage: 'Detached mode: run command in the background' },
    { name: 'detach-keys', type: 'string', usage: 'Override the key sequence for detaching a container' },
    { name: 'env', short: 'e', type: 'list', usage: 'Set environment variables' },
    { name: 'interactive', short: 'i', type: 'bool', usage: 'Keep STDIN open even if not attached' },
    { name: 'privileged', type: 'bool', usage: 'Give extended privileges to the command' },
    { name: 'tty', short: 't', type: 'bool', usage: 'Allocate a pseudo-TTY' },
    { name: 'user', short: 'u', type: 'string', usage: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { name: 'workdir', short: 'w', type: 'string', usage: 'Working directory inside the container' },
  ],
  args: { min: 2 },
  async run(ctx, p) {
    const f = p.flags;
    const [container, ...cmd] = p.args;
    const out = ctx.stdout as NodeJS.WriteStream;
    const tty = !!f.tty;
    const body = {
      User: f.user || '', Privileged: !!f.privileged, Tty: tty, AttachStdin: !!f.interactive && !f.detach,
      AttachStdout: !f.detach, AttachStderr: !f.detach, DetachKeys: f['detach-keys'] || '', Env: f.env, WorkingDir: f.workdir || '', Cmd: cmd,
      ...(tty && out.isTTY ? { ConsoleSize: [out.rows ?? 24, out.columns ?? 80] } : {}),
    };
    const { Id } = await ctx.client.execCreate(container, body);
    if (f.detach) {
      await ctx.client.execStartDetached(Id, { Tty: tty });
      return 0;
    }
    const h = await ctx.client.execStart(Id, { Detach: false, Tty: tty });
    const stop = tty ? watchResize(ctx, (hh, ww) => ctx.client.execResize(Id, hh, ww)) : () => {};
    try {
      await pumpStreams(ctx, h, { tty, stdin: !!f.interactive, stdout: true, stderr: true });
    } finally {
      stop();
    }
    const info = await ctx.client.execInspect(Id);
    if (info.Running) return 0; // detached with the escape sequence
    const code = typeof info.ExitCode === 'number' ? info.ExitCode : 0;
    if (code !== 0) throw new StatusError('', code);
    return 0;
  },
};

export const attachCommand: Command = {
  name: 'attach',
  usage: '[OPTIONS] CONTAINER',
  short: 'Attach local standard input, output, and error streams to a running container',
  flags: [
    { name: 'detach-keys', type: 'string', usage: 'Override the key sequence for detaching a container' },
    { name: 'no-stdin', type: 'bool', usage: 'Do not attach STDIN' },
    { name: 'sig-proxy', type: 'bool', default: true, usage: 'Proxy all received signals to the process' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const info = await ctx.client.containerInspect(p.args[0]);
    if (!info.State?.Running) throw new CliError('You cannot attach to a stopped container, start it first');
    if (info.State?.Paused) throw new CliError('You cannot attach to a paused container, unpause it first');
    const tty = !!info.Config?.Tty;
    const stdin = !p.flags['no-stdin'] && !!info.Config?.OpenStdin;
    const h = await ctx.client.containerAttach(info.Id, { stream: true, stdin, stdout: true, stderr: true, detachKeys: p.flags['detach-keys'] || undefined });
    const stop = tty ? watchResize(ctx, (hh, ww) => ctx.client.containerResize(info.Id, hh, ww)) : () => {};
    try {
      await pumpStreams(ctx, h, { tty, stdin, stdout: true, stderr: true });
    } finally {
      stop();
    }
    const after = await ctx.client.containerInspect(info.Id);
    if (after.State?.Running) return 0;
    const code = after.State?.ExitCode ?? 0;
    if (code !== 0) throw new StatusError('', code);
    return 0;
  },
};
