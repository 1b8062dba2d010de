// iproute2 plumbing: bridges, network namespaces and veth pairs. Commands are
// batched (`ip -batch -`) so one container's setup costs one or two processes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { execHost } from '../exec';
import { addonWith, fsrootNative } from '../native/addon';
import * as rt from './rtnetlink';

const NETNS_DIR = '/run/netns';
const ENODEV = os.constants.errno.ENODEV;

/** The error for a bridge that already has its 1,023 ports (BR_MAX_PORTS): what "Exchange full" means. */
function bridgeFull(bridge: string): Error {
  return new Error(`bridge ${bridge} is full: a Linux bridge takes at most 1023 interfaces (one per running container); put further containers on another network`);
}

/** `ip -batch` of `cmds` (in `netns` when given). */
export async function batch(cmds: string[], netns?: string): Promise<void> {
  if (cmds.length === 0) return;
  const args = netns ? ['-n', netns, '-batch', '-'] : ['-batch', '-'];
  try {
    await execHost('ip', args, { input: cmds.join('\n') + '\n', timeout: 15_000 });
  } catch (e) {
    const bridge = /Exchange full/.test(String(e)) ? cmds.map((c) => / master (\S+)/.exec(c)?.[1]).find(Boolean) : undefined;
    if (bridge) throw bridgeFull(bridge);
    throw e;
  }
}

export function linkExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

/** Creates (or repairs after a crash) a bridge with the gateway address; idempotent. */
export async function ensureBridge(name: string, gatewayCidr: string | undefined, mtu = 1500, gateway6Cidr?: string): Promise<void> {
  const cmds: string[] = [];
  // A bridge's MAC follows its lowest port's unless set: a container leaving
  // would change the gateway's MAC under the neighbours' caches of the others
  // (their traffic to the gateway lost until the entries go stale). As
  // Docker, give it one of its own; a bridge made before keeps its current one.
  if (!linkExists(name)) cmds.push(`link add name ${name} address ${randomMac()} type bridge`);
  else if (readSys(name, 'addr_assign_type') !== '3') {
    const mac = readSys(name, 'address');
    if (mac) cmds.push(`link set dev ${name} address ${mac}`);
  }
  cmds.push(`link set dev ${name} mtu ${mtu}`);
  if (gatewayCidr) cmds.push(`addr replace ${gatewayCidr} dev ${name}`);
  if (gateway6Cidr) cmds.push(`addr replace ${gateway6Cidr} dev ${name} nodad`);
  cmds.push(`link set dev ${name} up`);
  await batch(cmds);
  // Published ports are DNATed for loopback clients too (so they answer while
  // berthd is down): such packets leave through the bridge with a 127/8
  // source, which the kernel only routes with route_localnet.
  sysctl(`net.ipv4.conf.${name}.route_localnet`, '1');
}

/** A random, locally administered unicast MAC. */
function randomMac(): string {
  const b = crypto.randomBytes(6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function readSys(dev: string, attr: string): string {
  try {
    return fs.readFileSync(`/sys/class/net/${dev}/${attr}`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** A fixed MAC and an extra address on a device (the routing mesh's node address on the ingress bridge). */
export async function addDeviceAddress(dev: string, cidr: string, mac?: string): Promise<void> {
  await batch([...(mac ? [`link set dev ${dev} address ${mac}`] : []), `addr replace ${cidr} dev ${dev}`]);
}

export async function delDeviceAddress(dev: string, cidr: string): Promise<void> {
  if (!linkExists(dev)) return;
  await execHost('ip', ['addr', 'del', cidr, 'dev', dev], { allowFailure: true, timeout: 10_000 });
}

export async function deleteLink(name: string): Promise<void> {
  if (!linkExists(name)) return;
  const nl = rt.netlink();
  if (nl) return nl.run('', [rt.linkDel(name)], { keepGoing: true });
  await execHost('ip', ['link', 'del', 'dev', name], { allowFailure: true, timeout: 10_000 });
}

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export function netnsExists(name: string): boolean {
  return fs.existsSync(netnsPath(name));
}

export interface VethSpec {
  netns: string;
  bridge: string;
  /** The namespace the host end and `bridge` live in (an overlay's own); default berthd's. */
  hostNetns?: string;
  hostIf: string;
  /** Name inside the namespace (eth0, eth1, ...). */
  ifName: string;
  addrCidr: string;
  mac: string;
  /** Default route via this address (first network only, not for internal ones). */
  gateway?: string;
  /** IPv6 address/prefix and default route (EnableIPv6 networks). */
  addr6Cidr?: string;
  gateway6?: string;
  /** Link-local addresses (--link-local-ip), with their prefix. */
  extraAddrs?: string[];
  mtu?: number;
}

/** Addresses and routes of an interface inside the namespace; v6 without DAD so it is usable at once. */
function innerAddrs(v: VethSpec): string[] {
  const out: string[] = [];
  if (v.addr6Cidr) out.push(`addr add ${v.addr6Cidr} dev ${v.ifName} nodad`);
  for (const a of v.extraAddrs ?? []) out.push(`addr add ${a} dev ${v.ifName}${a.includes(':') ? ' nodad' : ''}`);
  return out;
}

function innerRoutes(v: VethSpec): string[] {
  const out: string[] = [];
  if (v.gateway) out.push(`route replace default via ${v.gateway} dev ${v.ifName}`);
  if (v.gateway6) out.push(`route replace default via ${v.gateway6} dev ${v.ifName}`);
  return out;
}

/** Creates a veth pair, plugs the host end into the bridge and configures the other end in the namespace. */
export async function attachVeth(v: VethSpec): Promise<void> {
  const nl = rt.netlink();
  if (nl) return attachVethNl(nl, v);
  const tmp = `t${v.hostIf.slice(4)}`;
  const mtu = v.mtu ?? 1500;
  await batch([
    `link add ${v.hostIf} mtu ${mtu} type veth peer name ${tmp} mtu ${mtu} netns ${v.netns}`,
    `link set dev ${v.hostIf} master ${v.bridge}`,
    `link set dev ${v.hostIf} up`,
  ], v.hostNetns);
  try {
    const inner = [
      `link set dev ${tmp} name ${v.ifName}`,
      `link set dev ${v.ifName} address ${v.mac}`,
      `addr add ${v.addrCidr} dev ${v.ifName}`,
      ...innerAddrs(v),
      `link set dev ${v.ifName} up`,
      ...innerRoutes(v),
    ];
    await batch(inner, v.netns);
  } catch (e) {
    await deleteHostEnd(v);
    throw e;
  }
}

/** Removes a pair by its host end, wherever that lives. */
async function deleteHostEnd(v: VethSpec): Promise<void> {
  if (!v.hostNetns) return deleteLink(v.hostIf);
  await batch([`link del dev ${v.hostIf}`], v.hostNetns).catch(() => undefined);
}

/**
 * A container's namespace with all its veths in two `ip` runs: the host side
 * (namespace, pairs, bridge ports) then the inside (lo, names, addresses,
 * routes). On failure everything made here is removed again.
 */
export async function setupNetns(name: string, veths: VethSpec[]): Promise<string> {
  const s = await beginNetns(name, veths);
  const err = await s.inside;
  if (err) {
    await teardownNetns(s.made ? name : undefined, veths.map((v) => v.hostIf));
    throw err;
  }
  return s.path;
}

export interface NetnsStart {
  path: string;
  /** The in-namespace half, still running: resolves with its error (never rejects). */
  inside: Promise<Error | undefined>;
  /** The namespace was made here (false: it existed). */
  made: boolean;
}

/**
 * The host half of setupNetns, awaited: the namespace (by rtnetlink: only
 * it; the pairs and bridge ports go with the inside); the rest runs on so it
 * can overlap `runc create` — a container's process runs only at `runc
 * start`, which must wait for `inside`. A failure of the awaited half removes
 * what it made.
 */
export async function beginNetns(name: string, veths: VethSpec[]): Promise<NetnsStart> {
  const nl = rt.netlink();
  if (nl) return beginNetnsNl(nl, name, veths);
  const host: string[] = [];
  /** Host ends that live in another namespace (an overlay's own), by namespace. */
  const elsewhere = new Map<string, string[]>();
  const inner: string[] = ['link set dev lo up'];
  const existed = netnsExists(name);
  if (!existed) host.push(`netns add ${name}`);
  for (const v of veths) {
    const tmp = `t${v.hostIf.slice(4)}`;
    const mtu = v.mtu ?? 1500;
    const hostCmds = [
      `link add ${v.hostIf} mtu ${mtu} type veth peer name ${tmp} mtu ${mtu} netns ${name}`,
      `link set dev ${v.hostIf} master ${v.bridge}`,
      `link set dev ${v.hostIf} up`,
    ];
    if (v.hostNetns) elsewhere.set(v.hostNetns, [...(elsewhere.get(v.hostNetns) ?? []), ...hostCmds]);
    else host.push(...hostCmds);
    inner.push(
      `link set dev ${tmp} name ${v.ifName}`,
      `link set dev ${v.ifName} address ${v.mac}`,
      `addr add ${v.addrCidr} dev ${v.ifName}`,
      ...innerAddrs(v),
      `link set dev ${v.ifName} up`,
      ...innerRoutes(v),
    );
  }
  try {
    // the namespace first (`netns add` is in `host`): the other namespaces' pairs point into it
    await batch(host);
    for (const [ns, cmds] of elsewhere) await batch(cmds, ns);
  } catch (e) {
    await Promise.all(veths.filter((v) => v.hostNetns).map(deleteHostEnd));
    await teardownNetns(existed ? undefined : name, veths.map((v) => v.hostIf));
    throw e;
  }
  const inside = batch(inner, name).then(() => undefined, (e: Error) => e);
  return { path: netnsPath(name), inside, made: !existed };
}

// ---- the same by rtnetlink (the addon), chosen once by rt.netlink() ----

/** EXFULL: the errno of a link added to a bridge that has its 1,023 ports (BR_MAX_PORTS). */
const EXFULL = 54;

/** The host half of an endpoint: the pair, its host end up on the bridge, its other end named and addressed by MAC in the namespace. */
async function addVeths(nl: rt.Netlink, nsPath: string, veths: VethSpec[]): Promise<void> {
  if (veths.length === 0) return;
  const fd = rt.openNetns(nsPath);
  try {
    // sent where the host ends live: berthd's namespace, or an overlay's own (its bridge is there)
    for (const at of new Set(veths.map((v) => v.hostNetns ?? ''))) {
      const some = veths.filter((v) => (v.hostNetns ?? '') === at);
      const msgs = some.map((v) => rt.vethAdd({ hostIf: v.hostIf, peer: v.ifName, mtu: v.mtu ?? 1500, mac: v.mac, bridge: v.bridge, nsFd: fd }));
      await nl.run(at && netnsPath(at), msgs, { label: (i) => `add veth ${some[i].hostIf} on ${some[i].bridge}` });
    }
  } catch (e) {
    const bridge = e instanceof rt.NetlinkError && e.errno === EXFULL ? /on (\S+)$/.exec(e.what)?.[1] : undefined;
    if (bridge) throw bridgeFull(bridge);
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

/** Inside the namespace: addresses, the link up, then default routes. */
function innerMsgs(v: VethSpec): Array<{ m: rt.NlMsg; what: string }> {
  const out = [{ m: rt.addrAdd(v.ifName, v.addrCidr), what: `addr add ${v.addrCidr} dev ${v.ifName}` }];
  for (const a of [...(v.addr6Cidr ? [v.addr6Cidr] : []), ...(v.extraAddrs ?? [])]) out.push({ m: rt.addrAdd(v.ifName, a), what: `addr add ${a} dev ${v.ifName}` });
  out.push({ m: rt.linkUp(v.ifName), what: `link set dev ${v.ifName} up` });
  for (const gw of [v.gateway, v.gateway6]) if (gw) out.push({ m: rt.defaultRoute(v.ifName, gw), what: `route replace default via ${gw} dev ${v.ifName}` });
  return out;
}

async function configureInside(nl: rt.Netlink, nsPath: string, veths: VethSpec[], loUp: boolean): Promise<void> {
  const steps = [...(loUp ? [{ m: rt.linkUp('lo'), what: 'link set dev lo up' }] : []), ...veths.flatMap(innerMsgs)];
  await nl.run(nsPath, steps.map((s) => s.m), { label: (i) => steps[i].what });
}

async function beginNetnsNl(nl: rt.Netlink, name: string, veths: VethSpec[]): Promise<NetnsStart> {
  const p = netnsPath(name);
  const existed = netnsExists(name);
  try {
    // a new namespace gets its lo up in the same call
    if (!existed) await nl.run(p, [rt.linkUp('lo')], { create: true, label: () => 'link set dev lo up' });
  } catch (e) {
    await teardownNetns(existed ? undefined : name, []);
    throw e;
  }
  // The pairs and the inside need only the namespace: they overlap `runc create`, which needs
  // nothing but the namespace's path. A failure leaves the pairs to the caller's teardown (it
  // knows their names), as a failure of the inside always did.
  const inside = (async () => {
    await addVeths(nl, p, veths);
    await configureInside(nl, p, veths, existed);
  })().then(() => undefined, (e: Error) => e);
  return { path: p, inside, made: !existed };
}

async function attachVethNl(nl: rt.Netlink, v: VethSpec): Promise<void> {
  const p = netnsPath(v.netns);
  await addVeths(nl, p, [v]);
  try {
    await configureInside(nl, p, [v], false);
  } catch (e) {
    await deleteHostEnd(v);
    throw e;
  }
}

/** Detaches what is mounted on a namespace file (lazily); nothing if it is not mounted. */
export async function unmountNetnsFile(p: string): Promise<void> {
  try {
    const n = fsrootNative();
    if (n.umountAsync) await n.umountAsync(p, true);
    else n.umount(p, true);
  } catch {
    /* not mounted (a leftover file) */
  }
}

/** `ip netns del`: the namespace's bind mount detached, then its file removed. */
export async function removeNetnsFile(name: string): Promise<void> {
  const p = netnsPath(name);
  if (!fs.existsSync(p)) return;
  await unmountNetnsFile(p);
  try {
    fs.unlinkSync(p);
  } catch {
    /* gone meanwhile */
  }
}

/** The address Docker's embedded DNS has inside every container on a user-defined network. */
export const EMBEDDED_DNS = '127.0.0.11';

/** The addon's socketsIn, unless BERTH_DNS_IN_NS=0 (or an older addon): then redirectEmbeddedDns. */
function socketsInNative() {
  return addonWith('BERTH_DNS_IN_NS', ['socketsIn']);
}

/** Whether the embedded DNS listens inside the containers' namespaces (embeddedDnsSockets). */
export function embeddedDnsInNamespace(): boolean {
  return !!socketsInNative();
}

/**
 * The embedded DNS's udp and tcp sockets on 127.0.0.11:53 inside the
 * namespace, as Docker's resolver listens: the container's traffic then
 * meets no NAT, no conntrack and no route_localnet in its own namespace.
 * The fds are the caller's (a socket keeps its namespace alive until closed).
 */
export async function embeddedDnsSockets(netns: string): Promise<{ udp: number; tcp: number }> {
  const native = socketsInNative();
  if (!native) throw new Error('the native addon cannot make sockets in a namespace');
  const [udp, tcp] = await native.socketsIn(netnsPath(netns), [['udp', EMBEDDED_DNS, 53], ['tcp', EMBEDDED_DNS, 53]]);
  return { udp, tcp };
}

/**
 * Without the addon: inside the namespace, DNS to 127.0.0.11:53 goes to the
 * daemon's resolver at `server`:53 (DNAT in nat OUTPUT), with the
 * container's own `source` address (SNAT; route_localnet lets the
 * loopback-sourced packet leave before it).
 */
export async function redirectEmbeddedDns(netns: string, server: string, source: string): Promise<void> {
  const rules = ['*nat'];
  for (const proto of ['udp', 'tcp']) {
    rules.push(`-A OUTPUT -d ${EMBEDDED_DNS}/32 -p ${proto} --dport 53 -j DNAT --to-destination ${server}:53`);
    rules.push(`-A POSTROUTING -s 127.0.0.0/8 -d ${server}/32 -p ${proto} --dport 53 -j SNAT --to-source ${source}`);
  }
  rules.push('COMMIT');
  // route_localnet would also let packets for 127/8 in from the bridge (the
  // kube-proxy CVE-2020-8558 pattern): only lo may carry them.
  rules.push('*raw', '-A PREROUTING ! -i lo -d 127.0.0.0/8 -j DROP', 'COMMIT', '');
  await execHost('nsenter', [`--net=${netnsPath(netns)}`, 'sh', '-c', 'iptables-restore && echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet'], {
    input: rules.join('\n'),
    timeout: 15_000,
  });
}

/** Host veths and the namespace in one `ip` run (errors for already-gone ones are ignored). */
export async function teardownNetns(name: string | undefined, hostIfs: string[]): Promise<void> {
  const nl = rt.netlink();
  if (nl) {
    // Independent: the namespace going first takes the pair with it (ENODEV then).
    await Promise.all([
      nl.run('', hostIfs.filter(linkExists).map(rt.linkDel), { keepGoing: true, ignore: (e) => e === ENODEV }),
      name ? removeNetnsFile(name) : undefined,
    ]);
    return;
  }
  const cmds = hostIfs.filter(linkExists).map((i) => `link del dev ${i}`);
  if (name && netnsExists(name)) cmds.push(`netns del ${name}`);
  if (cmds.length === 0) return;
  await execHost('ip', ['-force', '-batch', '-'], { input: cmds.join('\n') + '\n', allowFailure: true, timeout: 15_000 });
}

/** Removes the pair (deleting either end deletes both). */
export async function detachVeth(hostIf: string, netns?: string, ifName?: string): Promise<void> {
  if (linkExists(hostIf)) return deleteLink(hostIf);
  if (netns && ifName && netnsExists(netns)) {
    const nl = rt.netlink();
    if (nl) return nl.run(netnsPath(netns), [rt.linkDel(ifName)], { keepGoing: true });
    await execHost('ip', ['-n', netns, 'link', 'del', 'dev', ifName], { allowFailure: true, timeout: 10_000 });
  }
}

/** Writes a /proc/sys value (ip_forward, route_localnet). */
export function sysctl(key: string, value: string): void {
  const p = '/proc/sys/' + key.replace(/\./g, '/');
  try {
    if (fs.readFileSync(p, 'utf8').trim() !== value) fs.writeFileSync(p, value);
  } catch {
    /* not fatal: e.g. a read-only /proc/sys; the feature needing it fails visibly */
  }
}

/** Names of the host's network interfaces. */
export function listLinks(): string[] {
  try {
    return fs.readdirSync('/sys/class/net');
  } catch {
    return [];
  }
}

/** Names of the named network namespaces (`ip netns list`). */
export function listNetns(): string[] {
  try {
    return fs.readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/**
 * An empty namespace (lo up) at /run/netns/<name>, for a pool of prepared
 * namespaces; false when this host has no rtnetlink addon (no pool then).
 */
export async function makeSpareNetns(name: string): Promise<boolean> {
  const nl = rt.netlink();
  const n = fsrootNative();
  if (!nl || typeof n.fsBatchAsync !== 'function') return false;
  const p = netnsPath(name);
  try {
    await nl.run(p, [rt.linkUp('lo')], { create: true, label: () => 'link set dev lo up' });
  } catch (e) {
    await removeNetnsFile(name);
    throw e;
  }
  return true;
}

/**
 * The namespace at /run/netns/<spare> renamed to <name> (bind-mounted on a
 * new file there, then the old one detached and removed) in one pool job.
 * On failure <spare> is left as it was and <name> does not exist.
 */
export async function adoptNetns(spare: string, name: string): Promise<void> {
  try {
    await fsrootNative().fsBatchAsync!([[4, netnsPath(name), netnsPath(spare)], [5, netnsPath(spare)]]);
  } catch (e) {
    // adopted, but the old name stayed: removed once more (the namespace lives on under <name>)
    if ((e as { index?: number }).index === 1) return removeNetnsFile(spare);
    throw e;
  }
}

export async function deleteNetns(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  if (rt.netlink()) return removeNetnsFile(name);
  await execHost('ip', ['netns', 'del', name], { allowFailure: true, timeout: 10_000 });
}
