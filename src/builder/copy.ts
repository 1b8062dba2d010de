// COPY and ADD write their files straight into a new layer tar (no
// container): sources come from the build context, another stage's or an
// image's filesystem, heredocs or URLs; destinations are resolved against
// the parent image's filesystem (read-only view) so existing directories and
// symlinked directories behave as with Docker's classic builder.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { InvalidParameter } from '../util/errors';
import { cleanRel, scopedResolve } from './context';

type H = Partial<tar.Header> & { name: string };

export interface Owner {
  uid: number;
  gid: number;
}

/** One resolved source: a host path (file, dir or symlink), or literal content. */
export type Source =
  | { kind: 'path'; abs: string; name: string }
  | { kind: 'data'; name: string; data: Buffer; mode: number; mtime: Date };

export interface CopyPlan {
  sources: Source[];
  /** Absolute destination in the image, as written (a trailing `/` means a directory). */
  dest: string;
  /** Parent image filesystem (read-only), or undefined for scratch. */
  rootfs?: string;
  owner?: Owner;
  chmod?: number;
  /** ADD: unpack local tar archives instead of copying them. */
  extractArchives: boolean;
  cmdName: string;
}

/** Writes the layer tar for a COPY/ADD plan into file. */
export async function writeCopyLayer(plan: CopyPlan, file: string): Promise<void> {
  const { sources } = plan;
  if (sources.length > 1 && !plan.dest.endsWith('/')) {
    throw new InvalidParameter(`When using ${plan.cmdName} with more than one source file, the destination must be a directory and end with a /`);
  }
  const root = plan.rootfs;
  const exists = (rel: string): fs.Stats | undefined => {
    if (!root) return undefined;
    try {
      return fs.statSync(path.join(root, rel));
    } catch {
      return undefined;
    }
  };
  // Resolve the destination through the image's own symlinks, inside its root.
  const destRel = (p: string): string => {
    const c = cleanRel(p);
    if (!root || c === '') return c;
    return path.relative(root, scopedResolve(root, c));
  };
  const pack = tar.pack();
  const outDone = pipeline(pack as unknown as Readable, fs.createWriteStream(file));
  const added = new Set<string>();
  const owner = plan.owner ?? { uid: 0, gid: 0 };
  const put = (h: H, body?: Buffer) =>
    new Promise<void>((res, rej) => {
      pack.entry(h as tar.Header, (body ?? undefined) as any, (e: unknown) => (e ? rej(e) : res()));
    });
  const putStream = (h: H, src: string) =>
    new Promise<void>((res, rej) => {
      const e = pack.entry(h as tar.Header, (err: unknown) => (err ? rej(err) : res()));
      e.on('error', rej); // a destroyed pack errors its entry: never unhandled
      fs.createReadStream(src).on('error', rej).pipe(e);
    });
  const ensureDirs = async (rel: string) => {
    // Make missing parent directories (0755, owned as --chown says).
    const parts = rel.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (added.has(d) || exists(d)?.isDirectory()) continue;
      added.add(d);
      await put({ name: d + '/', type: 'directory', mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: new Date() });
    }
  };
  const header = (rel: string, st: fs.Stats): H => ({
    name: rel,
    mode: plan.chmod ?? st.mode & 0o7777,
    uid: owner.uid,
    gid: owner.gid,
    mtime: st.mtime,
  });
  const copyTree = async (abs: string, rel: string, top: boolean) => {
    const st = top ? fs.statSync(abs) : fs.lstatSync(abs);
    if (st.isDirectory()) {
      if (top) await ensureDirs(rel);
      else {
        added.add(rel);
        await put({ ...header(rel, st), name: rel + '/', type: 'directory' });
      }
      for (const n of fs.readdirSync(abs).sort()) await copyTree(path.join(abs, n), rel ? `${rel}/${n}` : n, false);
    } else if (st.isSymbolicLink()) {
      await put({ ...header(rel, st), mode: 0o777, type: 'symlink', linkname: fs.readlinkSync(abs) });
    } else if (st.isFile()) {
      await putStream({ ...header(rel, st), type: 'file', size: st.size }, abs);
    }
  };

  try {
    for (const s of sources) {
      if (s.kind === 'data') {
        const destIsDir = plan.dest.endsWith('/') || exists(destRel(plan.dest))?.isDirectory();
        const rel = destIsDir ? `${destRel(plan.dest)}/${s.name}`.replace(/^\/+/, '') : destRel(plan.dest);
        await ensureDirs(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
        await put({ name: rel, type: 'file', mode: plan.chmod ?? s.mode, uid: owner.uid, gid: owner.gid, mtime: s.mtime, size: s.data.length }, s.data);
        continue;
      }
      const st = fs.statSync(s.abs);
      if (st.isDirectory()) {
        await copyTree(s.abs, destRel(plan.dest), true);
        continue;
      }
      if (plan.extractArchives && isArchive(s.abs)) {
        const d = destRel(plan.dest);
        await ensureDirs(d);
        await unpackInto(s.abs, d, put, plan.owner);
        continue;
      }
      const destIsDir = plan.dest.endsWith('/') || exists(destRel(plan.dest))?.isDirectory();
      const rel = destIsDir ? path.posix.join(destRel(plan.dest), path.posix.basename(s.name)) : destRel(plan.dest);
      if (rel === '') throw new InvalidParameter(`cannot copy to /: it is a directory`);
      const dir = path.posix.dirname(rel);
      await ensureDirs(dir === '.' ? '' : dir);
      await putStream({ ...header(rel, st), type: 'file', size: st.size }, s.abs);
    }
    pack.finalize();
    await outDone;
  } catch (e) {
    pack.destroy();
    await outDone.catch(() => undefined);
    throw e;
  }
}

/** Local tar archives ADD unpacks: plain tar or gzip-compressed tar. */
export function isArchive(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(512);
    const n = fs.readSync(fd, b, 0, 512, 0);
    if (n >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
    return n >= 262 && b.subarray(257, 262).toString() === 'ustar';
  } finally {
    fs.closeSync(fd);
  }
}

const ADD_TYPES = new Set(['file', 'contiguous-file', 'directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo']);

async function unpackInto(
  file: string,
  destRel: string,
  put: (h: H, body?: Buffer) => Promise<void>,
  owner?: Owner,
): Promise<void> {
  const ex = tar.extract();
  const head = Buffer.alloc(2);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, head, 0, 2, 0);
  fs.closeSync(fd);
  const src = fs.createReadStream(file);
  let input: NodeJS.ReadableStream = src;
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = zlib.createGunzip();
    src.on('error', (e) => gunzip.destroy(e));
    input = src.pipe(gunzip);
  }
  ex.on('entry', (h, stream, next) => {
    // An entry of another type (a GNU volume label, an unknown flag) would be
    // re-packed as a file without its body and stall the build forever.
    if (!ADD_TYPES.has(String(h.type))) {
      stream.resume();
      return next(new InvalidParameter(`invalid tar entry ${JSON.stringify(h.name)} in ${path.basename(file)}: unsupported type ${h.type ?? '(unknown type flag)'}`));
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      const rel = cleanRel(h.name);
      if (rel === '') return next();
      const name = destRel ? `${destRel}/${rel}` : rel;
      const hh: H = { ...h, name: h.type === 'directory' ? name + '/' : name };
      if (h.type === 'link') hh.linkname = destRel ? `${destRel}/${cleanRel(h.linkname ?? '')}` : cleanRel(h.linkname ?? '');
      if (owner) {
        hh.uid = owner.uid;
        hh.gid = owner.gid;
      }
      delete (hh as any).uname;
      delete (hh as any).gname;
      put(hh, h.type === 'file' || h.type === 'contiguous-file' ? Buffer.concat(chunks) : undefined).then(() => next(), next);
    });
    stream.on('error', next);
  });
  await pipeline(input, ex);
}

/** `--chown=user[:group]`: numbers, or names looked up in the image's /etc/passwd and /etc/group. */
export function resolveOwner(spec: string, rootfs: string | undefined): Owner {
  const [u, gRaw] = spec.split(':');
  const g = gRaw ?? u;
  const read = (f: string): string[][] => {
    if (!rootfs) return [];
    try {
      return fs.readFileSync(scopedResolve(rootfs, f), 'utf8').split('\n').map((l) => l.split(':'));
    } catch {
      return [];
    }
  };
  let uid: number;
  let primary: number | undefined;
  if (/^[0-9]+$/.test(u)) uid = Number(u);
  else {
    const row = read('/etc/passwd').find((r) => r[0] === u);
    if (!row) throw new InvalidParameter(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${u}: no such user: ${u}`);
    uid = Number(row[2]);
    primary = Number(row[3]);
  }
  let gid: number;
  if (/^[0-9]+$/.test(g)) gid = Number(g);
  else {
    const row = read('/etc/group').find((r) => r[0] === g);
    if (row) gid = Number(row[2]);
    else if (gRaw === undefined && primary !== undefined) gid = primary;
    else throw new InvalidParameter(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${g}: no such group: ${g}`);
  }
  return { uid, gid };
}
