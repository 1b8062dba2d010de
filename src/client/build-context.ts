// The build context `berth build` and `berth compose build` send to POST
// /build: the context directory as a tar, minus what .dockerignore excludes
// (the pattern logic is shared with the daemon's builder).
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { IgnoreMatcher } from '../common/dockerignore';
import { END_OF_ARCHIVE, entryHeader, padding } from './context-tar';

/** Files up to this size are read with one synchronous call. */
const SMALL_FILE = 1 << 20;
/** The most a chunk of the tar holds before it is handed on. */
const CHUNK = 1 << 20;

/** The context tar: every file not excluded by .dockerignore (the Dockerfile and .dockerignore always go). */
export function packDir(root: string, dockerfile: string, extra?: { name: string; data: Buffer }): { stream: Readable; size: number } {
  let matcher: IgnoreMatcher | undefined;
  try {
    matcher = IgnoreMatcher.parse(fs.readFileSync(path.join(root, '.dockerignore'), 'utf8'));
  } catch { /* none */ }
  const always = new Set([dockerfile, '.dockerignore']);
  const entries: { rel: string; abs: string; st: fs.Stats }[] = [];
  let size = 0;
  const walk = (relDir: string) => {
    for (const n of fs.readdirSync(path.join(root, relDir)).sort()) {
      const rel = relDir ? `${relDir}/${n}` : n;
      const abs = path.join(root, rel);
      const st = fs.lstatSync(abs);
      const ignored = !always.has(rel) && matcher?.matches(rel);
      if (st.isDirectory()) {
        if (!ignored) entries.push({ rel, abs, st });
        if (!ignored || matcher?.hasExclusions) walk(rel);
        continue;
      }
      if (ignored) continue;
      entries.push({ rel, abs, st });
      size += st.size;
    }
  };
  walk('');
  // Small entries leave in chunks of up to CHUNK bytes: each chunk is one
  // write (and one chunk of the chunked request body).
  async function* tarChunks(): AsyncGenerator<Buffer> {
    let pending: Buffer[] = [];
    let n = 0;
    const push = (b: Buffer) => {
      pending.push(b);
      n += b.length;
    };
    const flush = () => {
      const out = pending.length === 1 ? pending[0] : Buffer.concat(pending, n);
      pending = [];
      n = 0;
      return out;
    };
    const changed = (abs: string) => new Error(`${abs} changed while the build context was being read`);
    for (const e of entries) {
      const base = { name: e.rel, mode: e.st.mode & 0o7777, mtime: e.st.mtime, size: 0 };
      if (e.st.isDirectory()) push(entryHeader({ ...base, type: 'directory' }));
      else if (e.st.isSymbolicLink()) push(entryHeader({ ...base, type: 'symlink', linkname: fs.readlinkSync(e.abs) }));
      else if (e.st.isFile() && e.st.size <= SMALL_FILE) {
        // Most context files are small: one synchronous read each.
        const data = fs.readFileSync(e.abs);
        if (data.length !== e.st.size) throw changed(e.abs);
        push(entryHeader({ ...base, type: 'file', size: data.length }));
        push(data);
        push(padding(data.length));
      } else if (e.st.isFile()) {
        push(entryHeader({ ...base, type: 'file', size: e.st.size }));
        yield flush();
        const fd = fs.openSync(e.abs, 'r');
        try {
          let sent = 0;
          while (sent < e.st.size) {
            const buf = Buffer.allocUnsafe(Math.min(CHUNK, e.st.size - sent));
            const got = fs.readSync(fd, buf, 0, buf.length, sent);
            if (got === 0) throw changed(e.abs);
            sent += got;
            yield got === buf.length ? buf : buf.subarray(0, got);
          }
          if (fs.readSync(fd, Buffer.alloc(1), 0, 1, sent) !== 0) throw changed(e.abs);
        } finally {
          fs.closeSync(fd);
        }
        push(padding(e.st.size));
      }
      if (n >= CHUNK) yield flush();
    }
    if (extra) {
      push(entryHeader({ name: extra.name, type: 'file', mode: 0o644, mtime: new Date(), size: extra.data.length }));
      push(extra.data);
      push(padding(extra.data.length));
    }
    push(END_OF_ARCHIVE);
    yield flush();
  }
  return { stream: Readable.from(tarChunks(), { objectMode: false }), size };
}
