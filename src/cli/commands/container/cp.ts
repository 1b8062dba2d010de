// `berth cp`: docker cp's client side. Out of a container: GET the archive
// (named after the source's last element) and extract it at the
// destination, renaming the top entry when the destination is a new name;
// `src/.` copies the contents. Into a container: stat the destination, tar
// the source under the right name, PUT it into the destination directory.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import * as tar from 'tar-stream';
import type { Command, CommandContext } from '../../registry';
import { CliError } from '../../registry';

interface PathStat { name: string; size: number; mode: number; linkTarget: string }

function splitRef(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

async function readAll(res: IncomingMessage): Promise<string> {
  let t = '';
  for await (const c of res) t += c.toString();
  return t;
}

async function archiveGet(ctx: CommandContext, id: string, p: string): Promise<{ res: IncomingMessage; stat: PathStat }> {
  const res = await ctx.client.containerArchiveGet(id, p);
  if ((res.statusCode ?? 500) >= 400) {
    const text = await readAll(res);
    let msg = text;
    try { msg = JSON.parse(text).message; } catch { /* raw */ }
    throw new CliError(`Error response from daemon: ${msg}`, 1);
  }
  const h = res.headers['x-docker-container-path-stat'];
  const stat = JSON.parse(Buffer.from(String(h ?? ''), 'base64').toString() || '{}') as PathStat;
  return { res, stat };
}

const isDirMode = (m: number) => (m >>> 31) === 1;
const isLinkMode = (m: number) => ((m >>> 27) & 1) === 1;

async function copyFrom(ctx: CommandContext, id: string, src: string, dest: string, follow: boolean): Promise<void> {
  let { res, stat } = await archiveGet(ctx, id, src);
  if (follow && isLinkMode(stat.mode) && stat.linkTarget) {
    res.destroy();
    ({ res, stat } = await archiveGet(ctx, id, stat.linkTarget));
    stat.name = path.posix.basename(src);
  }
  if (dest === '-') {
    res.pipe(ctx.stdout);
    await new Promise((r) => res.on('end', r));
    return;
  }
  const destExists = fs.existsSync(dest);
  const destIsDir = destExists && fs.statSync(dest).isDirectory();
  const contents = /\/\.$/.test(src);
  // Where the top entry (named stat.name in the tar) lands.
  let baseDir: string;
  let rename: string | undefined;
  if (contents) {
    if (!destExists) await fsp.mkdir(dest, { recursive: true });
    baseDir = dest;
  } else if (destIsDir) {
    baseDir = dest;
  } else {
    if (dest.endsWith('/')) throw new CliError(`destination directory "${dest}" must exist`, 1);
    baseDir = path.dirname(dest);
    rename = path.basename(dest);
  }
  const top = stat.name;
  const ex = tar.extract();
  await new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      void (async () => {
        let name = h.name.replace(/^\.\//, '').replace(/\/$/, '');
        if (contents) name = name === '.' || name === '' ? '' : name.replace(/^\.\//, '');
        else if (rename && (name === top || name.startsWith(`${top}/`))) name = rename + name.slice(top.length);
        if (name === '' || name.split('/').includes('..')) { stream.resume(); return next(); }
        const target = path.join(baseDir, name);
        if (h.type === 'directory') await fsp.mkdir(target, { recursive: true, mode: h.mode });
        else if (h.type === 'symlink') { await fsp.rm(target, { force: true }); await fsp.symlink(h.linkname ?? '', target); }
        else if (h.type === 'file') {
          await fsp.mkdir(path.dirname(target), { recursive: true });
          await new Promise<void>((res2, rej) => { const w = fs.createWriteStream(target, { mode: h.mode }); w.on('finish', () => res2()); w.on('error', rej); stream.pipe(w); });
          await fsp.chmod(target, (h.mode ?? 0o644) & 0o7777);
        }
        stream.resume();
        next();
      })().catch(reject);
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
    res.pipe(ex);
  });
}

async function packPath(pack: tar.Pack, host: string, name: string, keepOwner: boolean): Promise<void> {
  const st = await fsp.lstat(host);
  const base = { name, mode: st.mode & 0o7777, uid: keepOwner ? st.uid : 0, gid: keepOwner ? st.gid : 0, mtime: st.mtime };
  const entry = (h: Record<string, unknown>) => new Promise<void>((res, rej) => pack.entry(h as unknown as tar.Header, (e) => (e ? rej(e) : res())));
  if (st.isDirectory()) {
    await entry({ ...base, name: `${name}/`, type: 'directory' });
    for (const e of (await fsp.readdir(host)).sort()) await packPath(pack, path.join(host, e), `${name}/${e}`, keepOwner);
  } else if (st.isSymbolicLink()) await entry({ ...base, type: 'symlink', linkname: await fsp.readlink(host) });
  else if (st.isFile()) {
    await new Promise<void>((res, rej) => {
      const w = pack.entry({ ...base, type: "file", size: st.size } as unknown as tar.Header, (e) => (e ? rej(e) : res()));
      fs.createReadStream(host).on('error', rej).pipe(w);
    });
  }
}

async function copyTo(ctx: CommandContext, src: string, id: string, dest: string, keepOwner: boolean): Promise<void> {
  if (!fs.existsSync(src)) throw new CliError(`lstat ${path.resolve(src)}: no such file or directory`, 1);
  let destDir = dest;
  let name = path.basename(path.resolve(src));
  const contents = /\/\.$/.test(src);
  let stat: PathStat | undefined;
  try {
    const head = await ctx.client.containerArchiveHead(id, dest);
    head.resume();
    if (head.statusCode === 200) stat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat'] ?? ''), 'base64').toString() || '{}') as PathStat;
    else if (head.statusCode !== 404) throw new CliError(`Error response from daemon: cannot stat ${dest} (${head.statusCode})`, 1);
  } catch (e) {
    // A missing destination is a new name in an existing directory.
    if (!/404|Could not find the file/.test((e as Error).message) && (e as { statusCode?: number }).statusCode !== 404) throw e;
  }
  if (stat && isDirMode(stat.mode)) {
    destDir = dest;
  } else {
    if (dest.endsWith('/')) throw new CliError(`Error response from daemon: Could not find the file ${dest} in container ${id}`, 1);
    if (stat && fs.statSync(src).isDirectory()) throw new CliError('cannot copy directory to a non-directory path', 1);
    destDir = path.posix.dirname(dest);
    name = path.posix.basename(dest);
  }
  const pack = tar.pack();
  const done = ctx.client.containerArchivePut(id, destDir, pack as unknown as import("node:stream").Readable, { copyUIDGID: keepOwner });
  if (contents && fs.statSync(src).isDirectory()) {
    for (const e of (await fsp.readdir(src)).sort()) await packPath(pack, path.join(src, e), e, keepOwner);
  } else {
    await packPath(pack, src, name, keepOwner);
  }
  pack.finalize();
  await done;
}

export const cpCommand: Command = {
  name: 'cp',
  usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  short: 'Copy files/folders between a container and the local filesystem',
  flags: [
    { name: 'archive', short: 'a', type: 'bool', usage: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', type: 'bool', usage: 'Always follow symbol link in SRC_PATH' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Suppress progress output during copy' },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, p) {
    const a = splitRef(p.args[0]);
    const b = splitRef(p.args[1]);
    if (a.container && b.container) throw new CliError('copying between containers is not supported', 1);
    if (!a.container && !b.container) throw new CliError('must specify at least one container source', 1);
    if (a.container) await copyFrom(ctx, a.container, a.path, b.path, !!p.flags['follow-link']);
    else await copyTo(ctx, a.path, b.container!, b.path, !!p.flags.archive);
    return 0;
  },
};
