// The metadata store: one SQLite database per data root, in WAL mode so a
// crash leaves either the old or the new state. Each service owns its tables
// and creates them through `ensureSchema` when it starts.
import Database from 'better-sqlite3';

export type Db = Database.Database;

export function openDb(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Runs a service's CREATE TABLE IF NOT EXISTS statements in one transaction. */
export function ensureSchema(db: Db, ddl: string): void {
  db.transaction(() => db.exec(ddl))();
}
