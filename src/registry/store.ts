// The registry server's storage: a plain directory tree, crash-safe by
// writing temp files and renaming them into place.
//
//   <root>/blobs/sha256/<hex>                       content (layers, configs, manifests)
//   <root>/repositories/<name>/_blobs/sha256/<hex>  link: the repo may serve this blob
//   <root>/repositories/<name>/_manifests/sha256/<hex>  link holding the manifest's media type
//   <root>/repositories/<name>/_tags/<tag>          the digest the tag points at
//   <root>/repositories/<name>/_uploads/<uuid>/data upload in progress
//   <root>/tmp/                                     temp files before rename
//
// Repository sub-folders start with "_", which no name component may start
// with, so a repository called "team/_tags" cannot exist and nothing clashes.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { RegistryError } from './errors';
import { checkName, hexOf, isTag } from './names';

interface UploadHash {
  hash: Hash;
  offset: number;
}

export class RegistryStore {
  /** Running sha256 of uploads this process has seen, so PUT need not reread the file. */
  private readonly uploadHashes = new Map<string, UploadHash>();

  constructor(readonly root: string) {}

  /** Creates the layout; `sweepTmp` (server start only) drops temp files a crash left. */
  async init(sweepTmp = true): Promise<void> {
    for (const d of ['blobs/sha256', 'repositories', 'tmp']) {
      await fsp.mkdir(path.join(this.root, d), { recursive: true });
    }
    if (!sweepTmp) return;
    for (const f of await fsp.readdir(path.join(this.root, 'tmp'))) {
      await fsp.rm(path.join(this.root, 'tmp', f), { force: true, recursive: true });
    }
  }

  blobPath(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', hexOf(digest));
  }

  repoDir(name: string): string {
    return path.join(this.root, 'repositories', ...checkName(name).split('/'));
  }

  private blobLink(name: string, digest: string): string {
    return path.join(this.repoDir(name), '_blobs', 'sha256', hexOf(digest));
  }

  private manifestLink(name: string, digest: string): string {
    return path.join(this.repoDir(name), '_manifests', 'sha256', hexOf(digest));
  }

  private tagFile(name: string, tag: string): string {
    if (!isTag(tag)) throw new RegistryError('MANIFEST_INVALID', `invalid tag: ${tag}`, { tag }, 400);
    return path.join(this.repoDir(name), '_tags', tag);
  }

  private uploadDir(name: string, uuid: string): string {
    if (!/^[a-f0-9-]{36}$/.test(uuid)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return path.join(this.repoDir(name), '_uploads', uuid);
  }

  /** Writes a small file atomically: temp + fsync + rename. */
  private async writeAtomic(file: string, data: string | Buffer): Promise<void> {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = path.join(this.root, 'tmp', randomUUID());
    const fh = await fsp.open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fsp.rename(tmp, file);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  // ---- blobs ----

  async blobSize(digest: string): Promise<number | undefined> {
    try {
      return (await fsp.stat(this.blobPath(digest))).size;
    } catch {
      return undefined;
    }
  }

  /** Size of a blob the repository may serve, or undefined. */
  async repoBlobSize(name: string, digest: string): Promise<number | undefined> {
    if (!fs.existsSync(this.blobLink(name, digest))) return undefined;
    return this.blobSize(digest);
  }

  async linkBlob(name: string, digest: string): Promise<void> {
    const link = this.blobLink(name, digest);
    await fsp.mkdir(path.dirname(link), { recursive: true });
    // A fresh mtime tells gc the link is recent even when the blob is old.
    await fsp.writeFile(link, '');
  }

  /** Marks a repository's blob link as just used (a pusher's HEAD), so gc's grace period covers it. */
  async touchBlobLink(name: string, digest: string): Promise<void> {
    const now = new Date();
    await fsp.utimes(this.blobLink(name, digest), now, now).catch(() => {});
  }

  async unlinkBlob(name: string, digest: string): Promise<boolean> {
    try {
      await fsp.unlink(this.blobLink(name, digest));
      return true;
    } catch {
      return false;
    }
  }

  /** Stores bytes already in memory (manifests) under their digest. */
  async putBlobBytes(digest: string, data: Buffer): Promise<void> {
    if ((await this.blobSize(digest)) === data.length) return;
    await this.writeAtomic(this.blobPath(digest), data);
  }

  // ---- uploads ----

  async startUpload(name: string): Promise<string> {
    const uuid = randomUUID();
    const dir = this.uploadDir(name, uuid);
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(path.join(dir, 'data'), '');
    await fsp.writeFile(path.join(dir, 'startedat'), new Date().toISOString());
    this.uploadHashes.set(uuid, { hash: createHash('sha256'), offset: 0 });
    return uuid;
  }

  /** Bytes received so far, or BLOB_UPLOAD_UNKNOWN. */
  async uploadSize(name: string, uuid: string): Promise<number> {
    try {
      return (await fsp.stat(path.join(this.uploadDir(name, uuid), 'data'))).size;
    } catch {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    }
  }

  /** Appends a request body to an upload; `start` (from Content-Range) must equal the current size. */
  async appendUpload(name: string, uuid: string, body: Readable, start?: number): Promise<number> {
    const size = await this.uploadSize(name, uuid);
    if (start !== undefined && start !== size) {
      throw new RegistryError('RANGE_INVALID', `content range starts at ${start}, upload is at ${size}`, undefined, 416);
    }
    let st = this.uploadHashes.get(uuid);
    if (st && st.offset !== size) {
      this.uploadHashes.delete(uuid);
      st = undefined;
    }
    const hashing = st;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (hashing) {
          hashing.hash.update(chunk);
          hashing.offset += chunk.length;
        }
        cb(null, chunk);
      },
    });
    const file = path.join(this.uploadDir(name, uuid), 'data');
    try {
      await pipeline(body, hasher, fs.createWriteStream(file, { flags: 'a' }));
    } catch (e) {
      // The hash may now be ahead of the file; drop it and rehash at the end.
      this.uploadHashes.delete(uuid);
      throw new RegistryError('BLOB_UPLOAD_INVALID', `upload interrupted: ${(e as Error).message}`);
    }
    return this.uploadSize(name, uuid);
  }

  /** Verifies the upload against `digest` and moves it into the blob store. */
  async finishUpload(name: string, uuid: string, digest: string): Promise<number> {
    const dir = this.uploadDir(name, uuid);
    const file = path.join(dir, 'data');
    const size = await this.uploadSize(name, uuid);
    let actual: string;
    const st = this.uploadHashes.get(uuid);
    if (st && st.offset === size) {
      actual = 'sha256:' + st.hash.digest('hex');
    } else {
      const h = createHash('sha256');
      await pipeline(fs.createReadStream(file), h);
      actual = 'sha256:' + h.digest('hex');
    }
    this.uploadHashes.delete(uuid);
    if (actual !== digest) {
      await this.cancelUpload(name, uuid);
      throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { digest, actual });
    }
    if ((await this.blobSize(digest)) === size) {
      await this.cancelUpload(name, uuid);
    } else {
      const fh = await fsp.open(file, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(file, this.blobPath(digest));
      await fsp.rm(dir, { recursive: true, force: true });
    }
    await this.linkBlob(name, digest);
    return size;
  }

  async cancelUpload(name: string, uuid: string): Promise<void> {
    this.uploadHashes.delete(uuid);
    await fsp.rm(this.uploadDir(name, uuid), { recursive: true, force: true });
  }

  // ---- manifests and tags ----

  async putManifest(name: string, digest: string, mediaType: string, data: Buffer, tag?: string): Promise<void> {
    await this.putBlobBytes(digest, data);
    await this.writeAtomic(this.manifestLink(name, digest), mediaType);
    if (tag) await this.writeAtomic(this.tagFile(name, tag), digest);
  }

  async resolveTag(name: string, tag: string): Promise<string | undefined> {
    try {
      const d = (await fsp.readFile(this.tagFile(name, tag), 'utf8')).trim();
      return d || undefined;
    } catch {
      return undefined;
    }
  }

  async getManifest(name: string, digest: string): Promise<{ mediaType: string; data: Buffer } | undefined> {
    let mediaType: string;
    try {
      mediaType = (await fsp.readFile(this.manifestLink(name, digest), 'utf8')).trim();
    } catch {
      return undefined;
    }
    try {
      return { mediaType, data: await fsp.readFile(this.blobPath(digest)) };
    } catch {
      return undefined;
    }
  }

  /** When the manifest was linked into the repository (0 if it is not). */
  async manifestLinkMtime(name: string, digest: string): Promise<number> {
    try {
      return (await fsp.stat(this.manifestLink(name, digest))).mtimeMs;
    } catch {
      return 0;
    }
  }

  async hasManifest(name: string, digest: string): Promise<boolean> {
    return fs.existsSync(this.manifestLink(name, digest)) && fs.existsSync(this.blobPath(digest));
  }

  /** Removes a manifest from a repository and every tag that points at it. */
  async deleteManifest(name: string, digest: string): Promise<boolean> {
    const link = this.manifestLink(name, digest);
    if (!fs.existsSync(link)) return false;
    for (const tag of await this.tags(name)) {
      if ((await this.resolveTag(name, tag)) === digest) await fsp.rm(this.tagFile(name, tag), { force: true });
    }
    await fsp.rm(link, { force: true });
    return true;
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    try {
      await fsp.unlink(this.tagFile(name, tag));
      return true;
    } catch {
      return false;
    }
  }

  async repoExists(name: string): Promise<boolean> {
    return fs.existsSync(path.join(this.repoDir(name), '_manifests'));
  }

  async tags(name: string): Promise<string[]> {
    try {
      return (await fsp.readdir(path.join(this.repoDir(name), '_tags'))).filter(isTag).sort();
    } catch {
      return [];
    }
  }

  /** Digests of all manifests linked in a repository. */
  async manifestDigests(name: string): Promise<string[]> {
    try {
      const dir = path.join(this.repoDir(name), '_manifests', 'sha256');
      return (await fsp.readdir(dir)).filter((h) => /^[a-f0-9]{64}$/.test(h)).map((h) => 'sha256:' + h);
    } catch {
      return [];
    }
  }

  /** Every repository (a folder holding `_manifests`), in lexical order. */
  async repositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string[]) => {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        if (e.name === '_manifests') out.push(prefix.join('/'));
        else if (!e.name.startsWith('_')) await walk(path.join(dir, e.name), [...prefix, e.name]);
      }
    };
    await walk(path.join(this.root, 'repositories'), []);
    return out.sort();
  }

  /** Blob links of a repository with their mtimes (for gc). */
  async blobLinks(name: string): Promise<{ digest: string; mtimeMs: number; file: string }[]> {
    const dir = path.join(this.repoDir(name), '_blobs', 'sha256');
    const out: { digest: string; mtimeMs: number; file: string }[] = [];
    let names: string[] = [];
    try {
      names = await fsp.readdir(dir);
    } catch {
      return out;
    }
    for (const h of names) {
      if (!/^[a-f0-9]{64}$/.test(h)) continue;
      const file = path.join(dir, h);
      try {
        out.push({ digest: 'sha256:' + h, mtimeMs: (await fsp.stat(file)).mtimeMs, file });
      } catch {
        /* removed meanwhile */
      }
    }
    return out;
  }

  /** Uploads of a repository with their start times (for gc). */
  async uploads(name: string): Promise<{ uuid: string; mtimeMs: number }[]> {
    const dir = path.join(this.repoDir(name), '_uploads');
    const out: { uuid: string; mtimeMs: number }[] = [];
    try {
      for (const u of await fsp.readdir(dir)) {
        try {
          out.push({ uuid: u, mtimeMs: (await fsp.stat(path.join(dir, u, 'data'))).mtimeMs });
        } catch {
          out.push({ uuid: u, mtimeMs: 0 });
        }
      }
    } catch {
      /* none */
    }
    return out;
  }

  /** Every blob in the store with its mtime (for gc). */
  async allBlobs(): Promise<{ digest: string; mtimeMs: number; size: number }[]> {
    const dir = path.join(this.root, 'blobs', 'sha256');
    const out: { digest: string; mtimeMs: number; size: number }[] = [];
    for (const h of await fsp.readdir(dir)) {
      if (!/^[a-f0-9]{64}$/.test(h)) continue;
      try {
        const st = await fsp.stat(path.join(dir, h));
        out.push({ digest: 'sha256:' + h, mtimeMs: st.mtimeMs, size: st.size });
      } catch {
        /* removed meanwhile */
      }
    }
    return out;
  }
}
