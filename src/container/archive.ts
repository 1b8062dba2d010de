// `docker cp` through the archive API (HEAD/GET/PUT /containers/{id}/archive),
// with Docker's semantics: GET answers a tar of the resource named after the
// path's last element ("." for `dir/.`), the stat of the path in the
// X-Docker-Container-Path-Stat header; PUT extracts a tar into an existing
// directory. Every path is resolved inside the container's rootfs: symlinks
// are followed as the container would see them and never lead to the host.
// A stopped container's filesystem is mounted for the operation only.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { ContainerService } from './service';
import type { ContainerRecord } from './types';
import { InvalidParameter, NotFound, Conflict } from '../util/errors';
import { resolveInRoot } from '../host/rootfs';

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

export class ArchiveService {
  constructor(private readonly containers: ContainerService) {}

  /** Runs `fn` with the container's rootfs mounted (mounting a stopped one for the call). */
  private async withRoot<T>(ref: string, fn: (root: string, c: ContainerRecord) => Promise<T>): Promise<T> {
    const c = this.containers.get(ref);
    if (c.state.Status === 'removing') throw new Conflict(`Container ${c.id} is marked for removal`);
    const storage = this.containers.deps.storage;
    return this.containers.withLock(c.id, async () => {
      const running = this.containers.get(c.id).state.Running;
      const root = await storage.mount(c.id);
      try {
        return await fn(root, c);
      } finally {
        if (!this.containers.get(c.id).state.Running && !running) await storage.unmount(c.id).catch(() => {});
      }
    });
  }

  /** Host path of `p` in the container: parents resolved (links followed inside root), last element not followed. */
  private locate(root: string, c: ContainerRecord, p: string): { host: string; abs: string } {
    if (!p) throw new InvalidParameter('Path cannot be empty');
    const abs = path.posix.join('/', p);
    const trailing = /\/\.?$/.test(p);
    const parent = resolveInRoot(root, path.posix.dirname(abs));
    const host = abs === '/' ? root : trailing ? resolveInRoot(root, abs) : path.join(parent, path.posix.basename(abs));
    if (!host.startsWith(root)) throw new InvalidParameter(`invalid path ${p}`);
    try {
      fs.lstatSync(host);
    } catch {
      throw new NotFound(`Could not find the file ${p} in container ${c.name}`);
    }
    if (trailing && !fs.statSync(host).isDirectory()) throw new InvalidParameter(`not a directory: ${p}`);
    return { host, abs };
  }

  private statOf(root: string, host: string, name: string): PathStat {
    const st = fs.lstatSync(host);
    let linkTarget = '';
    if (st.isSymbolicLink()) {
      const link = fs.readlinkSync(host);
      const dir = path.relative(root, path.dirname(host));
      const target = resolveInRoot(root, link.startsWith('/') ? link : `${dir}/${link}`);
      linkTarget = '/' + path.relative(root, target);
    }
    return { name, size: st.size, mode: goMode(st), mtime: st.mtime.toISOString(), linkTarget };
  }

  async stat(ref: string, p: string): Promise<PathStat> {
    return this.withRoot(ref, async (root, c) => {
      const { host } = this.locate(root, c, p);
      return this.statOf(root, host, baseOf(p));
    });
  }

  /** The tar of `p` and its stat. The stream is produced while the rootfs is held. */
  async get(ref: string, p: string): Promise<{ stat: PathStat; tar: Readable; done: Promise<void> }> {
    let resolveReady!: (v: { stat: PathStat; tar: Readable; done: Promise<void> }) => void;
    let rejectReady!: (e: unknown) => void;
    const ready = new Promise<{ stat: PathStat; tar: Readable; done: Promise<void> }>((res, rej) => { resolveReady = res; rejectReady = rej; });
    const done = this.withRoot(ref, async (root, c) => {
      const { host } = this.locate(root, c, p);
      const name = baseOf(p);
      const stat = this.statOf(root, host, name);
      const pack = tar.pack();
      const out = new PassThrough();
      pack.pipe(out);
      resolveReady({ stat, tar: out, done });
      // The client may leave early: then stop packing and let go of the rootfs.
      const gone = new Promise<void>((r) => { out.once('end', r); out.once('close', r); out.once('error', () => r()); });
      const packing = packTree(pack, host, name === '/' ? '.' : name).then(() => pack.finalize(), (e) => pack.destroy(e as Error));
      await Promise.race([packing, gone]);
      await gone;
      pack.destroy();
    }).catch((e) => { rejectReady(e); throw e; });
    done.catch(() => {});
    return ready;
  }

  /** Extracts `tarStream` into the directory `p`. */
  async put(ref: string, p: string, tarStream: Readable, o: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    await this.withRoot(ref, async (root, c) => {
      if (c.hostConfig.ReadonlyRootfs) throw new Conflict('container rootfs is marked read-only');
      const { host } = this.locate(root, c, p);
      const dest = fs.statSync(host).isDirectory() ? (fs.lstatSync(host).isSymbolicLink() ? resolveInRoot(root, path.relative(root, host)) : host) : undefined;
      if (!dest) throw new InvalidParameter('extraction point is not a directory');
      await extractInto(root, dest, tarStream, o);
    });
    this.containers.publish(this.containers.get(ref), 'extract-to-dir');
  }
}

async function packTree(pack: tar.Pack, host: string, name: string): Promise<void> {
  const st = await fsp.lstat(host);
  const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
  if (st.isSymbolicLink()) {
    await entry(pack, { ...base, type: 'symlink', linkname: await fsp.readlink(host) });
  } else if (st.isDirectory()) {
    await entry(pack, { ...base, name: name.endsWith('/') ? name : `${name}/`, type: 'directory' });
    for (const e of (await fsp.readdir(host)).sort()) await packTree(pack, path.join(host, e), name === '.' ? `./${e}` : `${name.replace(/\/$/, '')}/${e}`);
  } else if (st.isFile()) {
    await new Promise<void>((resolve, reject) => {
      const w = pack.entry({ ...base, type: 'file', size: st.size }, (err) => (err ? reject(err) : resolve()));
      const r = fs.createReadStream(host);
      r.on('error', reject);
      r.pipe(w);
    });
  } else if (st.isFIFO()) {
    await entry(pack, { ...base, type: 'fifo' });
  } // devices and sockets are skipped
}

function entry(pack: tar.Pack, h: Partial<tar.Header> & { name: string }): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(h as tar.Header, (err) => (err ? reject(err) : resolve())));
}

/** Extracts with every name and link kept inside `root`. */
async function extractInto(root: string, dest: string, src: Readable, o: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
  const ex = tar.extract();
  const destRel = path.relative(root, dest);
  const dirTimes: Array<[string, Date]> = [];
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      ex.destroy();
      src.destroy?.();
      reject(e);
    };
    ex.on('entry', (h, stream, next) => {
      void (async () => {
        const rel = path.posix.normalize(h.name).replace(/^(\.\/)+|^\/+/, '').replace(/\/$/, '');
        if (rel === '' || rel === '.') {
          stream.resume();
          return next();
        }
        if (rel.split('/').includes('..')) throw new InvalidParameter(`invalid archive entry: ${h.name}`);
        // Parents resolved inside the container; the entry itself is not followed.
        const parent = resolveInRoot(root, path.posix.join(destRel, path.posix.dirname(rel)));
        const target = path.join(parent, path.posix.basename(rel));
        if (!target.startsWith(root + path.sep)) throw new InvalidParameter(`invalid archive entry: ${h.name}`);
        await fsp.mkdir(parent, { recursive: true });
        const existing = await fsp.lstat(target).catch(() => undefined);
        const isDir = h.type === 'directory';
        if (existing && o.noOverwriteDirNonDir) {
          if (existing.isDirectory() && !isDir) throw new InvalidParameter(`cannot overwrite directory "${'/' + path.relative(root, target)}" with non-directory "${h.name}"`);
          if (!existing.isDirectory() && isDir) throw new InvalidParameter(`cannot overwrite non-directory "${'/' + path.relative(root, target)}" with directory "${h.name}"`);
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
            const from = resolveInRoot(root, path.posix.join(destRel, linkRel));
            if (!from.startsWith(root + path.sep)) throw new InvalidParameter(`invalid hardlink: ${h.linkname}`);
            await fsp.link(from, target);
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
