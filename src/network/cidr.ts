// IPv4 address and CIDR arithmetic for IPAM (addresses as unsigned 32-bit numbers).
import { InvalidParameter } from '../util/errors';

export interface Cidr { base: number; bits: number }

export function parseIp(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function ipStr(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses "a.b.c.d/n"; `keepHost` keeps the host part (for --bip 172.29.0.1/16). */
export function parseCidr(s: string, keepHost = false): Cidr & { ip: number } {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  const ip = m ? parseIp(m[1]) : undefined;
  const bits = m ? Number(m[2]) : NaN;
  if (!m || ip === undefined || bits > 32) throw new InvalidParameter(`invalid CIDR address: ${s}`);
  return { base: keepHost ? ip : (ip & mask(bits)) >>> 0, bits, ip };
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.bits)) >>> 0) === ((c.base & mask(c.bits)) >>> 0);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits, b.bits);
  return ((a.base & mask(bits)) >>> 0) === ((b.base & mask(bits)) >>> 0);
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.bits);
}

/** First and last usable host addresses (network and broadcast excluded for /30 and larger). */
export function hostRange(c: Cidr): [number, number] {
  const net = (c.base & mask(c.bits)) >>> 0;
  if (c.bits >= 31) return [net, net + size(c) - 1];
  return [net + 1, net + size(c) - 2];
}
