// Swarm-scoped (overlay) networks, cluster side: managers allocate a subnet
// from the cluster's DefaultAddrPool and a VXLAN id, keep the NetworkRecord in
// the object store, hand out endpoint addresses (cluster-unique, so two hosts
// never pick the same one) and keep the peer table: every node's endpoints on
// every overlay, one etcd key per node. Each node syncs: it sends its
// endpoints and gets the networks, the live peers and its own address
// back — managers from etcd directly, workers through the control route
// /overlay/sync (workers never touch etcd). A sync names the state the
// node has (`known`, a digest) and the manager holds it up to SYNC_WAIT_MS
// while the answer would be the same, so an idle swarm syncs every 10 s
// instead of every second and a change reaches the nodes as the store's
// change feed reports it; a local change (kick) ends the wait at once.
import { createHash, randomBytes } from 'node:crypto';
import type { SwarmComponent, SwarmContext, ControlRoute } from '../component';
import { controlCall } from '../control';
import { SwarmError, NOT_MANAGER } from '../errors';
import type { NetworkRecord, ServiceRecord, Json } from '../objects';
import type { ClusterRecord, NodeRecord, Versioned } from '../types';
import type { KV } from '../etcd-client';
import { listRead, type ObjectStore } from '../object-store';
import { FeedReads, type Reads } from '../feed-reads';
import { storeReads } from '../store';
import { log } from '../../util/log';

/** One container's endpoint on an overlay, as its node publishes it. */
export interface OverlayEndpoint {
  containerId: string; ip: string; mac: string; names: string[]; service?: string;
  /** A task with a healthcheck that is not (yet) healthy: reachable, but out of its service's balancing set and DNS answers. */
  unhealthy?: boolean;
}
/** A port a service publishes on the routing mesh (PublishMode ingress). */
export interface MeshPort { protocol: 'tcp' | 'udp' | 'sctp'; published: number; target: number }
/** A service as the nodes' DNS and load balancers see it: its endpoint mode, its VIP per overlay, its ingress ports. */
export interface OverlayService { id: string; name: string; mode: 'vip' | 'dnsrr'; vips: Record<string, string>; ports?: MeshPort[] }
export interface OverlayPeer extends OverlayEndpoint { nodeId: string; node: string; addr: string }

/** What a node needs to run the data plane of the swarm's overlays. */
export interface OverlayState {
  nodeId: string;
  /** This node's advertise address (the VXLAN's local address). */
  addr: string;
  port: number;
  networks: NetworkRecord[];
  /** Endpoints on each network, of every live node (this one included). */
  peers: Record<string, OverlayPeer[]>;
  /** Services attached to overlays (service discovery and VIP balancing). */
  services: OverlayService[];
}

/** The node's network domain, as this component sees it (implemented in src/daemon/). */
export interface OverlayHost {
  /** This node's endpoints on overlays, by network id. */
  endpoints(): Record<string, OverlayEndpoint[]>;
  /** The swarm's overlays and peers now; undefined when the node left the swarm. */
  apply(s: OverlayState | undefined): Promise<void>;
}

const P = '/berth/swarm/overlay/';
/** Written once per cluster, when the first manager made the ingress network (as `swarm init` does; a removed ingress is not made again). */
const INGRESS_MADE = `${P}ingress-made`;
/** Marks the ingress attachment the manager adds to a TaskTemplate of a service with ingress ports (views hide it, as Docker's spec has none). */
export const INGRESS_MARK = 'com.berth.ingress';
/** Docker's range for published ports a service leaves to the swarm. */
const DYNAMIC_PORTS = [30000, 32767];
/** Longest a sync is held on the manager while nothing changed (the agent's assignment poll holds as long). */
export const SYNC_WAIT_MS = 10_000;
/** Least time between two syncs of a node (a burst of changes is one sync per this, not one per change). */
const SYNC_GAP_MS = 50;
/** After a failed sync. */
const RETRY_MS = 1000;
const peerKey = (nodeId: string) => `${P}peers/${nodeId}`;
const ipKey = (netId: string, ip: string) => `${P}ipam/${netId}/${ip}`;
const FIRST_VNI = 4096;

/** A sync's reads: networks, nodes, live nodes, every node's endpoints, the cluster record, services. */
type SyncReads = [
  Array<Versioned<NetworkRecord>>, Array<Versioned<NodeRecord>>, Set<string>, KV[], Versioned<ClusterRecord>, Array<Versioned<ServiceRecord>>,
];
const syncReads = (): Reads<SyncReads> => [
  listRead('networks'), storeReads.nodes(), storeReads.alive(), { op: { range: { key: `${P}peers/`, prefix: true } }, parse: (kvs) => kvs },
  storeReads.cluster(), listRead('services'),
];

const ip2n = (s: string) => s.split('.').reduce((a, b) => (a * 256) + Number(b), 0);
const n2ip = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

export class OverlayComponent implements SwarmComponent {
  readonly name = 'overlay';
  private ctx?: SwarmContext;
  private timer?: NodeJS.Timeout;
  private running = false;
  private stopped = false;
  private published = new Map<string, string>();
  private ingressChecked = false;
  private inSwarm = false;
  /** What every sync reads, kept while the store's change feed reports none of it changed (managers). */
  private syncReads?: { objects: ObjectStore; reads: FeedReads<SyncReads> };
  /** The digest of the state last applied here: the next sync waits while it is still the answer. */
  private known?: string;
  /** Ends the sync in flight (a kick): the worker's call is aborted, the manager's own wait woken. */
  private interrupt?: AbortController;

  constructor(private readonly host: OverlayHost) {}

  setContext(ctx: SwarmContext | undefined): void {
    if (this.stopped) return;
    if (ctx !== this.ctx) {
      // another role, leader or manager list (the same object while none changed): a held sync ends, the next starts over
      this.known = undefined;
      this.interrupt?.abort();
    }
    this.ctx = ctx;
    if (!ctx?.objects) this.dropSyncReads();
    if (!ctx) {
      if (this.inSwarm) {
        this.inSwarm = false;
        void this.host.apply(undefined).catch((e) => log.warn('overlay teardown failed', { err: String(e) }));
      }
      return;
    }
    this.inSwarm = true;
    if (!this.timer && !this.stopped) this.schedule(0);
  }

  /** The daemon is stopping (not leaving): the data planes stay for containers that live on. */
  detach(): void {
    this.stopped = true;
    this.inSwarm = false;
    this.interrupt?.abort();
    clearTimeout(this.timer);
    this.dropSyncReads();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.interrupt?.abort();
    clearTimeout(this.timer);
    this.dropSyncReads();
  }

  /** Sync now (after a local change): a sync waiting for the cluster to change ends, and the next one goes at once. */
  kick(): void {
    if (!this.ctx || this.stopped) return;
    this.known = undefined;
    this.interrupt?.abort();
    if (!this.running) this.schedule(0);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop(), ms);
  }

  private async loop(): Promise<void> {
    if (this.running) return this.schedule(200);
    this.running = true;
    let next = SYNC_GAP_MS;
    const interrupt = this.interrupt = new AbortController();
    try {
      const ctx = this.ctx;
      if (ctx) {
        if (ctx.objects && !this.ingressChecked) await this.ensureIngress();
        const known = this.known;
        const body = { endpoints: this.host.endpoints(), ...(known ? { known, waitMs: SYNC_WAIT_MS } : {}) };
        const st = ctx.objects
          ? await this.serveSync(ctx.nodeId, body, interrupt.signal)
          : await this.callManager<OverlayState & { version?: string }>('/overlay/sync', body, known ? { timeoutMs: SYNC_WAIT_MS + 5000, lane: 'sync', signal: interrupt.signal } : {});
        if (this.ctx && this.ctx.nodeId === st.nodeId && !interrupt.signal.aborted) {
          const { version, ...state } = st as OverlayState & { version?: string };
          await this.host.apply(state);
          // only a state applied in full is known here (a failed apply is tried again with the next answer)
          if (!interrupt.signal.aborted) this.known = version;
        }
      }
    } catch (e) {
      if (!interrupt.signal.aborted) {
        this.known = undefined;
        next = RETRY_MS;
        log.debug('overlay sync failed', { err: String(e) });
      }
    } finally {
      this.running = false;
      if (this.interrupt === interrupt) this.interrupt = undefined;
      if (interrupt.signal.aborted) next = 0;
      if (this.ctx && !this.stopped) this.schedule(next);
      else this.timer = undefined;
    }
  }

  private async callManager<T>(path: string, body: unknown, o: { timeoutMs?: number; lane?: 'sync'; signal?: AbortSignal } = {}): Promise<T> {
    const ctx = this.ctx;
    if (!ctx) throw new SwarmError(503, NOT_MANAGER);
    let last: unknown;
    for (const m of ctx.managers) {
      try {
        return await controlCall<T>(m.Addr, 'POST', path, body, ctx.tls, o.timeoutMs ?? 5000, ctx.pool.agent(m.Addr, o.lane ?? 'call'), o.signal);
      } catch (e) {
        if (o.signal?.aborted) throw e;
        last = e;
        if (e instanceof SwarmError && e.status < 500) throw e;
      }
    }
    throw last ?? new SwarmError(503, 'no manager reachable');
  }

  controlRoutes(): Record<string, ControlRoute> {
    return {
      '/overlay/sync': (nodeId, body) => this.serveSync(nodeId, body),
      '/overlay/allocate': (_n, body) => this.allocateHere(String(body.network), String(body.owner), body.preferred ? String(body.preferred) : undefined),
      '/overlay/release': async (_n, body) => { await this.releaseHere(String(body.network), String(body.ip)); return {}; },
    };
  }

  private managerCtx(): Required<Pick<SwarmContext, 'objects' | 'store'>> & SwarmContext {
    const ctx = this.ctx;
    if (!ctx?.objects || !ctx.store) throw new SwarmError(503, NOT_MANAGER);
    return ctx as Required<Pick<SwarmContext, 'objects' | 'store'>> & SwarmContext;
  }

  /**
   * `swarm init`'s ingress network, made by the first manager that syncs
   * (Docker: name ingress, Ingress true, the default pool's first subnet,
   * VNI 4096); once per cluster.
   */
  private async ensureIngress(): Promise<void> {
    const ctx = this.managerCtx();
    const etcd = ctx.objects.etcd;
    const r = await etcd.txn([{ key: INGRESS_MADE, target: 'CREATE', create_revision: 0 }], [{ put: { key: INGRESS_MADE, value: new Date().toISOString() } }]);
    this.ingressChecked = true;
    if (!r.succeeded) return;
    const cluster = (await ctx.store.cluster()).value;
    const existing = (await ctx.objects.list('networks')).map((n) => n.value);
    if (existing.some((n) => n.spec.Ingress || n.spec.Name === 'ingress')) return;
    const [base] = (cluster.defaultAddrPool?.[0] ?? '10.0.0.0/8').split('/');
    const size = cluster.subnetSize || 24;
    const start = Math.floor(ip2n(base) / 2 ** (32 - size)) * 2 ** (32 - size);
    const now = new Date().toISOString();
    const rec: NetworkRecord = {
      id: randomBytes(13).toString('hex').slice(0, 25),
      createdAt: now, updatedAt: now,
      spec: { Name: 'ingress', Driver: 'overlay', Scope: 'swarm', Ingress: true, Labels: {}, Options: {} },
      ipam: [{ Subnet: `${n2ip(start)}/${size}`, Gateway: n2ip(start + 1) }],
      vni: FIRST_VNI,
    };
    await ctx.objects.create('networks', rec, 'ingress');
    log.info('ingress network created', { id: rec.id, subnet: rec.ipam[0].Subnet });
  }

  /**
   * A node's sync, on a manager: store its endpoints, answer with the
   * networks and live peers and the answer's digest (`version`). With
   * `known` and `waitMs`, an answer whose digest is `known` is held (up to
   * SYNC_WAIT_MS, or until `signal`) and made again at each change the
   * store's feed reports to what it reads.
   */
  private async serveSync(nodeId: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<OverlayState & { version: string }> {
    const known = typeof body.known === 'string' ? body.known : '';
    const until = Date.now() + Math.min(SYNC_WAIT_MS, Math.max(0, Number(body.waitMs) || 0));
    const aborted = signal && new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    for (;;) {
      const objects = this.managerCtx().objects;
      const st = await this.syncState(nodeId, body);
      const version = createHash('sha1').update(JSON.stringify(st)).digest('base64');
      const left = until - Date.now();
      if (version !== known || left <= 0 || signal?.aborted || this.ctx?.objects !== objects) return { ...st, version };
      await this.syncReadsFor(objects).changed(left, aborted);
    }
  }

  private async syncState(nodeId: string, body: Record<string, unknown>): Promise<OverlayState> {
    const ctx = this.managerCtx();
    const eps = JSON.stringify(body.endpoints ?? {});
    // the node's endpoints (when they changed) and every read: one transaction, one etcd round trip (it was seven)
    const changed = this.published.get(nodeId) !== eps;
    const [nets, nodes, alive, kvs, cluster, svcs] = await this.syncReadsFor(ctx.objects).get(
      changed ? [{ put: { key: peerKey(nodeId), value: eps } }] : []);
    if (changed) this.published.set(nodeId, eps);
    const byId = new Map(nodes.map((n) => [n.value.id, n.value]));
    const peers: Record<string, OverlayPeer[]> = {};
    for (const kv of kvs) {
      const id = kv.key.slice(`${P}peers/`.length);
      const node = byId.get(id);
      if (!node || (!alive.has(id) && id !== nodeId)) continue;
      const table = JSON.parse(kv.value) as Record<string, OverlayEndpoint[]>;
      for (const [netId, list] of Object.entries(table)) {
        for (const e of list) (peers[netId] ??= []).push({ ...e, nodeId: id, node: node.spec.Name || node.hostname, addr: node.addr });
      }
    }
    const self = byId.get(nodeId);
    const services: OverlayService[] = [];
    for (const { value: sv } of svcs) {
      const nets = serviceNetworks(sv.spec);
      if (!nets.length) continue;
      const vips: Record<string, string> = {};
      for (const v of (sv.endpoint?.VirtualIPs ?? []) as Array<{ NetworkID: string; Addr: string }>) vips[v.NetworkID] = v.Addr.split('/')[0];
      const mode = (sv.spec.EndpointSpec as { Mode?: string } | undefined)?.Mode === 'dnsrr' ? 'dnsrr' : 'vip';
      const ports = meshPorts(sv.endpoint);
      services.push({ id: sv.id, name: String(sv.spec.Name), mode, vips, ...(ports.length ? { ports } : {}) });
    }
    return { nodeId, addr: self?.addr ?? '', port: cluster.value.dataPathPort || 4789, networks: nets.map((n) => n.value), peers, services };
  }

  private syncReadsFor(objects: ObjectStore): FeedReads<SyncReads> {
    if (this.syncReads?.objects !== objects) {
      this.dropSyncReads();
      this.syncReads = { objects, reads: new FeedReads<SyncReads>(objects.etcd, objects.feed, syncReads()) };
    }
    return this.syncReads.reads;
  }

  private dropSyncReads(): void {
    this.syncReads?.reads.close();
    this.syncReads = undefined;
  }

  private role(): 'manager' | 'worker' | undefined {
    return this.ctx?.role;
  }

  /** `docker network create -d overlay` on a manager: subnet, VNI, record. */
  async create(req: Record<string, any>): Promise<NetworkRecord> {
    if (!this.ctx) throw new SwarmError(503, NOT_MANAGER);
    if (this.role() !== 'manager' || !this.ctx.objects) {
      throw new SwarmError(403, 'Cannot create a multi-host network from a worker node. Please create the network from a manager node.');
    }
    const ctx = this.managerCtx();
    const name = String(req.Name);
    const existing = (await ctx.objects.list('networks')).map((n) => n.value);
    if (existing.some((n) => n.spec.Name === name)) throw new SwarmError(409, `network with name ${name} already exists`);
    const cluster = (await ctx.store.cluster()).value;
    const cfg = (req.IPAM?.Config ?? [])[0] ?? {};
    let subnet: string;
    let gateway: string;
    if (cfg.Subnet) {
      const [base, bits] = String(cfg.Subnet).split('/');
      const size = 2 ** (32 - Number(bits));
      const b = Math.floor(ip2n(base) / size) * size;
      subnet = `${n2ip(b)}/${bits}`;
      gateway = cfg.Gateway ? String(cfg.Gateway) : n2ip(b + 1);
    } else {
      subnet = this.pickSubnet(cluster.defaultAddrPool, cluster.subnetSize || 24, existing.map((n) => n.ipam[0]?.Subnet).filter(Boolean));
      gateway = n2ip(ip2n(subnet.split('/')[0]) + 1);
    }
    const used = new Set(existing.map((n) => n.vni));
    let vni = FIRST_VNI + 1;
    while (used.has(vni)) vni++;
    const now = new Date().toISOString();
    const rec: NetworkRecord = {
      id: randomBytes(13).toString('hex').slice(0, 25),
      createdAt: now, updatedAt: now,
      spec: { ...req, Driver: 'overlay', Scope: 'swarm' },
      ipam: [{ Subnet: subnet, Gateway: gateway }],
      vni,
    };
    await ctx.objects.create('networks', rec, name);
    return rec;
  }

  /** Docker's ingress owns the pool's first subnet: user overlays start at the second (10.0.1.0/24). */
  private pickSubnet(pools: string[], size: number, taken: string[]): string {
    const t = taken.map((s) => { const [b, bits] = s.split('/'); return { b: ip2n(b), n: 2 ** (32 - Number(bits)) }; });
    for (const pool of pools.length ? pools : ['10.0.0.0/8']) {
      const [base, bits] = pool.split('/');
      const step = 2 ** (32 - size);
      const start = ip2n(base);
      const end = start + 2 ** (32 - Number(bits));
      for (let a = start + step; a + step <= end; a += step) {
        if (t.some((x) => a < x.b + x.n && x.b < a + step)) continue;
        return `${n2ip(a)}/${size}`;
      }
    }
    throw new SwarmError(500, 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
  }

  /** `docker network rm` of an overlay on a manager: refused while any node has an endpoint on it. */
  async remove(id: string): Promise<void> {
    if (this.role() !== 'manager') throw new SwarmError(403, 'Cannot remove a multi-host network from a worker node. Please remove the network from a manager node.');
    const ctx = this.managerCtx();
    const cur = await ctx.objects.get('networks', id);
    if (!cur) throw new SwarmError(404, `network ${id} not found`);
    const alive = await ctx.store.aliveNodes();
    for (const kv of await ctx.objects.etcd.getPrefix(`${P}peers/`)) {
      if (!alive.has(kv.key.slice(`${P}peers/`.length))) continue;
      const t = JSON.parse(kv.value) as Record<string, OverlayEndpoint[]>;
      if (t[id]?.length) throw new SwarmError(403, `error while removing network: network ${String(cur.value.spec.Name)} id ${id} has active endpoints`);
    }
    await ctx.objects.delete('networks', id, cur.index, String(cur.value.spec.Name));
    for (const kv of await ctx.objects.etcd.getPrefix(`${P}ipam/${id}/`)) await ctx.objects.etcd.del(kv.key);
  }

  /** A cluster-unique address on overlay `netId` for `owner` (a container id). */
  async allocate(netId: string, owner: string, preferred?: string): Promise<string> {
    if (!this.ctx) throw new SwarmError(503, NOT_MANAGER);
    if (this.ctx.objects) return this.allocateHere(netId, owner, preferred);
    return this.callManager<string>('/overlay/allocate', { network: netId, owner, preferred });
  }

  async release(netId: string, ip: string): Promise<void> {
    if (!this.ctx) return;
    if (this.ctx.objects) return this.releaseHere(netId, ip);
    await this.callManager('/overlay/release', { network: netId, ip });
  }

  private async allocateHere(netId: string, owner: string, preferred?: string): Promise<string> {
    const ctx = this.managerCtx();
    const n = await ctx.objects.get('networks', netId);
    if (!n) throw new SwarmError(404, `network ${netId} not found`);
    const [base, bits] = n.value.ipam[0].Subnet.split('/');
    const start = ip2n(base);
    const size = 2 ** (32 - Number(bits));
    const gw = n.value.ipam[0].Gateway;
    const candidates = preferred ? [preferred] : Array.from({ length: size - 2 }, (_, i) => n2ip(start + 1 + i)).filter((a) => a !== gw);
    const kvs = await ctx.objects.etcd.getPrefix(`${P}ipam/${netId}/`);
    // a node's ingress address is its own across daemon restarts
    const mine = owner.startsWith('ingress-sbox:') ? kvs.find((kv) => kv.value === owner) : undefined;
    if (mine) return mine.key.slice(`${P}ipam/${netId}/`.length);
    const used = new Set(kvs.map((kv) => kv.key.slice(`${P}ipam/${netId}/`.length)));
    for (const a of candidates) {
      if (used.has(a)) continue;
      const r = await ctx.objects.etcd.txn([{ key: ipKey(netId, a), target: 'CREATE', create_revision: 0 }], [{ put: { key: ipKey(netId, a), value: owner } }]);
      if (r.succeeded) return a;
    }
    throw new SwarmError(preferred ? 409 : 500, preferred ? `address ${preferred} already in use` : `no available IPv4 address on network ${netId}`);
  }

  /**
   * A service's networks and Endpoint, on a manager before its record is
   * written: network names become ids (as dockerd stores them), each overlay
   * of a `vip` service gets a VirtualIP (kept across updates), VIPs of
   * networks the service left are released.
   */
  async serviceEndpoint(serviceId: string, spec: Json, prev?: Json): Promise<Json> {
    const tt = (spec.TaskTemplate ?? {}) as Json;
    // the old API's top-level Networks move into the TaskTemplate, as dockerd does
    const given = (Array.isArray(tt.Networks) ? tt.Networks : Array.isArray(spec.Networks) ? spec.Networks : []) as Json[];
    delete spec.Networks;
    const ep = (spec.EndpointSpec ?? { Mode: 'vip' }) as Json;
    const old = new Map(((prev?.VirtualIPs ?? []) as Array<{ NetworkID: string; Addr: string }>).map((v) => [v.NetworkID, v.Addr]));
    const vips: Array<{ NetworkID: string; Addr: string }> = [];
    const ports = (Array.isArray(ep.Ports) ? ep.Ports : []).map((p: Json) => ({ Protocol: 'tcp', ...p, PublishMode: p.PublishMode || 'ingress' })) as Json[];
    const ingressPorts = ports.filter((p) => p.PublishMode === 'ingress');
    if (ports.length) await this.checkPorts(serviceId, ports, prev);
    if (given.length || ingressPorts.length) {
      const ctx = this.managerCtx();
      const all = (await ctx.objects.list('networks')).map((n) => n.value);
      const attached: Json[] = [];
      // the routing mesh: tasks of a service with ingress ports join the ingress network too (last: a user overlay stays the primary)
      const wanted = given.filter((g) => !(g.DriverOpts as Json | undefined)?.[INGRESS_MARK]);
      if (ingressPorts.length) {
        const ing = all.find((n) => n.spec.Ingress);
        if (!ing) throw new SwarmError(400, 'rpc error: code = InvalidArgument desc = service needs ingress network, but no ingress network is present');
        wanted.push({ Target: ing.id, DriverOpts: { [INGRESS_MARK]: 'true' } });
      }
      for (const g of wanted) {
        const ref = String(g.Target ?? '');
        const n = all.find((x) => x.id === ref) ?? all.find((x) => x.spec.Name === ref) ?? all.find((x) => ref.length >= 3 && x.id.startsWith(ref));
        if (!n) throw new SwarmError(404, `network ${ref} not found`);
        if (n.spec.Ingress && !(g.DriverOpts as Json | undefined)?.[INGRESS_MARK]) {
          throw new SwarmError(400, `rpc error: code = InvalidArgument desc = service cannot be explicitly attached to the ingress network "${String(n.spec.Name)}"`);
        }
        if (attached.some((a) => a.Target === n.id)) continue;
        attached.push({ ...g, Target: n.id });
        if (ep.Mode === 'dnsrr') continue;
        const bits = n.ipam[0].Subnet.split('/')[1];
        const had = old.get(n.id);
        const addr = had ?? `${await this.allocateHere(n.id, `vip:${serviceId}`)}/${bits}`;
        vips.push({ NetworkID: n.id, Addr: addr });
      }
      tt.Networks = attached;
      spec.TaskTemplate = tt;
      // as swarmkit's allocator: the ingress VIP first
      vips.sort((a, b) => Number(!!all.find((n) => n.id === b.NetworkID)?.spec.Ingress) - Number(!!all.find((n) => n.id === a.NetworkID)?.spec.Ingress));
    }
    for (const [netId, addr] of old) if (!vips.some((v) => v.NetworkID === netId)) await this.releaseHere(netId, addr.split('/')[0]).catch(() => undefined);
    // as dockerd shows a service with neither networks nor ports
    if (!given.length && !ports.length) return { Spec: {} };
    return { Spec: ep, ...(ports.length ? { Ports: ports } : {}), ...(vips.length ? { VirtualIPs: vips } : {}) };
  }

  /**
   * Published ports against the other services' (swarmkit's
   * checkPortConflicts, with its texts); a port left to the swarm gets one of
   * 30000-32767 (kept across updates). Fills `ports` in place.
   */
  private async checkPorts(serviceId: string, ports: Json[], prev?: Json): Promise<void> {
    const ctx = this.managerCtx();
    const others = (await ctx.objects.list('services')).map((s) => s.value).filter((s) => s.id !== serviceId);
    const key = (p: Json) => `${String(p.Protocol || 'tcp')}/${Number(p.PublishedPort)}`;
    const ingress = new Map<string, { name: string; id: string }>();
    const host = new Map<string, { name: string; id: string }>();
    for (const s of others) {
      for (const p of ((s.endpoint?.Ports ?? []) as Json[])) {
        if (!p.PublishedPort) continue;
        (p.PublishMode === 'host' ? host : ingress).set(key(p), { name: String(s.spec.Name), id: s.id });
      }
    }
    const before = ((prev?.Ports ?? []) as Json[]).filter((p) => !p.PublishMode || p.PublishMode === 'ingress');
    const taken = new Set([...ingress.keys()]);
    for (const p of ports) {
      if (p.PublishMode === 'ingress' && !p.PublishedPort) {
        const had = before.find((b) => b.TargetPort === p.TargetPort && (b.Protocol || 'tcp') === (p.Protocol || 'tcp'));
        let n = had && !taken.has(key(had)) ? Number(had.PublishedPort) : DYNAMIC_PORTS[0];
        while (taken.has(`${String(p.Protocol || 'tcp')}/${n}`) || ports.some((q) => q !== p && Number(q.PublishedPort) === n)) n++;
        if (n > DYNAMIC_PORTS[1]) throw new SwarmError(400, 'rpc error: code = InvalidArgument desc = no available ports in the dynamic port range');
        p.PublishedPort = n;
      }
      if (!p.PublishedPort) continue;
      const k = key(p);
      if (p.PublishMode === 'host') {
        const c = ingress.get(k);
        if (c) throw new SwarmError(400, `rpc error: code = InvalidArgument desc = port '${Number(p.PublishedPort)}' is already in use by service '${c.name}' (${c.id}) as a host-published port`);
      } else {
        const c = ingress.get(k) ?? host.get(k);
        if (c) throw new SwarmError(400, `rpc error: code = InvalidArgument desc = port '${Number(p.PublishedPort)}' is already in use by service '${c.name}' (${c.id}) as an ingress port`);
      }
      taken.add(k);
    }
  }

  /** The service is gone: its VIPs go back to their networks. */
  async releaseService(_serviceId: string, endpoint: Json | undefined): Promise<void> {
    for (const v of (endpoint?.VirtualIPs ?? []) as Array<{ NetworkID: string; Addr: string }>) await this.releaseHere(v.NetworkID, v.Addr.split('/')[0]).catch(() => undefined);
  }

  private async releaseHere(netId: string, ip: string): Promise<void> {
    await this.managerCtx().objects.etcd.del(ipKey(netId, ip));
  }
}


/** A service's ports on the routing mesh, from its Endpoint. */
export function meshPorts(endpoint: Json | undefined): MeshPort[] {
  return ((endpoint?.Ports ?? []) as Json[])
    .filter((p) => (p.PublishMode ?? 'ingress') === 'ingress' && Number(p.PublishedPort) > 0 && Number(p.TargetPort) > 0)
    .map((p) => ({ protocol: (['udp', 'sctp'].includes(String(p.Protocol)) ? p.Protocol : 'tcp') as MeshPort['protocol'], published: Number(p.PublishedPort), target: Number(p.TargetPort) }));
}

/** A TaskTemplate as Docker shows it: without the ingress attachment the manager added for the routing mesh. */
export function hideIngress(template: Json | undefined): Json | undefined {
  const nets = template?.Networks;
  if (!Array.isArray(nets) || !nets.some((n: Json) => (n.DriverOpts as Json | undefined)?.[INGRESS_MARK])) return template;
  const rest = nets.filter((n: Json) => !(n.DriverOpts as Json | undefined)?.[INGRESS_MARK]);
  const out: Json = { ...template };
  if (rest.length) out.Networks = rest;
  else delete out.Networks;
  return out;
}

/** The overlays a service's tasks attach to (ids, once the manager stored the spec). */
export function serviceNetworks(spec: Json): string[] {
  const tt = (spec.TaskTemplate ?? {}) as Json;
  return ((Array.isArray(tt.Networks) ? tt.Networks : []) as Json[]).map((n) => String(n.Target ?? '')).filter(Boolean);
}
