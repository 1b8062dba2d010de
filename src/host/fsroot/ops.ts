// The filesystem work of `docker cp` and `docker export`, run by the helper
// AFTER it has chrooted into the container's root: every path here is a
// container path and the kernel resolves it inside that root, so a container
// that swaps a directory for a symlink mid-operation (the CVE-2018-15664
// race) can only ever send us to another place inside itself.
// Docker's cp semantics: GET answers a tar of the resource named after the
// path's last element ("." for `dir/.`); PUT extracts into an existing directory.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import * as tar from 'tar-stream';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntry } from '../storage/tar-writer';
import { resolveInRoot } from '../rootfs';

/** An error the daemon turns into an HTTP answer (status as Docker's). */
export class OpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** Go's os.FileMode bits from a Unix mode (what the docker CLI decodes). */
function goMode(st: fs.Stats): number {
  let m = st.mode & 0o777;
  if (st.mode & 0o4000) m |= 1 << 23; // setuid
  if (st.mode & 0o2000) m |= 1 << 22; // setgid
  if (st.mode & 0o1000) m |= 1 << 20; // sticky
  if (st.isDirectory()) m |= 1 << 31;
  else if (st.isSymbolicLink()) m |= 1 << 27;
  else if (st.isFIFO()) m |= 1 << 25;
  else if (st.isSocket()) m |= 1 << 24;
  else if (st.isCharacterDevice()) m |= (1 << 26) | (1 << 21);
  else if (st.isBlockDevice()) m |= 1 << 26;
  return m >>> 0;
}

/** Go's filepath.Base, keeping "." for a trailing "/.". */
function baseOf(p: string): string {
  if (/\/\.$/.test(p) || p === '.') return '.';
  const t = p.replace(/\/+$/, '');
  return t === '' ? '/' : path.posix.basename(t);
}

/** `p` in the container: parents resolved (links followed inside the root), last element not followed. */
function locate(p: string, container: string): string {
  if (!p) throw new OpError(400, 'Path cannot be empty');
  const abs = path.posix.join('/', p);
  const trailing = /\/\.?$/.test(p);
  const at = abs === '/' ? '/' : trailing ? resolveInRoot('/', abs) : path.posix.join(resolveInRoot('/', path.posix.dirname(abs)), path.posix.basename(abs));
  try {
    fs.lstatSync(at);
  } catch {
    throw new OpError(404, `Could not find the file ${p} in container ${container}`);
  }
  if (trailing && !fs.statSync(at).isDirectory()) throw new OpError(400, `not a directory: ${p}`);
  return at;
}

function statOf(at: string, name: string): PathStat {
  const st = fs.lstatSync(at);
  let linkTarget = '';
  if (st.isSymbolicLink()) {
    const link = fs.readlinkSync(at);
    linkTarget = resolveInRoot('/', link.startsWith('/') ? link : `${path.posix.dirname(at)}/${link}`);
  }
  return { name, size: st.size, mode: goMode(st), mtime: st.mtime.toISOString(), linkTarget };
}

export function stat(p: string, container: string): PathStat {
  return statOf(locate(p, container), baseOf(p));
}

/** The tar of `p` on `out`; `ready` gets the stat before the first byte. */
export async function get(p: string, container: string, out: Writable, ready: (s: PathStat) => void): Promise<void> {
  const at = locate(p, container);
  const name = baseOf(p);
  ready(statOf(at, name));
  const pack = tar.pack();
  const piped = pipeTo(pack, out);
  try {
    await packTree(pack, at, name === '/' ? '.' : name);
    pack.finalize();
  } catch (e) {
    pack.destroy(e as Error);
    throw e;
  }
  await piped;
}

/**
 * `docker export`: the whole root (the helper is chrooted into the
 * container's own rootfs, without its mounts). Headers come from the
 * storage layer's tar writer, whose PAX records carry raw bytes: a binary
 * xattr (security.capability) survives, where tar-stream would re-encode it
 * as UTF-8.
 */
export async function exportRoot(out: Writable, xattrs: (p: string) => Array<[string, Buffer]>): Promise<void> {
  const send = (b: Buffer): Promise<void> | undefined => {
    if (out.write(b)) return undefined;
    return new Promise<void>((resolve, reject) => {
      const onDrain = () => { out.off('error', onError); resolve(); };
      const onError = (e: Error) => { out.off('drain', onDrain); reject(e); };
      out.once('drain', onDrain);
      out.once('error', onError);
    });
  };
  const seen = new Map<string, string>(); // dev:ino → first name, for hardlinks
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await fsp.readdir(dir).catch(() => [] as string[])).sort();
    for (const n of names) {
      const full = path.posix.join(dir, n);
      const relName = rel ? `${rel}/${n}` : n;
      const st = await fsp.lstat(full).catch(() => undefined);
      if (!st) continue; // removed meanwhile
      const kept = new Map<string, Buffer>();
      for (const [k, v] of safeXattrs(xattrs, full)) if (!k.startsWith('trusted.overlay.')) kept.set(k, v);
      const base: TarEntry = { name: relName, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: st.mtime, ...(kept.size ? { xattrs: kept } : {}) };
      if (st.isDirectory()) {
        await send(encodeHeader({ ...base, type: 'directory' }));
        await walk(full, relName);
      } else if (st.isSymbolicLink()) {
        const link = await fsp.readlink(full).catch(() => undefined);
        if (link !== undefined) await send(encodeHeader({ ...base, type: 'symlink', linkname: link }));
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && seen.has(key)) {
          await send(encodeHeader({ ...base, type: 'link', linkname: seen.get(key)! }));
        } else if (await sendFile(send, full, base)) {
          if (st.nlink > 1) seen.set(key, relName);
        }
      } else if (st.isFIFO()) {
        await send(encodeHeader({ ...base, type: 'fifo' }));
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        await send(encodeHeader({
          ...base,
          type: st.isCharacterDevice() ? 'character-device' : 'block-device',
          devmajor: Math.floor(st.rdev / 256) & 0xfff,
          devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
        }));
      } // sockets are skipped, as tar does
    }
  };
  await walk('/', '');
  await send(END_OF_ARCHIVE);
}

/** One regular file of an export (see openRegular and fileChunks). */
async function sendFile(send: (b: Buffer) => Promise<void> | undefined, at: string, base: TarEntry): Promise<boolean> {
  const f = openRegular(at);
  if (!f) return false;
  try {
    const size = f.st.size;
    await send(encodeHeader({ ...base, mode: f.st.mode & 0o7777, uid: f.st.uid, gid: f.st.gid, type: 'file', size }));
    for (const chunk of fileChunks(f.fd, size)) await send(chunk);
    await send(padding(size));
    return true;
  } finally {
    fs.closeSync(f.fd);
  }
}

function safeXattrs(read: (p: string) => Array<[string, Buffer]>, p: string): Array<[string, Buffer]> {
  try {
    return read(p);
  } catch {
    return [];
  }
}

export interface PutOptions {
  path: string;
  container: string;
  noOverwriteDirNonDir: boolean;
  copyUIDGID: boolean;
  readonlyRootfs: boolean;
  /** The container's mount points, for Docker's read-only checks. */
  mounts: Array<{ destination: string; rw: boolean }>;
}

/** Extracts the tar on `src` into the directory `o.path`. */
export async function put(o: PutOptions, src: Readable): Promise<void> {
  const at = locate(o.path, o.container);
  if (!fs.statSync(at).isDirectory()) throw new OpError(400, 'extraction point is not a directory');
  // Docker: the fully resolved path decides whether this lands in a volume.
  const dest = fs.realpathSync(at);
  const mount = o.mounts
    .filter((m) => dest === m.destination || dest.startsWith(m.destination.replace(/\/$/, '') + '/'))
    .sort((a, b) => b.destination.length - a.destination.length)[0];
  if (mount && !mount.rw) throw new OpError(400, 'mounted volume is marked read-only');
  if (!mount && o.readonlyRootfs) throw new OpError(409, 'container rootfs is marked read-only');
  await extractInto(dest, src, o);
}

/** Writes `pack` to `out` (left open: it is the helper's stdout, whose pipe writes are synchronous). */
function pipeTo(pack: tar.Pack, out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.on('error', reject);
    out.on('error', reject);
    pack.on('end', () => resolve());
    // Chunk by chunk: a streamx pipe would end the helper's stdout.
    pack.on('data', (b) => {
      if (!out.write(b as Buffer)) {
        pack.pause();
        out.once('drain', () => pack.resume());
      }
    });
  });
}

async function packTree(pack: tar.Pack, at: string, name: string): Promise<void> {
  const st = await fsp.lstat(at).catch(() => undefined);
  if (!st) return; // removed while we walked: as if it had not been there
  const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
  if (st.isSymbolicLink()) {
    const link = await fsp.readlink(at).catch(() => undefined);
    if (link !== undefined) await entry(pack, { ...base, type: 'symlink', linkname: link });
  } else if (st.isDirectory()) {
    await entry(pack, { ...base, name: name.endsWith('/') ? name : `${name}/`, type: 'directory' });
    const names = (await fsp.readdir(at).catch(() => [] as string[])).sort();
    for (const e of names) await packTree(pack, path.posix.join(at, e), name === '.' ? `./${e}` : `${name.replace(/\/$/, '')}/${e}`);
  } else if (st.isFile()) {
    await packFile(pack, at, base);
  } else if (st.isFIFO()) {
    await entry(pack, { ...base, type: 'fifo' });
  } // devices and sockets are skipped
}

/**
 * One regular file. Opened without following a link and without blocking, and
 * checked on the descriptor: a file swapped for a device or a fifo after the
 * walk saw it is skipped, never read. Exactly the size seen at open goes into
 * the tar (a file that shrinks is padded with zeros, one that grows is cut), so
 * a changing file never breaks the archive.
 */
async function packFile(pack: tar.Pack, at: string, base: Partial<tar.Header> & { name: string }): Promise<boolean> {
  const f = openRegular(at);
  if (!f) return false;
  try {
    const { st, fd } = f;
    const size = st.size;
    await new Promise<void>((resolve, reject) => {
      const w = pack.entry({ ...base, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, type: 'file', size }, (err) => (err ? reject(err) : resolve()));
      w.on('error', reject);
      void (async () => {
        for (const chunk of fileChunks(fd, size)) {
          if (!w.write(chunk)) await new Promise<void>((r) => w.once('drain', () => r()));
        }
        (w as unknown as { end(): void }).end();
      })().catch(reject);
    });
    return true;
  } finally {
    fs.closeSync(f.fd);
  }
}

/**
 * A regular file opened by descriptor for packing, or undefined when it is
 * gone or was swapped for a link, fifo or device meanwhile (never read).
 */
function openRegular(at: string): { fd: number; st: fs.Stats } | undefined {
  const c = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(at, c.O_RDONLY | c.O_NOFOLLOW | c.O_NONBLOCK | c.O_NOCTTY);
  } catch {
    return undefined;
  }
  let st: fs.Stats | undefined;
  try {
    st = fs.fstatSync(fd);
  } finally {
    if (!st?.isFile()) fs.closeSync(fd);
  }
  return st.isFile() ? { fd, st } : undefined;
}

/**
 * The file's first `size` bytes (its size at open), chunk by chunk: a file
 * that shrank meanwhile is padded with zeros and one that grew is cut, so
 * the tar header's size stays true.
 */
function* fileChunks(fd: number, size: number): Generator<Buffer> {
  const buf = Buffer.alloc(Math.min(Math.max(size, 1), 1 << 20));
  let done = 0;
  while (done < size) {
    const want = Math.min(buf.length, size - done);
    let n = fs.readSync(fd, buf, 0, want, done);
    if (n === 0) {
      buf.fill(0, 0, want); // shrank: pad
      n = want;
    }
    done += n;
    yield Buffer.from(buf.subarray(0, n));
  }
}

function entry(pack: tar.Pack, h: Partial<tar.Header> & { name: string }): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(h as tar.Header, (err) => (err ? reject(err) : resolve())));
}

/** A filesystem error from client input (bad links, names) is a 400 naming container paths only. */
export function opError(e: unknown): OpError {
  if (e instanceof OpError) return e;
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  const client = ['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENAMETOOLONG', 'EINVAL', 'ENOTEMPTY', 'EXDEV', 'EPERM'].includes(code);
  return new OpError(client ? 400 : 500, (e as Error)?.message ?? String(e));
}

/** Extracts with every name kept under `dest` (links inside the archive are resolved inside the root). */
async function extractInto(dest: string, src: Readable, o: PutOptions): Promise<void> {
  const ex = tar.extract();
  const dirTimes: Array<[string, Date]> = [];
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      src.unpipe(ex);
      ex.destroy();
      reject(opError(e));
    };
    ex.on('entry', (h, stream, next) => {
      void (async () => {
        const rel = path.posix.normalize(h.name).replace(/^(\.\/)+|^\/+/, '').replace(/\/$/, '');
        if (rel === '' || rel === '.') {
          stream.resume();
          return next();
        }
        if (rel.split('/').includes('..')) throw new OpError(400, `invalid archive entry: ${h.name}`);
        // Parents resolved inside the container; the entry itself is not followed.
        const parent = resolveInRoot('/', path.posix.join(dest, path.posix.dirname(rel)));
        const target = path.posix.join(parent, path.posix.basename(rel));
        await fsp.mkdir(parent, { recursive: true });
        const existing = await fsp.lstat(target).catch(() => undefined);
        const isDir = h.type === 'directory';
        if (existing && o.noOverwriteDirNonDir) {
          if (existing.isDirectory() && !isDir) throw new OpError(400, `cannot overwrite directory "${target}" with non-directory "${h.name}"`);
          if (!existing.isDirectory() && isDir) throw new OpError(400, `cannot overwrite non-directory "${target}" with directory "${h.name}"`);
        }
        if (existing && !(existing.isDirectory() && isDir)) await fsp.rm(target, { recursive: true, force: true });
        const mode = (h.mode ?? (isDir ? 0o755 : 0o644)) & 0o7777;
        switch (h.type) {
          case 'directory':
            if (!existing || !existing.isDirectory()) await fsp.mkdir(target, { mode });
            else await fsp.chmod(target, mode);
            break;
          case 'file':
          case 'contiguous-file':
            await new Promise<void>((res, rej) => {
              // O_EXCL: never through a link or onto a node planted since the rm.
              const w = fs.createWriteStream(target, { mode, flags: 'wx' });
              w.on('error', rej);
              w.on('finish', () => res());
              stream.on('error', rej);
              stream.pipe(w);
            });
            await fsp.chmod(target, mode);
            break;
          case 'symlink':
            await fsp.symlink(h.linkname ?? '', target);
            break;
          case 'link': {
            const linkRel = path.posix.normalize(h.linkname ?? '').replace(/^(\.\/)+|^\/+/, '');
            if (linkRel.split('/').includes('..')) throw new OpError(400, `invalid hardlink: ${h.linkname}`);
            const from = resolveInRoot('/', path.posix.join(dest, linkRel));
            try {
              await fsp.link(from, target);
            } catch (e) {
              const code = (e as NodeJS.ErrnoException).code;
              if (code === 'ENOENT') throw new OpError(400, `hardlink target not found: "${h.name}" -> "${h.linkname}"`);
              throw e;
            }
            break;
          }
          default:
            break; // devices and fifos from a client are not created
        }
        stream.resume();
        const uid = o.copyUIDGID ? h.uid ?? 0 : 0;
        const gid = o.copyUIDGID ? h.gid ?? 0 : 0;
        await fsp.lchown(target, uid, gid).catch(() => {});
        if (h.mtime && h.type !== 'symlink') {
          if (isDir) dirTimes.push([target, h.mtime]);
          else await fsp.utimes(target, h.mtime, h.mtime).catch(() => {});
        }
        next();
      })().catch(fail);
    });
    ex.on('finish', () => { if (!failed) resolve(); });
    ex.on('error', fail);
    src.on('error', fail);
    src.pipe(ex);
  });
  for (const [p, t] of dirTimes.reverse()) await fsp.utimes(p, t, t).catch(() => {});
}
