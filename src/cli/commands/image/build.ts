// `berth build`: pack the context directory (minus .dockerignore), send it to
// POST /build and print the classic builder's stream as docker does.
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import tar from 'tar-stream';
import type { Command, CommandContext } from '../../registry';
import { CliError, StatusError } from '../../registry';
import { packDir } from '../../../client/build-context';

export const buildCommand: Command = {
  name: 'build',
  usage: '[OPTIONS] PATH | URL | -',
  short: 'Build an image from a Dockerfile',
  flags: [
    { name: 'add-host', type: 'list', usage: 'Add a custom host-to-IP mapping (host:ip)' },
    { name: 'build-arg', type: 'list', usage: 'Set build-time variables' },
    { name: 'file', short: 'f', type: 'string', usage: "Name of the Dockerfile (Default is 'PATH/Dockerfile')" },
    { name: 'force-rm', type: 'bool', usage: 'Always remove intermediate containers' },
    { name: 'iidfile', type: 'string', usage: 'Write the image ID to the file' },
    { name: 'label', type: 'list', usage: 'Set metadata for an image' },
    { name: 'network', type: 'string', usage: 'Set the networking mode for the RUN instructions during build', default: 'default' },
    { name: 'no-cache', type: 'bool', usage: 'Do not use cache when building the image' },
    { name: 'platform', type: 'string', usage: 'Set platform if server is multi-platform capable' },
    { name: 'pull', type: 'bool', usage: 'Always attempt to pull a newer version of the image' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Suppress the build output and print image ID on success' },
    { name: 'rm', type: 'bool', usage: 'Remove intermediate containers after a successful build', default: true },
    { name: 'tag', short: 't', type: 'list', usage: 'Name and optionally a tag in the "name:tag" format' },
    { name: 'target', type: 'string', usage: 'Set the target build stage to build.' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const src = p.args[0];
    let context: Readable;
    let dockerfile = p.flags.file || 'Dockerfile';
    let size = 0;
    if (src === '-') {
      // stdin is either a context tar or a bare Dockerfile.
      const data = await readAll(ctx.stdin);
      if (looksLikeTar(data)) context = bufferStream(data);
      else {
        dockerfile = 'Dockerfile';
        context = packFiles([{ name: 'Dockerfile', data }]);
      }
    } else if (/^(https?|git):\/\//.test(src)) {
      throw new CliError('building from a URL is not supported by berth');
    } else {
      // Every path is made absolute first: served by the resident CLI server
      // (src/cli/resident/), process.cwd() is the client's but fs's relative
      // paths would be the server's.
      const dir = path.resolve(src);
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CliError(`unable to prepare context: path "${src}" not found`);
      let extra: { name: string; data: Buffer } | undefined;
      if (p.flags.file === '-') {
        extra = { name: '.berth-stdin-Dockerfile', data: await readAll(ctx.stdin) };
        dockerfile = extra.name;
      } else if (p.flags.file) {
        // -f is relative to the current directory; inside the context it is sent as its relative path.
        const abs = path.resolve(p.flags.file);
        const rel = path.relative(dir, abs);
        if (rel.startsWith('..') || path.isAbsolute(rel)) {
          if (!fs.existsSync(abs)) throw new CliError(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${abs}: no such file or directory`);
          extra = { name: '.berth-external-Dockerfile', data: fs.readFileSync(abs) };
          dockerfile = extra.name;
        } else dockerfile = rel.split(path.sep).join('/');
      }
      if (!extra && !fs.existsSync(path.join(dir, dockerfile))) {
        throw new CliError(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${path.resolve(dir, dockerfile)}: no such file or directory`);
      }
      const packed = packDir(dir, dockerfile, extra);
      size = packed.size;
      context = packed.stream;
    }
    if (!p.flags.quiet && size) ctx.out(`Sending build context to Docker daemon  ${humanSize(size)}\n`);
    const kv = (list: string[] = [], what: string) => {
      const out: Record<string, string | null> = {};
      for (const s of list) {
        const i = s.indexOf('=');
        if (i === 0) throw new CliError(`invalid ${what} ${s}`);
        if (i < 0) out[s] = what === 'argument' ? process.env[s] ?? null : '';
        else out[s.slice(0, i)] = s.slice(i + 1);
      }
      return out;
    };
    const buildArgs = kv(p.flags['build-arg'], 'argument');
    for (const [k, v] of Object.entries(buildArgs)) if (v === null) delete buildArgs[k];
    const stream = await ctx.client.imageBuild(context, {
      t: p.flags.tag?.length ? p.flags.tag : undefined,
      dockerfile,
      buildargs: Object.keys(buildArgs).length ? buildArgs : undefined,
      labels: p.flags.label?.length ? kv(p.flags.label, 'label') : undefined,
      nocache: p.flags['no-cache'] ? '1' : undefined,
      rm: p.flags.rm ? '1' : '0',
      forcerm: p.flags['force-rm'] ? '1' : undefined,
      pull: p.flags.pull ? '1' : undefined,
      q: p.flags.quiet ? '1' : undefined,
      target: p.flags.target || undefined,
      networkmode: p.flags.network || undefined,
      extrahosts: p.flags['add-host']?.length ? p.flags['add-host'].join(',') : undefined,
      platform: p.flags.platform || undefined,
    }, { 'Content-Type': 'application/x-tar' });
    await printStream(ctx, stream, p.flags.iidfile);
  },
};

async function printStream(ctx: CommandContext, stream: AsyncGenerator<any>, iidfile?: string): Promise<void> {
  let id = '';
  for await (const m of stream) {
    if (m.error || m.errorDetail) {
      const code = m.errorDetail?.code;
      throw new StatusError(m.errorDetail?.message ?? m.error, typeof code === 'number' && code > 0 ? code : 1);
    }
    if (m.aux && typeof m.aux === 'object' && typeof (m.aux as any).ID === 'string') id = (m.aux as any).ID;
    if (typeof m.stream === 'string') ctx.out(m.stream);
  }
  if (iidfile && id) fs.writeFileSync(path.resolve(iidfile), id);
}

function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toPrecision(4).replace(/\.?0+$/, '')}${units[i]}`;
}

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

function looksLikeTar(b: Buffer): boolean {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
  return b.length >= 262 && b.subarray(257, 262).toString() === 'ustar';
}

function bufferStream(b: Buffer): Readable {
  const s = new PassThrough();
  s.end(b);
  return s;
}

function packFiles(files: { name: string; data: Buffer }[]): Readable {
  const pack = tar.pack();
  for (const f of files) pack.entry({ name: f.name, mode: 0o644, size: f.data.length }, f.data);
  pack.finalize();
  return pack as unknown as Readable;
}
