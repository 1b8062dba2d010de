// Content store: immutable blobs (layers, configs, manifests) addressed by
// sha256 digest under <dataRoot>/blobs/sha256/<hex>. A blob is written to a
// temp file, hashed while written, verified against the expected digest,
// fsynced and renamed into place — so a blob path, once present, is whole.
//
//   has(digest) / path(digest)       where a blob is
//   put(source, expected?)           store a stream or bytes → {digest, size}
//   adopt(file, digest)              store an already-hashed file (hard link)
//   readBytes(digest)                small blobs (configs, manifests)
//   delete(digest)                   idempotent
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { InvalidParameter, NotFound } from '../util/errors';
import { digestCounter } from '../util/digest';

export interface BlobInfo { digest: string; size: number }

const DIGEST = /^sha256:([a-f0-9]{64})$/;

export class ContentStore {
  readonly dir: string;
  readonly tmpDir: string;

  constructor(dataRoot: string) {
    this.dir = path.join(dataRoot, 'blobs', 'sha256');
    this.tmpDir = path.join(dataRoot, 'blobs', 'tmp');
  }

  init(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // Temp files left by a crash are garbage.
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
    fs.mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  path(digest: string): string {
    const m = DIGEST.exec(digest);
    if (!m) throw new InvalidParameter(`invalid digest: ${digest}`);
    return path.join(this.dir, m[1]);
  }

  has(digest: string): boolean {
    return DIGEST.test(digest) && fs.existsSync(this.path(digest));
  }

  /** A fresh temp path inside the store's filesystem (for callers staging data). */
  tempPath(suffix = ''): string {
    return path.join(this.tmpDir, randomBytes(12).toString('hex') + suffix);
  }

  /**
   * Stores a blob. With `expected`, a mismatch throws and leaves nothing.
   */
  async put(source: NodeJS.ReadableStream | Buffer, expected?: string): Promise<BlobInfo> {
    if (expected !== undefined) this.path(expected); // validates its form
    const tmp = this.tempPath();
    const counter = digestCounter();
    const input = Buffer.isBuffer(source) ? Readable.from([source]) : (source as Readable);
    try {
      await pipeline(input, counter.stream, fs.createWriteStream(tmp, { mode: 0o600 }));
      const digest = counter.digest();
      if (expected !== undefined && expected !== digest) {
        throw new InvalidParameter(`digest mismatch: expected ${expected}, got ${digest}`);
      }
      await this.commitFile(tmp, digest);
      return { digest, size: counter.size() };
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  /** Moves an already-hashed temp file (from tempPath) into place. */
  async commitFile(tmp: string, digest: string): Promise<void> {
    const fh = await fsp.open(tmp, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
    const dest = this.path(digest);
    if (fs.existsSync(dest)) { await fsp.rm(tmp, { force: true }); return; }
    await fsp.rename(tmp, dest);
    const dh = await fsp.open(this.dir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  }

  /**
   * Stores a file whose digest the caller has just computed (a staged
   * layer tar), without copying it when it is on this file system: a hard
   * link, so the caller's path stays valid until it deletes it.
   */
  async adopt(file: string, digest: string): Promise<void> {
    if (this.has(digest)) return;
    const tmp = this.tempPath();
    try {
      try {
        await fsp.link(file, tmp);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
        await fsp.copyFile(file, tmp);
      }
      await this.commitFile(tmp, digest);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  readBytes(digest: string): Buffer {
    const p = this.path(digest);
    try {
      return fs.readFileSync(p);
    } catch {
      throw new NotFound(`blob ${digest} not found`);
    }
  }

  createReadStream(digest: string): fs.ReadStream {
    if (!this.has(digest)) throw new NotFound(`blob ${digest} not found`);
    return fs.createReadStream(this.path(digest));
  }

  size(digest: string): number {
    return fs.statSync(this.path(digest)).size;
  }

  delete(digest: string): void {
    if (!DIGEST.test(digest)) return;
    fs.rmSync(this.path(digest), { force: true });
  }
}
