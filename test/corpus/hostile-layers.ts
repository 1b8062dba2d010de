// Hostile layer tars, built byte by byte in memory (an encoder of its own, so
// the corpus can say things no well-behaved packer writes: names with
// newlines, binary PAX values, malformed records, odd whiteouts). Each case
// names the host paths it aims at; the test feeds every case through docker
// load, a registry pull and a build's ADD, and checks those paths stay clean.
import { makeTar, sha256 } from '../helpers/registry';

export interface RawEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  body?: Buffer | string;
  linkname?: string;
  mode?: number;
  devmajor?: number;
  devminor?: number;
  /** PAX records for this entry, values as bytes (SCHILY.xattr.* and anything else). */
  pax?: Array<[string, Buffer | string]>;
  /** A PAX body used as is (for malformed records). */
  rawPax?: Buffer;
  /** A typeflag byte used as is. */
  typeflag?: string;
}

const TYPE: Record<NonNullable<RawEntry['type']>, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function octal(b: Buffer, off: number, width: number, n: number): void {
  b.write(n.toString(8).padStart(width - 1, '0') + '\0', off, width, 'latin1');
}

function header(name: string, type: string, size: number, e: Partial<RawEntry> = {}): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  octal(b, 100, 8, e.mode ?? (type === '5' ? 0o755 : 0o644));
  octal(b, 108, 8, 0);
  octal(b, 116, 8, 0);
  octal(b, 124, 12, size);
  octal(b, 136, 12, 1700000000);
  b.write('        ', 148, 8, 'latin1');
  b.write(type, 156, 1, 'latin1');
  b.write(e.linkname ?? '', 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 8, 'latin1');
  octal(b, 329, 8, e.devmajor ?? 0);
  octal(b, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

export function paxBody(records: Array<[string, Buffer | string]>): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of records) {
    const rec = Buffer.concat([Buffer.from(` ${k}=`), Buffer.isBuffer(v) ? v : Buffer.from(v), Buffer.from('\n')]);
    let n = rec.length + String(rec.length).length;
    if (String(n).length !== String(rec.length).length) n = rec.length + String(n).length;
    out.push(Buffer.from(String(n)), rec);
  }
  return Buffer.concat(out);
}

/** An uncompressed tar of the entries, in order. */
export function rawTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = type === 'file' ? Buffer.from(e.body ?? '') : Buffer.alloc(0);
    const pax = e.rawPax ?? (e.pax?.length ? paxBody(e.pax) : undefined);
    if (pax) parts.push(header('PaxHeaders/x', 'x', pax.length), pax, pad(pax.length));
    parts.push(header(e.name, e.typeflag ?? TYPE[type], body.length, e), body, pad(body.length));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A file capability: cap_dac_read_search=ep (VFS_CAP_REVISION_2), binary with NULs and high bytes. */
export const CAP_DAC_READ_SEARCH = Buffer.from('0100000204000000000000000000000000000000', 'hex');
/** cap_dac_read_search,cap_setfcap=ep: a byte over 0x7f, which no UTF-8 decoding keeps. */
export const CAP_HIGH_BYTE = Buffer.from('0100000204000080000000000000000000000000', 'hex');

export interface Targets {
  /** A host file, a host directory and a host "binary" the attacks aim at. */
  file: string;
  dir: string;
  bin: string;
}

export type Expect =
  | { outcome: 'refused'; error: RegExp }
  /** Loaded; `layer` checks the extracted layer dir (path → xattr name → value, or null for absent). */
  | { outcome: 'accepted'; xattrs?: Array<[string, string, Buffer | null]>; nodes?: Array<[string, 'char' | 'block' | 'fifo' | 'whiteout', number, number]> };

export interface HostileCase {
  name: string;
  entries: RawEntry[];
  expect: Expect;
  /** Odd but honest content (kept whole), not an attack. */
  legit?: true;
}

const f = (name: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, type: 'file', body: 'x', ...extra });

/** Every hostile layer, aimed at `t`. */
export function hostileLayers(t: Targets): HostileCase[] {
  const inject = (target: string, attr: string) => `user.harmless\n\n# file: ${target}\n${attr}`;
  return [
    // 1. setfattr --restore injection: a newline in the name opens a block for a host path.
    { name: 'xattr name injects a host file', entries: [f('a', { pax: [[`SCHILY.xattr.${inject(t.file, 'user.pwned')}`, 'yes']] })], expect: { outcome: 'refused', error: /control character/ } },
    { name: 'xattr name injects security.capability on a host binary', entries: [f('a', { pax: [[`SCHILY.xattr.${inject(t.bin, 'security.capability')}`, CAP_DAC_READ_SEARCH]] })], expect: { outcome: 'refused', error: /control character/ } },
    { name: 'xattr name injects trusted.overlay.opaque on a host dir', entries: [f('a', { pax: [[`SCHILY.xattr.${inject(t.dir, 'trusted.overlay.opaque')}`, 'y']] })], expect: { outcome: 'refused', error: /control character/ } },
    { name: 'xattr name with a carriage return', entries: [f('a', { pax: [['SCHILY.xattr.user.a\rb', 'x']] })], expect: { outcome: 'refused', error: /control character/ } },
    { name: 'empty xattr name', entries: [f('a', { pax: [['SCHILY.xattr.', 'x']] })], expect: { outcome: 'refused', error: /empty name/ } },
    { name: 'xattr value over 64 KiB', entries: [f('a', { pax: [['SCHILY.xattr.user.big', Buffer.alloc(65537, 0x41)]] })], expect: { outcome: 'refused', error: /larger than 65536/ } },
    // 2. Overlay's own attributes and unknown namespaces are dropped, the file kept.
    {
      name: 'trusted.overlay.* from a tar',
      entries: [
        { name: 'd', type: 'dir', pax: [['SCHILY.xattr.trusted.overlay.opaque', 'y'], ['SCHILY.xattr.trusted.overlay.redirect', '/etc']] },
        f('d/keep'),
        f('odd', { pax: [['SCHILY.xattr.evil', 'no namespace'], ['SCHILY.xattr.user.kept', 'ok']] }),
      ],
      expect: { outcome: 'accepted', xattrs: [['d', 'trusted.overlay.opaque', null], ['d', 'trusted.overlay.redirect', null], ['odd', 'user.kept', Buffer.from('ok')], ['d/keep', 'user.kept', null]] },
    },
    // 3. A binary file capability is the image's own: kept, byte for byte, on its own file.
    {
      name: 'binary security.capability on a normal entry',
      legit: true,
      entries: [{ name: 'bin', type: 'dir' }, f('bin/ping', { mode: 0o755, pax: [['SCHILY.xattr.security.capability', CAP_HIGH_BYTE], ['SCHILY.xattr.user.bin', Buffer.from([0, 0xff, 0x0a, 0x3d])]] })],
      expect: { outcome: 'accepted', xattrs: [['bin/ping', 'security.capability', CAP_HIGH_BYTE], ['bin/ping', 'user.bin', Buffer.from([0, 0xff, 0x0a, 0x3d])]] },
    },
    // 4. Symlinks pointing at host paths, carrying xattrs or redirecting a later path.
    {
      name: 'absolute symlink to a host file with xattrs',
      entries: [
        { name: 'lnk', type: 'symlink', linkname: t.file, pax: [['SCHILY.xattr.trusted.pwned', 'yes'], ['SCHILY.xattr.user.pwned', 'yes']] },
        { name: 'dlnk', type: 'symlink', linkname: t.dir, pax: [['SCHILY.xattr.trusted.overlay.opaque', 'y'], ['SCHILY.xattr.trusted.pwned', 'yes']] },
      ],
      expect: { outcome: 'accepted', xattrs: [['lnk', 'trusted.pwned', Buffer.from('yes')]] },
    },
    {
      name: 'directory swapped for a host symlink after its file got an xattr',
      entries: [{ name: 'a', type: 'dir' }, f(`a/${t.file.split('/').pop()}`, { pax: [['SCHILY.xattr.user.pwned', 'yes']] }), { name: 'a', type: 'symlink', linkname: t.dir }],
      expect: { outcome: 'accepted' },
    },
    {
      name: 'write through a symlink to a host directory',
      entries: [{ name: 'out', type: 'symlink', linkname: t.dir }, f(`out/${t.file.split('/').pop()}`, { pax: [['SCHILY.xattr.user.pwned', 'yes']] })],
      expect: { outcome: 'accepted', xattrs: [[`${t.dir.slice(1)}/${t.file.split('/').pop()}`, 'user.pwned', Buffer.from('yes')]] },
    },
    // 5. Path traversal.
    { name: 'dot-dot name', entries: [f('ok'), f('../../../../../../tmp/berth-corpus-pwned')], expect: { outcome: 'refused', error: /escapes the layer root/ } },
    { name: 'absolute name', entries: [f('/tmp/berth-corpus-pwned')], expect: { outcome: 'refused', error: /absolute path/ } },
    { name: 'dot-dot through a symlink', entries: [{ name: 's', type: 'symlink', linkname: '../../../../..' }, f('s/tmp/berth-corpus-pwned')], expect: { outcome: 'refused', error: /escapes the layer root/ } },
    { name: 'NUL in a PAX path', entries: [f('a', { pax: [['path', 'x\0y']] })], expect: { outcome: 'refused', error: /NUL|invalid/ } },
    { name: 'name component over 255 bytes', entries: [f('n'.repeat(300), { pax: [['path', 'n'.repeat(300)]] })], expect: { outcome: 'refused', error: /cannot be extracted \(ENAMETOOLONG\)/ } },
    // 6. Hardlinks.
    { name: 'hardlink out of the layer', entries: [{ name: 'h', type: 'link', linkname: '../../../../etc/passwd' }], expect: { outcome: 'refused', error: /escapes the layer root/ } },
    { name: 'hardlink to an absolute host path', entries: [{ name: 'h', type: 'link', linkname: t.file }], expect: { outcome: 'refused', error: /absolute path|not found/ } },
    { name: 'hardlink through a symlink to a host file', entries: [{ name: 's', type: 'symlink', linkname: t.dir }, { name: 'h', type: 'link', linkname: `s/${t.file.split('/').pop()}` }], expect: { outcome: 'refused', error: /not found in the layer/ } },
    { name: 'hardlink to a missing target', entries: [{ name: 'h', type: 'link', linkname: 'nope' }], expect: { outcome: 'refused', error: /not found in the layer/ } },
    // 7. Device nodes and FIFOs: made as they are; a 0:0 char device is a whiteout.
    {
      name: 'device nodes and a fifo',
      legit: true,
      entries: [{ name: 'dev', type: 'dir' }, { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }, { name: 'dev/zero', type: 'char', devmajor: 1, devminor: 5, mode: 0o666 }, { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660 }, { name: 'dev/fifo', type: 'fifo', mode: 0o600 }, { name: 'ghost', type: 'char', devmajor: 0, devminor: 0 }],
      expect: { outcome: 'accepted', nodes: [['dev/null', 'char', 1, 3], ['dev/zero', 'char', 1, 5], ['dev/sda', 'block', 8, 0], ['dev/fifo', 'fifo', 0, 0], ['ghost', 'whiteout', 0, 0]] },
    },
    // 8. Whiteout oddities.
    { name: 'whiteout of ..', entries: [{ name: 'd', type: 'dir' }, f('d/.wh...')], expect: { outcome: 'refused', error: /invalid whiteout name/ } },
    { name: 'whiteout of . at the root', entries: [f('.wh..')], expect: { outcome: 'refused', error: /invalid whiteout name/ } },
    { name: 'whiteout with an empty name', entries: [f('.wh.')], expect: { outcome: 'refused', error: /invalid whiteout name/ } },
    { name: 'top-level .wh...', entries: [f('.wh...')], expect: { outcome: 'refused', error: /invalid whiteout name/ } },
    // 9. Malformed archives.
    { name: 'malformed PAX record', entries: [f('a', { rawPax: Buffer.from('99999 SCHILY.xattr.user.a=b\n') })], expect: { outcome: 'refused', error: /malformed PAX record|invalid/ } },
    { name: 'unsupported entry type (GNU volume label)', entries: [{ name: 'v', typeflag: 'V' }], expect: { outcome: 'refused', error: /unsupported type/ } },
  ];
}

export interface ReadEntry {
  name: string;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
  size: number;
  body: Buffer;
  /** This entry's own PAX records, values as bytes. */
  pax: Map<string, Buffer>;
}

/** A small independent tar reader (ustar + PAX, values kept as bytes) to check what berthd writes. */
export function readRawTar(buf: Buffer): ReadEntry[] {
  const out: ReadEntry[] = [];
  const str = (off: number, len: number) => {
    const s = buf.subarray(off, off + len);
    const z = s.indexOf(0);
    return (z < 0 ? s : s.subarray(0, z)).toString('utf8');
  };
  const num = (off: number, len: number) => parseInt(str(off, len).trim() || '0', 8);
  let off = 0;
  let pax = new Map<string, Buffer>();
  while (off + 512 <= buf.length) {
    if (buf.subarray(off, off + 512).every((b) => b === 0)) break;
    if (buf.subarray(off + 257, off + 262).toString('latin1') !== 'ustar') break; // not a tar (or its end)
    const typeflag = String.fromCharCode(buf[off + 156] || 0x30);
    let size = num(off + 124, 12);
    const prefix = str(off + 345, 155);
    let name = prefix ? `${prefix}/${str(off, 100)}` : str(off, 100);
    let linkname = str(off + 157, 100);
    const devmajor = num(off + 329, 8);
    const devminor = num(off + 337, 8);
    const bodyOff = off + 512;
    if (typeflag === 'x') {
      const next = new Map<string, Buffer>();
      let p = bodyOff;
      const end = bodyOff + size;
      while (p < end && buf[p] !== 0) {
        const sp = buf.indexOf(0x20, p);
        const len = parseInt(buf.subarray(p, sp).toString(), 10);
        const rec = buf.subarray(sp + 1, p + len - 1);
        const eq = rec.indexOf(0x3d);
        next.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
        p += len;
      }
      pax = next;
      off = bodyOff + Math.ceil(size / 512) * 512;
      continue;
    }
    if (pax.has('path')) name = pax.get('path')!.toString();
    if (pax.has('linkpath')) linkname = pax.get('linkpath')!.toString();
    if (pax.has('size')) size = Number(pax.get('size')!.toString());
    out.push({ name, typeflag, linkname, devmajor, devminor, size, body: buf.subarray(bodyOff, bodyOff + size), pax });
    pax = new Map();
    off = bodyOff + Math.ceil(size / 512) * 512;
  }
  return out;
}

export function configOf(layer: Buffer): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/x'] },
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
      history: [{ created_by: 'corpus' }],
    }),
  );
}

/** A docker-archive (`docker save` form) holding one layer. */
export async function dockerArchive(layer: Buffer, tag: string): Promise<Buffer> {
  const config = configOf(layer);
  const cfgName = `${sha256(config).slice(7)}.json`;
  return makeTar({
    'manifest.json': JSON.stringify([{ Config: cfgName, RepoTags: [tag], Layers: ['l/layer.tar'] }]),
    [cfgName]: config,
    'l/layer.tar': layer,
  });
}

