// The metadata store: one SQLite database per data root, in WAL mode so a
// crash leaves either the old or the new state. Each service owns its tables
// and creates them through `ensureSchema` when it starts.
import nodePath from 'node:path';
import Database from 'better-sqlite3';
import { SpaceReserve, isDiskFull } from './reserve';
import { log } from '../util/log';

export type Db = Database.Database;

const reserves = new WeakMap<Db, SpaceReserve>();

export function openDb(path: string): Db {
  const db = new Database(path);
  cacheStatements(db);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const reserve = new SpaceReserve(nodePath.join(nodePath.dirname(path), 'space-reserve'));
  reserve.refill();
  reserves.set(db, reserve);
  return db;
}

/**
 * Services call `db.prepare(sql)` where they use it; compiling the same SQL
 * again on every container start showed in profiles. Statements are reusable
 * (nothing here iterates one lazily, so none is ever busy when asked for
 * again), and SQLite recompiles a statement itself after a schema change.
 * Bounded, for SQL built with a variable number of placeholders.
 */
function cacheStatements(db: Db): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let st = cache.get(sql);
    if (!st) {
      st = prepare(sql);
      if (cache.size < 512) cache.set(sql, st);
    }
    return st;
  }) as Db['prepare'];
}

/** Runs a service's CREATE TABLE IF NOT EXISTS statements in one transaction. */
export function ensureSchema(db: Db, ddl: string): void {
  db.transaction(() => db.exec(ddl))();
}

/**
 * A write that must succeed on a full disk (exit records, removals): when it
 * fails for want of space, the data root's reserve is freed and it runs once
 * more. `fn` must be safe to repeat (a transaction, or idempotent statements).
 */
export function critical<T>(db: Db, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!isDiskFull(e) || !reserves.get(db)?.release()) throw e;
    log.warn('data root is full: released the space reserve for a critical write', { err: String(e) });
    return fn();
  }
}

/** Whether the data root's space reserve is in place (false: the disk was full since, or it is not written yet). */
export function reserveHeld(db: Db): boolean {
  return reserves.get(db)?.held() ?? true;
}

/** After a removal freed space: take the reserve back if there is room. */
export function refillReserve(db: Db): void {
  reserves.get(db)?.refill();
}
