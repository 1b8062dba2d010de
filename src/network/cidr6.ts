// IPv6 address and CIDR arithmetic for IPAM (addresses as 128-bit bigints),
// printed as Go's net.IP does (RFC 5952: lower case, the longest run of two
// or more zero groups shortened to "::", the first one on a tie).
import net from 'node:net';
import { InvalidParameter } from '../util/errors';

export interface Cidr6 { base: bigint; bits: number }

const ALL = (1n << 128n) - 1n;

export function parseIp6(s: string): bigint | undefined {
  if (!net.isIPv6(s) || s.includes('%')) return undefined;
  let str = s;
  // an embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(str);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    str = str.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, tail] = str.includes('::') ? str.split('::') : [str, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function ip6Str(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return hex.slice(0, bestAt).join(':') + '::' + hex.slice(bestAt + bestLen).join(':');
}

export function mask6(bits: number): bigint {
  return bits === 0 ? 0n : (ALL << BigInt(128 - bits)) & ALL;
}

export function parseCidr6(s: string): Cidr6 {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s.trim());
  const ip = m ? parseIp6(m[1]) : undefined;
  const bits = m ? Number(m[2]) : NaN;
  if (!m || ip === undefined || bits > 128) throw new InvalidParameter(`invalid CIDR address: ${s}`);
  return { base: ip & mask6(bits), bits };
}

export function contains6(c: Cidr6, ip: bigint): boolean {
  return (ip & mask6(c.bits)) === c.base;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const bits = Math.min(a.bits, b.bits);
  return (a.base & mask6(bits)) === (b.base & mask6(bits));
}

export function cidr6Str(c: Cidr6): string {
  return `${ip6Str(c.base)}/${c.bits}`;
}
