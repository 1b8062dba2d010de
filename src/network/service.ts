// Networks: the predefined bridge/host/none, user-defined bridges, and the
// attachment of containers to them (address, veth, hosts/DNS names, ports).
// Lifecycle of a container's networking: prepare() at create (validate, record
// the attachments), setup() before start (namespace, veths, addresses, rules,
// proxies), teardown() after stop (release all of that), forget() at remove.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../store/db';
import { critical, ensureSchema } from '../store/db';
import type { EventBus } from '../events/bus';
import type { NetworkServiceOptions } from './options';
import { Conflict, Forbidden, InvalidParameter, NotFound, SystemError } from '../util/errors';
import { newId } from '../util/ids';
import { log } from '../util/log';
import { NetnsPool } from './netns-pool';
import { Filters } from '../common/filters';
import { timestampMs } from '../common/time';
import * as ip from '../host/network/ip';
import * as vxlan from '../host/network/vxlan';
import { heldNamespaces, stopHolder } from '../host/network/nsholder';
import { mountNetnsOf, netnsOfPid, sameNs } from '../host/network/netnsfile';
import { processStart } from '../host/process/start-time';
import * as ipt from '../host/network/iptables';
import { execHost } from '../host/exec';
import { type Cidr, parseCidr, parseIp, ipStr } from './cidr';
import { type Cidr6, parseCidr6, parseIp6 } from './cidr6';
import { Ipam } from './ipam';
import { DnsServer, hostNameservers } from './dns';
import { ContainerDns } from './container-dns';
import { withHostLock } from '../host/hostlock';
import { PortProxies, wantedBindings, type PortBinding } from './ports';
import type { AttachConfig, Attachment, ContainerLookup, Endpoint, NetContainer, NetworkRecord } from './types';
import type { OverlayEndpoint, OverlayService, OverlaySnapshot, SwarmNetworkDef, SwarmNetworks } from './overlay';
import { IptablesBalancer, type VipBalancer, type VipTable } from './balancer';

const SERVICE_ID_LABEL = 'com.docker.swarm.service.id';
const TASK_ID_LABEL = 'com.docker.swarm.task.id';
/** An overlay's VXLAN table is read back from the kernel at a sync this long after the last read (syncPeers). */
const VX_REREAD_MS = 8000;

/** A container's published ports (a net_ports row): the endpoint address they go to, and the bindings. */
interface PublishedPorts {
  target: string;
  bindings: PortBinding[];
}

export interface NetworkServiceDeps {
  db: Db;
  events: EventBus;
  config: NetworkServiceOptions;
}

/** What setup() tells the container service to put into the OCI spec and files. */
export interface NetSetup {
  /** Path of the network namespace to join; undefined = the host's. */
  netnsPath?: string;
  /** True for --network host: share the host's namespace, hostname files from the host. */
  hostMode: boolean;
  hostsFile: string;
  resolvConf: string;
  hostname: string;
  /** Legacy link environment variables (NAME_PORT_80_TCP=...). */
  linkEnv: string[];
  /**
   * The namespace's inside (addresses, routes) is still being configured:
   * resolves with its error, never rejects. The container may be created
   * meanwhile, but must not run before this settles without error.
   */
  ready?: Promise<Error | undefined>;
}

export class NetworkService {
  private readonly db: Db;
  readonly ipam: Ipam;
  private readonly nets = new Map<string, NetworkRecord>();
  private readonly dns = new Map<string, DnsServer>();
  /** The embedded DNS inside each running container's namespace. */
  private readonly ctrDns = new ContainerDns((id, name) => this.resolveForContainer(id, name), (id) => this.upstreamForContainer(id));
  readonly proxies = new PortProxies();
  private lookup?: ContainerLookup;
  /** Called when a container's networking changed outside its lifecycle (connect/disconnect), to refresh inspect. */
  onChange?: (containerId: string) => void;
  /** Short, per-daemon tag in interface and namespace names, so daemons never clash. */
  readonly tag: string;
  /** Spare network namespaces handed to starts (netns-pool.ts). */
  readonly pool: NetnsPool;
  private readonly prefix: string;
  private ruleChain: Promise<void> = Promise.resolve();
  /** Overlays: the swarm (wired by the daemon), its last snapshot and the VXLAN peers programmed per network. */
  private swarm?: SwarmNetworks;
  private overlay?: OverlaySnapshot;
  /** Each overlay's VXLAN table as last programmed (the diff base between kernel reads). */
  private readonly vxPeers = new Map<string, vxlan.VxlanTable>();
  /** When each overlay's VXLAN table was last read from the kernel (syncPeers). */
  private readonly vxReadAt = new Map<string, number>();
  /** Namespaces whose inside is still being set up: no VIP rules yet. */
  private readonly nsPending = new Set<string>();
  /** Containers whose namespace file was missing at init (see dropVanished). */
  private readonly vanished = new Set<string>();
  private overlayChain: Promise<unknown> = Promise.resolve();
  /** Service VIPs: balanced in each local container's namespace on an overlay (iptables; an IPVS backend would plug in here). */
  private readonly balancer: VipBalancer = new IptablesBalancer();
  /**
   * The routing mesh on this node while some service publishes an ingress
   * port: the ingress network's data plane, and this node's own address on
   * it (a fixed MAC and a second address of the ingress bridge, published in
   * the peer table as `ingress-endpoint`) — the source meshed connections
   * are SNATed to, so a task on another node answers through this one.
   */
  private mesh?: { netId: string; ip: string; mac: string; bits: number };
  /** The mesh's rules as last applied (a sync that changes none applies none). */
  private meshApplied = '';

  constructor(private readonly deps: NetworkServiceDeps) {
    this.db = deps.db;
    this.prefix = deps.config.chainPrefix;
    this.tag = deps.config.chainPrefix.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8) || 'berth';
    this.pool = new NetnsPool(this.tag, netnsPoolSize());
    ensureSchema(
      this.db,
      `CREATE TABLE IF NOT EXISTS networks (id TEXT PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL);
       CREATE TABLE IF NOT EXISTS net_attach (
         container_id TEXT NOT NULL, network_id TEXT NOT NULL, data TEXT NOT NULL,
         PRIMARY KEY (container_id, network_id));
       CREATE TABLE IF NOT EXISTS net_ports (container_id TEXT PRIMARY KEY, data TEXT NOT NULL);`,
    );
    this.dropUniqueNames();
    this.ipam = new Ipam(this.db);
  }

  /** Data roots made before CheckDuplicate=false was honoured had names UNIQUE: rebuild the table without it. */
  private dropUniqueNames(): void {
    const row = this.db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'networks'").get() as { sql: string } | undefined;
    if (!row || !/name TEXT NOT NULL UNIQUE/.test(row.sql)) return;
    this.db.transaction(() => {
      this.db.exec(`CREATE TABLE networks_new (id TEXT PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL);
        INSERT INTO networks_new SELECT id, name, data FROM networks;
        DROP TABLE networks;
        ALTER TABLE networks_new RENAME TO networks;`);
    })();
  }

  setContainerLookup(l: ContainerLookup): void {
    this.lookup = l;
  }

  setSwarm(s: SwarmNetworks): void {
    this.swarm = s;
  }

  // ---- start and stop of the daemon ----

  /** The network records, without touching the host (also for `berthd --cleanup`). */
  async loadRecords(): Promise<void> {
    for (const row of this.db.prepare('SELECT data FROM networks').all() as Array<{ data: string }>) {
      const n = JSON.parse(row.data) as NetworkRecord;
      this.nets.set(n.id, n);
    }
  }

  async init(): Promise<void> {
    await this.pool.sweep();
    await this.loadRecords();
    this.ensurePredefined();
    ip.sysctl('net.ipv4.ip_forward', '1');
    for (const n of this.nets.values()) {
      if (n.driver !== 'bridge') continue;
      try {
        await ip.ensureBridge(n.bridge!, `${n.pools[0].gateway}/${parseCidr(n.pools[0].subnet).bits}`, mtuOf(n), gateway6Cidr(n));
      } catch (e) {
        // The daemon still starts; containers on this network fail to start with the cause.
        if (n.predefined) throw new SystemError(`failed to set up the default bridge ${n.bridge}: ${(e as Error).message}`);
        log.error('could not restore the bridge of a network', { network: n.name, bridge: n.bridge, error: (e as Error).message });
      }
    }
    // Endpoints whose namespace file vanished (host reboot, crash mid-stop) are released once the
    // running containers have had theirs made again from their pids (restoreNetns, then dropVanished).
    for (const a of this.allAttachments()) {
      if (a.endpoint && !ip.netnsExists(this.netnsName(a.containerId))) this.vanished.add(a.containerId);
    }
    await this.installJumps();
    await this.applyRules();
    for (const n of this.nets.values()) if (this.isUserBridge(n)) await this.startDns(n);
    for (const { containerId, target, bindings } of this.allPublished()) {
      if (!ip.netnsExists(this.netnsName(containerId))) {
        // (its ports' rows go with its endpoints in dropVanished, unless its namespace comes back)
        this.vanished.add(containerId);
        continue;
      }
      await this.proxies.restore(containerId, bindings, target);
    }
  }

  /**
   * A container found running at daemon start: its namespace file is made
   * a mount of its init's namespace again when it is missing or is not that
   * namespace — a berthd started in another mount namespace (under `ip netns
   * exec`, a fresh one each time) sees the old one's files empty, and any
   * setns() on them (exec of `ip -n`, a new endpoint, VIP rules) would fail.
   * `start`: the init's start time the runtime recorded; a pid that is not
   * that process any more is never used. Host and `container:` modes have no
   * file of their own; an init in berthd's own namespace neither.
   */
  async restoreNetns(c: NetContainer, pid: number, start?: number): Promise<void> {
    const mode = c.networkMode || 'default';
    if (mode.startsWith('container:') || mode === 'host' || !pid) return;
    const name = this.netnsName(c.id);
    const file = ip.netnsPath(name);
    const init = netnsOfPid(pid);
    if (sameNs(file, init)) return;
    if (sameNs(init, '/proc/self/ns/net')) return;
    const at = start ?? processStart(pid);
    if (at === undefined) return;
    const ok = await mountNetnsOf(name, pid, at);
    if (ok) {
      this.vanished.delete(c.id);
      log.info('network namespace file made again from the container\'s init', { id: c.id, pid });
      // its userland proxies were skipped at init (no namespace then)
      const pub = this.publishedOf(c.id);
      if (pub) await this.proxies.restore(c.id, pub.bindings, pub.target);
    } else {
      log.warn('the network namespace of a running container could not be mounted again', { id: c.id, pid });
    }
  }

  /** A container's published ports as stored (net_ports): the address they go to and the bindings. */
  private publishedOf(containerId: string): PublishedPorts | undefined {
    const row = this.db.prepare('SELECT data FROM net_ports WHERE container_id = ?').get(containerId) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as PublishedPorts) : undefined;
  }

  /** Every container's published ports. */
  private allPublished(): Array<PublishedPorts & { containerId: string }> {
    const rows = this.db.prepare('SELECT container_id, data FROM net_ports').all() as Array<{ container_id: string; data: string }>;
    return rows.map((r) => ({ containerId: r.container_id, ...(JSON.parse(r.data) as PublishedPorts) }));
  }

  private savePublished(containerId: string, p: PublishedPorts): void {
    this.db.prepare('INSERT OR REPLACE INTO net_ports VALUES (?, ?)').run(containerId, JSON.stringify(p));
  }

  /** After the containers' restore: endpoints and ports of namespaces that are still gone are released. */
  dropVanished(): void {
    for (const id of this.vanished) {
      if (ip.netnsExists(this.netnsName(id))) continue;
      for (const a of this.attachmentsFor(id)) if (a.endpoint) this.dropEndpoint(a);
      this.db.prepare('DELETE FROM net_ports WHERE container_id = ?').run(id);
    }
    this.vanished.clear();
  }

  /** Daemon stops: close our sockets; containers keep running, so rules and veths stay. */
  async shutdown(): Promise<void> {
    await this.pool.drain();
    this.proxies.closeAll();
    for (const d of this.dns.values()) d.close();
    this.dns.clear();
    this.ctrDns.closeAll();
  }

  /**
   * The embedded DNS of a container found running at daemon start: its
   * sockets inside the namespace died with the last berthd (one started by
   * a berthd that DNATed to the gateway keeps that way too).
   */
  async restoreDns(c: NetContainer): Promise<void> {
    const nsName = this.netnsName(c.id);
    if (!this.ctrDns.enabled || !ip.netnsExists(nsName) || !this.dnsAttachment(c.id)) return;
    await this.ctrDns.open(c.id, nsName).catch((e) => log.warn('embedded DNS not restored', { id: c.id, error: String(e) }));
  }

  /** The attachment a container's DNS queries are answered for: its first user-defined network with an endpoint. */
  private dnsAttachment(containerId: string): Attachment | undefined {
    return this.attachmentsFor(containerId).find((a) => {
      const n = a.endpoint && this.nets.get(a.networkId);
      return !!n && this.isUserBridge(n);
    });
  }

  private ensurePredefined(): void {
    const byName = (name: string) => [...this.nets.values()].find((n) => n.name === name);
    const bip = parseCidr(this.deps.config.bip, true);
    const subnet = `${ipStr(parseCidr(this.deps.config.bip).base)}/${bip.bits}`;
    const base = (name: string, driver: NetworkRecord['driver']): NetworkRecord => ({
      id: newId(), name, driver, created: new Date().toISOString(), internal: false, attachable: false, enableIPv6: false,
      labels: {}, options: {}, ipamOptions: {}, pools: [], userSubnet: false, predefined: true,
    });
    let bridge = byName('bridge');
    if (!bridge) bridge = base('bridge', 'bridge');
    // The daemon flags decide the default bridge each start.
    bridge.bridge = this.deps.config.bridge;
    bridge.pools = [{ subnet, gateway: ipStr(bip.ip) }];
    // --ipv6 --fixed-cidr-v6: the default bridge's IPv6 pool, gateway at its first address (as dockerd).
    bridge.enableIPv6 = this.deps.config.ipv6;
    bridge.pools6 = this.deps.config.ipv6 && this.deps.config.fixedCidrV6 ? [this.ipam.validatePool6({ Subnet: this.deps.config.fixedCidrV6 }, [])] : [];
    bridge.options = {
      'com.docker.network.bridge.default_bridge': 'true',
      'com.docker.network.bridge.enable_icc': 'true',
      'com.docker.network.bridge.enable_ip_masquerade': 'true',
      'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
      'com.docker.network.bridge.name': this.deps.config.bridge,
      'com.docker.network.driver.mtu': '1500',
    };
    this.save(bridge);
    if (!byName('host')) this.save(base('host', 'host'));
    if (!byName('none')) this.save(base('none', 'null'));
  }

  private save(n: NetworkRecord): void {
    this.db.prepare('INSERT OR REPLACE INTO networks (id, name, data) VALUES (?, ?, ?)').run(n.id, n.name, JSON.stringify(n));
    this.nets.set(n.id, n);
  }

  // ---- network CRUD ----

  /** By full id, unique id prefix, or name (Docker's lookup order: id, name, prefix). */
  get(idOrName: string): NetworkRecord {
    const n = this.find(idOrName);
    if (!n) throw new NotFound(`network ${idOrName} not found`);
    return n;
  }

  find(idOrName: string): NetworkRecord | undefined {
    if (!idOrName) return undefined;
    const exact = this.nets.get(idOrName);
    if (exact) return exact;
    // Names need not be unique (CheckDuplicate=false): moby's FindNetwork refuses an ambiguous one.
    const named = [...this.nets.values()].filter((n) => n.name === idOrName);
    if (named.length > 1) throw new InvalidParameter(`network ${idOrName} is ambiguous (${named.length} matches found on name)`);
    if (named.length === 1) return named[0];
    const pref = [...this.nets.values()].filter((n) => n.id.startsWith(idOrName));
    if (pref.length === 1) return pref[0];
    if (pref.length > 1) throw new InvalidParameter(`network ${idOrName} is ambiguous (${pref.length} matches found based on ID prefix)`);
    return undefined;
  }

  all(): NetworkRecord[] {
    return [...this.nets.values()];
  }

  /** GET /networks/{id}: as find(), with the inspect route's own wording for an ambiguous name. */
  inspectLookup(idOrName: string): NetworkRecord {
    const named = this.nets.has(idOrName) ? [] : [...this.nets.values()].filter((n) => n.name === idOrName);
    if (named.length > 1) throw new InvalidParameter(`${named.length} matches found based on name: network ${idOrName} is ambiguous`);
    return this.get(idOrName);
  }

  async create(req: any): Promise<{ Id: string; Warning: string }> {
    const name = req?.Name;
    if (typeof name !== 'string' || !name) throw new InvalidParameter('network name is required');
    // moby checks no pattern: "test 01" is a valid name; only a slash could never be addressed in a URL path.
    if (name.includes('/')) throw new InvalidParameter(`invalid network name "${name}"`);
    if (['bridge', 'host', 'none', 'default'].includes(name)) throw new Forbidden(`operation is not permitted on predefined ${name} network `);
    const same = [...this.nets.values()].find((n) => n.name === name);
    let warning = '';
    if (same) {
      // Docker 20.10: a duplicate name is refused unless the client sends CheckDuplicate: false (API < 1.44).
      if (req.CheckDuplicate !== false) throw new Conflict(`network with name ${name} already exists`);
      warning = `Network with name ${name} (id : ${same.id}) already exists`;
    }
    const driver = req.Driver || 'bridge';
    if (driver === 'host' || driver === 'null') throw new Forbidden(`only one instance of "${driver}" network is allowed`);
    if (driver === 'overlay' && this.swarm) {
      if (same) throw new Conflict(`network with name ${name} already exists`);
      const def = await this.swarm.create({ ...req, Name: name });
      const n = this.addOverlay(def);
      this.deps.events.publish('network', 'create', n.id, { name, type: 'overlay' });
      return { Id: n.id, Warning: '' };
    }
    if (driver !== 'bridge') throw new NotFound(`plugin "${driver}" not found`);
    const options: Record<string, string> = { ...(req.Options ?? {}) };
    const cfgs: any[] = req.IPAM?.Config ?? [];
    if ((req.IPAM?.Driver ?? 'default') !== 'default') throw new NotFound(`plugin "${req.IPAM.Driver}" not found`);
    const v4 = cfgs.filter((c) => !c.Subnet || !c.Subnet.includes(':'));
    const v6 = cfgs.filter((c) => c.Subnet && c.Subnet.includes(':'));
    // EnableIPv6 needs a v6 subnet: berthd has no default IPv6 pools (dockerd's error for an empty one).
    if (req.EnableIPv6 && v6.length === 0) throw new SystemError('could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network');
    if (v6.length > 1) throw new InvalidParameter('only one IPv6 pool per network is supported');
    const pools6 = req.EnableIPv6 ? [this.ipam.validatePool6(v6[0], this.takenSubnets6())] : [];
    if (v4.length > 1) throw new InvalidParameter('only one IPv4 pool per network is supported');
    const id = newId();
    let bridge = options['com.docker.network.bridge.name'];
    if (bridge !== undefined) {
      if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw new InvalidParameter(`invalid bridge name "${bridge}"`);
      if (ip.linkExists(bridge) || [...this.nets.values()].some((n) => n.bridge === bridge)) {
        throw new Conflict(`bridge name ${bridge} is already in use`);
      }
    } else {
      bridge = this.ifName('-', id);
    }
    const br = bridge;
    const undo = async () => {
      this.db.prepare('DELETE FROM networks WHERE id = ?').run(id);
      this.nets.delete(id);
      this.dns.get(id)?.close();
      this.dns.delete(id);
      await ip.deleteLink(br);
      await this.applyRules().catch(() => {});
    };
    const failed = (e: unknown) => (e instanceof SystemError || e instanceof InvalidParameter ? e : new SystemError(`failed to create network ${name}: ${(e as Error).message}`));
    // Picking a free subnet and routing it is one step for every daemon on the host (and every
    // create of this one): otherwise two of them pick the same subnet before either routes it.
    const n = await withHostLock('subnets', async () => {
      const taken = this.takenSubnets();
      const pool = v4.length === 1 && (v4[0].Subnet || v4[0].Gateway || v4[0].IPRange)
        ? this.ipam.validatePool(v4[0], taken)
        : this.ipam.pickSubnet([...taken, ...(await this.hostRoutes())]);
      const rec: NetworkRecord = {
        id, name, driver: 'bridge', created: new Date().toISOString(),
        internal: !!req.Internal, attachable: !!req.Attachable, enableIPv6: !!req.EnableIPv6,
        labels: { ...(req.Labels ?? {}) }, options, ipamOptions: { ...(req.IPAM?.Options ?? {}) },
        pools: [pool], pools6, userSubnet: v4.length === 1 && !!v4[0].Subnet, bridge: br, predefined: false,
      };
      try {
        await ip.ensureBridge(br, `${pool.gateway}/${parseCidr(pool.subnet).bits}`, mtuOf(rec), gateway6Cidr(rec));
        this.save(rec);
      } catch (e) {
        await undo();
        throw failed(e);
      }
      return rec;
    });
    try {
      await this.applyRules();
      await this.startDns(n);
    } catch (e) {
      await undo();
      throw failed(e);
    }
    this.deps.events.publish('network', 'create', id, { name, type: 'bridge' });
    return { Id: id, Warning: warning };
  }

  async remove(idOrName: string): Promise<void> {
    await this.settle();
    const n = this.get(idOrName);
    if (n.predefined) throw new Forbidden(`${n.name} is a pre-defined network and cannot be removed`);
    const users = this.attachmentsOf(n.id).filter((a) => a.endpoint);
    if (users.length > 0) throw new Forbidden(`error while removing network: network ${n.name} id ${n.id} has active endpoints`);
    if (n.driver === 'overlay') {
      await this.swarm?.remove(n.id);
      await this.dropOverlay(n);
      this.deps.events.publish('network', 'destroy', n.id, { name: n.name, type: 'overlay' });
      return;
    }
    this.dns.get(n.id)?.close();
    this.dns.delete(n.id);
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM networks WHERE id = ?').run(n.id);
      this.db.prepare('DELETE FROM net_attach WHERE network_id = ?').run(n.id);
    })();
    this.ipam.releaseNetwork(n.id);
    this.nets.delete(n.id);
    await this.applyRules();
    if (n.bridge) await ip.deleteLink(n.bridge);
    this.deps.events.publish('network', 'destroy', n.id, { name: n.name, type: 'bridge' });
  }

  async prune(filters: Record<string, string[]>): Promise<string[]> {
    await this.settle();
    const pf = new Filters(filters).validate(['until', 'label', 'label!']);
    const until = pf.get('until').length ? timestampMs(pf.get('until')[0]) : undefined;
    const deleted: string[] = [];
    for (const n of [...this.nets.values()]) {
      // as dockerd: the routing mesh's network goes only by an explicit `network rm`
      if (n.predefined || n.ingress) continue;
      if (until !== undefined && new Date(n.created).getTime() >= until) continue;
      if (!pf.matchLabels(n.labels)) continue;
      if (this.attachmentsOf(n.id).length > 0) continue;
      await this.remove(n.id);
      deleted.push(n.name);
    }
    if (deleted.length) this.deps.events.publish('network', 'prune', '', { reclaimed: '0' });
    return deleted;
  }

  list(filters: Record<string, string[]>): NetworkRecord[] {
    const lf = new Filters(filters).validate(['driver', 'id', 'label', 'name', 'scope', 'type', 'dangling']);
    return [...this.nets.values()].filter((n) => {
      if (filters.driver && !filters.driver.includes(n.driver)) return false;
      if (filters.id && !filters.id.some((v) => n.id.startsWith(v))) return false;
      if (filters.name && !filters.name.some((v) => n.name.includes(v))) return false;
      if (filters.scope && !filters.scope.includes(n.scope ?? 'local')) return false;
      if (filters.type) {
        for (const t of filters.type) if (t !== 'custom' && t !== 'builtin') throw new InvalidParameter(`invalid filter: 'type'='${t}'`);
        if (!filters.type.includes(n.predefined ? 'builtin' : 'custom')) return false;
      }
      if (!lf.matchKVList('label', n.labels)) return false;
      if (filters.dangling) {
        const want = filters.dangling[0] === 'true' || filters.dangling[0] === '1';
        const dangling = !n.predefined && this.attachmentsOf(n.id).length === 0;
        if (want !== dangling) return false;
      }
      return true;
    });
  }

  /** Docker's NetworkResource JSON. */
  toJson(n: NetworkRecord, withContainers = true, verbose = false): any {
    const containers: Record<string, any> = {};
    if (withContainers) {
      for (const a of this.attachmentsOf(n.id)) {
        if (!a.endpoint) continue;
        const c = this.lookup?.find(a.containerId);
        containers[a.containerId] = {
          Name: c?.name ?? '',
          EndpointID: a.endpoint.endpointId,
          MacAddress: a.endpoint.mac,
          IPv4Address: `${a.endpoint.ip}/${a.endpoint.prefix}`,
          IPv6Address: a.endpoint.ip6 ? `${a.endpoint.ip6}/${a.endpoint.prefix6}` : '',
        };
      }
    }
    if (withContainers && this.mesh?.netId === n.id) {
      containers['ingress-sbox'] = {
        Name: 'ingress-endpoint', EndpointID: '', MacAddress: this.mesh.mac, IPv4Address: `${this.mesh.ip}/${this.mesh.bits}`, IPv6Address: '',
      };
    }
    return {
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: n.scope ?? 'local',
      Driver: n.driver,
      EnableIPv6: n.enableIPv6,
      IPAM: {
        Driver: 'default',
        Options: Object.keys(n.ipamOptions).length ? n.ipamOptions : null,
        Config: [...n.pools, ...(n.pools6 ?? [])].map((p) => ({
          Subnet: p.subnet,
          Gateway: p.gateway,
          ...(p.ipRange ? { IPRange: p.ipRange } : {}),
        })),
      },
      Internal: n.internal,
      Attachable: n.attachable,
      Ingress: !!n.ingress,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: containers,
      Options: n.options,
      Labels: n.labels,
      ...(n.driver === 'overlay' && this.hasDataPlane(n) ? { Peers: this.peersJson(n) } : {}),
      // --verbose: Docker's per-service view (VIP and the tasks on this network, with their nodes)
      ...(verbose && n.driver === 'overlay' ? { Services: this.servicesJson(n) } : {}),
    };
  }

  /** Docker's `Services` of `network inspect --verbose` on an overlay. */
  private servicesJson(n: NetworkRecord): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const svc of this.overlay?.services ?? []) {
      const tasks = (this.overlay?.peers[n.id] ?? []).filter((p) => p.service === svc.id).map((p) => ({
        Name: p.names.find((x) => x.startsWith(`${svc.name}.`)) ?? p.containerId.slice(0, 12),
        EndpointID: '', EndpointIP: p.ip, Info: { 'Host IP': p.addr },
      }));
      if (!tasks.length && !svc.vips[n.id]) continue;
      out[svc.name] = { VIP: svc.vips[n.id] ?? '', Ports: [], LocalLBIndex: 0, Tasks: tasks };
    }
    return out;
  }

  /** Docker's Peers of an overlay: every node with an endpoint on it. */
  private peersJson(n: NetworkRecord): Array<{ Name: string; IP: string }> {
    const seen = new Map<string, { Name: string; IP: string }>();
    for (const p of this.overlay?.peers[n.id] ?? []) if (!seen.has(p.nodeId)) seen.set(p.nodeId, { Name: p.node, IP: p.addr });
    return [...seen.values()];
  }

  // ---- attachments ----

  private allAttachments(): Attachment[] {
    return (this.db.prepare('SELECT data FROM net_attach').all() as Array<{ data: string }>).map((r) => JSON.parse(r.data));
  }

  attachmentsOf(networkId: string): Attachment[] {
    return (this.db.prepare('SELECT data FROM net_attach WHERE network_id = ?').all(networkId) as Array<{ data: string }>).map((r) =>
      JSON.parse(r.data),
    );
  }

  attachmentsFor(containerId: string): Attachment[] {
    return (this.db.prepare('SELECT data FROM net_attach WHERE container_id = ? ORDER BY rowid').all(containerId) as Array<{ data: string }>).map(
      (r) => JSON.parse(r.data),
    );
  }

  private putAttachment(a: Attachment): void {
    this.db
      .prepare('INSERT OR REPLACE INTO net_attach (container_id, network_id, data) VALUES (?, ?, ?)')
      .run(a.containerId, a.networkId, JSON.stringify(a));
  }

  private attachConfig(ec: any, c: NetContainer, n: NetworkRecord): AttachConfig {
    const aliases: string[] = Array.isArray(ec?.Aliases) ? ec.Aliases.map(String) : [];
    const ipv4: string | undefined = ec?.IPAMConfig?.IPv4Address || undefined;
    if (ipv4) {
      if (parseIp(ipv4) === undefined) throw new InvalidParameter(`invalid IPv4 address: ${ipv4}`);
      if (!n.userSubnet) throw new InvalidParameter('user specified IP address is supported only when connecting to networks with user configured subnets');
    }
    const ipv6: string | undefined = ec?.IPAMConfig?.IPv6Address || undefined;
    if (ipv6) {
      if (parseIp6(ipv6) === undefined) throw new InvalidParameter(`invalid IPv6 address: ${ipv6}`);
      if (!n.enableIPv6 || !n.pools6?.length) throw new InvalidParameter('user specified IP address is supported only when connecting to networks with user configured subnets');
    }
    const linkLocal: string[] = Array.isArray(ec?.IPAMConfig?.LinkLocalIPs) ? ec.IPAMConfig.LinkLocalIPs.map(String) : [];
    for (const l of linkLocal) {
      if (parseIp(l) === undefined && parseIp6(l) === undefined) throw new InvalidParameter(`invalid link-local IP address: ${l}`);
    }
    if (aliases.length && !this.isUserBridge(n)) throw new InvalidParameter('network-scoped alias is supported only for containers in user defined networks');
    const mac = ec?.MacAddress || c.macAddress || undefined;
    if (mac && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) throw new InvalidParameter(`${mac} is not a valid mac address`);
    return {
      aliases, ipv4, ...(ipv6 ? { ipv6 } : {}), ...(linkLocal.length ? { linkLocal } : {}),
      links: Array.isArray(ec?.Links) ? ec.Links : [], mac, driverOpts: ec?.DriverOpts ?? undefined,
    };
  }

  isUserBridge(n: NetworkRecord): boolean {
    return (n.driver === 'bridge' || n.driver === 'overlay') && !n.predefined;
  }

  /** Which network a container's NetworkMode names ("default" is the bridge). */
  modeNetwork(mode: string): NetworkRecord | undefined {
    if (!mode || mode === 'default') return this.find('bridge');
    if (mode.startsWith('container:')) return undefined;
    return this.get(mode);
  }

  /** At create: validate the container's network settings and record its attachments. */
  prepare(c: NetContainer): void {
    const mode = c.networkMode || 'default';
    if (mode.startsWith('container:')) {
      const other = mode.slice('container:'.length);
      if (!this.lookup?.find(other)) throw new NotFound(`No such container: ${other}`);
      if (c.portBindings && Object.keys(c.portBindings).length) throw new InvalidParameter('conflicting options: port publishing and the container type network mode');
      if (c.hostname && c.hostname !== c.id.slice(0, 12)) throw new InvalidParameter('conflicting options: hostname and the network mode');
      return;
    }
    const primary = this.modeNetwork(mode)!;
    if (primary.driver === 'overlay' && !primary.attachable && !c.labels?.[TASK_ID_LABEL]) {
      throw new Forbidden(`Could not attach to network ${primary.name}: rpc error: code = PermissionDenied desc = network ${primary.name} not manually attachable`);
    }
    // (Published ports are ignored in host mode, as Docker does; links become hosts entries on any bridge.)
    wantedBindings(c.portBindings, c.publishAll, c.exposedPorts);
    const ecs = c.endpointsConfig ?? {};
    const rows: Attachment[] = [];
    const primaryEc = ecs[mode] ?? ecs[primary.name] ?? ecs[primary.id] ?? (mode === 'default' ? ecs.bridge : undefined);
    rows.push({ containerId: c.id, networkId: primary.id, config: this.attachConfig(primaryEc, c, primary) });
    for (const [key, ec] of Object.entries(ecs)) {
      if (key === mode || key === 'default') continue;
      const n = this.get(key);
      if (n.id === primary.id) continue;
      if (!bridged(primary) || !bridged(n)) throw new InvalidParameter('Container cannot be connected to network endpoints');
      rows.push({ containerId: c.id, networkId: n.id, config: this.attachConfig(ec, c, n) });
    }
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM net_attach WHERE container_id = ?').run(c.id);
      for (const r of rows) this.putAttachment(r);
    })();
  }

  netnsName(containerId: string): string {
    return `${this.tag}-${containerId.slice(0, 12)}`;
  }

  /**
   * The namespace of an overlay's own data plane (see vxlan.ensureOverlayNetns);
   * undefined for the ingress overlay, whose bridge stays in berthd's namespace
   * (the routing mesh's DNAT/SNAT and the node's ingress address are there).
   */
  private overlayNs(n: NetworkRecord): string | undefined {
    return n.driver === 'overlay' && !n.ingress ? `${this.tag}-ovl-${n.id.slice(0, 8)}` : undefined;
  }

  /** Where the holders of the overlays' namespaces are recorded. */
  private holders(): string {
    return path.join(this.deps.config.execRoot ?? '/run/berth', 'netns-holders');
  }

  /** The cgroup the holders live in, beside berthd's own (see holdercgroup). */
  private holderCgroup(): string {
    return this.tag === 'berth' ? 'berth-netns' : `berth-${this.tag}-netns`;
  }

  /** The bridge a container's host end joins, and the namespace it is in. */
  private portOf(n: NetworkRecord): { bridge: string; hostNetns?: string } {
    const ns = this.overlayNs(n);
    return ns ? { bridge: vxlan.OVERLAY_BRIDGE, hostNetns: ns } : { bridge: n.bridge! };
  }

  /** An overlay's data plane is up on this node (its bridge, or the gateway link of its own namespace, exists). */
  private hasDataPlane(n: NetworkRecord): boolean {
    return !!n.bridge && ip.linkExists(n.bridge) && (!!this.overlayNs(n) || (!!n.vxlan && ip.linkExists(n.vxlan)));
  }

  private ifName(kind: string, seed: string): string {
    const room = 15 - this.tag.length - kind.length;
    return `${this.tag}${kind}${seed.slice(0, room)}`;
  }

  /** Before start: namespace, veths, addresses, rules, ports, hosts and resolv.conf. */
  async setup(c: NetContainer): Promise<NetSetup> {
    if (this.forgetting.size) await this.settle();
    const mode = c.networkMode || 'default';
    const hostname = c.hostname || c.id.slice(0, 12);
    if (mode.startsWith('container:')) {
      const otherRef = mode.slice('container:'.length);
      const other = this.lookup?.find(otherRef);
      if (!other) throw new NotFound(`No such container: ${otherRef}`);
      if (!other.running) throw new Conflict(`cannot join network of a non running container: ${other.id}`);
      const o = await this.setupFilesFor(other);
      const otherNs = this.netnsName(other.id);
      if (!ip.netnsExists(otherNs)) {
        // The other container shares the host's namespace.
        return { hostMode: true, hostsFile: hostHosts(), resolvConf: hostResolv(), hostname: os.hostname(), linkEnv: [] };
      }
      return { ...o, hostMode: false, netnsPath: ip.netnsPath(otherNs), hostname: other.hostname || other.id.slice(0, 12), linkEnv: [] };
    }
    const atts = this.attachmentsFor(c.id);
    const primary = atts.length ? this.nets.get(atts[0].networkId) : this.modeNetwork(mode);
    if (primary?.driver === 'host') {
      return { hostMode: true, hostsFile: hostHosts(), resolvConf: hostResolv(), hostname: os.hostname(), linkEnv: [] };
    }
    const nsName = this.netnsName(c.id);
    let nsPath: string;
    let ready: Promise<Error | undefined>;
    const made: Attachment[] = [];
    try {
      // Addresses first, then the namespace with every veth in two `ip` runs.
      const veths: ip.VethSpec[] = [];
      if (primary && bridged(primary)) {
        let i = 0;
        for (const a of atts) {
          const n = this.nets.get(a.networkId);
          if (!n || !bridged(n)) continue;
          let preferred = a.config.ipv4;
          if (n.driver === 'overlay') {
            await this.ensureDataPlane(n);
            if (!this.swarm) throw new SystemError('this node is not part of a swarm');
            preferred = await this.swarm.allocate(n.id, c.id, a.config.ipv4);
          }
          veths.push(this.allocEndpoint(c, a, n, `eth${i}`, i === 0, preferred));
          made.push(a);
          i++;
        }
      }
      try {
        // a spare namespace from the pool when one is ready (beginNetns then finds it made)
        if (!ip.netnsExists(nsName)) await this.pool.take(nsName);
        const ns = await ip.beginNetns(nsName, veths);
        nsPath = ns.path;
        // On a user-defined network the resolver is 127.0.0.11, as on Docker.
        const dnsAt = made.map((a) => ({ n: this.nets.get(a.networkId), ep: a.endpoint })).find((x) => x.n && this.isUserBridge(x.n) && x.ep);
        const dns = (): Promise<void> => (this.ctrDns.enabled ? this.ctrDns.open(c.id, nsName) : ip.redirectEmbeddedDns(nsName, dnsAt!.n!.pools[0].gateway, dnsAt!.ep!.ip));
        const inside = dnsAt ? ns.inside.then((e) => e ?? dns().then(() => undefined, (err: Error) => err)) : ns.inside;
        ready = inside.then((e) => e && new SystemError(`failed to set up container networking: ${e.message}`));
      } catch (e) {
        throw new SystemError(`failed to set up container networking: ${(e as Error).message}`);
      }
      for (const a of made) this.putAttachment(a);
      // publish the new endpoints to the peer table now, not at the next sync
      if (made.some((a) => this.nets.get(a.networkId)?.driver === 'overlay')) {
        // VIP rules wait for the namespace's own setup (without the addon the embedded DNS's restore replaces the nat table)
        this.nsPending.add(nsName);
        void ready.finally(() => {
          this.nsPending.delete(nsName);
          this.swarm?.kick();
        }).catch(() => undefined);
        this.swarm?.kick();
      }
      if (primary && bridged(primary)) {
        // Rules depend only on networks and published ports, so a plain start changes none.
        const first = made[0];
        if (first?.endpoint) {
          const wanted = wantedBindings(c.portBindings, c.publishAll, c.exposedPorts);
          if (wanted.length) {
            const bindings = await this.proxies.publish(c.id, c.name, first.endpoint.endpointId, wanted, first.endpoint.ip);
            this.savePublished(c.id, { target: first.endpoint.ip, bindings });
            await this.applyRules();
          }
        }
      }
    } catch (e) {
      await this.teardown(c.id).catch(() => {});
      throw e;
    }
    const files = await this.setupFilesFor(c);
    return { ...files, netnsPath: nsPath, hostMode: false, hostname, linkEnv: this.linkEnv(c), ready };
  }

  /** Address and MAC for an endpoint (the veth is made by the caller). */
  private allocEndpoint(c: NetContainer, a: Attachment, n: NetworkRecord, ifName: string, withRoute: boolean, preferred = a.config.ipv4): ip.VethSpec {
    const pool = n.pools[0];
    const addr = this.ipam.allocate(n.id, pool, c.id, preferred);
    const prefix = parseCidr(pool.subnet).bits;
    a.endpoint = {
      endpointId: newId(),
      ip: addr,
      prefix,
      gateway: pool.gateway,
      mac: a.config.mac ?? macFor(addr),
      hostIf: this.ifName('v', randomBytes(8).toString('hex')),
      ifName,
    };
    return {
      netns: this.netnsName(c.id),
      ...this.portOf(n),
      hostIf: a.endpoint.hostIf,
      ifName,
      addrCidr: `${addr}/${prefix}`,
      mac: a.endpoint.mac,
      gateway: withRoute && !n.internal ? pool.gateway : undefined,
      mtu: mtuOf(n),
      ...this.allocV6(c, a.config, a.endpoint, n, withRoute),
    };
  }

  /** An EnableIPv6 network's address and route, and --link-local-ip addresses, for the endpoint `ep`. */
  private allocV6(c: NetContainer, cfg: AttachConfig, ep: Endpoint, n: NetworkRecord, withRoute: boolean): Partial<ip.VethSpec> {
    const out: Partial<ip.VethSpec> = {};
    const pool6 = n.enableIPv6 ? n.pools6?.[0] : undefined;
    if (pool6) {
      ep.ip6 = this.ipam.allocate6(n.id, pool6, c.id, cfg.ipv6);
      ep.prefix6 = parseCidr6(pool6.subnet).bits;
      ep.gateway6 = pool6.gateway;
      out.addr6Cidr = `${ep.ip6}/${ep.prefix6}`;
      if (withRoute && !n.internal) out.gateway6 = pool6.gateway;
    }
    // libnetwork adds link-local IPs with the link-local prefixes: 169.254.0.0/16, fe80::/64
    if (cfg.linkLocal?.length) out.extraAddrs = cfg.linkLocal.map((l) => (l.includes(':') ? `${l}/64` : `${l}/16`));
    return out;
  }

  /** One endpoint: address, MAC and veth into the container's namespace. */
  private async plug(c: NetContainer, a: Attachment, n: NetworkRecord, ifName: string, withRoute: boolean): Promise<void> {
    const pool = n.pools[0];
    const addr = this.ipam.allocate(n.id, pool, c.id, a.config.ipv4);
    const prefix = parseCidr(pool.subnet).bits;
    const ep: Endpoint = {
      endpointId: newId(),
      ip: addr,
      prefix,
      gateway: pool.gateway,
      mac: a.config.mac ?? macFor(addr),
      hostIf: this.ifName('v', randomBytes(8).toString('hex')),
      ifName,
    };
    try {
      await ip.attachVeth({
        netns: this.netnsName(c.id),
        ...this.portOf(n),
        hostIf: ep.hostIf,
        ifName,
        addrCidr: `${addr}/${prefix}`,
        mac: ep.mac,
        gateway: withRoute && !n.internal ? pool.gateway : undefined,
        mtu: mtuOf(n),
        ...this.allocV6(c, a.config, ep, n, withRoute),
      });
    } catch (e) {
      this.ipam.release(n.id, addr);
      if (ep.ip6) this.ipam.release(n.id, ep.ip6);
      throw new SystemError(`failed to set up container networking: ${(e as Error).message}`);
    }
    a.endpoint = ep;
    this.putAttachment(a);
  }

  private dropEndpoint(a: Attachment): void {
    if (a.endpoint) this.ipam.release(a.networkId, a.endpoint.ip);
    if (a.endpoint?.ip6) this.ipam.release(a.networkId, a.endpoint.ip6);
    a.endpoint = undefined;
    this.putAttachment(a);
  }

  /** After stop (or a failed start): release addresses, veths, rules, ports and the namespace. */
  async teardown(containerId: string): Promise<void> {
    // Teardown runs at exits and removals, which must work on a full disk.
    const hadPorts = critical(this.db, () => this.db.prepare('DELETE FROM net_ports WHERE container_id = ?').run(containerId).changes > 0);
    // The DNAT rules go before the ports are freed: a port taken again (by any daemon) while a
    // stale rule still sends it to this container would lose its traffic.
    if (hadPorts) await this.applyRules();
    this.proxies.unpublish(containerId);
    this.ctrDns.close(containerId);
    const nsName = this.netnsName(containerId);
    const live = this.attachmentsFor(containerId).filter((a) => a.endpoint);
    await ip.teardownNetns(nsName, live.map((a) => a.endpoint!.hostIf));
    this.balancer.forget(nsName);
    critical(this.db, () => this.db.transaction(() => {
      for (const a of this.attachmentsFor(containerId)) if (a.endpoint) this.dropEndpoint(a);
      this.ipam.releaseOwner(containerId);
    })());
    const overlays = live.map((a) => ({ a, n: this.nets.get(a.networkId) })).filter((x) => x.n?.driver === 'overlay');
    for (const { a, n } of overlays) {
      await this.swarm?.release(n!.id, a.endpoint!.ip).catch((e) => log.warn('overlay address not released', { network: n!.name, error: String(e) }));
      if (!this.inUse(n!)) await this.serial(() => this.removeDataPlane(n!));
    }
    if (overlays.length) this.swarm?.kick();
  }

  /**
   * Records of containers that do not exist (a crash during create, after the
   * attachments were written and before the container's record): dropped at
   * start, so they never hold an address or keep a network from being pruned.
   */
  dropUnknown(known: Set<string>): void {
    const ids = new Set<string>();
    for (const t of ['net_attach', 'net_ports']) {
      for (const r of this.db.prepare(`SELECT container_id FROM ${t}`).all() as Array<{ container_id: string }>) ids.add(r.container_id);
    }
    for (const r of this.db.prepare('SELECT owner FROM ipam_addr').all() as Array<{ owner: string }>) if (/^[0-9a-f]{64}$/.test(r.owner)) ids.add(r.owner);
    const gone = [...ids].filter((id) => !known.has(id));
    if (!gone.length) return;
    log.warn('dropping network records of containers that do not exist', { count: gone.length });
    this.db.transaction(() => {
      for (const id of gone) {
        this.db.prepare('DELETE FROM net_attach WHERE container_id = ?').run(id);
        this.db.prepare('DELETE FROM net_ports WHERE container_id = ?').run(id);
        this.ipam.releaseOwner(id);
      }
    })();
  }

  /** At remove: forget the attachments. */
  async forget(containerId: string): Promise<void> {
    const p = (async () => {
      await this.teardown(containerId);
      critical(this.db, () => this.db.prepare('DELETE FROM net_attach WHERE container_id = ?').run(containerId));
    })();
    this.forgetting.set(containerId, p);
    try {
      await p;
    } finally {
      if (this.forgetting.get(containerId) === p) this.forgetting.delete(containerId);
    }
  }

  /** Removals in flight (a removed container's network goes in the background), by container id. */
  private readonly forgetting = new Map<string, Promise<void>>();

  /**
   * Waits for the removals in flight: what they release (addresses — each
   * only after its veth is gone —, published ports, endpoints) must be free
   * before a start, a connect or a network removal looks at it.
   */
  private async settle(): Promise<void> {
    for (let i = 0; i < 100 && this.forgetting.size; i++) await Promise.allSettled([...this.forgetting.values()]);
  }

  private container(ref: string): NetContainer {
    const c = ref ? this.lookup?.find(ref) : undefined;
    if (!c) throw new NotFound(`No such container: ${ref}`);
    return c;
  }

  connectContainer(netRef: string, containerRef: string, ec: any): Promise<void> {
    this.get(netRef);
    return this.connect(netRef, this.container(containerRef), ec);
  }

  disconnectContainer(netRef: string, containerRef: string, force: boolean): Promise<void> {
    this.get(netRef);
    return this.disconnect(netRef, this.container(containerRef), force);
  }

  /** `network connect` (running or not). */
  async connect(netRef: string, c: NetContainer, ec: any): Promise<void> {
    await this.settle();
    const n = this.get(netRef);
    if (n.driver === 'overlay') throw new InvalidParameter(`berth does not support network connect to the overlay ${n.name} yet: use docker run --network ${n.name}`);
    const atts = this.attachmentsFor(c.id);
    const primary = atts.length ? this.nets.get(atts[0].networkId) : undefined;
    const mode = c.networkMode || 'default';
    if (primary?.driver === 'host' || mode === 'host' || n.driver === 'host') {
      throw new InvalidParameter('container cannot be disconnected from host network or connected to host network');
    }
    if (mode.startsWith('container:')) throw new InvalidParameter('conflicting options: container type network can\'t be used with other networks');
    if (n.driver === 'null' || primary?.driver === 'null') throw new InvalidParameter('container cannot be disconnected from "none" network or connected to another network');
    if (atts.some((a) => a.networkId === n.id)) throw new Forbidden(`endpoint with name ${c.name} already exists in network ${n.name}`);
    const a: Attachment = { containerId: c.id, networkId: n.id, config: this.attachConfig(ec, c, n) };
    this.putAttachment(a);
    if (c.running) {
      try {
        await this.plug(c, a, n, `eth${atts.filter((x) => x.endpoint).length}`, !atts.some((x) => x.endpoint));
      } catch (e) {
        this.db.prepare('DELETE FROM net_attach WHERE container_id = ? AND network_id = ?').run(c.id, n.id);
        throw e;
      }
    }
    this.onChange?.(c.id);
    this.deps.events.publish('network', 'connect', n.id, { container: c.id, name: n.name, type: n.driver });
  }

  async disconnect(netRef: string, c: NetContainer, _force: boolean): Promise<void> {
    const n = this.get(netRef);
    if (n.driver === 'host') throw new InvalidParameter('container cannot be disconnected from host network or connected to host network');
    const a = this.attachmentsFor(c.id).find((x) => x.networkId === n.id);
    if (!a) throw new Forbidden(`container ${c.id} is not connected to network ${n.name}`);
    if (a.endpoint) {
      await ip.detachVeth(a.endpoint.hostIf, this.netnsName(c.id), a.endpoint.ifName);
      this.ipam.release(n.id, a.endpoint.ip);
      if (a.endpoint.ip6) this.ipam.release(n.id, a.endpoint.ip6);
    }
    this.db.prepare('DELETE FROM net_attach WHERE container_id = ? AND network_id = ?').run(c.id, n.id);
    if (n.driver === 'overlay') {
      // as at teardown: the cluster-wide address goes back, and the data plane with its last user
      if (a.endpoint) await this.swarm?.release(n.id, a.endpoint.ip).catch((e) => log.warn('overlay address not released', { network: n.name, error: String(e) }));
      if (!this.inUse(n)) await this.serial(() => this.removeDataPlane(n));
      this.swarm?.kick();
    }
    this.onChange?.(c.id);
    this.deps.events.publish('network', 'disconnect', n.id, { container: c.id, name: n.name, type: n.driver });
  }

  // ---- what inspect shows ----

  /** NetworkSettings in Docker's shape. */
  settingsJson(c: NetContainer): any {
    const atts = this.attachmentsFor(c.id);
    const networks: Record<string, any> = {};
    for (const a of atts) {
      const n = this.nets.get(a.networkId);
      if (!n) continue;
      const ep = a.endpoint;
      networks[n.name] = {
        IPAMConfig: a.config.ipv4 || a.config.ipv6 || a.config.linkLocal
          ? { ...(a.config.ipv4 ? { IPv4Address: a.config.ipv4 } : {}), ...(a.config.ipv6 ? { IPv6Address: a.config.ipv6 } : {}), ...(a.config.linkLocal ? { LinkLocalIPs: a.config.linkLocal } : {}) }
          : null,
        Links: a.config.links.length ? a.config.links : null,
        Aliases: this.isUserBridge(n) ? [...a.config.aliases, ...(ep ? [c.id.slice(0, 12)] : [])] : null,
        NetworkID: n.id,
        EndpointID: ep?.endpointId ?? '',
        Gateway: ep?.gateway ?? '',
        IPAddress: ep?.ip ?? '',
        IPPrefixLen: ep?.prefix ?? 0,
        IPv6Gateway: ep?.gateway6 ?? '',
        GlobalIPv6Address: ep?.ip6 ?? '',
        GlobalIPv6PrefixLen: ep?.prefix6 ?? 0,
        MacAddress: ep?.mac ?? '',
        DriverOpts: a.config.driverOpts ?? null,
      };
    }
    const bridgeNet = [...this.nets.values()].find((n) => n.name === 'bridge');
    const def = atts.find((a) => a.networkId === bridgeNet?.id)?.endpoint;
    const ports: Record<string, any> = {};
    const running = atts.some((a) => a.endpoint) || false;
    if (running) {
      for (const p of c.exposedPorts) ports[p.includes('/') ? p : `${p}/tcp`] = null;
      for (const b of this.publishedOf(c.id)?.bindings ?? []) {
        const key = `${b.containerPort}/${b.proto}`;
        (ports[key] ??= []).push({ HostIp: b.hostIp, HostPort: String(b.hostPort) });
      }
    }
    const nsPath = ip.netnsExists(this.netnsName(c.id)) ? ip.netnsPath(this.netnsName(c.id)) : '';
    return {
      Bridge: '',
      SandboxID: nsPath ? c.id : '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: ports,
      SandboxKey: nsPath,
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: def?.endpointId ?? '',
      Gateway: def?.gateway ?? '',
      GlobalIPv6Address: def?.ip6 ?? '',
      GlobalIPv6PrefixLen: def?.prefix6 ?? 0,
      IPAddress: def?.ip ?? '',
      IPPrefixLen: def?.prefix ?? 0,
      IPv6Gateway: def?.gateway6 ?? '',
      MacAddress: def?.mac ?? '',
      Networks: networks,
    };
  }

  // ---- hosts, resolv.conf, links ----

  private async setupFilesFor(c: NetContainer): Promise<{ hostMode: boolean; netnsPath?: string; hostsFile: string; resolvConf: string }> {
    const atts = this.attachmentsFor(c.id);
    const hostname = c.hostname || c.id.slice(0, 12);
    const lines = [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      'fe00::0\tip6-localnet',
      'ff00::0\tip6-mcastprefix',
      'ff02::1\tip6-allnodes',
      'ff02::2\tip6-allrouters',
    ];
    for (const l of c.links) {
      const [target, alias] = splitLink(l);
      const other = this.lookup?.find(target);
      if (!other) continue;
      const oip = this.sharedIp(c, other.id);
      if (oip) lines.push(`${oip}\t${alias} ${other.hostname || other.id.slice(0, 12)} ${other.name}`.replace(/ +$/, ''));
    }
    for (const h of c.extraHosts) {
      const i = h.indexOf(':');
      if (i < 0) continue;
      let addr = h.slice(i + 1);
      if (addr === 'host-gateway') addr = this.nets.get(atts[0]?.networkId ?? '')?.pools[0]?.gateway ?? '127.0.0.1';
      lines.push(`${addr}\t${h.slice(0, i)}`);
    }
    const self = atts.find((a) => a.endpoint)?.endpoint;
    if (self) lines.push(`${self.ip}\t${c.domainname ? `${hostname}.${c.domainname} ` : ''}${hostname}`);
    if (self?.ip6) lines.push(`${self.ip6}\t${c.domainname ? `${hostname}.${c.domainname} ` : ''}${hostname}`);
    const userNet = atts.map((a) => this.nets.get(a.networkId)).find((n) => n && this.isUserBridge(n));
    const ns: string[] = userNet ? [ip.EMBEDDED_DNS] : c.dns.length ? c.dns : hostNameservers();
    if (ns.length === 0) ns.push('8.8.8.8', '8.8.4.4');
    const resolv: string[] = [];
    const search = c.dnsSearch.length ? c.dnsSearch : hostSearch();
    for (const s of ns) resolv.push(`nameserver ${s}`);
    if (search.length) resolv.push(`search ${search.join(' ')}`);
    const opts = c.dnsOptions.length ? c.dnsOptions : userNet ? ['ndots:0'] : [];
    if (opts.length) resolv.push(`options ${opts.join(' ')}`);
    return { hostMode: false, hostsFile: lines.join('\n') + '\n', resolvConf: resolv.join('\n') + '\n' };
  }

  /** Address of `otherId` on a network both share (for links). */
  private sharedIp(c: NetContainer, otherId: string): string | undefined {
    const mine = new Set(this.attachmentsFor(c.id).map((a) => a.networkId));
    for (const a of this.attachmentsFor(otherId)) if (a.endpoint && mine.has(a.networkId)) return a.endpoint.ip;
    return this.attachmentsFor(otherId).find((a) => a.endpoint)?.endpoint?.ip;
  }

  /** Docker's legacy link variables: ALIAS_PORT_80_TCP=tcp://ip:80, ALIAS_NAME, ALIAS_ENV_x. */
  private linkEnv(c: NetContainer): string[] {
    const env: string[] = [];
    for (const l of c.links) {
      const [target, alias] = splitLink(l);
      const other = this.lookup?.find(target);
      if (!other) continue;
      const oip = this.sharedIp(c, other.id);
      if (!oip) continue;
      const p = alias.toUpperCase().replace(/[^A-Z0-9]/g, '_');
      env.push(`${p}_NAME=/${c.name}/${alias}`);
      const ports = [...other.exposedPorts].map((k) => (k.includes('/') ? k : `${k}/tcp`)).sort((a, b) => parseInt(a) - parseInt(b));
      if (ports.length) {
        const [port, proto] = ports[0].split('/');
        env.push(`${p}_PORT=${proto}://${oip}:${port}`);
      }
      for (const k of ports) {
        const [port, proto] = k.split('/');
        const q = `${p}_PORT_${port}_${proto.toUpperCase()}`;
        env.push(`${q}=${proto}://${oip}:${port}`, `${q}_ADDR=${oip}`, `${q}_PORT=${port}`, `${q}_PROTO=${proto}`);
      }
      // moby's Link.ToEnv: the child's environment, less what builds add (HOME, PATH)
      for (const kv of other.env ?? []) {
        const i = kv.indexOf('=');
        if (i < 0) continue;
        const k = kv.slice(0, i);
        if (k === 'HOME' || k === 'PATH') continue;
        env.push(`${p}_ENV_${k}=${kv.slice(i + 1)}`);
      }
    }
    return env;
  }

  // ---- embedded DNS ----

  private async startDns(n: NetworkRecord): Promise<void> {
    if (this.dns.has(n.id)) return;
    const srv = new DnsServer(n.pools[0].gateway, (name, from) => this.resolveFor(n.id, name, from), (from) => this.upstreamFor(n.id, from));
    try {
      await srv.start();
      this.dns.set(n.id, srv);
    } catch (e) {
      log.warn('embedded DNS could not start', { network: n.name, error: (e as Error).message });
    }
  }

  /** Where to forward other names for the client at `from`: its --dns servers, else the host's. */
  private upstreamFor(netId: string, from: string): string[] {
    const asker = this.attachmentsOf(netId).find((a) => a.endpoint?.ip === from);
    return this.upstreamForContainer(asker?.containerId);
  }

  private upstreamForContainer(containerId: string | undefined): string[] {
    const c = containerId ? this.lookup?.find(containerId) : undefined;
    const own = (c?.dns ?? []).filter((s) => net.isIPv4(s));
    return own.length ? own : hostNameservers();
  }

  /** A query from inside a container's namespace: as its attachment to its first user-defined network asks. */
  private resolveForContainer(containerId: string, name: string): string[] {
    const a = this.dnsAttachment(containerId);
    return a ? this.resolveAs(a.networkId, name, a) : [];
  }

  /** A query from `from` on network `netId`: names on every network the asking container is on. */
  resolveFor(netId: string, name: string, from: string): string[] {
    return this.resolveAs(netId, name, this.attachmentsOf(netId).find((a) => a.endpoint?.ip === from));
  }

  /** `name` asked on network `netId` by the container of attachment `asker` (unknown: the network's names only). */
  private resolveAs(netId: string, name: string, asker: Attachment | undefined): string[] {
    const nets = asker ? this.attachmentsFor(asker.containerId).filter((a) => a.endpoint).map((a) => a.networkId) : [netId];
    // --link on a user-defined network: the alias is a name only its linker
    // resolves (libnetwork's container-local aliases).
    if (asker) {
      const me = this.lookup?.find(asker.containerId);
      for (const l of [...asker.config.links, ...(me?.links ?? [])]) {
        const [target, alias] = splitLink(l);
        if (alias.toLowerCase() !== name.toLowerCase()) continue;
        const other = this.lookup?.find(target);
        const ep = other ? this.attachmentsFor(other.id).find((a) => a.endpoint && nets.includes(a.networkId))?.endpoint : undefined;
        if (ep) return ep.ip6 ? [ep.ip, ep.ip6] : [ep.ip];
      }
    }
    const out: string[] = [];
    for (const id of nets) {
      const n = this.nets.get(id);
      if (!n || !this.isUserBridge(n)) continue;
      for (const ipAddr of this.resolveName(id, name)) if (!out.includes(ipAddr)) out.push(ipAddr);
    }
    return out;
  }

  /** Addresses (v4, and v6 on EnableIPv6 networks) of running containers on network `netId` by name, alias or short id. */
  resolveName(netId: string, name: string): string[] {
    const out: string[] = [];
    const n = this.nets.get(netId);
    const bare = n && name.endsWith(`.${n.name}`) ? name.slice(0, -(n.name.length + 1)) : name;
    for (const a of this.attachmentsOf(netId)) {
      if (!a.endpoint) continue;
      const c = this.lookup?.find(a.containerId);
      const names = [a.containerId.slice(0, 12), ...a.config.aliases.map((x) => x.toLowerCase())];
      if (c) names.push(c.name.toLowerCase());
      if (names.includes(bare)) out.push(a.endpoint.ip, ...(a.endpoint.ip6 ? [a.endpoint.ip6] : []));
    }
    if (n?.driver === 'overlay') {
      for (const p of this.overlay?.peers[netId] ?? []) {
        if (p.nodeId !== this.overlay?.nodeId && p.names.includes(bare) && !out.includes(p.ip)) out.push(p.ip);
      }
      // swarm services: `NAME` is the VIP (endpoint mode vip) or the tasks (dnsrr); `tasks.NAME` the tasks
      if (!out.length) {
        const task = bare.startsWith('tasks.');
        const svcName = task ? bare.slice(6) : bare;
        const svc = this.overlay?.services?.find((x) => x.name.toLowerCase() === svcName && (x.vips[netId] || x.mode === 'dnsrr' || task));
        if (svc) {
          if (!task && svc.mode === 'vip' && svc.vips[netId]) out.push(svc.vips[netId]);
          else if (task || svc.mode === 'dnsrr') out.push(...this.serviceBackends(netId, svc.id));
        }
      }
    }
    return out;
  }

  /**
   * Addresses of a service's running tasks on an overlay (every node's, from
   * the peer table and this node's own), less those with a healthcheck that
   * are not healthy (starting or unhealthy): they leave the VIP's balancing
   * set, `tasks.NAME` and dnsrr answers until their healthcheck passes.
   */
  private serviceBackends(netId: string, serviceId: string): string[] {
    const out = new Set<string>();
    // this node's own endpoints are fresher than the peer table's copy of them
    const self = this.overlay?.nodeId;
    for (const p of this.overlay?.peers[netId] ?? []) if (p.service === serviceId && !p.unhealthy && p.nodeId !== self) out.add(p.ip);
    for (const e of this.overlayEndpoints()[netId] ?? []) if (e.service === serviceId && !e.unhealthy) out.add(e.ip);
    return [...out];
  }

  /** Each local container on an overlay balances the VIPs of that overlay's services over their tasks. */
  private async syncBalancers(): Promise<void> {
    const services: OverlayService[] = this.overlay?.services ?? [];
    const byContainer = new Map<string, VipTable[]>();
    for (const n of this.nets.values()) {
      if (n.driver !== 'overlay') continue;
      const tables = services.filter((x) => x.mode === 'vip' && x.vips[n.id]).map((x) => ({ vip: x.vips[n.id], backends: this.serviceBackends(n.id, x.id) }));
      for (const a of this.attachmentsOf(n.id)) {
        if (!a.endpoint) continue;
        byContainer.set(a.containerId, [...(byContainer.get(a.containerId) ?? []), ...tables]);
      }
    }
    for (const [cid, tables] of byContainer) {
      const ns = this.netnsName(cid);
      if (this.nsPending.has(ns) || !ip.netnsExists(ns)) continue;
      await this.balancer.apply(ns, tables).catch((e) => log.warn('service VIP rules not applied', { container: cid, error: String(e) }));
    }
  }

  // ---- overlays (swarm scope) ----

  /** Runs overlay data-plane changes one at a time. */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.overlayChain.then(f, f);
    this.overlayChain = run.catch(() => {});
    return run;
  }

  /** The node's copy of a swarm overlay record (memory only: the cluster store holds it). */
  private addOverlay(def: SwarmNetworkDef): NetworkRecord {
    const spec = def.spec ?? {};
    const n: NetworkRecord = {
      id: def.id, name: String(spec.Name), driver: 'overlay', scope: 'swarm', created: def.createdAt,
      internal: !!spec.Internal, attachable: !!spec.Attachable, enableIPv6: false,
      labels: { ...(spec.Labels ?? {}) },
      options: { ...(spec.Options ?? {}), 'com.docker.network.driver.overlay.vxlanid_list': String(def.vni) },
      ipamOptions: { ...(spec.IPAM?.Options ?? {}) },
      pools: def.ipam.map((p) => ({ subnet: p.Subnet, gateway: p.Gateway })),
      userSubnet: !!spec.IPAM?.Config?.[0]?.Subnet, bridge: this.ifName('-', def.id), vxlan: this.ifName('x', def.id),
      vni: def.vni, predefined: false, ...(spec.Ingress ? { ingress: true } : {}),
    };
    this.nets.set(n.id, n);
    return n;
  }

  /** The local copy goes; `forget` (network rm) also drops attachments and addresses (not when the node leaves). */
  private async dropOverlay(n: NetworkRecord, forget = true): Promise<void> {
    await this.serial(() => this.removeDataPlane(n));
    if (forget) {
      this.db.prepare('DELETE FROM net_attach WHERE network_id = ?').run(n.id);
      this.ipam.releaseNetwork(n.id);
    }
    this.nets.delete(n.id);
  }

  /** A local container is on overlay `n`, or the routing mesh uses it. */
  private inUse(n: NetworkRecord): boolean {
    return this.mesh?.netId === n.id || this.attachmentsOf(n.id).some((a) => a.endpoint);
  }

  /** This node's endpoints on overlays (published to the swarm's peer table). */
  overlayEndpoints(): Record<string, OverlayEndpoint[]> {
    const out: Record<string, OverlayEndpoint[]> = {};
    if (this.mesh) out[this.mesh.netId] = [{ containerId: 'ingress-sbox', ip: this.mesh.ip, mac: this.mesh.mac, names: ['ingress-endpoint'] }];
    for (const n of this.nets.values()) {
      if (n.driver !== 'overlay') continue;
      const eps = this.attachmentsOf(n.id).filter((a) => a.endpoint).map((a) => {
        const c = this.lookup?.find(a.containerId);
        const names = [a.containerId.slice(0, 12), ...a.config.aliases.map((x) => x.toLowerCase()), ...(c ? [c.name.toLowerCase()] : [])];
        const service = c?.labels?.[SERVICE_ID_LABEL];
        const unhealthy = !!service && c?.health !== undefined && c.health !== 'healthy';
        return { containerId: a.containerId, ip: a.endpoint!.ip, mac: a.endpoint!.mac, names, ...(service ? { service } : {}), ...(unhealthy ? { unhealthy } : {}) };
      });
      if (eps.length) out[n.id] = [...(out[n.id] ?? []), ...eps];
    }
    return out;
  }

  /** The swarm's overlays and peer table (undefined: the node left): records, data planes and VXLAN entries follow. */
  async applySwarm(s: OverlaySnapshot | undefined): Promise<void> {
    this.overlay = s;
    const wanted = new Set((s?.networks ?? []).map((d) => d.id));
    const added = new Set<string>();
    for (const d of s?.networks ?? []) if (!this.nets.has(d.id)) added.add(this.addOverlay(d).id);
    // containers attached before (a daemon restart: the swarm's networks come after the containers' restore)
    // show the network in their settings again
    if (added.size) for (const id of new Set(this.allAttachments().filter((a) => added.has(a.networkId)).map((a) => a.containerId))) this.onChange?.(id);
    for (const n of [...this.nets.values()]) {
      if (n.driver !== 'overlay') continue;
      if (!wanted.has(n.id)) {
        // gone from the cluster (or the node left): kept while local containers still use it, unless the node left
        if (this.mesh?.netId === n.id) this.mesh = undefined;
        if (!s) await this.dropOverlay(n, false);
        else if (!this.inUse(n)) await this.dropOverlay(n);
        continue;
      }
      if (this.hasDataPlane(n)) await this.serial(() => this.syncPeers(n));
    }
    if (s) await this.syncMesh(s).catch((e) => log.warn('routing mesh not set up', { error: String(e) }));
    // the node left (syncMesh did not run): the mesh's rules go. In a swarm syncMesh keeps
    // meshApplied in step itself; resetting it here made every 1 s round rewrite the chains twice.
    if (!s && this.meshApplied) {
      this.meshApplied = '';
      await this.applyRules();
    }
    if (s) await this.serial(() => this.syncBalancers());
  }

  /**
   * The routing mesh follows the services: with some ingress port published
   * anywhere in the swarm, this node runs the ingress network's data plane
   * (also without a task of its own) with its node address on it, and its
   * nat table DNATs each published port to the tasks (see buildRules).
   */
  private async syncMesh(s: OverlaySnapshot): Promise<void> {
    const ing = [...this.nets.values()].find((n) => n.driver === 'overlay' && n.ingress);
    const want = !!ing && (s.services ?? []).some((x) => x.ports?.length);
    if (want && !this.mesh && ing && this.swarm) {
      await this.ensureDataPlane(ing);
      const addr = await this.swarm.allocate(ing.id, `ingress-sbox:${s.nodeId}`);
      const bits = parseCidr(ing.pools[0].subnet).bits;
      // a fixed MAC (Docker's 02:42 + the address): a bridge's own MAC otherwise follows its ports
      const mac = ['02', '42', ...addr.split('.').map((x) => Number(x).toString(16).padStart(2, '0'))].join(':');
      await ip.addDeviceAddress(ing.bridge!, `${addr}/${bits}`, mac);
      this.mesh = { netId: ing.id, ip: addr, mac, bits };
      this.swarm.kick();
    } else if (!want && this.mesh) {
      const m = this.mesh;
      this.mesh = undefined;
      const n = this.nets.get(m.netId);
      if (n?.bridge) await ip.delDeviceAddress(n.bridge, `${m.ip}/${m.bits}`);
      if (n && !this.inUse(n)) await this.serial(() => this.removeDataPlane(n));
      await this.swarm?.release(m.netId, m.ip).catch((e) => log.warn('ingress address not released', { error: String(e) }));
      this.swarm?.kick();
    }
    const key = JSON.stringify(this.meshRules());
    if (key !== this.meshApplied) {
      await this.applyRules();
      this.meshApplied = key;
    }
  }

  /**
   * The routing mesh's rules on this node: each published port of a service
   * DNATed to one of its healthy tasks on the ingress network, chosen by
   * `statistic --mode random` (1/n, 1/(n-1), … 1, as the VIP balancer), the
   * connection SNATed to this node's ingress address so the answer comes
   * back through this node (whose conntrack undoes both); forwarding to the
   * ingress bridge allowed for these connections (also from containers of
   * other networks of this node).
   */
  private meshRules(): { nat: string[]; post: string[]; fwd: string[]; iso: string[] } {
    const m = this.mesh;
    const n = m && this.nets.get(m.netId);
    if (!m || !n?.bridge || !ip.linkExists(n.bridge)) return { nat: [], post: [], fwd: [], iso: [] };
    const br = n.bridge;
    const sub = n.pools[0].subnet;
    const nat: string[] = [];
    for (const svc of this.overlay?.services ?? []) {
      if (!svc.ports?.length) continue;
      const backends = this.serviceBackends(n.id, svc.id).sort();
      for (const p of svc.ports) {
        backends.forEach((addr, i) => {
          const left = backends.length - i;
          const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(8)}` : '';
          nat.push(`-p ${p.protocol} -m ${p.protocol} --dport ${p.published}${stat} -j DNAT --to-destination ${addr}:${p.target}`);
        });
      }
    }
    return {
      nat,
      post: [`-d ${sub} -o ${br} -m conntrack --ctstate DNAT -j SNAT --to-source ${m.ip}`],
      fwd: [`-d ${sub} -o ${br} -m conntrack --ctstate DNAT -j ACCEPT`],
      iso: [`-o ${br} -m conntrack --ctstate DNAT -j RETURN`, `-i ${br} -m conntrack --ctstate DNAT -j RETURN`],
    };
  }

  /** Bridge, VXLAN device, DNS and rules of an overlay on this node (first local user). */
  private ensureDataPlane(n: NetworkRecord): Promise<void> {
    return this.serial(async () => {
      const o = this.overlay;
      if (!o?.addr) throw new SystemError(`network ${n.name} is not available: this node has no swarm address yet`);
      const pool = n.pools[0];
      const fresh = !this.hasDataPlane(n);
      const gatewayCidr = `${pool.gateway}/${parseCidr(pool.subnet).bits}`;
      const ns = this.overlayNs(n);
      if (ns) {
        await vxlan.ensureOverlayNetns({ ns, holders: this.holders(), holderCgroup: this.holderCgroup(), gw: n.bridge!, gatewayCidr, name: n.vxlan!, vni: n.vni!, port: o.port, local: o.addr, dev: devOf(o.addr), mtu: mtuOf(n) });
      } else {
        await ip.ensureBridge(n.bridge!, gatewayCidr, mtuOf(n));
        await vxlan.ensureVxlan({ name: n.vxlan!, vni: n.vni!, port: o.port, local: o.addr, dev: devOf(o.addr), bridge: n.bridge!, mtu: mtuOf(n) });
      }
      if (fresh) {
        this.vxPeers.delete(n.id);
        this.vxReadAt.delete(n.id);
        await this.applyRules();
        await this.startDns(n);
      }
      await this.syncPeers(n);
    });
  }

  /**
   * The VXLAN table follows the peer table by difference with what was
   * programmed last; at a sync 8 s or more after the last read (the syncs of
   * an idle node come every 10 s) the base is the kernel's own table
   * instead, so an entry a failed batch line left out (or one removed behind
   * our back) is back, and a stale one gone, within ~10-20 s. Entries
   * that are right are never touched, so no packet of a flowing connection
   * meets a missing entry.
   */
  private async syncPeers(n: NetworkRecord): Promise<void> {
    const o = this.overlay;
    const want = vxlan.tableOf((o?.peers[n.id] ?? []).filter((p) => p.nodeId !== o?.nodeId && p.addr).map((p) => ({ ip: p.ip, mac: p.mac, dst: p.addr })));
    const last = this.vxPeers.get(n.id);
    const ns = this.overlayNs(n);
    const reread = !last || Date.now() - (this.vxReadAt.get(n.id) ?? 0) >= VX_REREAD_MS;
    if (reread) this.vxReadAt.set(n.id, Date.now());
    const had = (reread ? await vxlan.readTable(n.vxlan!, ns) : undefined) ?? last ?? vxlan.tableOf([]);
    await vxlan.syncTable(n.vxlan!, had, want, ns);
    this.vxPeers.set(n.id, want);
  }

  /** Last local user gone, network removed or node left: devices, DNS and rules go. */
  private async removeDataPlane(n: NetworkRecord): Promise<void> {
    this.dns.get(n.id)?.close();
    this.dns.delete(n.id);
    this.vxPeers.delete(n.id);
    this.vxReadAt.delete(n.id);
    const had = !!n.bridge && ip.linkExists(n.bridge);
    const ns = this.overlayNs(n);
    if (ns && n.bridge && n.vxlan) await vxlan.removeOverlayNetns({ ns, holders: this.holders(), holderCgroup: this.holderCgroup(), gw: n.bridge, name: n.vxlan });
    if (n.vxlan) await ip.deleteLink(n.vxlan);
    if (n.bridge) await ip.deleteLink(n.bridge);
    if (had) await this.applyRules();
  }

  // ---- iptables ----

  private jumps(): ipt.Jump[] {
    const P = this.prefix;
    return [
      { table: 'filter', chain: 'FORWARD', args: ['-j', `${P}-FORWARD`] },
      { table: 'nat', chain: 'PREROUTING', args: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', `${P}-NAT`] },
      { table: 'nat', chain: 'POSTROUTING', args: ['-j', `${P}-POSTROUTING`] },
      { table: 'raw', chain: 'PREROUTING', args: ['-j', `${P}-NOTRACK`] },
      { table: 'raw', chain: 'OUTPUT', args: ['-j', `${P}-NOTRACK`] },
    ];
  }

  /**
   * Locally made connections to a published port (curl 127.0.0.1:PORT) are
   * DNATed in OUTPUT, as Docker does without its userland proxy: the kernel
   * serves them, so they keep working while berthd is stopped or crashed.
   * The jump exists only while some port is published.
   */
  private outputJump(): ipt.Jump {
    return { table: 'nat', chain: 'OUTPUT', args: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', `${this.prefix}-NAT`] };
  }

  /** undefined until first set: then the jump is checked either way. */
  private outputJumpSet?: boolean;

  private hasPublishedPorts(): boolean {
    return !!this.mesh || !!this.db.prepare('SELECT 1 FROM net_ports LIMIT 1').get();
  }

  private async syncOutputJump(): Promise<void> {
    const want = this.hasPublishedPorts();
    if (want === this.outputJumpSet) return;
    if (want) await ipt.ensureJump(this.outputJump());
    else await ipt.removeJump(this.outputJump());
    this.outputJumpSet = want;
  }

  private async installJumps(): Promise<void> {
    // Chains must exist before a jump can point at them.
    await ipt.applyChains(this.buildRules());
    for (const j of this.jumps()) await ipt.ensureJump(j);
  }

  /** Removes every rule and chain of this daemon (used by `berthd --cleanup` and tests). */
  async removeAllRules(): Promise<void> {
    for (const j of [...this.jumps(), this.outputJump()]) await ipt.removeJump(j);
    const P = this.prefix;
    for (const c of ['FORWARD', 'ISOLATION']) await ipt.deleteChain('filter', `${P}-${c}`);
    for (const c of ['NAT', 'POSTROUTING']) await ipt.deleteChain('nat', `${P}-${c}`);
    await ipt.deleteChain('raw', `${P}-NOTRACK`);
  }

  /**
   * `berthd --cleanup`: every host object of this daemon — its bridges (the
   * default one and those of its networks), `<tag>v*` veths, `<tag>-*`
   * namespaces and its `<PREFIX>-*` chains with their jumps. Names are
   * matched with the tag plus a separator, never a bare prefix. Returns what
   * was removed.
   */
  async removeHostObjects(): Promise<string[]> {
    const removed: string[] = [];
    const bridges = new Set([this.deps.config.bridge]);
    for (const n of this.nets.values()) if (bridged(n) && n.bridge) bridges.add(n.bridge);
    for (const name of ip.listLinks()) {
      if (bridges.has(name) || name.startsWith(this.tag + 'v') || name.startsWith(this.tag + 'x') || name.startsWith(this.tag + '-')) {
        await ip.deleteLink(name);
        removed.push(`interface ${name}`);
      }
    }
    for (const ns of ip.listNetns()) {
      if (!ns.startsWith(this.tag + '-') && !this.pool.isSpare(ns)) continue;
      await ip.deleteNetns(ns);
      removed.push(`netns ${ns}`);
    }
    // overlay namespaces held for a berthd of another mount namespace (their files not mounted here)
    for (const ns of heldNamespaces(this.holders())) {
      stopHolder(this.holders(), ns, this.holderCgroup());
      removed.push(`netns holder ${ns}`);
    }
    const before = (await ipt.listRules('filter')) + (await ipt.listRules('nat')) + (await ipt.listRules('raw'));
    await this.removeAllRules();
    for (const c of ['FORWARD', 'ISOLATION', 'NAT', 'POSTROUTING', 'NOTRACK']) {
      if (before.includes(`-N ${this.prefix}-${c}\n`)) removed.push(`iptables chain ${this.prefix}-${c}`);
    }
    return removed;
  }

  /** The full rule set, computed from the state. */
  private buildRules(): ipt.ChainSet {
    const P = this.prefix;
    const fwd: string[] = [`-j ${P}-ISOLATION`];
    // Frames within one bridge first (br_netfilter hands each to FORWARD): no isolation,
    // published-port or state rule ever applies to them, so they need not walk those.
    const same: string[] = [];
    const iso: string[] = [];
    const nat: string[] = [];
    const post: string[] = [];
    // overlays: only while their data plane exists on this node
    const bridges = [...this.nets.values()].filter((n) => n.bridge && (n.driver === 'bridge' || (n.driver === 'overlay' && ip.linkExists(n.bridge))));
    for (const n of bridges) {
      const br = n.bridge!;
      const sub = n.pools[0].subnet;
      // (an overlay with a namespace of its own bridges there: its gateway link never forwards to itself)
      if (!this.overlayNs(n)) same.push(`-i ${br} -o ${br} -j ACCEPT`);
      if (n.internal) {
        fwd.push(`-i ${br} ! -o ${br} -j DROP`, `-o ${br} ! -i ${br} -j DROP`);
        continue;
      }
      fwd.push(`-o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
      fwd.push(`-i ${br} ! -o ${br} -j ACCEPT`);
      post.push(`-s ${sub} ! -o ${br} -j MASQUERADE`);
      // A container reaching a published port of its own bridge: without br_netfilter the answer
      // would bypass the DNAT, so the request leaves with the gateway's address.
      post.push(`-s ${sub} -o ${br} -m conntrack --ctstate DNAT -j MASQUERADE`);
      for (const m of bridges) if (m !== n) iso.push(`-i ${br} -o ${m.bridge} -j DROP`);
    }
    // the routing mesh first: its ports are the swarm's, on every node
    const mesh = this.meshRules();
    nat.push(...mesh.nat);
    post.unshift(...mesh.post);
    fwd.splice(1, 0, ...mesh.fwd);
    iso.unshift(...mesh.iso);
    // Published ports: DNAT for traffic from other hosts and containers, and (through the OUTPUT
    // jump) from this host, loopback included.
    const localnet = new Set<string>();
    for (const { target, bindings } of this.allPublished()) {
      const br = bridges.find((n) => parseCidr(n.pools[0].subnet).base === (((parseIp(target) ?? 0) & maskOf(n)) >>> 0))?.bridge;
      // A DNATed loopback connection leaves through the bridge: give it the gateway's address.
      if (br && !localnet.has(br)) {
        localnet.add(br);
        post.push(`-s 127.0.0.0/8 -o ${br} -j MASQUERADE`);
      }
      for (const b of bindings) {
        const dst = b.hostIp && b.hostIp !== '0.0.0.0' ? `-d ${b.hostIp}/32 ` : '';
        // Traffic from the container's own bridge goes to the proxy instead (as Docker with its
        // userland proxy), so a container can reach its own published port without hairpin mode.
        nat.push(`${br ? `! -i ${br} ` : ''}${dst}-p ${b.proto} -m ${b.proto} --dport ${b.hostPort} -j DNAT --to-destination ${target}:${b.containerPort}`);
        if (br) fwd.splice(1, 0, `-d ${target}/32 ! -i ${br} -o ${br} -p ${b.proto} -m ${b.proto} --dport ${b.containerPort} -j ACCEPT`);
      }
    }
    return {
      filter: { [`${P}-FORWARD`]: [...same, ...fwd], [`${P}-ISOLATION`]: [...iso, '-j RETURN'] },
      nat: { [`${P}-NAT`]: nat, [`${P}-POSTROUTING`]: post },
      raw: { [`${P}-NOTRACK`]: this.notrackRules(bridges) },
    };
  }

  /**
   * What connection tracking need not see (raw table, before conntrack):
   * every bridged frame is handed to the IPv4 hooks (br_netfilter), and the
   * VXLAN datagrams of the overlays pass this namespace's hooks too, so each
   * would cost a conntrack lookup and the nat chains — Docker's overlay
   * bridge sits in a namespace of its own without any of it.
   * - Container to container on one bridge (source and destination in its
   *   subnet, the gateway excepted; a user overlay's frames are bridged in
   *   its own namespace and never get here): nothing NATs it, and
   *   the filter rules for it match interfaces, not states. Answers to the
   *   gateway stay tracked (published ports reached from the host or through
   *   hairpin MASQUERADE, the userland proxy, the embedded DNS), and so does
   *   all of the ingress overlay (the mesh's DNAT/SNAT undo needs its answers).
   * - VXLAN to and from this node's address on the data path port: an
   *   encapsulation, never NATed (VXLAN needs no state: each side sends to
   *   the port). Only while some overlay's data plane exists here.
   */
  private notrackRules(bridges: NetworkRecord[]): string[] {
    const out: string[] = [];
    const o = this.overlay;
    if (o?.addr && o.port && bridges.some((n) => n.driver === 'overlay')) {
      out.push(`-d ${o.addr}/32 -p udp -m udp --dport ${o.port} -j NOTRACK`, `-s ${o.addr}/32 -p udp -m udp --dport ${o.port} -j NOTRACK`);
    }
    for (const n of bridges) {
      // an overlay with a namespace of its own bridges its containers' frames there, out of these hooks
      if (n.ingress || !n.bridge || this.overlayNs(n)) continue;
      const { subnet, gateway } = n.pools[0];
      if (gateway) out.push(`-i ${n.bridge} -s ${subnet} -d ${gateway}/32 -j RETURN`);
      out.push(`-i ${n.bridge} -s ${subnet} -d ${subnet} -j NOTRACK`);
    }
    return out;
  }

  /** Rewrites our chains from the state; serialized so concurrent changes never interleave. */
  applyRules(): Promise<void> {
    const run = this.ruleChain.then(async () => {
      await ipt.applyChains(this.buildRules());
      await this.syncOutputJump();
    });
    this.ruleChain = run.catch(() => {});
    return run;
  }

  private takenSubnets6(): Cidr6[] {
    return [...this.nets.values()].flatMap((n) => (n.pools6 ?? []).map((p) => parseCidr6(p.subnet)));
  }

  private takenSubnets(): Cidr[] {
    const out: Cidr[] = [];
    for (const n of this.nets.values()) for (const p of n.pools) out.push(parseCidr(p.subnet));
    return out;
  }

  /** Subnets routed on the host (other daemons' bridges), so picked pools never collide with them. */
  async hostRoutes(): Promise<Cidr[]> {
    const r = await execHost('ip', ['-4', 'route', 'show'], { allowFailure: true });
    const out: Cidr[] = [];
    for (const l of r.stdout.split('\n')) {
      const m = /^(\d+\.\d+\.\d+\.\d+\/\d+)/.exec(l);
      if (m) out.push(parseCidr(m[1]));
    }
    return out;
  }
}

function maskOf(n: NetworkRecord): number {
  const bits = parseCidr(n.pools[0].subnet).bits;
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

function mtuOf(n: NetworkRecord): number {
  const v = Number(n.options['com.docker.network.driver.mtu']);
  // VXLAN costs 50 bytes of the underlay's 1500 (Docker's overlay default)
  return Number.isInteger(v) && v >= 68 ? v : n.driver === 'overlay' ? 1450 : 1500;
}

/** Networks whose containers plug into a bridge: user bridges and overlays (a bridge joined to a VXLAN). */
function bridged(n: NetworkRecord): boolean {
  return n.driver === 'bridge' || n.driver === 'overlay';
}

/** The interface holding `addr` (the VXLAN's underlay device). */
function devOf(addr: string): string | undefined {
  for (const [name, list] of Object.entries(os.networkInterfaces())) if (list?.some((x) => x.address === addr)) return name;
  return undefined;
}

/** Docker's MAC from the address: 02:42 followed by the 4 address bytes. */
function macFor(addr: string): string {
  return ['02', '42', ...addr.split('.').map((x) => Number(x).toString(16).padStart(2, '0'))].join(':');
}

function splitLink(l: string): [string, string] {
  const i = l.indexOf(':');
  const target = (i < 0 ? l : l.slice(0, i)).replace(/^\//, '');
  const alias = i < 0 ? target : l.slice(i + 1).replace(/^.*\//, '');
  return [target, alias];
}

function hostHosts(): string {
  try {
    return fs.readFileSync('/etc/hosts', 'utf8');
  } catch {
    return '127.0.0.1\tlocalhost\n';
  }
}

function hostResolv(): string {
  try {
    return fs.readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

function hostSearch(): string[] {
  const m = /^\s*search\s+(.+)$/m.exec(hostResolv());
  return m ? m[1].trim().split(/\s+/) : [];
}

/** The bridge's IPv6 gateway address with its prefix, on an EnableIPv6 network. */
function gateway6Cidr(n: NetworkRecord): string | undefined {
  const p = n.enableIPv6 ? n.pools6?.[0] : undefined;
  return p ? `${p.gateway}/${parseCidr6(p.subnet).bits}` : undefined;
}

/** Spare namespaces to keep (BERTH_NETNS_POOL, default 4; 0 turns the pool off). */
function netnsPoolSize(): number {
  const v = process.env.BERTH_NETNS_POOL;
  const n = v === undefined || v === '' ? 4 : Number(v);
  return Number.isInteger(n) && n >= 0 && n <= 64 ? n : 4;
}
