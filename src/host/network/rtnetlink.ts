// A bridge endpoint's links by rtnetlink, through the native addon (no `ip`
// process per container start or stop). This file encodes the requests; the
// addon (native/fsroot/netlink.c) sends them in the right namespace on a
// pool thread and returns the kernel's errno for each. `ip.ts` chooses this
// path once, when the addon loads, and keeps `ip -batch` as the fallback.
import fs from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { isIPv4, isIPv6 } from 'node:net';
import { fsrootNative } from '../native/addon';

/** The addon's entry point: errno of each message sent (stops at the first failure unless keepGoing). */
type NlExec = (ns: string, create: boolean, msgs: Buffer[], patches: Array<[number, number, string]>, keepGoing: boolean) => Promise<number[]>;

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_F_NODAD = 0x02;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const IFF_UP = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const HDR = 16;

/** One request: the bytes, and where an interface's index goes once it is known in the namespace. */
export interface NlMsg {
  buf: Buffer;
  patches: Array<[number, string]>;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function attr(type: number, data: Buffer): Buffer {
  const len = 4 + data.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  data.copy(b, 4);
  return b;
}

const str = (s: string) => Buffer.from(s + '\0');

function ifinfo(index = 0, up = false): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  if (up) {
    b.writeUInt32LE(IFF_UP, 8);
    b.writeUInt32LE(IFF_UP, 12);
  }
  return b;
}

function msg(type: number, flags: number, body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  const h = Buffer.alloc(HDR);
  h.writeUInt32LE(HDR + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  return Buffer.concat([h, payload]);
}

export function macBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new Error(`invalid MAC address ${mac}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

/** An address's bytes (4 or 16). */
export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new Error(`invalid IP address ${ip}`);
  let s = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = ipBytes(v4[1]);
    s = s.slice(0, -v4[1].length) + `${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function cidr(c: string): { addr: Buffer; bits: number; family: number } {
  const [ip, bits] = c.split('/');
  const addr = ipBytes(ip);
  const n = bits === undefined ? addr.length * 8 : Number(bits);
  if (!Number.isInteger(n) || n < 0 || n > addr.length * 8) throw new Error(`invalid prefix in ${c}`);
  return { addr, bits: n, family: addr.length === 4 ? AF_INET : AF_INET6 };
}

/**
 * A veth pair whose host end `hostIf` is up on `bridge` and whose other end
 * is created inside the namespace `nsFd` already named `peer`, with its MAC.
 */
export function vethAdd(o: { hostIf: string; peer: string; mtu: number; mac: string; bridge: string; nsFd: number }): NlMsg {
  const peerInfo = Buffer.concat([ifinfo(), attr(IFLA_IFNAME, str(o.peer)), attr(IFLA_MTU, u32(o.mtu)), attr(IFLA_ADDRESS, macBytes(o.mac)), attr(IFLA_NET_NS_FD, u32(o.nsFd))]);
  const linkinfo = attr(IFLA_LINKINFO, Buffer.concat([attr(IFLA_INFO_KIND, str('veth')), attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peerInfo))]));
  const head = Buffer.concat([ifinfo(0, true), attr(IFLA_IFNAME, str(o.hostIf)), attr(IFLA_MTU, u32(o.mtu))]);
  const master = attr(IFLA_MASTER, u32(0));
  const buf = msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, [head, master, linkinfo]);
  // IFLA_MASTER's value: the bridge's index, filled in by the addon
  return { buf, patches: [[HDR + head.length + 4, o.bridge]] };
}

/** Sets a link up (by name: its index is looked up where the message is sent). */
export function linkUp(name: string): NlMsg {
  return { buf: msg(RTM_NEWLINK, 0, [ifinfo(0, true)]), patches: [[HDR + 4, name]] };
}

export function linkDel(name: string): NlMsg {
  return { buf: msg(RTM_DELLINK, 0, [ifinfo(), attr(IFLA_IFNAME, str(name))]), patches: [] };
}

/** `addr add <cidr> dev <dev>` (IPv6 without duplicate address detection, usable at once). */
export function addrAdd(dev: string, c: string): NlMsg {
  const a = cidr(c);
  const m = Buffer.alloc(8);
  m.writeUInt8(a.family, 0);
  m.writeUInt8(a.bits, 1);
  m.writeUInt8(a.family === AF_INET6 ? IFA_F_NODAD : 0, 2);
  return { buf: msg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, [m, attr(IFA_LOCAL, a.addr), attr(IFA_ADDRESS, a.addr)]), patches: [[HDR + 4, dev]] };
}

/** `route replace default via <gw> dev <dev>` in the main table. */
export function defaultRoute(dev: string, gw: string): NlMsg {
  const g = ipBytes(gw);
  const r = Buffer.alloc(12);
  r.writeUInt8(g.length === 4 ? AF_INET : AF_INET6, 0);
  r.writeUInt8(254, 4); // RT_TABLE_MAIN
  r.writeUInt8(3, 5); // RTPROT_BOOT
  r.writeUInt8(0, 6); // RT_SCOPE_UNIVERSE
  r.writeUInt8(1, 7); // RTN_UNICAST
  const gwAttr = attr(RTA_GATEWAY, g);
  return { buf: msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, [r, gwAttr, attr(RTA_OIF, u32(0))]), patches: [[HDR + 12 + gwAttr.length + 4, dev]] };
}

/** A failed request as an Error like the fallback's (`code` is the errno name). */
export class NetlinkError extends Error {
  constructor(
    readonly what: string,
    readonly errno: number,
  ) {
    const [name, text] = getSystemErrorMap().get(-errno) ?? ['EIO', `error ${errno}`];
    super(`${what}: ${text} (${name})`);
    this.code = name;
  }
  readonly code: string;
}

export interface Netlink {
  /**
   * Sends `msgs` in the namespace at `ns` ('' = berthd's own; `create`: make
   * it there first). Throws the first failure (with `label(i)` naming it) unless
   * keepGoing, which sends them all and ignores failures for which
   * `ignore(errno)` holds.
   */
  run(ns: string, msgs: NlMsg[], o?: { create?: boolean; keepGoing?: boolean; label?: (i: number) => string; ignore?: (errno: number) => boolean }): Promise<void>;
}

let chosen: Netlink | null | undefined;

/** The addon's netlink, or null when it cannot load (or BERTH_NETLINK=0): then `ip` programs are used. */
export function netlink(): Netlink | null {
  if (chosen !== undefined) return chosen;
  chosen = null;
  if (process.env.BERTH_NETLINK === '0') return chosen;
  try {
    const exec = (fsrootNative() as unknown as { nlExec?: NlExec }).nlExec;
    if (typeof exec === 'function') chosen = { run: (ns, msgs, o = {}) => runWith(exec, ns, msgs, o) };
  } catch {
    /* no addon: the `ip` path */
  }
  return chosen;
}

async function runWith(exec: NlExec, ns: string, msgs: NlMsg[], o: { create?: boolean; keepGoing?: boolean; label?: (i: number) => string; ignore?: (errno: number) => boolean }): Promise<void> {
  if (msgs.length === 0 && !o.create) return;
  const patches: Array<[number, number, string]> = [];
  msgs.forEach((m, i) => m.patches.forEach(([off, name]) => patches.push([i, off, name])));
  const res = await exec(ns, !!o.create, msgs.map((m) => m.buf), patches, !!o.keepGoing);
  for (let i = 0; i < res.length; i++) {
    if (res[i] !== 0 && !o.ignore?.(res[i])) throw new NetlinkError(o.label?.(i) ?? `netlink request ${i + 1}`, res[i]);
  }
}

/** Opens a namespace file for IFLA_NET_NS_FD; the caller closes it. */
export function openNetns(p: string): number {
  return fs.openSync(p, 'r');
}
