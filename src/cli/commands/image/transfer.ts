// import, load, save, pull, push: moving images in and out, with docker's
// progress output.
import fs from 'node:fs';
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { renderProgress } from '../../progress';
import { saveTo } from '../../save';
import { parseRef, withDefaultTag, familiarName } from '../../refs';
import { parseNormalized } from '../../../common/reference';
import { registryAuthFor } from '../registry/credentials';

export const importCommand: Command = {
  name: 'import',
  usage: '[OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  short: 'Import the contents from a tarball to create a filesystem image',
  flags: [
    { name: 'change', short: 'c', type: 'list', usage: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', usage: 'Set commit message for imported image' },
    { name: 'platform', type: 'string', usage: 'Set platform if server is multi-platform capable' },
  ],
  args: { min: 1, max: 2 },
  async run(ctx, p) {
    const [src, ref] = p.args;
    let repo: string | undefined;
    let tag: string | undefined;
    if (ref) {
      parseNormalized(ref); // docker's client rejects a bad name before sending anything
      const r = parseRef(ref);
      if (r.digest) throw new CliError('refusing to create a tag with a digest reference');
      repo = r.name;
      tag = r.tag;
    }
    let source: NodeJS.ReadableStream | string;
    if (src === '-') source = ctx.stdin;
    else if (/^https?:\/\//.test(src)) source = src;
    else {
      if (!fs.existsSync(src)) throw new CliError(`open ${src}: no such file or directory`);
      source = fs.createReadStream(src);
    }
    const stream = await ctx.client.imageImport(source as any, { repo, tag, message: p.flags.message, changes: p.flags.change, platform: p.flags.platform || undefined });
    await renderProgress(stream, ctx.stdout);
  },
};

export const loadCommand: Command = {
  name: 'load',
  usage: '[OPTIONS]',
  short: 'Load an image from a tar archive or STDIN',
  flags: [
    { name: 'input', short: 'i', type: 'string', usage: 'Read from tar archive file, instead of STDIN' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Suppress the load output' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    let input: NodeJS.ReadableStream;
    if (p.flags.input) {
      if (!fs.existsSync(p.flags.input)) throw new CliError(`open ${p.flags.input}: no such file or directory`);
      input = fs.createReadStream(p.flags.input);
    } else {
      if (ctx.stdin.isTTY) throw new CliError('requested load from stdin, but stdin is empty');
      input = ctx.stdin;
    }
    const stream = await ctx.client.imageLoad(input as any, { quiet: p.flags.quiet || !ctx.stdout.isTTY });
    await renderProgress(stream, ctx.stdout);
  },
};

export const saveCommand: Command = {
  name: 'save',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  short: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  flags: [{ name: 'output', short: 'o', type: 'string', usage: 'Write to a file, instead of STDOUT' }],
  args: { min: 1 },
  async run(ctx, p) {
    if (!p.flags.output && ctx.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const res = await ctx.client.imageSave(p.args);
    await saveTo(ctx, res, p.flags.output, 'save');
  },
};

export const pullCommand: Command = {
  name: 'pull',
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  short: 'Download an image from a registry',
  flags: [
    { name: 'all-tags', short: 'a', type: 'bool', usage: 'Download all tagged images in the repository' },
    { name: 'platform', type: 'string', usage: 'Set platform if server is multi-platform capable' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Suppress verbose output' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const r = parseRef(p.args[0]);
    if (p.flags['all-tags'] && (r.tag || r.digest)) throw new CliError('tag can\'t be used with --all-tags/-a');
    let tag = r.digest ?? r.tag;
    if (!tag && !p.flags['all-tags']) {
      tag = 'latest';
      if (!p.flags.quiet) ctx.out('Using default tag: latest\n');
    }
    const stream = await ctx.client.imagePull(r.name, { tag, platform: p.flags.platform || undefined, auth: registryAuthFor(r.name) });
    if (p.flags.quiet) {
      for await (const m of stream) if (m.error || m.errorDetail?.message) throw new CliError(m.errorDetail?.message || m.error || '');
    } else await renderProgress(stream, ctx.stdout);
    const full = r.name.includes('/') && /[.:]|^localhost$/.test(r.name.split('/')[0]) ? r.name : `docker.io/${r.name.includes('/') ? r.name : 'library/' + r.name}`;
    ctx.out(`${full}${r.digest ? '@' + r.digest : tag ? ':' + tag : ''}\n`);
  },
};

export const pushCommand: Command = {
  name: 'push',
  usage: '[OPTIONS] NAME[:TAG]',
  short: 'Upload an image to a registry',
  flags: [
    { name: 'all-tags', short: 'a', type: 'bool', usage: 'Push all tags of an image to the repository' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Suppress verbose output' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const r = parseRef(p.args[0]);
    let tag = r.tag;
    if (!tag && !p.flags['all-tags']) {
      tag = 'latest';
      if (!p.flags.quiet) ctx.out('Using default tag: latest\n');
    }
    const stream = await ctx.client.imagePush(r.name, { tag, auth: registryAuthFor(r.name) });
    if (p.flags.quiet) {
      for await (const m of stream) if (m.error || m.errorDetail?.message) throw new CliError(m.errorDetail?.message || m.error || '');
      ctx.out(`${familiarName(r.name)}${tag ? ':' + tag : ''}\n`);
    } else await renderProgress(stream, ctx.stdout);
    void withDefaultTag;
  },
};
