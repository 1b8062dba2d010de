// Container records in SQLite: one row per container (the record as JSON
// plus the columns lookups need); every change is one transaction.
import { ensureSchema, type Db } from '../store/db';
import type { ContainerRecord } from './types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created TEXT NOT NULL,
  record TEXT NOT NULL
);
`;

export class ContainerStore {
  constructor(private readonly db: Db) {
    ensureSchema(db, SCHEMA);
  }

  all(): ContainerRecord[] {
    const rows = this.db.prepare('SELECT record FROM containers ORDER BY created').all() as Array<{ record: string }>;
    const out: ContainerRecord[] = [];
    for (const r of rows) {
      try {
        out.push(JSON.parse(r.record) as ContainerRecord);
      } catch { /* a record we cannot read is skipped, not fatal */ }
    }
    return out;
  }

  /** Inserts or replaces the whole record. */
  save(c: ContainerRecord): void {
    this.db
      .prepare('INSERT INTO containers (id, name, created, record) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, record = excluded.record')
      .run(c.id, c.name, c.created, JSON.stringify(c));
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
  }
}
