// Per-step build cache, keyed as the classic builder keys it: the parent
// image plus what the step does (its history `created_by`, the resulting
// runtime config, and for COPY/ADD the content checksum of the sources,
// which ignores mtimes). A hit is only used while the image still exists.
import { createHash } from 'node:crypto';
import { ensureSchema, type Db } from '../store/db';

const DDL = `
CREATE TABLE IF NOT EXISTS build_cache (
  parent TEXT NOT NULL,
  key TEXT NOT NULL,
  image TEXT NOT NULL,
  created TEXT NOT NULL,
  PRIMARY KEY (parent, key)
);
CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image);
`;

export class BuildCache {
  constructor(private readonly db: Db) {
    ensureSchema(db, DDL);
  }

  static key(parts: unknown): string {
    return createHash('sha256').update(stableJson(parts)).digest('hex');
  }

  get(parent: string, key: string): string | undefined {
    const row = this.db.prepare('SELECT image FROM build_cache WHERE parent = ? AND key = ?').get(parent, key) as
      | { image: string }
      | undefined;
    return row?.image;
  }

  put(parent: string, key: string, image: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO build_cache (parent, key, image, created) VALUES (?, ?, ?, ?)')
      .run(parent, key, image, new Date().toISOString());
  }

  forget(image: string): void {
    this.db.prepare('DELETE FROM build_cache WHERE image = ? OR parent = ?').run(image, image);
  }

  /** Drop every record (POST /build/prune with all=true); returns how many. */
  clear(): number {
    return this.db.prepare('DELETE FROM build_cache').run().changes;
  }
}

/** JSON with sorted object keys, so equal configs give equal keys. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(stableJson).join(',') + ']';
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return '{' + Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => JSON.stringify(k) + ':' + stableJson(o[k])).join(',') + '}';
  }
  return JSON.stringify(v ?? null);
}
