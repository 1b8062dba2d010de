// Secure extraction of one layer tar into a layer directory.
//
// Every entry name is cleaned and must stay inside the layer root; parent
// directories are resolved component by component with symlinks followed
// *inside* the root (a symlink entry can never make a later entry land
// outside); hardlinks must point at an existing non-directory inside the
// layer; device files are refused. OCI whiteouts become overlay whiteouts:
// `.wh.<name>` → char device 0:0, `.wh..wh..opq` → trusted.overlay.opaque=y.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { InvalidParameter } from '../../util/errors';
import { execHost } from '../exec';
import { log } from '../../util/log';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';
const MAX_SYMLINKS = 40;

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

async function lstatOrNull(p: string): Promise<fs.Stats | null> {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Resolves directory components inside `root`, following symlinks within the
 * root and creating missing directories. Returns the resolved components
 * (none of them a symlink).
 */
async function resolveDir(root: string, parts: string[], entryName: string): Promise<string[]> {
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
    const st = await lstatOrNull(p);
    if (!st) {
      await fsp.mkdir(p, { mode: 0o755 });
      resolved.push(c);
    } else if (st.isDirectory()) {
      resolved.push(c);
    } else if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new Breakout(entryName, 'too many levels of symbolic links');
      const target = await fsp.readlink(p);
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/'));
    } else {
      throw new Breakout(entryName, `parent ${JSON.stringify(path.join(...resolved, c))} is not a directory`);
    }
  }
  return resolved;
}

/** Path components for an entry: resolved parent + own base name. */
async function placeEntry(root: string, name: string): Promise<{ dir: string[]; base: string } | null> {
  const parts = cleanEntryName(name);
  if (parts.length === 0) return null; // the root itself
  const base = parts.pop()!;
  const dir = await resolveDir(root, parts, name);
  return { dir, base };
}

function xattrsOf(h: tar.Header): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const pax = (h as any).pax as Record<string, string> | undefined;
  if (!pax) return out;
  for (const [k, v] of Object.entries(pax)) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    const name = k.slice('SCHILY.xattr.'.length);
    // Overlay's own attributes (redirect, metacopy, origin...) must never come from a tar.
    if (name.startsWith('trusted.overlay.')) continue;
    out.push([name, v]);
  }
  return out;
}

/** Escapes a path the way getfattr/setfattr --restore expect (octal). */
export function quoteAttrPath(p: string): string {
  let out = '';
  for (const b of Buffer.from(p)) {
    if (b <= 0x20 || b >= 0x7f || b === 0x5c || b === 0x3d) out += '\\' + b.toString(8).padStart(3, '0');
    else out += String.fromCharCode(b);
  }
  return out;
}

function unquoteAttrPath(s: string): string {
  return Buffer.from(s.replace(/\\([0-7]{3})/g, (_m, o) => String.fromCharCode(parseInt(o, 8))), 'latin1').toString();
}

async function removeExisting(p: string, st: fs.Stats): Promise<void> {
  if (st.isDirectory()) await fsp.rm(p, { recursive: true, force: true });
  else await fsp.unlink(p);
}

/**
 * Extracts the uncompressed tar at `tarPath` into `root` (an existing,
 * empty-or-partial directory private to the caller).
 */
export async function applyTar(tarPath: string, root: string): Promise<ApplyResult> {
  const extract = tar.extract();
  const source = fs.createReadStream(tarPath);
  source.on('error', (e) => extract.destroy(e));
  source.pipe(extract);
  // A truncated archive fails the extractor while an entry is still being
  // read; race every entry against that failure so nothing waits forever.
  let failed!: Promise<never>;
  failed = new Promise<never>((_r, reject) => extract.once('error', reject));
  failed.catch(() => {});
  let size = 0;
  const attrLines: string[] = [];
  const dirTimes: Array<[string, Date]> = [];

  try {
    for await (const entry of extract) {
      const h = entry.header;
      try {
        size += await Promise.race([applyEntry(root, h, entry as unknown as NodeJS.ReadableStream, attrLines, dirTimes), failed]);
      } finally {
        entry.resume();
      }
    }
  } catch (e) {
    if (e instanceof InvalidParameter) throw e;
    // tar-stream's parse errors (truncated or corrupt archive) are bad input.
    const msg = (e as Error).message ?? String(e);
    if (/Unexpected end|Invalid tar header|checksum/i.test(msg)) throw new InvalidParameter(`invalid tar archive: ${msg}`);
    throw e;
  } finally {
    source.destroy();
  }

  if (attrLines.length) {
    const r = await execHost('setfattr', ['-h', '--restore=-'], { input: attrLines.join('\n') + '\n', timeout: 120_000, allowFailure: true });
    // An attribute the filesystem refuses (or a binary value tar-stream could
    // not carry intact) is dropped with a warning rather than failing the layer.
    if (r.code !== 0) log.warn('some extended attributes were not applied', { root, stderr: r.stderr.trim().slice(0, 2000) });
    if (attrLines.some((l) => l.startsWith('trusted.overlay.opaque')) && r.code !== 0) {
      // Opaque markers change what the layer means: those must stick.
      for (let i = 0; i < attrLines.length; i++) {
        if (attrLines[i].startsWith('trusted.overlay.opaque')) {
          const file = unquoteAttrPath(attrLines[i - 1].slice('# file: '.length));
          await execHost('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', file]);
        }
      }
    }
  }
  // Directory times last: creating entries inside a directory changes its mtime.
  for (const [p, t] of dirTimes.reverse()) await fsp.utimes(p, t, t).catch(() => {});
  return { size };
}

async function applyEntry(
  root: string,
  h: tar.Header,
  entry: NodeJS.ReadableStream,
  attrLines: string[],
  dirTimes: Array<[string, Date]>,
): Promise<number> {
  const placed = await placeEntry(root, h.name);
  if (!placed) return 0;
  const { dir, base } = placed;
  const parentPath = path.join(root, ...dir);
  const full = path.join(parentPath, base);

  // Whiteouts (OCI) → overlay form.
  if (base.startsWith(WHITEOUT_PREFIX)) {
    if (base === WHITEOUT_OPAQUE) {
      attrLines.push(`# file: ${quoteAttrPath(parentPath)}`, 'trusted.overlay.opaque="y"', '');
      return 0;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return 0; // aufs metadata: meaningless here
    const target = path.join(parentPath, base.slice(WHITEOUT_PREFIX.length));
    const st = await lstatOrNull(target);
    if (st) await removeExisting(target, st);
    await execHost('mknod', ['-m', '0', target, 'c', '0', '0']);
    return 0;
  }

  const existing = await lstatOrNull(full);
  const mtime = h.mtime ?? new Date(0);
  const mode = (h.mode ?? 0o644) & 0o7777;
  const uid = h.uid ?? 0;
  const gid = h.gid ?? 0;
  let written = 0;

  switch (h.type) {
    case 'directory': {
      if (existing && !existing.isDirectory()) await removeExisting(full, existing);
      if (!existing || !existing.isDirectory()) await fsp.mkdir(full, { mode: 0o700 });
      await fsp.lchown(full, uid, gid);
      await fsp.chmod(full, mode);
      dirTimes.push([full, mtime]);
      break;
    }
    case 'file':
    case 'contiguous-file': {
      if (existing) await removeExisting(full, existing);
      await pipeline(entry, fs.createWriteStream(full, { flags: 'wx', mode: 0o600 }));
      written = h.size ?? 0;
      await fsp.lchown(full, uid, gid);
      await fsp.chmod(full, mode);
      await fsp.utimes(full, mtime, mtime);
      break;
    }
    case 'symlink': {
      if (existing) await removeExisting(full, existing);
      await fsp.symlink(h.linkname ?? '', full);
      await fsp.lchown(full, uid, gid);
      await fsp.lutimes(full, mtime, mtime);
      break;
    }
    case 'link': {
      const linkParts = cleanEntryName(h.linkname ?? '', h.name);
      if (linkParts.length === 0) throw new Breakout(h.name, 'hardlink to the layer root');
      const linkBase = linkParts.pop()!;
      const linkDir = await resolveDir(root, linkParts, h.name);
      const target = path.join(root, ...linkDir, linkBase);
      const tst = await lstatOrNull(target);
      if (!tst) throw new Breakout(h.name, `hardlink target ${JSON.stringify(h.linkname)} not found in the layer`);
      if (tst.isDirectory()) throw new Breakout(h.name, 'hardlink to a directory');
      if (target === full) break;
      if (existing) await removeExisting(full, existing);
      await fsp.link(target, full);
      break;
    }
    case 'fifo': {
      if (existing) await removeExisting(full, existing);
      await execHost('mkfifo', ['-m', mode.toString(8), full]);
      await fsp.lchown(full, uid, gid);
      break;
    }
    case 'character-device':
    case 'block-device':
      throw new InvalidParameter(`invalid tar entry ${JSON.stringify(h.name)}: device files are not allowed in a layer`);
    default:
      throw new InvalidParameter(`invalid tar entry ${JSON.stringify(h.name)}: unsupported type ${h.type}`);
  }

  const xattrs = xattrsOf(h);
  if (xattrs.length) {
    attrLines.push(`# file: ${quoteAttrPath(full)}`);
    for (const [k, v] of xattrs) attrLines.push(`${k}=0x${Buffer.from(v, 'utf8').toString('hex')}`);
    attrLines.push('');
  }
  return written;
}
