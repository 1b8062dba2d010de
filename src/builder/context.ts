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

export class BuildContext {
  private sums = new Map<string, string>();
  constructor(readonly root: string) {}

  /** Unpack a context tar stream into `dir` (created, must not exist). */
  static async fromTar(body: Readable, dir: string): Promise<BuildContext> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ctx = new BuildContext(dir);
    const input = await decompressed(body);
    const ex = tar.extract();
    ex.on('entry', (header, stream, next) => {
      ctx.writeEntry(header, stream as unknown as Readable).then(() => next(), (e) => next(e));
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

  /** Drop what .dockerignore excludes (the client normally did already). Returns the matcher. */
  applyDockerignore(keep: string[]): IgnoreMatcher | undefined {
    const f = path.join(this.root, '.dockerignore');
    let text: string;
    try {
      if (!fs.lstatSync(f).isFile()) return undefined;
      text = fs.readFileSync(f, 'utf8');
    } catch {
      return undefined;
    }
    const m = IgnoreMatcher.parse(text);
    const keepSet = new Set(keep.map((k) => cleanRel(k)));
    const walk = (relDir: string): boolean => {
      // Returns true when something is left in the directory.
      let left = false;
      for (const name of fs.readdirSync(path.join(this.root, relDir))) {
        const rel = relDir ? `${relDir}/${name}` : name;
        const abs = path.join(this.root, rel);
        const st = fs.lstatSync(abs);
        if (keepSet.has(rel)) {
          left = true;
          continue;
        }
        const ignored = m.matches(rel);
        if (st.isDirectory()) {
          if (!ignored) {
            walk(rel);
            left = true;
          } else if (m.hasExclusions && walk(rel)) left = true;
          else fs.rmSync(abs, { recursive: true, force: true });
        } else if (ignored) fs.rmSync(abs, { force: true });
        else left = true;
      }
      return left;
    };
    walk('');
    return m;
  }

  /**
   * Absolute host path of a context path, `..` and symlinks resolved inside
   * the root (Docker's FollowSymlinkInScope). The result may not exist.
   */
  resolve(p: string, followFinal = true): string {
    return scopedResolve(this.root, p, followFinal);
  }

  /** Expand a COPY/ADD source (may be a glob) into context-relative matches. */
  sources(src: string): string[] {
    const rel = cleanRel(src);
    if (!hasGlob(rel)) {
      const abs = this.resolve(rel);
      return fs.existsSync(abs) ? [rel] : [];
    }
    const out: string[] = [];
    const walk = (relDir: string) => {
      let names: string[];
      try {
        names = fs.readdirSync(path.join(this.root, relDir));
      } catch {
        return;
      }
      for (const name of names.sort()) {
        const r = relDir ? `${relDir}/${name}` : name;
        if (globMatch(rel, r)) {
          out.push(r);
          continue;
        }
        if (fs.lstatSync(path.join(this.root, r)).isDirectory()) walk(r);
      }
    };
    walk('');
    return out;
  }

  /** Content checksum of a path (file or tree): names, types, modes, contents, link targets; no mtimes. */
  checksum(rel: string): string {
    const abs = this.resolve(rel);
    const cached = this.sums.get(abs);
    if (cached) return cached;
    const h = createHash('sha256');
    const visit = (p: string, name: string) => {
      const st = fs.lstatSync(p);
      h.update(`${name}\0${st.mode}\0`);
      if (st.isSymbolicLink()) h.update(`L${fs.readlinkSync(p)}\0`);
      else if (st.isFile()) h.update(`F${fileSha(p)}\0`);
      else if (st.isDirectory()) {
        for (const n of fs.readdirSync(p).sort()) visit(path.join(p, n), `${name}/${n}`);
      }
    };
    visit(abs, '.');
    const sum = h.digest('hex');
    this.sums.set(abs, sum);
    return sum;
  }

  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Entries up to this size are written with one synchronous call. */
const SMALL_FILE = 1 << 20;

async function gather(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
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

/** Resolve p under root following symlinks without ever leaving root. */
export function scopedResolve(root: string, p: string, followFinal = true): string {
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
    const candidate = path.join(root, ...done, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(candidate);
    } catch { /* missing: keep the name */ }
    if (st?.isSymbolicLink() && (todo.length > 0 || followFinal)) {
      if (++links > 255) throw new InvalidParameter(`too many links in ${p}`);
      const target = fs.readlinkSync(candidate);
      const parts = target.split('/').filter(Boolean);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...parts);
      continue;
    }
    done.push(part);
  }
  return path.join(root, ...done);
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
