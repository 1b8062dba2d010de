// diff, export, commit: a container's filesystem.
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { parseRef } from '../../refs';
import { saveTo } from '../../save';

export const diffCommand: Command = {
  name: 'diff',
  usage: 'CONTAINER',
  short: "Inspect changes to files or directories on a container's filesystem",
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const changes = (await ctx.client.containerChanges(p.args[0])) ?? [];
    for (const c of changes) ctx.out(`${['C', 'A', 'D'][c.Kind] ?? '?'} ${c.Path}\n`);
  },
};

export const exportCommand: Command = {
  name: 'export',
  usage: '[OPTIONS] CONTAINER',
  short: "Export a container's filesystem as a tar archive",
  flags: [{ name: 'output', short: 'o', type: 'string', usage: 'Write to a file, instead of STDOUT' }],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    if (!p.flags.output && ctx.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const res = await ctx.client.containerExport(p.args[0]);
    await saveTo(ctx, res, p.flags.output, 'export');
  },
};

export const commitCommand: Command = {
  name: 'commit',
  usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  short: "Create a new image from a container's changes",
  flags: [
    { name: 'author', short: 'a', type: 'string', usage: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { name: 'change', short: 'c', type: 'list', usage: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', usage: 'Commit message' },
    { name: 'pause', short: 'p', type: 'bool', usage: 'Pause container during commit', default: true },
  ],
  args: { min: 1, max: 2 },
  async run(ctx, p) {
    let repo: string | undefined;
    let tag: string | undefined;
    if (p.args[1]) {
      const r = parseRef(p.args[1]);
      if (r.digest) throw new CliError('refusing to create a tag with a digest reference');
      repo = r.name;
      tag = r.tag;
    }
    const res = await ctx.client.containerCommit(p.args[0], {
      repo, tag, comment: p.flags.message, author: p.flags.author, pause: p.flags.pause, changes: p.flags.change,
    });
    ctx.out(res.Id + '\n');
  },
};
