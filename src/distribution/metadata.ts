// What distribution remembers between pulls and pushes (moby keeps the same
// in distribution/metadata): which compressed blob carries which layer
// (diffID), where it was seen (for cross-repository mounts), and which
// manifest an image id came from (so a push re-sends the same bytes and the
// digests stay the same).
import { ensureSchema, type Db } from '../store/db';

export interface BlobSource {
  digest: string;
  mediaType: string;
  size: number;
  registry: string;
  repo: string;
}

export class DistributionMetadata {
  constructor(private readonly db: Db) {}

  init(): void {
    ensureSchema(
      this.db,
      `CREATE TABLE IF NOT EXISTS dist_layer_blobs (
         diff_id TEXT NOT NULL,
         digest TEXT NOT NULL,
         media_type TEXT NOT NULL,
         size INTEGER NOT NULL,
         registry TEXT NOT NULL,
         repo TEXT NOT NULL,
         PRIMARY KEY (diff_id, digest, registry, repo)
       );
       CREATE INDEX IF NOT EXISTS dist_layer_blobs_digest ON dist_layer_blobs(digest);
       CREATE TABLE IF NOT EXISTS dist_pull_journal (
         chain_id TEXT NOT NULL
       );
       CREATE TABLE IF NOT EXISTS dist_image_manifests (
         image_id TEXT NOT NULL,
         manifest_digest TEXT NOT NULL,
         media_type TEXT NOT NULL,
         PRIMARY KEY (image_id, manifest_digest)
       );`,
    );
  }

  /** Layers a pull in progress has created; after a crash they are dropped unless an image uses them. */
  journalAdd(chainId: string): void {
    this.db.prepare('INSERT INTO dist_pull_journal (chain_id) VALUES (?)').run(chainId);
  }

  journalRemove(chainIds: string[]): void {
    const del = this.db.prepare('DELETE FROM dist_pull_journal WHERE rowid IN (SELECT rowid FROM dist_pull_journal WHERE chain_id = ? LIMIT 1)');
    this.db.transaction(() => chainIds.forEach((c) => del.run(c)))();
  }

  /** Everything in the journal, emptied (startup recovery). */
  journalTake(): string[] {
    return this.db.transaction(() => {
      const rows = this.db.prepare('SELECT DISTINCT chain_id FROM dist_pull_journal').all() as { chain_id: string }[];
      this.db.prepare('DELETE FROM dist_pull_journal').run();
      return rows.map((r) => r.chain_id);
    })();
  }

  recordLayer(diffId: string, s: BlobSource): void {
    this.db
      .prepare(`INSERT OR IGNORE INTO dist_layer_blobs (diff_id, digest, media_type, size, registry, repo) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(diffId, s.digest, s.mediaType, s.size, s.registry, s.repo);
  }

  /** Blobs known to carry `diffId`, most recently recorded first. */
  blobsFor(diffId: string): BlobSource[] {
    return (
      this.db
        .prepare(`SELECT digest, media_type AS mediaType, size, registry, repo FROM dist_layer_blobs WHERE diff_id = ? ORDER BY rowid DESC`)
        .all(diffId) as BlobSource[]
    );
  }

  /** Where a compressed blob has been seen (registry + repository). */
  blobsByDigest(digest: string): BlobSource[] {
    return this.db
      .prepare(`SELECT digest, media_type AS mediaType, size, registry, repo FROM dist_layer_blobs WHERE digest = ? ORDER BY rowid DESC`)
      .all(digest) as BlobSource[];
  }

  recordManifest(imageId: string, digest: string, mediaType: string): void {
    this.db.prepare(`INSERT OR IGNORE INTO dist_image_manifests (image_id, manifest_digest, media_type) VALUES (?, ?, ?)`).run(imageId, digest, mediaType);
  }

  manifestsFor(imageId: string): { digest: string; mediaType: string }[] {
    return this.db
      .prepare(`SELECT manifest_digest AS digest, media_type AS mediaType FROM dist_image_manifests WHERE image_id = ? ORDER BY rowid DESC`)
      .all(imageId) as { digest: string; mediaType: string }[];
  }
}
