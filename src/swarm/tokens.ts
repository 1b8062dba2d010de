// Swarmkit's identifiers and join tokens. A token is
// SWMTKN-1-<sha256 of the root CA PEM, base 36, 50 digits>-<128-bit secret, base 36, 25 digits>:
// the digest lets a joining node check the CA it is handed before it trusts it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const base36 = (buf: Buffer, width: number) => BigInt('0x' + buf.toString('hex')).toString(36).padStart(width, '0');

/** A node or cluster id as swarmkit makes them: 128 random bits, 25 base-36 digits. */
export function newId(): string {
  return base36(randomBytes(16), 25);
}

export function caDigestHex(caPem: string): string {
  return createHash('sha256').update(caPem).digest('hex');
}

export function newJoinToken(caPem: string): string {
  return `SWMTKN-1-${base36(Buffer.from(caDigestHex(caPem), 'hex'), 50)}-${base36(randomBytes(16), 25)}`;
}

export interface ParsedToken { digestHex: string; secret: string }

/** Parses a token; undefined when it does not have swarmkit's shape. */
export function parseJoinToken(token: string): ParsedToken | undefined {
  const m = /^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/.exec(token.trim());
  if (!m) return undefined;
  let n: bigint;
  try {
    n = [...m[1]].reduce((acc, ch) => acc * 36n + BigInt(parseInt(ch, 36)), 0n);
  } catch {
    return undefined;
  }
  if (n >= 1n << 256n) return undefined;
  return { digestHex: n.toString(16).padStart(64, '0'), secret: m[2] };
}

/** Constant-time token comparison. */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
