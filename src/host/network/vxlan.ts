// A swarm overlay's VXLAN device and its forwarding table: the FDB entries
// (a remote MAC at a node, plus one all-zero entry per remote node for
// broadcast and unknown unicast) and permanent neighbour entries answered by
// proxy ARP. The table is only ever changed by difference — what is missing
// is added, what is stale is removed, what is right is left alone — so the
// entries carrying traffic are never rewritten while it flows.
import { execHost } from '../exec';
import { batch, linkExists, netnsExists, deleteNetns, netnsPath } from './ip';
import { reattach, startHolder, stopHolder } from './nsholder';

/**
 * An overlay network's bridge joined to its VXLAN device (swarm overlay):
 * no learning, no multicast; the vxlan answers ARP from its neighbour table
 * (`proxy`), so only the entries programmed from the peer table reach peers.
 */
export async function ensureVxlan(v: { name: string; vni: number; port: number; local: string; dev?: string; bridge: string; mtu: number }): Promise<void> {
  const cmds: string[] = [];
  if (!linkExists(v.name)) {
    cmds.push(`link add ${v.name} type vxlan id ${v.vni} dstport ${v.port} local ${v.local}${v.dev ? ` dev ${v.dev}` : ''} nolearning proxy`);
  }
  cmds.push(`link set dev ${v.name} mtu ${v.mtu}`, `link set dev ${v.name} master ${v.bridge}`, `link set dev ${v.name} up`);
  await batch(cmds);
}

/**
 * An overlay's data plane in a namespace of its own, as Docker's `1-<id>`:
 * there the bridge `br0` joins the VXLAN device (made in berthd's namespace
 * and moved in, so its UDP socket stays on the node's address), the
 * containers' host ends, and `gw0`, whose peer `gw` in berthd's namespace
 * holds the gateway address (egress, the embedded DNS, isolation and
 * published rules match it as they matched the bridge). Frames between the
 * overlay's containers are bridged where no iptables table exists, so
 * br_netfilter hands them to no hook; only traffic to or through the gateway
 * meets berthd's chains. The namespace is held by a holder process (see
 * nsholder), recorded under `holders` and kept in cgroup `holderCgroup` (out
 * of berthd's), so a berthd restarted in another mount namespace finds it
 * again. Idempotent: with `gw` present and the namespace held nothing is made.
 */
export async function ensureOverlayNetns(o: { ns: string; holders: string; holderCgroup: string; gw: string; gatewayCidr: string; name: string; vni: number; port: number; local: string; dev?: string; mtu: number }): Promise<void> {
  if ((await reattach(o.holders, o.ns)) && linkExists(o.gw)) return;
  // a half-made one (a crash mid-setup) or one whose holder is gone is made again
  await removeOverlayNetns({ ns: o.ns, holders: o.holders, holderCgroup: o.holderCgroup, gw: o.gw, name: o.name });
  await batch([`netns add ${o.ns}`]);
  try {
    await startHolder(o.holders, o.ns, netnsPath(o.ns), o.holderCgroup);
    await batch([
      `link add ${o.gw} mtu ${o.mtu} type veth peer name gw0 mtu ${o.mtu} netns ${o.ns}`,
      `link add ${o.name} mtu ${o.mtu} type vxlan id ${o.vni} dstport ${o.port} local ${o.local}${o.dev ? ` dev ${o.dev}` : ''} nolearning proxy`,
      `link set dev ${o.name} netns ${o.ns}`,
    ]);
    await batch([
      'link set dev lo up',
      `link add name br0 mtu ${o.mtu} type bridge`,
      'link set dev br0 up',
      'link set dev gw0 master br0',
      'link set dev gw0 up',
      `link set dev ${o.name} master br0`,
      `link set dev ${o.name} up`,
    ], o.ns);
    await batch([`addr replace ${o.gatewayCidr} dev ${o.gw}`, `link set dev ${o.gw} up`]);
  } catch (e) {
    await removeOverlayNetns({ ns: o.ns, holders: o.holders, holderCgroup: o.holderCgroup, gw: o.gw, name: o.name });
    throw e;
  }
}

/** The overlay's namespace, its holder, its VXLAN device and the gateway pair go (what is already gone is skipped). */
export async function removeOverlayNetns(o: { ns: string; holders: string; holderCgroup: string; gw: string; name: string }): Promise<void> {
  // mounted again from its holder if this berthd's mount namespace lost it, so its devices go now, not
  // whenever the kernel frees the namespace (its VXLAN socket would refuse a new device with this VNI)
  await reattach(o.holders, o.ns);
  if (linkExists(o.name)) await batch([`link del dev ${o.name}`]).catch(() => undefined);
  if (netnsExists(o.ns)) await execHost('ip', ['-n', o.ns, 'link', 'del', 'dev', o.name], { allowFailure: true, timeout: 10_000 });
  if (linkExists(o.gw)) await batch([`link del dev ${o.gw}`]).catch(() => undefined);
  await deleteNetns(o.ns);
  stopHolder(o.holders, o.ns, o.holderCgroup);
}

/** The bridge an overlay's container ends join inside its own namespace. */
export const OVERLAY_BRIDGE = 'br0';

/** A remote endpoint behind a VXLAN device: its MAC at node `dst`, its address answered by proxy ARP. */
export interface VxlanPeer { ip: string; mac: string; dst: string }

/** A VXLAN device's forwarding table as sets of keys: `mac dst` (FDB), `dst` (flood), `ip mac` (neighbours). */
export interface VxlanTable { fdb: Set<string>; flood: Set<string>; neigh: Set<string> }

const ZERO_MAC = '00:00:00:00:00:00';

/** The table a peer set needs. */
export function tableOf(peers: VxlanPeer[]): VxlanTable {
  return {
    fdb: new Set(peers.map((p) => `${p.mac.toLowerCase()} ${p.dst}`)),
    flood: new Set(peers.map((p) => p.dst)),
    neigh: new Set(peers.map((p) => `${p.ip} ${p.mac.toLowerCase()}`)),
  };
}

/**
 * The device's table as the kernel has it, from `bridge -j fdb show dev D`
 * (only its own `self` entries with a destination: the bridge's entries for
 * the port are the bridge's business) and `ip -j neigh show dev D nud permanent`.
 */
export function parseTable(fdbJson: string, neighJson: string): VxlanTable {
  const t: VxlanTable = { fdb: new Set(), flood: new Set(), neigh: new Set() };
  for (const e of JSON.parse(fdbJson || '[]') as Array<{ mac?: string; dst?: string; flags?: string[] }>) {
    if (!e.mac || !e.dst || !e.flags?.includes('self')) continue;
    if (e.mac === ZERO_MAC) t.flood.add(e.dst);
    else t.fdb.add(`${e.mac.toLowerCase()} ${e.dst}`);
  }
  for (const e of JSON.parse(neighJson || '[]') as Array<{ dst?: string; lladdr?: string }>) {
    if (e.dst && e.lladdr) t.neigh.add(`${e.dst} ${e.lladdr.toLowerCase()}`);
  }
  return t;
}

/** Reads the device's table from the kernel (undefined: it could not be read). */
export async function readTable(dev: string, ns?: string): Promise<VxlanTable | undefined> {
  const at = ns ? ['-n', ns] : [];
  const [fdb, neigh] = await Promise.all([
    execHost('bridge', [...at, '-j', 'fdb', 'show', 'dev', dev], { allowFailure: true, timeout: 10_000 }),
    execHost('ip', [...at, '-j', '-4', 'neigh', 'show', 'dev', dev, 'nud', 'permanent'], { allowFailure: true, timeout: 10_000 }),
  ]);
  if (fdb.code !== 0 || neigh.code !== 0) return undefined;
  try {
    return parseTable(fdb.stdout, neigh.stdout);
  } catch {
    return undefined;
  }
}

/** The `bridge -batch` and `ip -batch` lines that turn table `had` into `want` (stale entries first). */
export function tableCommands(dev: string, had: VxlanTable, want: VxlanTable): { fdb: string[]; neigh: string[] } {
  const fdb: string[] = [];
  const neigh: string[] = [];
  for (const k of had.fdb) {
    if (want.fdb.has(k)) continue;
    const [mac, dst] = k.split(' ');
    fdb.push(`fdb del ${mac} dev ${dev} dst ${dst} self`);
  }
  for (const d of had.flood) if (!want.flood.has(d)) fdb.push(`fdb del ${ZERO_MAC} dev ${dev} dst ${d} self`);
  for (const d of want.flood) if (!had.flood.has(d)) fdb.push(`fdb append ${ZERO_MAC} dev ${dev} dst ${d} self permanent`);
  for (const k of want.fdb) {
    if (had.fdb.has(k)) continue;
    const [mac, dst] = k.split(' ');
    fdb.push(`fdb replace ${mac} dev ${dev} dst ${dst} self permanent`);
  }
  // an address whose MAC changed is replaced, not deleted: only addresses no longer wanted go
  const wantIps = new Set([...want.neigh].map((k) => k.split(' ')[0]));
  for (const k of had.neigh) {
    const ip = k.split(' ')[0];
    if (!want.neigh.has(k) && !wantIps.has(ip)) neigh.push(`neigh del ${ip} dev ${dev}`);
  }
  for (const k of want.neigh) {
    if (had.neigh.has(k)) continue;
    const [ip, mac] = k.split(' ');
    neigh.push(`neigh replace ${ip} lladdr ${mac} dev ${dev} nud permanent`);
  }
  return { fdb, neigh };
}

/** Programs the difference between two tables on the device (in namespace `ns`, if given); nothing runs when they are equal. */
export async function syncTable(dev: string, had: VxlanTable, want: VxlanTable, ns?: string): Promise<void> {
  const { fdb, neigh } = tableCommands(dev, had, want);
  const at = ns ? ['-n', ns] : [];
  // -force: a delete of an entry the kernel already dropped must not stop the rest
  if (fdb.length) await execHost('bridge', [...at, '-force', '-batch', '-'], { input: fdb.join('\n') + '\n', timeout: 15_000, allowFailure: true });
  if (neigh.length) await execHost('ip', [...at, '-force', '-batch', '-'], { input: neigh.join('\n') + '\n', timeout: 15_000, allowFailure: true });
}
