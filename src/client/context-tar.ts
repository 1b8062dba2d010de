// Tar headers for the build context the client sends (POSIX ustar, with a
// PAX header for a name, link target or size that does not fit). Written
// here instead of with tar-stream's packer: requiring tar-stream and its
// dependencies costs ~15-25 ms per CLI process, more than the rest of a
// cached `berth build` on the client's side. The daemon's own writer
// (src/host/storage/tar-writer.ts) also carries xattrs and devices; a
// context needs files, directories and symlinks only.

export interface ContextEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  mtime: Date;
  size: number;
  linkname?: string;
}

const TYPEFLAG = { file: '0', directory: '5', symlink: '2' } as const;
const MAX_OCTAL_11 = 0o77777777777;

export const END_OF_ARCHIVE = Buffer.alloc(1024);

/** Zero bytes that pad a body of `size` bytes to a 512-byte block. */
export function padding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

const isAscii = (s: string) => /^[\x20-\x7e]*$/.test(s);

function octal(buf: Buffer, off: number, width: number, n: number): void {
  buf.write(Math.max(0, Math.floor(n)).toString(8).padStart(width - 1, '0') + '\0', off, width, 'latin1');
}

/** ustar's prefix + name for a long ASCII name, or null when only PAX can hold it. */
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

function ustar(name: string, prefix: string, type: string, mode: number, size: number, mtime: number, linkname: string): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'latin1');
  octal(b, 100, 8, mode);
  octal(b, 108, 8, 0); // uid
  octal(b, 116, 8, 0); // gid
  octal(b, 124, 12, size);
  octal(b, 136, 12, mtime);
  b.write('        ', 148, 8, 'latin1');
  b.write(type, 156, 1, 'latin1');
  b.write(linkname, 157, 100, 'latin1');
  b.write('ustar\u000000', 257, 8, 'latin1');
  octal(b, 329, 8, 0);
  octal(b, 337, 8, 0);
  b.write(prefix, 345, 155, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

/** PAX records `"<len> key=value\n"`; the length counts its own digits. */
function paxBody(records: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of records) {
    const body = Buffer.from(` ${k}=${v}\n`);
    let n = body.length + String(body.length).length;
    if (String(n).length !== String(body.length).length) n = body.length + String(n).length;
    parts.push(Buffer.from(String(n)), body);
  }
  return Buffer.concat(parts);
}

/** The header block(s) of one entry (a directory's name gets its trailing `/`). */
export function entryHeader(e: ContextEntry): Buffer {
  const name = e.type === 'directory' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
  const linkname = e.linkname ?? '';
  const size = e.type === 'file' ? e.size : 0;
  const mtime = Math.floor(e.mtime.getTime() / 1000);
  const records: Array<[string, string]> = [];
  const split = splitName(name);
  if (!split) records.push(['path', name]);
  if (!isAscii(linkname) || linkname.length > 100) records.push(['linkpath', linkname]);
  if (size > MAX_OCTAL_11) records.push(['size', String(size)]);
  const fits = mtime >= 0 && mtime <= MAX_OCTAL_11;
  if (!fits && Number.isFinite(mtime)) records.push(['mtime', String(mtime)]);
  const clip = (s: string, n: number) => s.replace(/[^\x20-\x7e]/g, '_').slice(0, n);
  const blocks: Buffer[] = [];
  if (records.length) {
    const body = paxBody(records);
    const base = name.replace(/\/+$/, '').split('/').pop() ?? '';
    blocks.push(ustar(clip(`PaxHeaders.0/${base}`, 100), '', 'x', 0o644, body.length, fits ? mtime : 0, ''), body, padding(body.length));
  }
  const [prefix, short] = split ?? ['', clip(name, 100)];
  blocks.push(ustar(short, prefix, TYPEFLAG[e.type], e.mode & 0o7777, size > MAX_OCTAL_11 ? 0 : size, fits ? mtime : 0, records.some(([k]) => k === 'linkpath') ? clip(linkname, 100) : linkname));
  return Buffer.concat(blocks);
}

/** A whole tar of in-memory files (a Dockerfile read from stdin). */
export function tarOf(files: Array<{ name: string; data: Buffer }>, mtime = new Date()): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) parts.push(entryHeader({ name: f.name, type: 'file', mode: 0o644, mtime, size: f.data.length }), f.data, padding(f.data.length));
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}
