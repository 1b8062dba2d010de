// Encodes tar headers (POSIX ustar, with a PAX extended header when a field
// does not fit or the entry carries xattrs). Written here rather than with
// tar-stream's packer because PAX values must be able to carry raw bytes:
// a binary xattr (security.capability) has no UTF-8 text form.
import { paxRecords, XATTR_KEY } from './pax';

export type EntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

export interface TarEntry {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

const TYPEFLAG: Record<EntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

export const END_OF_ARCHIVE = Buffer.alloc(1024);

/** Zero bytes that pad a body of `size` bytes to a 512-byte block. */
export function padding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

const isAscii = (s: string) => /^\p{ASCII}*$/u.test(s);

function octal(buf: Buffer, off: number, width: number, n: number): void {
  buf.write(Math.max(0, Math.floor(n)).toString(8).padStart(width - 1, '0') + '\0', off, width, 'latin1');
}

/** Splits a long name into ustar's prefix + name, or null. */
function splitName(name: string): [string, string] | null {
  if (!isAscii(name)) return null;
  if (name.length <= 100) return ['', name];
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return [prefix, rest];
    if (prefix.length <= 155) break;
  }
  return null;
}

function ustar(e: {
  name: string;
  prefix: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const b = Buffer.alloc(512);
  b.write(e.name, 0, 100, 'latin1');
  octal(b, 100, 8, e.mode);
  octal(b, 108, 8, e.uid);
  octal(b, 116, 8, e.gid);
  octal(b, 124, 12, e.size);
  octal(b, 136, 12, e.mtime);
  b.write('        ', 148, 8, 'latin1');
  b.write(e.type, 156, 1, 'latin1');
  b.write(e.linkname, 157, 100, 'latin1');
  b.write('ustar\u000000', 257, 8, 'latin1');
  octal(b, 329, 8, e.devmajor);
  octal(b, 337, 8, e.devminor);
  b.write(e.prefix, 345, 155, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

/** The header block(s) of one entry: a PAX header first when needed. */
export function encodeHeader(e: TarEntry): Buffer {
  const name = e.name;
  const linkname = e.linkname ?? '';
  const records: Array<[string, Buffer | string]> = [];
  const split = splitName(name);
  if (!split) records.push(['path', name]);
  if (!isAscii(linkname) || linkname.length > 100) records.push(['linkpath', linkname]);
  const MAX7 = 0o7777777;
  if (e.uid > MAX7) records.push(['uid', String(e.uid)]);
  if (e.gid > MAX7) records.push(['gid', String(e.gid)]);
  if (e.size > 0o77777777777) records.push(['size', String(e.size)]);
  const mtime = Math.floor(e.mtime.getTime() / 1000);
  if (!(mtime >= 0 && mtime <= 0o77777777777)) records.push(['mtime', String(Number.isFinite(mtime) ? mtime : 0)]);
  for (const [k, v] of [...(e.xattrs ?? new Map<string, Buffer>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    records.push([XATTR_KEY + k, v]);
  }
  const clip = (s: string, n: number) => s.replace(/[^\x20-\x7e]/g, '_').slice(0, n);
  const blocks: Buffer[] = [];
  if (records.length) {
    const body = paxRecords(records);
    const base = name.replace(/\/+$/, '').split('/').pop() ?? '';
    blocks.push(
      ustar({ name: clip(`PaxHeaders.0/${base}`, 100), prefix: '', type: 'x', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: Math.max(0, Math.min(mtime, 0o77777777777)) || 0, linkname: '', devmajor: 0, devminor: 0 }),
      body,
      padding(body.length),
    );
  }
  const [prefix, short] = split ?? ['', clip(name, 100)];
  blocks.push(
    ustar({
      name: short,
      prefix,
      type: TYPEFLAG[e.type],
      mode: e.mode & 0o7777,
      uid: e.uid > MAX7 ? 0 : e.uid,
      gid: e.gid > MAX7 ? 0 : e.gid,
      size: e.type === 'file' ? (e.size > 0o77777777777 ? 0 : e.size) : 0,
      mtime: mtime >= 0 && mtime <= 0o77777777777 ? mtime : 0,
      linkname: isAscii(linkname) && linkname.length <= 100 ? linkname : clip(linkname, 100),
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
    }),
  );
  return Buffer.concat(blocks);
}
