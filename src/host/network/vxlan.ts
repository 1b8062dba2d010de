// A swarm overlay's VXLAN device and its forwarding table: the FDB entries
// (a remote MAC at a node, plus one all-zero entry per remote node for
// broadcast and unknown unicast) and permanent neighbour entries answered by
// proxy ARP. The table is only ever changed by difference — what is missing
// is added, what is stale is removed, what is right is left alone — so the
// entries carrying traffic are never rewritten while it flows.
import { execHost } from '../exec';
import { batch, linkExists } from './ip';

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
export async function readTable(dev: string): Promise<VxlanTable | undefined> {
  const [fdb, neigh] = await Promise.all([
    execHost('bridge', ['-j', 'fdb', 'show', 'dev', dev], { allowFailure: true, timeout: 10_000 }),
    execHost('ip', ['-j', '-4', 'neigh', 'show', 'dev', dev, 'nud', 'permanent'], { allowFailure: true, timeout: 10_000 }),
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

/** Programs the difference between two tables on the device; nothing runs when they are equal. */
export async function syncTable(dev: string, had: VxlanTable, want: VxlanTable): Promise<void> {
  const { fdb, neigh } = tableCommands(dev, had, want);
  // -force: a delete of an entry the kernel already dropped must not stop the rest
  if (fdb.length) await execHost('bridge', ['-force', '-batch', '-'], { input: fdb.join('\n') + '\n', timeout: 15_000, allowFailure: true });
  if (neigh.length) await execHost('ip', ['-force', '-batch', '-'], { input: neigh.join('\n') + '\n', timeout: 15_000, allowFailure: true });
}
