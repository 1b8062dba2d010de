// create and run: build the create body from docker's flags, pull when the
// image is missing, then (run) attach, start, stream and exit with the
// container's status — docker/cli's cli/command/container/{create,run}.go.
import fs from 'node:fs';
import type { CommandContext, Command } from '../../registry';
import { CliError, StatusError } from '../../registry';
import { containerFlags, buildCreate, type CreateRequest } from './opts';
import { ApiError } from '../../../client';
import { renderProgress } from '../../progress';
import { checkAnyReference, parseRef, withDefaultTag } from '../../refs';
import { pumpStreams, watchResize } from '../../attach';
import { registryAuthFor } from '../registry/credentials';
import type { FlagDef, Parsed } from '../../flags';
import { within } from '../../../util/within';

export async function pullImage(ctx: CommandContext, image: string, platform: string | undefined, quiet: boolean, out = ctx.stderr): Promise<void> {
  const r = parseRef(image);
  const stream = await ctx.client.imagePull(r.name, { tag: r.digest ?? r.tag ?? 'latest', platform, auth: registryAuthFor(r.name) });
  if (quiet) {
    for await (const m of stream) if (m.error || m.errorDetail?.message) throw new CliError(m.errorDetail?.message || m.error || '');
    return;
  }
  await renderProgress(stream, out);
}

/** Create the container, pulling the image first if needed (--pull missing/always/never). */
export async function createContainer(ctx: CommandContext, req: CreateRequest, pull: string, quiet: boolean): Promise<string> {
  if (!['always', 'missing', 'never'].includes(pull)) throw new CliError(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`, 125);
  const cidfile = (req.body.HostConfig as Record<string, unknown> | undefined)?.ContainerIDFile as string | undefined;
  if (cidfile && fs.existsSync(cidfile)) throw new CliError(`container ID file found, make sure the other container isn't running or delete ${cidfile}`, 125);
  checkAnyReference(req.image);
  if (pull === 'always') await pullImage(ctx, req.image, req.platform, quiet);
  let res;
  try {
    res = await ctx.client.containerCreate(req.body, { name: req.name, platform: req.platform });
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404 || pull !== 'missing' || !/^No such image/i.test(e.message)) throw e;
    ctx.err(`Unable to find image '${withDefaultTag(req.image)}' locally\n`);
    try {
      await pullImage(ctx, req.image, req.platform, quiet);
    } catch (pe) {
      // docker prints a failed pull as "docker: <message>" with exit 125.
      if (pe instanceof CliError) throw new CliError(pe.message, ctx.commandPath.endsWith(' run') ? 125 : 1);
      throw pe;
    }
    res = await ctx.client.containerCreate(req.body, { name: req.name, platform: req.platform });
  }
  for (const w of res.Warnings ?? []) ctx.err(`WARNING: ${w}\n`);
  if (cidfile) fs.writeFileSync(cidfile, res.Id);
  return res.Id;
}

/** docker's mapping of a start failure to 126 (cannot invoke) / 127 (not found) / 125. */
export function startErrorCode(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}

/** Start a wait request and give it a moment to be registered before the container starts. */
async function beginWait(ctx: CommandContext, id: string, condition: 'next-exit' | 'removed') {
  await ctx.client.negotiate();
  const resP = ctx.client.transport.request({ method: 'POST', path: `/containers/${encodeURIComponent(id)}/wait`, query: { condition } });
  resP.catch(() => {});
  // Docker flushes the headers once the waiter is registered; don't hang if a daemon doesn't.
  await within(resP.then(() => undefined, () => undefined), 1500);
  const result = (async () => {
    const res = await resP;
    let body = '';
    for await (const c of res) body += c.toString();
    const j = body.trim() ? JSON.parse(body) : { StatusCode: 0 };
    return j as { StatusCode: number; Error?: { Message?: string } | null };
  })();
  result.catch(() => {});
  return { result };
}

/** Attach (when asked), start, copy the streams and return the exit status. */
export async function attachStartWait(ctx: CommandContext, id: string, o: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean; autoRemove: boolean; sigProxy: boolean; detachKeys?: string; start: boolean }): Promise<number> {
  const attaching = o.stdin || o.stdout || o.stderr;
  const hijack = attaching ? await ctx.client.containerAttach(id, { stream: true, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr, detachKeys: o.detachKeys }) : undefined;
  const waitP = (await beginWait(ctx, id, o.autoRemove ? 'removed' : 'next-exit')).result;
  if (o.start) {
    try {
      await ctx.client.containerStart(id);
    } catch (e) {
      hijack?.socket.destroy();
      if (e instanceof ApiError) {
        ctx.err(`${ctx.prog}: Error response from daemon: ${e.message}\n\nRun '${ctx.commandPath} --help' for more information\n`);
        throw new StatusError('', startErrorCode(e.message));
      }
      throw e;
    }
  }
  const stopResize = o.tty ? watchResize(ctx, (h, w) => ctx.client.containerResize(id, h, w)) : () => {};
  const signals: Array<[NodeJS.Signals, () => void]> = [];
  if (o.sigProxy && !o.tty) {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as NodeJS.Signals[]) {
      const h = () => { ctx.client.containerKill(id, s).catch(() => {}); };
      process.on(s, h);
      signals.push([s, h]);
    }
  }
  try {
    if (hijack) await pumpStreams(ctx, hijack, { tty: o.tty, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr });
    const status = await waitP;
    if (status.Error?.Message) ctx.err(`${status.Error.Message}\n`);
    return status.StatusCode;
  } finally {
    stopResize();
    for (const [s, h] of signals) process.off(s, h);
  }
}

function checkTty(ctx: CommandContext, p: Parsed, detached: boolean): void {
  if (p.flags.tty && p.flags.interactive && !detached && !ctx.stdin.isTTY) {
    throw new CliError('the input device is not a TTY', 1);
  }
}

export const createCommand: Command = {
  name: 'create',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create a new container',
  flags: containerFlags,
  interspersed: false,
  args: { min: 1 },
  // docker 28 prints create's daemon errors plainly and exits 1 (run uses 125).
  errorCode: 1,
  async run(ctx, p) {
    const req = buildCreate(p, true);
    // create keeps docker's attach defaults (stdout/stderr attachable later).
    req.body.AttachStdout = true;
    req.body.AttachStderr = true;
    req.body.AttachStdin = !!p.flags.interactive;
    req.body.StdinOnce = !!p.flags.interactive;
    const id = await createContainer(ctx, req, p.flags.pull, p.flags.quiet);
    ctx.out(id + '\n');
  },
};

export const runCommand: Command = {
  name: 'run',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create and run a new container from an image',
  flags: ([
    ...containerFlags,
    { name: 'detach', short: 'd', type: 'bool', usage: 'Run container in background and print container ID' },
    { name: 'detach-keys', type: 'string', usage: 'Override the key sequence for detaching a container' },
    { name: 'sig-proxy', type: 'bool', usage: 'Proxy received signals to the process', default: true },
  ] as FlagDef[]).sort((a, b) => a.name.localeCompare(b.name)),
  interspersed: false,
  args: { min: 1 },
  errorCode: 125,
  async run(ctx, p) {
    const detached = !!p.flags.detach;
    checkTty(ctx, p, detached);
    const req = buildCreate(p, detached);
    const id = await createContainer(ctx, req, p.flags.pull, p.flags.quiet);
    if (detached) {
      // docker prints the id as soon as the container exists, even if start then fails
      ctx.out(id + '\n');
      try {
        await ctx.client.containerStart(id);
      } catch (e) {
        if (e instanceof ApiError) {
          ctx.err(`${ctx.prog}: Error response from daemon: ${e.message}\n\nRun '${ctx.commandPath} --help' for more information\n`);
          throw new StatusError('', startErrorCode(e.message));
        }
        throw e;
      }
      return 0;
    }
    const b = req.body;
    return attachStartWait(ctx, id, {
      tty: !!b.Tty,
      stdin: !!b.AttachStdin,
      stdout: !!b.AttachStdout,
      stderr: !!b.AttachStderr,
      autoRemove: !!(b.HostConfig as Record<string, unknown>).AutoRemove,
      sigProxy: p.flags['sig-proxy'],
      detachKeys: p.flags['detach-keys'] || undefined,
      start: true,
    });
  },
};
