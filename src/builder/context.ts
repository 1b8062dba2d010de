// The build context: the request body (a tar, maybe gzip-compressed) is
// unpacked into a private temp directory. Nothing in it can reach outside:
// entry names are confined to the root, links may not be written through,
// and every later lookup (COPY sources, the Dockerfile) resolves `..` and
// symlinks *inside* the root as Docker's scoped path resolution does.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { InvalidParameter } from '../util/errors';
import { peek, replay } from '../util/peek';
import { IgnoreMatcher, globMatch, hasGlob } from '../common/dockerignore';
import { goTarEnding } from './tar-ending';

/** A context entry held in memory; `mode` is the whole st_mode, type bits included, as lstat would give it. */
type MemNode = { kind: 'dir'; mode: number } | { kind: 'file'; mode: number; data: Buffer } | { kind: 'symlink'; mode: number; target: string };
type Kind = 'dir' | 'file' | 'symlink' | 'other';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/**
 * Contexts up to this many bytes (file data plus 512 per entry) are kept
 * in memory and written to disk only when a step needs them there (a COPY
 * or ADD from the context that misses the cache). A cached build then
 * touches no disk for its context: unpacking it (one file write and chmod
 * per entry) and removing it were ~4 ms of a ~10 ms cached build.
 * BERTH_BUILD_CONTEXT_MEMORY=0 writes every context to disk first.
 */
function memoryLimit(): number {
  const v = process.env.BERTH_BUILD_CONTEXT_MEMORY;
  if (v === undefined || v === '') return 8 << 20;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : 8 << 20;
}

let umaskCache: number | undefined;
/** The daemon's umask (from /proc: process.umask() with no argument is deprecated). */
function umask(): number {
  if (umaskCache === undefined) {
    const m = /^Umask:\s*([0-7]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    umaskCache = m ? parseInt(m[1], 8) : 0o022;
  }
  return umaskCache;
}

export class BuildContext {
  private sums = new Map<string, string>();
  /** The context in memory (context-relative path → entry, parents first); undefined once on disk. */
  private mem: Map<string, MemNode> | undefined;
  /** Names in each in-memory directory. */
  private kids = new Map<string, Set<string>>();
  private memBytes = 0;
  private memLimit = 0;

  constructor(readonly root: string) {}

  /** Unpack a context tar stream into `dir` (must not exist; made when the context goes to disk). */
  static async fromTar(body: Readable, dir: string, limit = memoryLimit()): Promise<BuildContext> {
    const ctx = new BuildContext(dir);
    if (limit > 0) {
      ctx.memLimit = limit;
      ctx.mem = new Map([['', { kind: 'dir', mode: S_IFDIR | (0o700 & ~umask()) }]]);
      ctx.kids.set('', new Set());
    } else fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const input = await decompressed(body);
    const ex = tar.extract();
    ex.on('entry', (header, stream, next) => {
      ctx.addEntry(header, stream as unknown as Readable).then(() => next(), (e) => next(e));
    });
    try {
      await pipeline(input, goTarEnding(), ex);
    } catch (e) {
      const msg = (e as Error).message;
      throw new InvalidParameter(`failed to read build context: ${/header|tar|Unexpected end/i.test(msg) ? 'archive/tar: invalid tar header' : msg}`);
    }
    return ctx;
  }

  /** Empty context (for a Dockerfile-only build). */
  static empty(dir: string): BuildContext {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new BuildContext(dir);
  }

  /** True while the context is held in memory only. */
  get inMemory(): boolean {
    return this.mem !== undefined;
  }

  /**
   * One tar entry: kept in memory when it is a plain new file, directory or
   * symlink within the limit; anything else (a hard link, a replaced path,
   * a big file, a path through a non-directory) first writes the context
   * to disk and is then unpacked there as it always was.
   */
  private async addEntry(h: tar.Header, stream: Readable): Promise<void> {
    const mem = this.mem;
    if (!mem) return this.writeEntry(h, stream);
    const rel = cleanRel(h.name);
    if (rel === '') {
      stream.resume();
      return;
    }
    const isFile = h.type === 'file' || h.type === 'contiguous-file';
    const size = isFile ? h.size ?? Infinity : 0;
    const old = mem.get(rel);
    const plain = (isFile || h.type === 'directory' || h.type === 'symlink') && size <= SMALL_FILE && (!old || (old.kind === 'dir' && h.type === 'directory'));
    const parents = rel.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'));
    if (!plain || this.memBytes + size + 512 > this.memLimit || parents.some((p) => mem.has(p) && mem.get(p)!.kind !== 'dir')) {
      this.materialize();
      return this.writeEntry(h, stream);
    }
    this.memBytes += size + 512;
    for (const p of parents) if (!mem.has(p)) this.memAdd(p, { kind: 'dir', mode: S_IFDIR | (0o755 & ~umask()) });
    const mode = (h.mode ?? 0o644) & 0o7777;
    if (h.type === 'directory') {
      stream.resume();
      if (old) old.mode = S_IFDIR | mode;
      else this.memAdd(rel, { kind: 'dir', mode: S_IFDIR | mode });
    } else if (h.type === 'symlink') {
      stream.resume();
      this.memAdd(rel, { kind: 'symlink', mode: S_IFLNK | 0o777, target: h.linkname ?? '' });
    } else {
      this.memAdd(rel, { kind: 'file', mode: S_IFREG | mode, data: await gather(stream) });
    }
  }

  private memAdd(rel: string, n: MemNode): void {
    this.mem!.set(rel, n);
    if (n.kind === 'dir') this.kids.set(rel, new Set());
    const i = rel.lastIndexOf('/');
    this.kids.get(i < 0 ? '' : rel.slice(0, i))!.add(i < 0 ? rel : rel.slice(i + 1));
  }

  /** Write an in-memory context to its directory (a no-op once there). */
  materialize(): void {
    const mem = this.mem;
    if (!mem) return;
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    for (const [rel, n] of mem) {
      if (rel === '') continue;
      const abs = path.join(this.root, rel);
      if (n.kind === 'dir') {
        fs.mkdirSync(abs, { mode: n.mode & 0o7777 });
        fs.chmodSync(abs, n.mode & 0o7777);
      } else if (n.kind === 'file') {
        fs.writeFileSync(abs, n.data, { mode: n.mode & 0o7777 });
        fs.chmodSync(abs, n.mode & 0o7777);
      } else fs.symlinkSync(n.target, abs);
    }
    this.mem = undefined;
    this.kids.clear();
  }

  private async writeEntry(h: tar.Header, stream: Readable): Promise<void> {
    const rel = cleanRel(h.name);
    if (rel === '') {
      stream.resume();
      return;
    }
    const target = path.join(this.root, rel);
    this.ensureParents(rel);
    const mode = (h.mode ?? 0o644) & 0o7777;
    try {
      fs.rmSync(target, { recursive: false, force: true });
    } catch { /* a directory that already exists stays */ }
    switch (h.type) {
      case 'directory':
        fs.mkdirSync(target, { recursive: true, mode });
        fs.chmodSync(target, mode);
        stream.resume();
        return;
      case 'file':
      case 'contiguous-file':
        // Small files (most of a context) are gathered and written in one
        // synchronous call: a write stream costs several thread-pool round
        // trips per file, ~5 ms each on a busy machine, and the next entry
        // waits for them.
        if ((h.size ?? Infinity) <= SMALL_FILE) fs.writeFileSync(target, await gather(stream), { mode });
        else await pipeline(stream, fs.createWriteStream(target, { mode }));
        fs.chmodSync(target, mode);
        return;
      case 'symlink':
        fs.symlinkSync(h.linkname ?? '', target);
        stream.resume();
        return;
      case 'link': {
        const src = path.join(this.root, cleanRel(h.linkname ?? ''));
        this.assertNoLinkParents(cleanRel(h.linkname ?? ''));
        fs.linkSync(src, target);
        stream.resume();
        return;
      }
      default:
        stream.resume(); // devices, fifos: not meaningful in a context
    }
  }

  /** Make the parent directories of rel, refusing to go through a symlink. */
  private ensureParents(rel: string): void {
    const parts = rel.split('/').slice(0, -1);
    let cur = this.root;
    for (const p of parts) {
      cur = path.join(cur, p);
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(cur);
      } catch {
        fs.mkdirSync(cur, { mode: 0o755 });
        continue;
      }
      if (!st.isDirectory()) throw new InvalidParameter(`failed to read build context: path ${rel} goes through a non-directory`);
    }
  }

  private assertNoLinkParents(rel: string): void {
    const parts = rel.split('/');
    let cur = this.root;
    for (const p of parts) {
      cur = path.join(cur, p);
      if (fs.lstatSync(cur).isSymbolicLink()) throw new InvalidParameter(`failed to read build context: invalid hardlink ${rel}`);
    }
  }

  // The lookups below work on both forms through these four.

  /** What lstat says of a context path (relative, already resolved), or undefined when missing. */
  private kindOf(rel: string): { kind: Kind; mode: number } | undefined {
    if (this.mem) return this.mem.get(rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path.join(this.root, rel));
    } catch {
      return undefined;
    }
    const kind: Kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
    return { kind, mode: st.mode };
  }

  /** Names in a context directory (unsorted); throws when it is none. */
  private names(rel: string): string[] {
    if (!this.mem) return fs.readdirSync(path.join(this.root, rel));
    const k = this.kids.get(rel);
    if (!k) throw new Error(`not a directory: ${rel}`);
    return [...k];
  }

  private linkTarget(rel: string): string {
    const n = this.mem?.get(rel);
    return n ? (n.kind === 'symlink' ? n.target : '') : fs.readlinkSync(path.join(this.root, rel));
  }

  private drop(rel: string): void {
    const mem = this.mem;
    if (!mem) {
      fs.rmSync(path.join(this.root, rel), { recursive: true, force: true });
      return;
    }
    if (!mem.has(rel)) return;
    for (const k of mem.keys()) if (k === rel || k.startsWith(`${rel}/`)) mem.delete(k);
    for (const k of [...this.kids.keys()]) if (k === rel || k.startsWith(`${rel}/`)) this.kids.delete(k);
    const i = rel.lastIndexOf('/');
    this.kids.get(i < 0 ? '' : rel.slice(0, i))?.delete(i < 0 ? rel : rel.slice(i + 1));
  }

  /** A regular file's bytes (rel already resolved). */
  private bytes(rel: string): Buffer {
    const n = this.mem?.get(rel);
    if (this.mem) {
      if (n?.kind !== 'file') throw new Error(`not a file: ${rel}`);
      return n.data;
    }
    return fs.readFileSync(path.join(this.root, rel));
  }

  /** Drop what .dockerignore excludes (the client normally did already). Returns the matcher. */
  applyDockerignore(keep: string[]): IgnoreMatcher | undefined {
    if (this.kindOf('.dockerignore')?.kind !== 'file') return undefined;
    const m = IgnoreMatcher.parse(this.bytes('.dockerignore').toString('utf8'));
    const keepSet = new Set(keep.map((k) => cleanRel(k)));
    const walk = (relDir: string): boolean => {
      // Returns true when something is left in the directory.
      let left = false;
      for (const name of this.names(relDir)) {
        const rel = relDir ? `${relDir}/${name}` : name;
        const isDir = this.kindOf(rel)?.kind === 'dir';
        if (keepSet.has(rel)) {
          left = true;
          continue;
        }
        const ignored = m.matches(rel);
        if (isDir) {
          if (!ignored) {
            walk(rel);
            left = true;
          } else if (m.hasExclusions && walk(rel)) left = true;
          else this.drop(rel);
        } else if (ignored) this.drop(rel);
        else left = true;
      }
      return left;
    };
    walk('');
    return m;
  }

  /** Removes one context path (not following a final symlink); a missing one is fine. */
  removePath(p: string): void {
    const rel = this.resolveRel(p, false);
    if (rel === '') return;
    if (!this.mem) {
      fs.rmSync(path.join(this.root, rel), { force: true });
      return;
    }
    if (this.kindOf(rel)?.kind !== 'dir') this.drop(rel);
  }

  /** The bytes of a context file (the Dockerfile), symlinks followed inside the root. */
  readFile(p: string): Buffer {
    return this.bytes(this.resolveRel(p));
  }

  /**
   * Absolute host path of a context path, `..` and symlinks resolved inside
   * the root (Docker's FollowSymlinkInScope). The result may not exist, and
   * while the context is in memory it does not exist yet (materialize()).
   */
  resolve(p: string, followFinal = true): string {
    return path.join(this.root, this.resolveRel(p, followFinal));
  }

  private resolveRel(p: string, followFinal = true): string {
    return scopedParts(p, followFinal, (parts) => {
      const rel = parts.join('/');
      return this.kindOf(rel)?.kind === 'symlink' ? this.linkTarget(rel) : undefined;
    }).join('/');
  }

  /** Whether a context path (symlinks followed) is a directory. */
  isDir(p: string): boolean {
    return this.kindOf(this.resolveRel(p))?.kind === 'dir';
  }

  /** Expand a COPY/ADD source (may be a glob) into context-relative matches. */
  sources(src: string): string[] {
    const rel = cleanRel(src);
    if (!hasGlob(rel)) return this.kindOf(this.resolveRel(rel)) ? [rel] : [];
    const out: string[] = [];
    const walk = (relDir: string) => {
      let names: string[];
      try {
        names = this.names(relDir);
      } catch {
        return;
      }
      for (const name of names.sort()) {
        const r = relDir ? `${relDir}/${name}` : name;
        if (globMatch(rel, r)) {
          out.push(r);
          continue;
        }
        if (this.kindOf(r)?.kind === 'dir') walk(r);
      }
    };
    walk('');
    return out;
  }

  /** Content checksum of a path (file or tree): names, types, modes, contents, link targets; no mtimes. */
  checksum(p: string): string {
    const rel = this.resolveRel(p);
    const cached = this.sums.get(rel);
    if (cached) return cached;
    const h = createHash('sha256');
    const visit = (r: string, name: string) => {
      const st = this.kindOf(r);
      // (a glob that matched a dangling symlink; the message is fs.statSync's)
      if (!st) throw Object.assign(new Error(`ENOENT: no such file or directory, stat '${path.join(this.root, r)}'`), { code: 'ENOENT' });
      h.update(`${name}\0${st.mode}\0`);
      if (st.kind === 'symlink') h.update(`L${this.linkTarget(r)}\0`);
      else if (st.kind === 'file') h.update(`F${this.mem ? sha256(this.bytes(r)) : fileSha(path.join(this.root, r))}\0`);
      else if (st.kind === 'dir') {
        for (const n of this.names(r).sort()) visit(r ? `${r}/${n}` : n, `${name}/${n}`);
      }
    };
    visit(rel, '.');
    const sum = h.digest('hex');
    this.sums.set(rel, sum);
    return sum;
  }

  remove(): void {
    const inMemory = this.mem !== undefined;
    this.mem = undefined;
    this.kids.clear();
    // Never written: nothing to remove (rmSync of a missing path still
    // costs a failed lstat and its error object, ~0.2 ms).
    if (!inMemory) fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Entries up to this size are written with one synchronous call. */
const SMALL_FILE = 1 << 20;

async function gather(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function fileSha(p: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(p, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** A tar entry or user path made relative and clean: no leading `/`, no `..` above the root. */
export function cleanRel(name: string): string {
  const n = path.posix.normalize('/' + name.replace(/\\/g, '/'));
  return n.replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * The parts of p resolved under a root, following symlinks without ever
 * leaving it; `link(parts)` gives a symlink's target, or undefined for
 * anything else (missing names are kept as they are).
 */
function scopedParts(p: string, followFinal: boolean, link: (parts: string[]) => string | undefined): string[] {
  const todo = cleanRel(p).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const target = todo.length > 0 || followFinal ? link([...done, part]) : undefined;
    if (target !== undefined) {
      if (++links > 255) throw new InvalidParameter(`too many links in ${p}`);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    done.push(part);
  }
  return done;
}

/** Resolve p under root following symlinks without ever leaving root. */
export function scopedResolve(root: string, p: string, followFinal = true): string {
  return path.join(root, ...scopedParts(p, followFinal, (parts) => {
    const candidate = path.join(root, ...parts);
    try {
      return fs.lstatSync(candidate).isSymbolicLink() ? fs.readlinkSync(candidate) : undefined;
    } catch {
      return undefined; // missing: keep the name
    }
  }));
}

/** Gzip is detected by its magic and inflated; bzip2/xz are refused with a clear error. */
async function decompressed(body: Readable): Promise<Readable> {
  const peeked = await peek(body, 6);
  const head = peeked.head;
  const rest = replay(peeked);
  if (head[0] === 0x1f && head[1] === 0x8b) {
    // A client that aborts mid-upload fails the inflate, not the daemon.
    const gunzip = zlib.createGunzip();
    rest.on('error', (e) => gunzip.destroy(e));
    return rest.pipe(gunzip);
  }
  if (head.subarray(0, 3).toString() === 'BZh' || head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    throw new InvalidParameter('failed to read build context: bzip2 and xz compressed contexts are not supported; use gzip');
  }
  return rest;
}
