// start, stop, restart, kill, rm, wait, rename, pause, unpause, prune.
import type { Command } from '../../registry';
import { CliError, StatusError } from '../../registry';
import { ApiError, ConnectionError } from '../../../client';
import { parseFilters } from '../../flags';
import { humanSize } from '../../units';
import { attachStartWait } from './run';
import { forEach } from '../../each';
import { confirm } from '../../confirm';

export const startCommand: Command = {
  name: 'start',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Start one or more stopped containers',
  flags: [
    { name: 'attach', short: 'a', type: 'bool', usage: 'Attach STDOUT/STDERR and forward signals' },
    { name: 'detach-keys', type: 'string', usage: 'Override the key sequence for detaching a container' },
    { name: 'interactive', short: 'i', type: 'bool', usage: "Attach container's STDIN" },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    const f = p.flags;
    if (f.attach || f.interactive) {
      if (p.args.length > 1) throw new CliError('you cannot start and attach multiple containers at once');
      const info = await ctx.client.containerInspect(p.args[0]);
      const tty = !!info.Config?.Tty;
      return attachStartWait(ctx, info.Id, {
        tty,
        stdin: !!f.interactive && !!info.Config?.OpenStdin,
        stdout: !!f.attach,
        stderr: !!f.attach,
        autoRemove: false,
        sigProxy: !!f.attach && !tty,
        detachKeys: f['detach-keys'] || undefined,
        start: true,
      });
    }
    const errs: string[] = [];
    const failed: string[] = [];
    for (const c of p.args) {
      try {
        await ctx.client.containerStart(c);
        ctx.out(c + '\n');
      } catch (e) {
        if (e instanceof ConnectionError) throw e;
        errs.push(e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message);
        failed.push(c);
      }
    }
    if (errs.length) throw new CliError(`${errs.join('\n')}\nError: failed to start containers: ${failed.join(', ')}`, 1);
  },
};

const stopFlags = [
  { name: 'signal', short: 's', type: 'string' as const, usage: 'Signal to send to the container' },
  { name: 'time', short: 't', type: 'int' as const, usage: 'Seconds to wait before killing the container', hidden: false },
  { name: 'timeout', type: 'int' as const, usage: 'Seconds to wait before killing the container', hidden: true },
];

export const stopCommand: Command = {
  name: 'stop',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Stop one or more running containers',
  flags: stopFlags,
  args: { min: 1 },
  async run(ctx, p) {
    const t = p.changed.has('time') ? p.flags.time : p.changed.has('timeout') ? p.flags.timeout : undefined;
    await forEach(ctx, p.args, async (c) => { await ctx.client.containerStop(c, { timeout: t, signal: p.flags.signal || undefined }); return c; });
  },
};

export const restartCommand: Command = {
  name: 'restart',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Restart one or more containers',
  flags: stopFlags,
  args: { min: 1 },
  async run(ctx, p) {
    const t = p.changed.has('time') ? p.flags.time : p.changed.has('timeout') ? p.flags.timeout : undefined;
    await forEach(ctx, p.args, async (c) => { await ctx.client.containerRestart(c, { timeout: t, signal: p.flags.signal || undefined }); return c; });
  },
};

export const killCommand: Command = {
  name: 'kill',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Kill one or more running containers',
  flags: [{ name: 'signal', short: 's', type: 'string', usage: 'Signal to send to the container' }],
  args: { min: 1 },
  async run(ctx, p) {
    await forEach(ctx, p.args, async (c) => { await ctx.client.containerKill(c, p.flags.signal || undefined); return c; });
  },
};

export const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Remove one or more containers',
  flags: [
    { name: 'force', short: 'f', type: 'bool', usage: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'link', short: 'l', type: 'bool', usage: 'Remove the specified link' },
    { name: 'volumes', short: 'v', type: 'bool', usage: 'Remove anonymous volumes associated with the container' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    await forEach(ctx, p.args, async (c) => {
      const name = c.replace(/^\/+/, '');
      if (!name) throw new Error('Container name cannot be empty');
      try {
        await ctx.client.containerRemove(name, { force: p.flags.force, volumes: p.flags.volumes, link: p.flags.link });
      } catch (e) {
        // rm -f of a container that is already gone is not an error.
        if (p.flags.force && e instanceof ApiError && e.status === 404) return;
        throw e;
      }
      return c;
    });
  },
};

export const waitCommand: Command = {
  name: 'wait',
  usage: 'CONTAINER [CONTAINER...]',
  short: 'Block until one or more containers stop, then print their exit codes',
  args: { min: 1 },
  async run(ctx, p) {
    await forEach(ctx, p.args, async (c) => {
      const r = await ctx.client.containerWait(c);
      if (r?.Error?.Message) throw new Error(r.Error.Message);
      return String(r?.StatusCode ?? 0);
    });
  },
};

export const renameCommand: Command = {
  name: 'rename',
  usage: 'CONTAINER NEW_NAME',
  short: 'Rename a container',
  args: { min: 2, max: 2 },
  async run(ctx, p) {
    const [oldName, newName] = p.args.map((s) => s.trim());
    if (!oldName || !newName) throw new CliError('Error: Neither old nor new names may be empty');
    try {
      await ctx.client.containerRename(oldName, newName);
    } catch (e) {
      if (e instanceof ApiError) throw new CliError(`Error response from daemon: ${e.message}\nError: failed to rename container named ${oldName}`);
      throw e;
    }
  },
};

export const pauseCommand: Command = {
  name: 'pause',
  usage: 'CONTAINER [CONTAINER...]',
  short: 'Pause all processes within one or more containers',
  args: { min: 1 },
  async run(ctx, p) { await forEach(ctx, p.args, async (c) => { await ctx.client.containerPause(c); return c; }); },
};

export const unpauseCommand: Command = {
  name: 'unpause',
  usage: 'CONTAINER [CONTAINER...]',
  short: 'Unpause all processes within one or more containers',
  args: { min: 1 },
  async run(ctx, p) { await forEach(ctx, p.args, async (c) => { await ctx.client.containerUnpause(c); return c; }); },
};

export const pruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  short: 'Remove all stopped containers',
  flags: [
    { name: 'filter', type: 'list', usage: 'Provide filter values (e.g. "until=<timestamp>")', valueName: 'filter' },
    { name: 'force', short: 'f', type: 'bool', usage: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    if (!p.flags.force && !(await confirm(ctx, 'WARNING! This will remove all stopped containers.'))) {
      throw new StatusError('', 0);
    }
    const r = await ctx.client.containerPrune(parseFilters(p.flags.filter, '--filter'));
    if (r.ContainersDeleted?.length) ctx.out(`Deleted Containers:\n${r.ContainersDeleted.join('\n')}\n\n`);
    ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
  },
};
