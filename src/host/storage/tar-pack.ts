// Produces tars from directories: a container's upper dir as an OCI layer
// (overlay whiteouts → `.wh.` entries, opaque dirs → `.wh..wh..opq`) and a
// whole merged rootfs for `docker export`. Entries are sorted, parents come
// before children, hardlinked files become link entries.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { execHost } from '../exec';
import { WHITEOUT_OPAQUE, WHITEOUT_PREFIX } from './tar-apply';

type H = Partial<tar.Header> & { name: string };

export type XattrMap = Map<string, Map<string, Buffer>>;

/** Reads all xattrs under `root` with one getfattr call (absolute paths). */
export async function readXattrs(root: string): Promise<XattrMap> {
  const out: XattrMap = new Map();
  const r = await execHost('getfattr', ['-R', '-P', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], {
    allowFailure: true,
    timeout: 120_000,
  });
  let cur: Map<string, Buffer> | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      cur = new Map();
      out.set(unquote(line.slice(8)), cur);
    } else if (cur && line.includes('=')) {
      const i = line.indexOf('=');
      const v = line.slice(i + 1);
      cur.set(line.slice(0, i), v.startsWith('0x') ? Buffer.from(v.slice(2), 'hex') : Buffer.from(v.replace(/^"|"$/g, '')));
    }
  }
  return out;
}

function unquote(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(...Buffer.from(s[i]));
    }
  }
  return Buffer.from(bytes).toString();
}

export interface PackOptions {
  /** Translate overlay whiteouts/opaque dirs into OCI whiteout entries. */
  overlay: boolean;
}

/** A tar stream of `root`'s contents (paths relative, no leading `./`). */
export function packDir(root: string, opts: PackOptions): NodeJS.ReadableStream {
  const pack = tar.pack();
  void (async () => {
    const xattrs = await readXattrs(root);
    const seen = new Map<string, string>(); // dev:ino → first path, for hardlinks
    const addEntry = (header: H, body?: NodeJS.ReadableStream | Buffer): Promise<void> =>
      new Promise((resolve, reject) => {
        if (body === undefined || Buffer.isBuffer(body)) {
          pack.entry(header as tar.Header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
          return;
        }
        const w = pack.entry(header as tar.Header, (err) => (err ? reject(err) : resolve()));
        pipeline(body as NodeJS.ReadableStream, w).catch(reject);
      });

    const walk = async (dir: string, rel: string): Promise<void> => {
      const names = (await fsp.readdir(dir)).sort();
      for (const name of names) {
        const full = path.join(dir, name);
        const relName = rel ? `${rel}/${name}` : name;
        const st = await fsp.lstat(full);
        const attrs = xattrs.get(full);
        const pax: Record<string, string> = {};
        let opaque = false;
        if (attrs) {
          for (const [k, v] of attrs) {
            if (k.startsWith('trusted.overlay.')) {
              if (k === 'trusted.overlay.opaque' && v.toString() === 'y') opaque = true;
              continue;
            }
            pax[`SCHILY.xattr.${k}`] = v.toString('utf8');
          }
        }
        const base: H = {
          name: relName,
          mode: st.mode & 0o7777,
          uid: st.uid,
          gid: st.gid,
          mtime: st.mtime,
          ...(Object.keys(pax).length ? { pax } : {}),
        };
        if (st.isCharacterDevice() && st.rdev === 0 && opts.overlay) {
          const wh = rel ? `${rel}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`;
          await addEntry({ name: wh, mode: 0o600, uid: 0, gid: 0, mtime: st.mtime, size: 0, type: 'file' });
        } else if (st.isDirectory()) {
          await addEntry({ ...base, type: 'directory' });
          if (opaque && opts.overlay) {
            await addEntry({ name: `${relName}/${WHITEOUT_OPAQUE}`, mode: 0o600, uid: 0, gid: 0, mtime: st.mtime, size: 0, type: 'file' });
          }
          await walk(full, relName);
        } else if (st.isSymbolicLink()) {
          await addEntry({ ...base, type: 'symlink', linkname: await fsp.readlink(full) });
        } else if (st.isFile()) {
          const key = `${st.dev}:${st.ino}`;
          if (st.nlink > 1 && seen.has(key)) {
            await addEntry({ ...base, type: 'link', linkname: seen.get(key)! });
          } else {
            if (st.nlink > 1) seen.set(key, relName);
            await addEntry({ ...base, type: 'file', size: st.size }, fs.createReadStream(full));
          }
        } else if (st.isFIFO()) {
          await addEntry({ ...base, type: 'fifo' });
        } else if (st.isCharacterDevice() || st.isBlockDevice()) {
          await addEntry({
            ...base,
            type: st.isCharacterDevice() ? 'character-device' : 'block-device',
            devmajor: Math.floor(st.rdev / 256) & 0xfff,
            devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
          });
        }
        // sockets are skipped, as tar does.
      }
    };
    await walk(root, '');
    pack.finalize();
  })().catch((e) => pack.destroy(e));
  return pack as unknown as NodeJS.ReadableStream;
}
