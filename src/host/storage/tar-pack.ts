// Produces tars from directories: a container's upper dir as an OCI layer
// (overlay whiteouts → `.wh.` entries, opaque dirs → `.wh..wh..opq`) and a
// whole merged rootfs for `docker export`. Entries are sorted, parents come
// before children, hardlinked files become link entries, device nodes and
// FIFOs are kept; xattrs are the files' own (a symlink is never followed).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { WHITEOUT_OPAQUE, WHITEOUT_PREFIX } from './tar-apply';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntry } from './tar-writer';
import { readXattrs } from './xattrs';

export interface PackOptions {
  /** Translate overlay whiteouts/opaque dirs into OCI whiteout entries. */
  overlay: boolean;
}

/** Linux dev_t → major/minor (glibc's gnu_dev_major/minor, 32-bit safe). */
function devNumbers(rdev: number): { devmajor: number; devminor: number } {
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  return {
    devmajor: ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0),
    devminor: ((lo & 0xff) | ((lo >>> 12) & 0xfff00) | ((hi & 0xfff) << 20)) >>> 0,
  };
}

/**
 * Read size for file bodies: 1 MiB instead of the stream default 64 KiB, so
 * a 100 MB file crosses the commit pipeline (hash, tee, staging file,
 * extractor) as ~100 chunks rather than ~1,600.
 */
const READ_CHUNK = 1 << 20;

/** A file's body, exactly `size` bytes: a file that shrinks while read is padded, one that grows is cut. */
async function* body(file: string, size: number): AsyncGenerator<Buffer> {
  let sent = 0;
  if (size > 0) {
    try {
      for await (const chunk of fs.createReadStream(file, { start: 0, end: size - 1, highWaterMark: READ_CHUNK })) {
        const c = chunk as Buffer;
        const take = c.subarray(0, Math.min(c.length, size - sent));
        sent += take.length;
        yield take;
        if (sent >= size) break;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // removed while we read: its header is out already
    }
  }
  if (sent < size) yield Buffer.alloc(size - sent);
  yield padding(size);
}

const fresh = new WeakSet<object>();

/**
 * True for a stream packDir made: each chunk is a buffer of its own (a
 * read of its own, a header or padding just allocated), never reused, so a
 * consumer may keep chunks without copying them.
 */
export function hasFreshChunks(s: object): boolean {
  return fresh.has(s);
}

/** A tar stream of `root`'s contents (paths relative, no leading `./`). */
export function packDir(root: string, opts: PackOptions): NodeJS.ReadableStream {
  const s = Readable.from(entries(root, opts), { objectMode: false });
  fresh.add(s);
  return s;
}

/**
 * One entry of an upper dir's (or any dir's) tar, before it is bytes:
 * `header` is its header block(s) as they go into the tar; a regular file's
 * body (`size` bytes of `file`, then padding) follows. `make` says what
 * extracting it makes: cloneUpper (upper-clone.ts) makes the same thing
 * from the dir without the tar.
 */
export interface PackItem {
  header: Buffer;
  /** The entry as encoded (name relative to the root). */
  entry: TarEntry;
  /** Host path of what the entry stands for (for `opaque`: the directory). */
  full: string;
  make: 'whiteout' | 'directory' | 'opaque' | 'symlink' | 'link' | 'file' | 'node';
  /** A regular file's content: `size` bytes of `file` (zeros when it shrank or went). */
  body?: { file: string; size: number };
}

async function* entries(root: string, opts: PackOptions): AsyncGenerator<Buffer> {
  for await (const it of packItems(root, opts)) {
    yield it.header;
    if (it.body) yield* body(it.body.file, it.body.size);
  }
  yield END_OF_ARCHIVE;
}

/** The entries of `root`'s tar in order (without the end blocks). */
export async function* packItems(root: string, opts: PackOptions): AsyncGenerator<PackItem> {
  const xattrs = await readXattrs(root);
  const seen = new Map<string, string>(); // dev:ino → first path, for hardlinks

  async function* walk(dir: string, rel: string): AsyncGenerator<PackItem> {
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && dir !== root) return; // removed while we walk
      throw e;
    }
    for (const name of names) {
      const full = path.join(dir, name);
      const relName = rel ? `${rel}/${name}` : name;
      let st: fs.Stats;
      try {
        st = await fsp.lstat(full);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while we walk
        throw e;
      }
      const kept = new Map<string, Buffer>();
      let opaque = false;
      for (const [k, v] of xattrs.get(full) ?? []) {
        if (k.startsWith('trusted.overlay.')) {
          if (k === 'trusted.overlay.opaque' && v.toString() === 'y') opaque = true;
          continue;
        }
        kept.set(k, v);
      }
      const base: TarEntry = { name: relName, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: st.mtime, xattrs: kept };
      const item = (entry: TarEntry, make: PackItem['make'], at = full): PackItem => ({ header: encodeHeader(entry), entry, full: at, make });
      if (st.isCharacterDevice() && st.rdev === 0 && opts.overlay) {
        const wh = rel ? `${rel}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`;
        yield item({ name: wh, type: 'file', mode: 0o600, uid: 0, gid: 0, size: 0, mtime: st.mtime }, 'whiteout');
      } else if (st.isDirectory()) {
        yield item({ ...base, type: 'directory' }, 'directory');
        if (opaque && opts.overlay) {
          yield item({ name: `${relName}/${WHITEOUT_OPAQUE}`, type: 'file', mode: 0o600, uid: 0, gid: 0, size: 0, mtime: st.mtime }, 'opaque');
        }
        yield* walk(full, relName);
      } else if (st.isSymbolicLink()) {
        yield item({ ...base, type: 'symlink', linkname: await fsp.readlink(full) }, 'symlink');
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && seen.has(key)) {
          yield item({ ...base, type: 'link', linkname: seen.get(key)! }, 'link');
        } else {
          if (st.nlink > 1) seen.set(key, relName);
          yield { ...item({ ...base, type: 'file', size: st.size }, 'file'), body: { file: full, size: st.size } };
        }
      } else if (st.isFIFO()) {
        yield item({ ...base, type: 'fifo' }, 'node');
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        yield item({ ...base, type: st.isCharacterDevice() ? 'character-device' : 'block-device', ...devNumbers(st.rdev) }, 'node');
      }
      // sockets are skipped, as tar does.
    }
  }
  yield* walk(root, '');
}
