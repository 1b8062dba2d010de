// Tar-split: a layer made here is kept once, as its extracted files, plus a
// small file that lets the exact tar be made again (save, push) — the idea of
// Docker's tar-split, in our own format. While a layer tar is extracted, every
// byte that is not a regular file's content (headers, PAX and GNU long-name
// records, padding, the end blocks, anything after them) is kept verbatim; a
// file's content is kept as a reference to the extracted file that holds it.
// Regeneration streams the kept bytes and the files' contents in order; the
// caller checks the result against the layer's diffID.
//
// A later entry of the same tar may remove a file an earlier entry wrote (a
// duplicate name, a whiteout, a directory replaced by a file): such a file is
// hard-linked aside (<layer>/split-files/<n>) before it goes, so its bytes
// stay reachable outside the layer's diff.
//
// Format (gzip): "BERTHSPLIT1\n", then records —
//   'R' u32 len, bytes          raw bytes of the tar
//   'F' u64 size, u32 len, path a file's content, path relative to diff/
//   'A' u64 size, u32 n         a file's content, split-files/<n>
//   'E' u64 total               the end; total = bytes of the tar
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';

export const SPLIT_FILE = 'tar-split';
export const ASIDE_DIR = 'split-files';
const MAGIC = Buffer.from('BERTHSPLIT1\n');
const ARENA = 1 << 20;
const READ_CHUNK = 1 << 20;

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

interface FileRec { kind: 'file'; size: number; rel?: string; aside?: number; decided: boolean }
type Rec = { kind: 'raw'; parts: Buffer[]; len: number } | FileRec;

/** A regular file's content in the tar, as handed out by SplitRecorder.cut. */
export type SplitHandle = FileRec | undefined;

/** A record of the format: raw tar bytes, or a file's content by its path in diff/ or its aside number. */
export type SplitRecord = { raw: Buffer[]; len: number } | { size: number; rel: string } | { size: number; aside: number };

/** Writes <layerDir>/tar-split from its records (SplitRecorder.save, or cloneUpper which knows them without a tar). */
export async function writeSplit(layerDir: string, recs: SplitRecord[]): Promise<void> {
  const out: Buffer[] = [MAGIC];
  let total = 0;
  for (const r of recs) {
    if ('raw' in r) {
      const h = Buffer.alloc(5);
      h[0] = 0x52; // R
      h.writeUInt32BE(r.len, 1);
      out.push(h, ...r.raw);
      total += r.len;
    } else if ('aside' in r) {
      const h = Buffer.alloc(13);
      h[0] = 0x41; // A
      h.writeBigUInt64BE(BigInt(r.size), 1);
      h.writeUInt32BE(r.aside, 9);
      out.push(h);
      total += r.size;
    } else {
      const p = Buffer.from(r.rel);
      const h = Buffer.alloc(13);
      h[0] = 0x46; // F
      h.writeBigUInt64BE(BigInt(r.size), 1);
      h.writeUInt32BE(p.length, 9);
      out.push(h, p);
      total += r.size;
    }
  }
  const end = Buffer.alloc(9);
  end[0] = 0x45; // E
  end.writeBigUInt64BE(BigInt(total), 1);
  out.push(end);
  const body = await gzip(Buffer.concat(out), { level: 1 });
  await fsp.writeFile(path.join(layerDir, SPLIT_FILE), body, { mode: 0o600 });
}

/**
 * Watches one extraction (applyTar): fed every byte of the tar in order, told
 * where each regular file's content lies and where it was written, and told
 * before anything in the layer is removed.
 */
export class SplitRecorder {
  private readonly recs: Rec[] = [];
  private arena = Buffer.allocUnsafe(ARENA);
  private arenaUsed = 0;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** Absolute offset of the first pending byte. */
  private cursor = 0;
  private readonly cuts: Array<{ start: number; end: number; rec: FileRec; entered: boolean }> = [];
  private lastCutEnd = 0;
  private fed = 0;
  private asides = 0;
  private root = '';
  /** Extracted path (relative to the root) → file records whose content it holds. */
  private readonly byPath = new Map<string, FileRec[]>();
  /** Why the tar cannot be made again from this record (then nothing is saved). */
  broken: string | undefined;

  /** `layerDir` holds diff/ (the root applyTar extracts into). */
  constructor(readonly layerDir: string) {}

  /** The whole file as native/fsroot/tar-extract.c made it (magic first, uncompressed), or undefined when it could not. */
  private native: { body?: Buffer } | undefined;

  /** The extraction was the addon's: save() writes what it made instead of this record. */
  useNative(body: Buffer | undefined): void {
    this.native = { body };
  }

  /** The real path of the root entries are extracted under (applyTar's). */
  attach(realRoot: string): void {
    this.root = realRoot;
  }

  /** Every byte of the tar, in order, before the extractor sees it. */
  feed(chunk: Buffer): void {
    if (this.broken || chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    this.fed += chunk.length;
    this.drain();
  }

  /**
   * A regular file's content: `size` bytes at `start`, before the extractor
   * reads it. Returns a handle for placed() or unplaced(), one of which
   * comes before the content is read (until then the bytes wait here).
   * Cuts come in order, each after the previous one.
   */
  cut(start: number, size: number): SplitHandle {
    if (this.broken) return undefined;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || size <= 0 || start < this.lastCutEnd || start < this.cursor) {
      this.broken = `file content at ${start} (${size} bytes) out of order`;
      return undefined;
    }
    this.lastCutEnd = start + size;
    const rec: FileRec = { kind: 'file', size, decided: false };
    this.cuts.push({ start, end: start + size, rec, entered: false });
    this.drain();
    return rec;
  }

  /** The content of cut `rec` is about to be written to `full` (a path under the root with no symlink in it). */
  placed(rec: SplitHandle, full: string): void {
    if (this.broken || !rec || rec.decided) return;
    const rel = this.relOf(full);
    if (rel === undefined) { this.broken = `file outside the layer: ${full}`; return; }
    rec.rel = rel;
    rec.decided = true;
    const list = this.byPath.get(rel) ?? [];
    list.push(rec);
    this.byPath.set(rel, list);
    this.drain();
  }

  /** Cut `rec` is not written as a file (a whiteout, the root): its bytes stay raw. No-op after placed(). */
  unplaced(rec: SplitHandle): void {
    if (this.broken || !rec || rec.decided) return;
    rec.decided = true;
    const i = this.cuts.findIndex((c) => c.rec === rec);
    if (i >= 0) this.cuts.splice(i, 1);
    this.drain();
  }

  /**
   * `full` is about to be removed (file, link or whole directory): the
   * contents recorded under it are hard-linked aside first.
   */
  removing(full: string, isDir: boolean): void {
    if (this.broken || this.byPath.size === 0) return;
    const rel = this.relOf(full);
    if (rel === undefined) return;
    if (!isDir) { this.setAside(rel); return; }
    // Walk what is being removed (as much work as the removal itself).
    const walk = (relDir: string): void => {
      let ents: fs.Dirent[];
      try { ents = fs.readdirSync(path.join(this.root, relDir), { withFileTypes: true }); } catch { return; }
      for (const e of ents) {
        const r = path.join(relDir, e.name);
        if (e.isDirectory()) walk(r);
        else this.setAside(r);
      }
    };
    walk(rel);
  }

  private setAside(rel: string): void {
    const list = this.byPath.get(rel);
    if (!list) return;
    this.byPath.delete(rel);
    const asideDir = path.join(this.layerDir, ASIDE_DIR);
    if (this.asides === 0) fs.mkdirSync(asideDir, { mode: 0o700 });
    const n = this.asides++;
    fs.linkSync(path.join(this.root, rel), path.join(asideDir, String(n)));
    for (const rec of list) { rec.rel = undefined; rec.aside = n; }
  }

  private relOf(full: string): string | undefined {
    const rel = path.relative(this.root, full);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
    return rel;
  }

  /** Classifies pending bytes as raw or content while the cuts allow. */
  private drain(): void {
    while (this.pendingLen > 0) {
      const cut = this.cuts[0];
      if (!cut) return; // a header not yet parsed may still cut what is pending
      if (this.cursor >= cut.start) {
        if (!cut.rec.decided) return; // placed() or unplaced() says what these bytes are
        if (!cut.entered) {
          // The raw bytes before it are all taken: the file record follows them.
          cut.entered = true;
          this.pushRaw();
          this.recs.push(cut.rec);
        }
        const n = Math.min(cut.end - this.cursor, this.pendingLen);
        this.take(n, false);
        if (this.cursor === cut.end) this.cuts.shift();
        continue;
      }
      this.take(Math.min(cut.start - this.cursor, this.pendingLen), true);
    }
  }

  /** Takes n pending bytes, copying them into the current raw record when `keep`. */
  private take(n: number, keep: boolean): void {
    let left = n;
    while (left > 0) {
      const b = this.pending[0];
      const k = Math.min(left, b.length);
      if (keep) this.copyRaw(b.subarray(0, k));
      if (k === b.length) this.pending.shift();
      else this.pending[0] = b.subarray(k);
      left -= k;
    }
    this.pendingLen -= n;
    this.cursor += n;
  }

  private rawParts: Buffer[] = [];
  private rawLen = 0;

  /** Copies (chunks are the stream's and may hold much more than a header). */
  private copyRaw(b: Buffer): void {
    let off = 0;
    while (off < b.length) {
      if (this.arenaUsed === this.arena.length) { this.arena = Buffer.allocUnsafe(ARENA); this.arenaUsed = 0; }
      const k = b.copy(this.arena, this.arenaUsed, off);
      this.rawParts.push(this.arena.subarray(this.arenaUsed, this.arenaUsed + k));
      this.rawLen += k;
      this.arenaUsed += k;
      off += k;
    }
  }

  private pushRaw(): void {
    if (this.rawLen === 0) return;
    this.recs.push({ kind: 'raw', parts: this.rawParts, len: this.rawLen });
    this.rawParts = [];
    this.rawLen = 0;
  }

  /**
   * Writes the record as <layerDir>/tar-split once the whole tar was fed and
   * extracted. False (nothing written) when it cannot reproduce the tar.
   */
  async save(): Promise<boolean> {
    if (this.native) {
      if (!this.native.body) { this.broken = 'the native extractor made no tar-split'; return false; }
      await fsp.writeFile(path.join(this.layerDir, SPLIT_FILE), await gzip(this.native.body, { level: 1 }), { mode: 0o600 });
      return true;
    }
    if (!this.broken && this.cuts.length) this.broken = 'a file entry was not finished';
    if (this.broken) return false;
    this.take(this.pendingLen, true);
    this.pushRaw();
    const recs: SplitRecord[] = [];
    for (const r of this.recs) {
      if (r.kind === 'raw') recs.push({ raw: r.parts, len: r.len });
      else if (r.aside !== undefined) recs.push({ size: r.size, aside: r.aside });
      else if (r.rel !== undefined) recs.push({ size: r.size, rel: r.rel });
      else {
        this.broken = 'a file entry was not extracted';
        return false;
      }
    }
    const total = recs.reduce((n, r) => n + ('raw' in r ? r.len : r.size), 0);
    if (total !== this.fed) { this.broken = `accounted ${total} of ${this.fed} bytes`; return false; }
    await writeSplit(this.layerDir, recs);
    return true;
  }
}

export function hasSplit(layerDir: string): boolean {
  return fs.existsSync(path.join(layerDir, SPLIT_FILE));
}

type Piece = { raw: Buffer } | { file: string; size: number };

async function readSplit(layerDir: string): Promise<{ pieces: Piece[]; total: number }> {
  const buf = await gunzip(await fsp.readFile(path.join(layerDir, SPLIT_FILE)));
  const bad = (why: string): Error => new Error(`tar-split of ${layerDir} is damaged: ${why}`);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('bad magic');
  const pieces: Piece[] = [];
  let off = MAGIC.length;
  let sum = 0;
  const need = (n: number): void => { if (off + n > buf.length) throw bad('truncated'); };
  for (;;) {
    need(1);
    const t = buf[off++];
    if (t === 0x52) {
      need(4);
      const len = buf.readUInt32BE(off);
      off += 4;
      need(len);
      pieces.push({ raw: buf.subarray(off, off + len) });
      off += len;
      sum += len;
    } else if (t === 0x46 || t === 0x41) {
      need(12);
      const size = Number(buf.readBigUInt64BE(off));
      const n = buf.readUInt32BE(off + 8);
      off += 12;
      let file: string;
      if (t === 0x46) {
        need(n);
        const rel = buf.subarray(off, off + n).toString();
        off += n;
        if (rel === '' || path.isAbsolute(rel) || rel.split('/').includes('..')) throw bad('bad path');
        file = path.join(layerDir, 'diff', rel);
      } else {
        file = path.join(layerDir, ASIDE_DIR, String(n));
      }
      pieces.push({ file, size });
      sum += size;
    } else if (t === 0x45) {
      need(8);
      const total = Number(buf.readBigUInt64BE(off));
      if (total !== sum) throw bad(`sizes add up to ${sum}, not ${total}`);
      return { pieces, total };
    } else {
      throw bad(`unknown record ${t}`);
    }
  }
}

/**
 * The layer's tar, made again from <layerDir>/tar-split and its files. Not
 * verified here: the caller checks it against the diffID.
 */
export function regenerateTar(layerDir: string): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    const { pieces } = await readSplit(layerDir);
    // Small pieces (headers, most files of a rootfs) are gathered into
    // batches of ~1 MiB and small files read synchronously: thousands of
    // thread-pool round trips and stream chunks cost more than the reads.
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = (): Buffer => {
      const out = batch.length === 1 ? batch[0] : Buffer.concat(batch, batched);
      batch = [];
      batched = 0;
      return out;
    };
    for (const p of pieces) {
      if ('raw' in p) {
        batch.push(p.raw);
        batched += p.raw.length;
      } else if (p.size <= SMALL_READ) {
        batch.push(readSmall(p.file, p.size));
        batched += p.size;
      } else {
        if (batched) yield flush();
        yield* readLarge(p.file, p.size);
      }
      if (batched >= READ_CHUNK) yield flush();
    }
    if (batched) yield flush();
  }
  return Readable.from(gen(), { objectMode: false });
}

const SMALL_READ = 256 * 1024;

function shortFile(file: string, size: number): Error {
  return new Error(`layer file ${file} is shorter than the tar says (${size} bytes)`);
}

function readSmall(file: string, size: number): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const b = Buffer.allocUnsafe(size);
    for (let off = 0; off < size;) {
      const k = fs.readSync(fd, b, off, size - off, off);
      if (k === 0) throw shortFile(file, size);
      off += k;
    }
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

async function* readLarge(file: string, size: number): AsyncGenerator<Buffer> {
  const fh = await fsp.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      const b = Buffer.allocUnsafe(Math.min(READ_CHUNK, left));
      const { bytesRead } = await fh.read(b, 0, b.length, size - left);
      if (bytesRead === 0) throw shortFile(file, size);
      left -= bytesRead;
      yield bytesRead === b.length ? b : b.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
