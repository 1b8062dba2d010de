// PAX extended-header records as bytes. tar-stream decodes every record as
// UTF-8 text, which destroys binary values such as a file capability
// (security.capability); Go's archive/tar, and so Docker, keeps the bytes.
// Reading: `keepRawPax` makes one extractor also keep each entry's own
// records undecoded. Writing: `paxRecords` encodes them for tar-writer.ts.
import type * as tar from 'tar-stream';
import { InvalidParameter } from '../../util/errors';

const RAW = Symbol('berth.rawPax');
export const XATTR_KEY = 'SCHILY.xattr.';

/** Parses a PAX extended header body: `"<len> <key>=<value>\n"` records. */
export function parsePaxRecords(buf: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break; // NUL padding after the last record
    const sp = buf.indexOf(0x20, off);
    const lenText = sp < 0 ? '' : buf.subarray(off, sp).toString('latin1');
    const len = /^[0-9]{1,8}$/.test(lenText) ? Number(lenText) : NaN;
    if (!(len > sp - off + 2) || off + len > buf.length || buf[off + len - 1] !== 0x0a) {
      throw new InvalidParameter('invalid tar archive: malformed PAX record');
    }
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new InvalidParameter('invalid tar archive: malformed PAX record');
    out.push([rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1))]);
    off += len;
  }
  return out;
}

/** Encodes records as a PAX extended header body (values as raw bytes). */
export function paxRecords(records: Array<[string, Buffer | string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of records) {
    const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.isBuffer(v) ? v : Buffer.from(v), Buffer.from('\n')]);
    // The length counts its own digits.
    let n = body.length + String(body.length).length;
    if (String(n).length !== String(body.length).length) n = body.length + String(n).length;
    parts.push(Buffer.from(String(n)), body);
  }
  return Buffer.concat(parts);
}

/**
 * Makes `extract` attach each entry's own PAX records, undecoded, to its
 * header (global records are left out: Docker ignores global headers when
 * applying a layer). Relies on tar-stream 3's extractor internals, checked
 * here so that a change fails loudly rather than losing values.
 */
export function keepRawPax(extract: tar.Extract): void {
  const ex = extract as unknown as { _decodeLongHeader?: (buf: Buffer) => void; _header?: { type?: string }; _pax?: object | null };
  const orig = ex._decodeLongHeader;
  if (typeof orig !== 'function') throw new Error('tar-stream changed: cannot read raw PAX records');
  ex._decodeLongHeader = function (this: typeof ex, buf: Buffer) {
    const raw = this._header?.type === 'pax-header' ? parsePaxRecords(buf) : undefined;
    orig.call(this, buf);
    if (raw && this._pax) Object.defineProperty(this._pax, RAW, { value: raw, enumerable: false });
  };
}

/** The entry's own PAX records as kept by `keepRawPax`, or undefined. */
export function rawPaxOf(h: tar.Header): Array<[string, Buffer]> | undefined {
  const pax = (h as { pax?: Record<PropertyKey, unknown> | null }).pax;
  return pax ? (pax[RAW] as Array<[string, Buffer]> | undefined) : undefined;
}

/**
 * The entry's xattrs from SCHILY.xattr.* records (the form GNU tar, bsdtar
 * and Go write), values as bytes; a repeated name keeps its last value.
 */
export function rawXattrsOf(h: tar.Header): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const raw = rawPaxOf(h);
  if (!raw) {
    const pax = (h as { pax?: Record<string, string> | null }).pax;
    if (pax && Object.keys(pax).some((k) => k.startsWith(XATTR_KEY))) {
      throw new Error('tar-stream changed: PAX xattrs seen without their raw bytes');
    }
    return out;
  }
  for (const [k, v] of raw) if (k.startsWith(XATTR_KEY)) out.set(k.slice(XATTR_KEY.length), v);
  return out;
}
