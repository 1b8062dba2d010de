// The build context `berth build` and `berth compose build` send to POST
// /build: the context directory as a tar, minus what .dockerignore excludes
// (the pattern logic is shared with the daemon's builder).
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { IgnoreMatcher } from '../common/dockerignore';

/** Files up to this size are read with one synchronous call. */
const SMALL_FILE = 1 << 20;

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
  const pack = tar.pack();
  (async () => {
    const add = (h: any, body?: Buffer) => new Promise<void>((res, rej) => pack.entry(h, body as any, (e: unknown) => (e ? rej(e) : res())));
    for (const e of entries) {
      const base = { name: e.rel, mode: e.st.mode & 0o7777, mtime: e.st.mtime, uid: 0, gid: 0 };
      if (e.st.isDirectory()) await add({ ...base, type: 'directory' });
      else if (e.st.isSymbolicLink()) await add({ ...base, type: 'symlink', linkname: fs.readlinkSync(e.abs) });
      else if (e.st.isFile() && e.st.size <= SMALL_FILE) {
        // Most context files are small: one synchronous read instead of a read
        // stream's thread-pool round trips, which the next entry waits for.
        const data = fs.readFileSync(e.abs);
        if (data.length !== e.st.size) throw new Error(`${e.abs} changed while the build context was being read`);
        await add({ ...base, type: 'file', size: data.length }, data);
      } else if (e.st.isFile()) {
        await new Promise<void>((res, rej) => {
          const w = pack.entry({ ...base, type: 'file', size: e.st.size }, (err: unknown) => (err ? rej(err) : res()));
          fs.createReadStream(e.abs).on('error', rej).pipe(w);
        });
      }
    }
    if (extra) await add({ name: extra.name, mode: 0o644, size: extra.data.length }, extra.data);
    pack.finalize();
  })().catch((e) => pack.destroy(e));
  return { stream: pack as unknown as Readable, size };
}
