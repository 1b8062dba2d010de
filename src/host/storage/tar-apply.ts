// Secure extraction of one layer tar into a layer directory.
//
// Every entry name is cleaned and must stay inside the layer root; parent
// directories are resolved component by component with symlinks followed
// *inside* the root (a symlink entry can never make a later entry land
// outside); hardlinks must point at an existing non-directory inside the
// layer; device nodes and FIFOs are made with mknod (a 0:0 character device
// means a whiteout to overlay, so it is taken as one). OCI whiteouts become
// overlay whiteouts: `.wh.<name>` → char device 0:0, `.wh..wh..opq` →
// trusted.overlay.opaque=y. Extended attributes are set per entry, on the
// entry's own file, right after it is made (never through a later path that
// a symlink entry could redirect).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import * as tar from 'tar-stream';
import { InvalidParameter } from '../../util/errors';
import { execHost, HostExecError } from '../exec';
import { log } from '../../util/log';
import { keepRawPax, rawXattrsOf } from './pax';
import { checkXattrName, checkXattrValue, setXattr } from './xattrs';
import type { SplitHandle, SplitRecorder } from './tar-split';
import { PoolCreateFailed, PoolCreates } from './pool-creates';
import { DiskView, TreeView, isEmptyDir, type Node, type PathView } from './extract-tree';
import { applyTarNative, nativeExtractor } from './native-extract';
import { TarStall, waitingForInput, watchStall } from './stall-watch';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';
const MAX_SYMLINKS = 40;
/** Files up to this size are written with one synchronous open (see the note on metadata calls). */
const SMALL_FILE = 1 << 20;

export interface ApplyResult {
  /** Sum of regular file sizes written. */
  size: number;
}

class Breakout extends InvalidParameter {
  constructor(name: string, why: string) {
    super(`invalid tar entry ${JSON.stringify(name)}: ${why}`);
  }
}

/** Cleans a tar entry name into path components relative to the root. */
export function cleanEntryName(name: string, label = name): string[] {
  if (name.includes('\0')) throw new Breakout(label, 'contains a NUL byte');
  if (name.startsWith('/') && name.replace(/\/+/g, '') !== '') {
    throw new Breakout(label, 'absolute path not allowed in a layer');
  }
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new Breakout(label, 'path escapes the layer root');
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

// Metadata calls are synchronous: a rootfs has thousands of entries, and a
// round trip through libuv's thread pool for each lstat/chown/chmod/utimes
// made extraction wait-bound (35 s wall for 15 s CPU on a 163 MB Debian
// rootfs under load); each call is microseconds. What is at a path comes
// from a PathView (extract-tree.ts): an empty root's is known in memory.

/**
 * Resolves directory components inside `root`, following symlinks within the
 * root and creating missing directories. Returns the resolved components
 * (none of them a symlink).
 */
function resolveDir(root: string, parts: string[], entryName: string, view: PathView, pool?: PoolCreates): string[] {
  const resolved: string[] = [];
  const queue = [...parts];
  let links = 0;
  while (queue.length) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (resolved.length === 0) throw new Breakout(entryName, 'path escapes the layer root through a symlink');
      resolved.pop();
      continue;
    }
    const p = path.join(root, ...resolved, c);
    // A file or symlink still being created on the pool: the caller waits
    // for it and resolves again (a known tree has it already).
    if (!view.known && pool?.has(p)) throw NEED_DRAIN;
    const st = view.get(p);
    if (!st) {
      fs.mkdirSync(p, { mode: 0o755 });
      view.made(p, { kind: 'dir' });
      resolved.push(c);
    } else if (st.kind === 'dir') {
      resolved.push(c);
    } else if (st.kind === 'link') {
      if (++links > MAX_SYMLINKS) throw new Breakout(entryName, 'too many levels of symbolic links');
      const target = st.target ?? '';
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/'));
    } else {
      throw new Breakout(entryName, `parent ${JSON.stringify(path.join(...resolved, c))} is not a directory`);
    }
  }
  return resolved;
}

const NEED_DRAIN = Symbol('wait for the pool');

/** resolveDir, waiting for the pool's creates when a path on the way is one of them. */
async function resolveDirAfter(root: string, parts: string[], entryName: string, view: PathView, pool: PoolCreates | undefined): Promise<string[]> {
  try {
    return resolveDir(root, parts, entryName, view, pool);
  } catch (e) {
    if (e !== NEED_DRAIN) throw e;
    await pool!.drain();
    return resolveDir(root, parts, entryName, view);
  }
}

/** Path components for an entry: resolved parent + own base name. */
async function placeEntry(root: string, name: string, view: PathView, pool: PoolCreates | undefined): Promise<{ dir: string[]; base: string } | null> {
  const parts = cleanEntryName(name);
  if (parts.length === 0) return null; // the root itself
  const base = parts.pop()!;
  const dir = await resolveDirAfter(root, parts, name, view, pool);
  return { dir, base };
}

async function removeExisting(p: string, st: Node, x: Ctx): Promise<void> {
  // A removal (a directory's whole tree, or a file tar-split links aside) sees every create done.
  await x.pool?.drain();
  x.split?.removing(p, st.kind === 'dir');
  x.view.removed(p);
  if (st.kind === 'dir') await fsp.rm(p, { recursive: true, force: true });
  else fs.unlinkSync(p);
}

/** What every entry of one extraction shares. */
interface Ctx {
  view: PathView;
  split?: SplitRecorder;
  pool?: PoolCreates;
}

/** How long an extraction may go without reading input or starting an entry. */
const STALL_MS = 5_000;


/** A parse error of tar-stream (a truncated or corrupt archive) as bad input; others as they are. */
function archiveError(e: unknown): unknown {
  if (e instanceof InvalidParameter) return e;
  const msg = (e as Error).message ?? String(e);
  return /Unexpected end|Invalid tar header|checksum|Invalid header|Header exceeds/i.test(msg) ? new InvalidParameter(`invalid tar archive: ${msg}`) : e;
}

/**
 * Extracts an uncompressed tar (a file path or a stream) into `root` (an
 * existing, empty-or-partial directory private to the caller). With `split`,
 * also records what makes the same tar again from the extracted files
 * (tar-split.ts); the caller saves it.
 */
export async function applyTar(
  tar_: string | NodeJS.ReadableStream,
  root: string,
  stallMs = STALL_MS,
  split?: SplitRecorder,
  patient = false,
): Promise<ApplyResult> {
  // An empty root (a new layer) is extracted by the addon (native-extract.ts);
  // BERTH_NATIVE_EXTRACT=0, or BERTH_EXTRACT_TREE=0 (ask the disk), keep this extractor.
  const realRoot = await fsp.realpath(root);
  // BERTH_EXTRACT_TREE=0: ask the disk even for an empty root (to compare).
  const empty = process.env.BERTH_EXTRACT_TREE !== '0' && isEmptyDir(realRoot);
  const native = empty ? nativeExtractor() : undefined;
  if (native) {
    split?.attach(realRoot);
    try {
      return await applyTarNative(native, tar_, realRoot, stallMs, split, patient);
    } catch (e) {
      if (e instanceof TarStall) throw e;
      throw archiveError(e);
    }
  }
  let progress = 0;
  const extract = tar.extract();
  keepRawPax(extract);
  // The iterator is taken before anything is awaited: tar-stream hands out
  // entries to the listener it adds, and one that comes later (input fast,
  // realpath below slow) finds them gone — which looked like a stall.
  // Iterated by hand: leaving a for-await loop awaits the iterator's
  // return(), which waits for the extractor's 'close' and can wait forever.
  const entries = extract[Symbol.asyncIterator]();
  // A file, or a stream (a pull extracts layers as they download).
  const source = (typeof tar_ === 'string' ? fs.createReadStream(tar_) : tar_) as fs.ReadStream;
  source.on('error', (e) => extract.destroy(e));
  // Progress is counted in the pipe rather than by a second 'data' listener
  // on a source that may be someone else's stream.
  const counted = new Transform({
    transform(chunk: Buffer, _e, cb) {
      progress++;
      split?.feed(chunk);
      cb(null, chunk);
    },
  });
  counted.on('error', (e) => extract.destroy(e));
  source.pipe(counted).pipe(extract);
  // A truncated archive fails the extractor while an entry is still being
  // read; race every entry against that failure so nothing waits forever.
  let rejectStall!: (e: Error) => void;
  const failed = new Promise<never>((_r, reject) => {
    extract.once('error', reject);
    rejectStall = reject;
  });
  failed.catch(() => {});
  // Watchdog: the extractor has been seen (rarely, under load) to stop
  // handing out entries with all input read and nothing left to wait on.
  // No progress for stallMs is an error the caller can retry, never a hang.
  const isFile = typeof tar_ === 'string';
  const stopWatch = watchStall(stallMs, () => progress, () => waitingForInput(source, patient, isFile), rejectStall);
  let size = 0;
  const dirTimes: Array<[string, Date]> = [];
  split?.attach(realRoot);
  const pool = PoolCreates.open();
  // an empty root's tree is known in memory; any other is asked of the disk
  const view: PathView = empty ? new TreeView(realRoot) : new DiskView();
  const ctx: Ctx = { view, split, pool };

  try {
    for (;;) {
      const next = await Promise.race([entries.next(), failed]);
      if (next.done) break;
      const entry = next.value;
      progress++;
      const h = entry.header;
      // tar-stream gives where the entry's content starts in the input.
      const cut = split && (h.type === 'file' || h.type === 'contiguous-file') && (h.size ?? 0) > 0
        ? split.cut((h as { byteOffset?: number }).byteOffset ?? -1, h.size!)
        : undefined;
      try {
        size += await Promise.race([applyEntry(realRoot, h, entry as unknown as NodeJS.ReadableStream, dirTimes, ctx, cut).catch((e) => badEntry(h.name, e)), failed]);
      } finally {
        split?.unplaced(cut);
        entry.resume();
      }
    }
    await pool?.drain();
  } catch (e) {
    extract.destroy();
    // Nothing may still be writing into the root the caller removes next.
    await pool?.settle();
    if (e instanceof PoolCreateFailed) badEntry(e.entry, e.error);
    throw archiveError(e);
  } finally {
    stopWatch();
    source.destroy();
  }

  // Directory times last: creating entries inside a directory changes its
  // mtime. A later entry may have replaced a directory (or a parent) with a
  // symlink: only a path that still resolves to itself is touched.
  for (const [p, t] of dirTimes.reverse()) {
    let real: string | null = null;
    if (view.known) real = view.get(p)?.kind === 'dir' ? p : null; // its parents were all made as directories
    else try { real = fs.realpathSync(p); } catch { /* gone */ }
    if (real === p) try { fs.utimesSync(p, t, t); } catch { /* as before: best effort */ }
  }
  return { size };
}

/** Errors an entry's own data causes (a name too long, a parent that is a file...) are bad input, told without host paths. */
const INPUT_ERRNO = new Set(['ENAMETOOLONG', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ELOOP', 'EINVAL', 'ENOENT', 'EMLINK', 'ENOTEMPTY', 'EPERM', 'EXDEV']);

function badEntry(name: string, e: unknown): never {
  if (e instanceof InvalidParameter) throw e;
  if (e instanceof PoolCreateFailed) badEntry(e.entry, e.error);
  const code = (e as NodeJS.ErrnoException).code;
  if (code && INPUT_ERRNO.has(code)) throw new Breakout(name, `cannot be extracted (${code})`);
  if (e instanceof HostExecError && e.code !== null && !e.timedOut) throw new Breakout(name, `cannot be extracted (${e.program} failed)`);
  throw e;
}

/** `.wh.<name>`: the name it hides must be one plain path component. */
function whiteoutTarget(entry: string, base: string): string {
  const hidden = base.slice(WHITEOUT_PREFIX.length);
  if (hidden === '' || hidden === '.' || hidden === '..' || hidden.includes('/')) {
    throw new Breakout(entry, 'invalid whiteout name');
  }
  return hidden;
}

async function whiteout(target: string, x: Ctx): Promise<void> {
  await x.pool?.drain();
  const st = x.view.get(target);
  if (st) await removeExisting(target, st, x);
  x.view.made(target, { kind: 'other' });
  await execHost('mknod', ['-m', '0', '--', target, 'c', '0', '0']);
}

/** Sets the entry's xattrs on its own file, which `full` names with no symlink on the way. */
async function applyXattrs(full: string, h: tar.Header): Promise<void> {
  for (const [name, value] of rawXattrsOf(h)) {
    if (checkXattrName(name, h.name) === 'skip') {
      if (!name.startsWith('trusted.overlay.')) log.warn('extended attribute of an unknown namespace not applied', { entry: h.name, name });
      continue;
    }
    checkXattrValue(name, value, h.name);
    const r = await setXattr(full, name, value);
    // The file system may refuse one (user.* on a symlink, no ACL support):
    // Docker skips those too (ENOTSUP/EPERM) rather than failing the layer.
    if (!r.ok) log.warn('extended attribute not applied', { entry: h.name, name, error: r.error?.slice(0, 300) });
  }
}

async function applyEntry(
  root: string,
  h: tar.Header,
  entry: NodeJS.ReadableStream,
  dirTimes: Array<[string, Date]>,
  x: Ctx,
  cut?: SplitHandle,
): Promise<number> {
  const { split, pool, view } = x;
  const placed = await placeEntry(root, h.name, view, pool);
  if (!placed) return 0;
  const { dir, base } = placed;
  const parentPath = path.join(root, ...dir);
  const full = path.join(parentPath, base);

  // Whiteouts (OCI) → overlay form.
  if (base.startsWith(WHITEOUT_PREFIX)) {
    if (base === WHITEOUT_OPAQUE) {
      // Opaque markers change what the layer means: this one must stick.
      const r = await setXattr(parentPath, 'trusted.overlay.opaque', Buffer.from('y'));
      if (!r.ok) throw new Error(`cannot mark ${JSON.stringify(h.name)} opaque: ${r.error}`);
      return 0;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return 0; // aufs metadata: meaningless here
    await whiteout(path.join(parentPath, whiteoutTarget(h.name, base)), x);
    return 0;
  }

  // The same path again while its first create is in flight: that one
  // finishes first (a known tree knows it; a removal drains the pool).
  if (!view.known && pool?.has(full)) await pool.drain();
  const existing = view.get(full);
  const mtime = h.mtime ?? new Date(0);
  const mode = (h.mode ?? 0o644) & 0o7777;
  const uid = h.uid ?? 0;
  const gid = h.gid ?? 0;
  let written = 0;

  switch (h.type) {
    case 'directory': {
      if (existing && existing.kind !== 'dir') await removeExisting(full, existing, x);
      if (!existing || existing.kind !== 'dir') {
        fs.mkdirSync(full, { mode: 0o700 });
        view.made(full, { kind: 'dir' });
      }
      fs.lchownSync(full, uid, gid);
      fs.chmodSync(full, mode);
      dirTimes.push([full, mtime]);
      break;
    }
    case 'file':
    case 'contiguous-file': {
      if (existing) await removeExisting(full, existing, x);
      view.made(full, { kind: 'other' });
      written = h.size ?? 0;
      if (written > SMALL_FILE) {
        split?.placed(cut, full);
        await pipeline(entry, fs.createWriteStream(full, { flags: 'wx', mode: 0o600 }));
        fs.lchownSync(full, uid, gid);
        fs.chmodSync(full, mode);
        fs.utimesSync(full, mtime, mtime);
        break;
      }
      // Small files (most of a rootfs): read whole, then one open and the
      // metadata calls on the descriptor, without a write stream.
      split?.placed(cut, full);
      const chunks: Buffer[] = [];
      for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
      if (pool) {
        const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        await pool.file(full, h.name, data, mode, uid, gid, mtime);
        // Its xattrs go on the file once it exists.
        if (rawXattrsOf(h).size) await pool.drain();
        break;
      }
      const fd = fs.openSync(full, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      try {
        for (const c of chunks) for (let off = 0; off < c.length;) off += fs.writeSync(fd, c, off);
        fs.fchownSync(fd, uid, gid);
        fs.fchmodSync(fd, mode);
        fs.futimesSync(fd, mtime, mtime);
      } finally {
        fs.closeSync(fd);
      }
      break;
    }
    case 'symlink': {
      if (existing) await removeExisting(full, existing, x);
      view.made(full, { kind: 'link', target: h.linkname ?? '' });
      if (pool) {
        await pool.symlink(h.linkname ?? '', full, h.name, uid, gid, mtime);
        if (rawXattrsOf(h).size) await pool.drain();
        break;
      }
      fs.symlinkSync(h.linkname ?? '', full);
      fs.lchownSync(full, uid, gid);
      fs.lutimesSync(full, mtime, mtime);
      break;
    }
    case 'link': {
      const linkParts = cleanEntryName(h.linkname ?? '', h.name);
      if (linkParts.length === 0) throw new Breakout(h.name, 'hardlink to the layer root');
      const linkBase = linkParts.pop()!;
      const linkDir = await resolveDirAfter(root, linkParts, h.name, view, pool);
      const target = path.join(root, ...linkDir, linkBase);
      if (pool?.has(target)) await pool.drain();
      const tst = view.get(target);
      if (!tst) throw new Breakout(h.name, `hardlink target ${JSON.stringify(h.linkname)} not found in the layer`);
      if (tst.kind === 'dir') throw new Breakout(h.name, 'hardlink to a directory');
      if (target === full) break;
      if (existing) await removeExisting(full, existing, x);
      // link(2) does not follow a symlink target: the new name is what the target is.
      view.made(full, tst);
      fs.linkSync(target, full);
      break;
    }
    case 'fifo':
    case 'character-device':
    case 'block-device': {
      const major = h.devmajor ?? 0;
      const minor = h.devminor ?? 0;
      // A 0:0 character device is overlay's whiteout: it can only mean one
      // (Docker's overlay2 makes it one too), so it never hides as a file.
      if (h.type === 'character-device' && major === 0 && minor === 0) {
        await whiteout(full, x);
        return 0;
      }
      if (existing) await removeExisting(full, existing, x);
      view.made(full, { kind: 'other' });
      const kind = h.type === 'fifo' ? ['p'] : [h.type === 'character-device' ? 'c' : 'b', String(major), String(minor)];
      await execHost('mknod', ['-m', '0', '--', full, ...kind]);
      await fsp.lchown(full, uid, gid);
      await fsp.chmod(full, mode);
      await fsp.utimes(full, mtime, mtime);
      break;
    }
    default:
      throw new InvalidParameter(`invalid tar entry ${JSON.stringify(h.name)}: unsupported type ${h.type ?? '(unknown type flag)'}`);
  }

  await applyXattrs(full, h);
  return written;
}
