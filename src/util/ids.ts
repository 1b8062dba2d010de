import { randomBytes } from 'node:crypto';

/** A new 64-hex-digit object id, as Docker makes them. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

/** Docker's 12-character short form of an id or digest. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
