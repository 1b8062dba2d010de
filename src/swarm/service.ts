// Swarm mode: this engine as a member of a cluster of engines.
//
// Lifecycle: inactive → (init | join) → active manager | active worker
// → (promote ⇄ demote) → leave → inactive. A manager runs one etcd member
// (src/host/etcd.ts) and talks to it over loopback with the etcd CA's client
// certificate; the cluster's objects live there (store.ts). A worker holds no
// etcd credentials: it heartbeats to a manager over the control port (control.ts).
// Every HEARTBEAT_MS each node heartbeats (a manager renews its own lease in
// etcd, then campaigns for the leader key on a shorter lease of its own; a
// worker asks a manager to renew its lease); a node whose lease lapses
// (ALIVE_TTL) is Down, and a dead leader's key goes with its lease
// (LEADER_TTL), which the other managers look for every LEADER_POLL_MS.
// Each manager also diffs the node list every tick and emits Docker's node
// events.
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { EtcdProcess } from '../host/etcd';
import { createCA, createKeyAndCsr, keyAndCsr, signCsr, issueKeyPair, type KeyPair } from '../host/x509';
import type { EventBus } from '../events/bus';
import { log } from '../util/log';
import { Filters } from '../common/filters';
import { EtcdClient, type Member } from './etcd-client';
import { ElectionSettler, promoteStartedLearners } from './election-settle';
import { SwarmStore, HEARTBEAT_MS, LEADER_POLL_MS } from './store';
import { ChangeFeed } from './change-feed';
import { ObjectStore } from './object-store';
import type { SwarmComponent, SwarmContext } from './component';
import { LocalFiles } from './local';
import { ControlPool } from './control-pool';
import { PendingStore, FIRST_INDEX, type InitRecord } from './pending';
import { JoinConnection, warmJoinClient, rehearseJoin } from './join-client';
import { ControlServer, controlCall, UnreachableError, type ClientTls, type EtcdCredentials, type HeartbeatResponse, type JoinRequest, type JoinResponse } from './control';
import { newId, newJoinToken, parseJoinToken, caDigestHex, sameToken } from './tokens';
import { defaultSpec, mergeSpec, swarmJson, clusterInfo, nodeJson, type Liveness } from './views';
import { resolveListen, resolveAdvertise, etcdPorts } from './addr';
import { SwarmError, NO_SWARM, NOT_MANAGER, WORKER_NOT_MANAGER, MANAGER_NOT_READY, ALREADY_IN_SWARM, BAD_TOKEN } from './errors';
import { engineLabels } from './constraint';
import type { ClusterRecord, LocalState, NodeDescription, NodeRecord, Role, Availability, Versioned } from './types';
import { within } from '../util/within';

export interface SwarmDeps {
  dataRoot: string;
  events: EventBus;
  engineVersion: string;
  /** Interface names never picked as the advertise address (our bridges, container veths). */
  ignoreInterface: (name: string) => boolean;
}

export interface InitRequest {
  ListenAddr?: string;
  AdvertiseAddr?: string;
  DataPathAddr?: string;
  DataPathPort?: number;
  DefaultAddrPool?: string[];
  SubnetSize?: number;
  ForceNewCluster?: boolean;
  Spec?: Record<string, unknown>;
  AutoLockManagers?: boolean;
  Availability?: string;
}

export interface JoinApiRequest {
  ListenAddr?: string;
  AdvertiseAddr?: string;
  DataPathAddr?: string;
  RemoteAddrs?: string[];
  JoinToken?: string;
  Availability?: string;
}

export interface NodeSpecInput { Name?: string; Labels?: Record<string, string>; Role?: string; Availability?: string }

const ROLES = ['manager', 'worker'];
const AVAILABILITIES = ['active', 'pause', 'drain'];

interface Seen { name: string; role: string; availability: string; state: string }

/** The managers' control addresses in a node list. */
function managersOf(nodes: Array<Versioned<NodeRecord>>): Array<{ NodeID: string; Addr: string }> {
  return nodes.filter((n) => n.value.spec.Role === 'manager').map((n) => ({ NodeID: n.value.id, Addr: `${n.value.addr}:${n.value.port}` }));
}

/** What a node event names of a node record (its state comes from liveness). */
function seenOf(n: NodeRecord): Omit<Seen, 'state'> {
  return { name: n.spec.Name || n.hostname, role: n.spec.Role, availability: n.spec.Availability };
}

/** A node update event's attributes (Docker's `<key>.old`/`<key>.new`), or undefined when nothing it names changed. */
function nodeChange(p: Seen, s: Seen): Record<string, string> | undefined {
  const attrs: Record<string, string> = { name: s.name };
  for (const k of ['availability', 'role', 'state'] as const) {
    if (p[k] !== s[k]) { attrs[`${k}.old`] = p[k]; attrs[`${k}.new`] = s[k]; }
  }
  return Object.keys(attrs).length > 1 || p.name !== s.name ? attrs : undefined;
}

export class SwarmService {
  private readonly files: LocalFiles;
  private state?: LocalState;
  private etcd?: EtcdProcess;
  /** While an init's member runs with short raft timers: moves it to the normal ones once others joined. */
  private settler?: ElectionSettler;
  /** When the Berth leader last looked for learners left unpromoted (promoteLeftLearners). */
  private learnersAt = 0;
  private client?: EtcdClient;
  private store?: SwarmStore;
  private control?: ControlServer;
  private timer?: NodeJS.Timeout;
  /** A manager that is not the leader looks for a free leader key this often, between ticks. */
  private leaderWatch?: NodeJS.Timeout;
  private watching = false;
  private ticking = false;
  private stopped = false;
  private ownLease?: string;
  private lastError = '';
  /** Why the control port could not be opened (kept until it is: a tick's success does not clear it). */
  private controlError = '';
  private localFailures = 0;
  private seen?: Map<string, Seen>;
  private lock: Promise<unknown> = Promise.resolve();
  private objects?: ObjectStore;
  private leaderId?: string;
  private readonly components: SwarmComponent[] = [];
  private lastContext = '';
  private published?: SwarmContext;
  /** An init or manager join that answered before its store was ready (pending.ts). */
  private pending?: PendingStore;
  /** Counts etcd clients made, so a context never keeps the store of a stopped one. */
  private managerGen = 0;
  /** Kept-alive connections to other nodes' control ports (heartbeats, the agent's calls). */
  private readonly pool = new ControlPool();
  /** Called by the read a client makes right after an init or join (GET /swarm, /info): what starts behind the answer waits for it (activate). */
  private followUp?: () => void;
  /**
   * Records of workers whose join this manager answered before writing
   * them, while the write is in flight: what reads the node list here
   * (node ls/inspect/update/rm, /info, the node's heartbeat) waits for them.
   */
  private readonly nodeWrites = new Map<string, Promise<void>>();
  /** A key and request made ahead (in memory only), so a join does not make one on its critical path. */
  private spareKey?: { keyPem: string; csrPem: string };

  constructor(private readonly deps: SwarmDeps) {
    this.files = new LocalFiles(deps.dataRoot);
  }

  /** Plugs a component (orchestrator, dispatcher, agent, …) into the node's life; see component.ts. */
  attach(c: SwarmComponent): void {
    this.components.push(c);
  }

  /** This node's certificate and the cluster's root CA, for control-port calls and the control server. */
  private nodeTls(): ClientTls {
    return { ca: this.files.read('swarm-root-ca.crt'), cert: this.files.read('swarm-node.crt'), key: this.files.read('swarm-node.key') };
  }

  /**
   * Tells every component what this node is; called after each tick and on
   * every role change. The context is made again (certificates read) only
   * when what it says changed.
   */
  private publish(): void {
    const st = this.stopped ? undefined : this.state;
    const manager = !!st && st.role === 'manager' && !!this.store;
    const leader = manager && this.leaderId === st?.nodeId;
    const key = st ? JSON.stringify([st.nodeId, st.role, leader, manager && this.managerGen, st.managers]) : '';
    if (key !== this.lastContext) {
      log.debug('swarm context', { ctx: key });
      this.lastContext = key;
      this.published = st ? {
        nodeId: st.nodeId,
        clusterId: st.clusterId,
        role: st.role,
        leader,
        store: manager ? this.store : undefined,
        objects: manager ? this.objects : undefined,
        managers: st.managers,
        tls: this.nodeTls(),
        pool: this.pool,
      } : undefined;
    }
    const ctx = this.published;
    for (const c of this.components) {
      try {
        c.setContext(ctx);
      } catch (e) {
        log.warn('swarm component failed to take its context', { component: c.name, err: String(e) });
      }
    }
  }

  /** A control-port route of a component: node routes on every node, the others only on managers. */
  private componentRoute(path: string): ((nodeId: string, body: Record<string, unknown>) => Promise<unknown>) | undefined {
    for (const c of this.components) {
      const n = c.nodeRoutes?.()[path];
      if (n) return n;
    }
    for (const c of this.components) {
      const r = c.controlRoutes?.()[path];
      if (r) {
        return async (nodeId, body) => {
          await this.pending?.settled();
          if (this.state?.role !== 'manager' || !this.store) throw new SwarmError(503, NOT_MANAGER);
          return r(nodeId, body);
        };
      }
    }
    return undefined;
  }

  // ---- lifecycle of the daemon ----

  /** Resumes the node's swarm role after a (re)start, on the same data. */
  async init(): Promise<void> {
    const st = this.files.loadState();
    if (!st) {
      // a node not in a swarm may be asked to join one: its key is made now, off the join's path
      this.prepareJoin();
      return;
    }
    this.state = st;
    try {
      await this.startControl();
    } catch (e) {
      this.controlError = (e as Error).message;
      log.error('swarm control port could not be opened', { err: this.controlError });
    }
    if (st.role === 'manager') this.startManager();
    const rec = st.role === 'manager' ? this.files.loadInit() : undefined;
    if (rec) this.finishInit(rec);
    else this.startLoop();
    log.info('swarm node resumed', { node: st.nodeId, role: st.role, pendingInit: !!rec });
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.leaderWatch);
    // a manager stopping on purpose hands the leader role over at once (bounded: its etcd may have no quorum)
    const st = this.state;
    if (st?.role === 'manager' && this.store) {
      const store = this.store;
      const lease = this.ownLease;
      await within((async () => {
        await store.resign(st.nodeId);
        if (lease) await store.etcd.leaseRevoke(lease).catch(() => {});
        if (store.ownLeaderLease) await store.etcd.leaseRevoke(store.ownLeaderLease).catch(() => {});
      })(), 1000);
    }
    this.publish();
    // calls in flight (a worker's long poll) end now; reports made while stopping go on connections of their own
    this.pool.close(true);
    await Promise.all(this.components.map((c) => within(
      c.stop().catch((e) => log.warn('swarm component did not stop cleanly', { component: c.name, err: String(e) })), 5000)));
    await this.control?.close();
    await this.stopManager();
  }

  /** The `Swarm` header of /_ping. */
  pingState(): string {
    if (!this.state) return 'inactive';
    return this.state.role === 'manager' ? 'active/manager' : 'active/worker';
  }

  // ---- API: /swarm ----

  async inspect(): Promise<Record<string, unknown>> {
    this.followUp?.();
    const pc = this.pending?.cluster();
    if (pc) return swarmJson(pc);
    await this.pending?.settled();
    return swarmJson(await this.manager().cluster());
  }

  initSwarm(req: InitRequest): Promise<string> {
    return this.serial(async () => {
      if (this.state) throw new SwarmError(503, ALREADY_IN_SWARM);
      if (req.ForceNewCluster) throw new SwarmError(501, '--force-new-cluster is not supported by berthd');
      if (req.AutoLockManagers || (req.Spec?.EncryptionConfig as { AutoLockManagers?: boolean } | undefined)?.AutoLockManagers) {
        throw new SwarmError(501, 'autolock is not supported by berthd: the keys and the etcd data are not encrypted at rest');
      }
      const availability = checkAvailability(req.Availability || 'active');
      const listen = resolveListen(req.ListenAddr);
      const adv = resolveAdvertise(req.AdvertiseAddr, listen, this.deps.ignoreInterface);
      const nodeId = newId();
      const clusterId = newId();
      const t0 = Date.now();
      const [rootCA, etcdCA, csr] = await Promise.all([createCA('swarm-ca'), createCA('swarm-etcd-ca'), createKeyAndCsr()]);
      const subj = { CN: nodeId, OU: 'swarm-manager', O: clusterId };
      const ips = [adv.ip, '127.0.0.1'];
      const [nodeCert, etcdCert] = await Promise.all([
        signCsr({ csrPem: csr.csrPem, ca: rootCA, subject: subj, ips }),
        signCsr({ csrPem: csr.csrPem, ca: etcdCA, subject: subj, ips, dns: ['localhost'] }),
      ]);
      const tCerts = Date.now();
      const ports = etcdPorts(listen.port);
      const peerUrl = `https://${adv.ip}:${ports.peer}`;
      this.files.removeAll();
      this.files.writeCerts({
        'swarm-root-ca.crt': rootCA.certPem, 'swarm-node.crt': nodeCert, 'swarm-node.key': csr.keyPem,
        'etcd-ca.crt': etcdCA.certPem, 'etcd.crt': etcdCert, 'etcd.key': csr.keyPem,
      });
      const st: LocalState = {
        nodeId, clusterId, role: 'manager', listenAddr: `${listen.host}:${listen.port}`, advertiseAddr: adv.ip, port: adv.port,
        managers: [{ NodeID: nodeId, Addr: `${adv.ip}:${adv.port}` }],
        etcdInitialCluster: `${nodeId}=${peerUrl}`, etcdInitialState: 'new',
      };
      const now = new Date().toISOString();
      const cluster: ClusterRecord = {
        id: clusterId, createdAt: now, updatedAt: now,
        spec: mergeSpec(defaultSpec(), req.Spec),
        rootCA, etcdCA,
        tokens: { worker: newJoinToken(rootCA.certPem), manager: newJoinToken(rootCA.certPem) },
        defaultAddrPool: req.DefaultAddrPool?.length ? req.DefaultAddrPool : ['10.0.0.0/8'],
        subnetSize: req.SubnetSize || 24,
        dataPathPort: req.DataPathPort || 4789,
      };
      const self = this.nodeRecord(nodeId, 'manager', availability, adv.ip, adv.port, peerUrl);
      try {
        // the member's ports are checked now: a busy one would otherwise fail after the answer
        await Promise.all([portFree(listen.host, ports.peer), portFree('127.0.0.1', ports.client)]);
        this.files.saveInit({ cluster, self });
        this.state = st;
        this.files.saveState(st);
        this.stopped = false;
        // joins may come as soon as the answer is out
        await this.startControl();
      } catch (e) {
        await this.dropLocal();
        throw e;
      }
      // the answer goes now; the member's start and first election, the
      // record's write and the first tick follow (redone from state.json and
      // init.json by a daemon killed in between)
      this.finishInit({ cluster, self }, t0, this.activate(st));
      log.info('swarm initialized', { node: nodeId, cluster: clusterId, addr: adv.ip, certsMs: tCerts - t0, totalMs: Date.now() - t0 });
      return nodeId;
    });
  }

  /**
   * Completes an init that answered early: waits for the etcd member (which
   * restarts itself when it dies), writes the cluster and node records, then
   * runs the first tick and the heartbeat loop. Gives up only when the node
   * left the swarm or the daemon stops; init.json stays until the records are in.
   */
  private finishInit(rec: InitRecord, t0 = Date.now(), activated?: Promise<void>): void {
    const st = this.state!;
    const p = new PendingStore(rec, async (stored) => {
      const current = () => !this.stopped && this.state === st && this.pending === p;
      await activated;
      while (current()) {
        try {
          await this.waitEtcd(20_000);
          if (!current()) return;
          const index = await this.store!.createCluster(rec.cluster, rec.self);
          if (index !== FIRST_INDEX) log.warn('the new cluster record is not at the expected revision', { index, expected: FIRST_INDEX });
          this.files.removeInit();
          stored();
          break;
        } catch (e) {
          this.lastError = (e as Error).message;
          log.warn('swarm init: the store is not ready yet', { err: this.lastError });
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      if (!current()) return;
      this.lastError = '';
      await this.goLive('init', t0);
    });
    this.pending = p;
  }

  /**
   * Completes a manager join that answered once its member was started:
   * waits for the member's catch-up (bounded, as the join did before it
   * answered early; a member that never serves leaves this node a manager
   * with an error in /info, as a restart on broken etcd data would), then
   * the first tick and the heartbeat loop.
   */
  private finishJoin(t0: number, activated: Promise<void>): void {
    const st = this.state!;
    const p = new PendingStore(undefined, async (stored) => {
      const current = () => !this.stopped && this.state === st && this.pending === p;
      await activated;
      if (!current()) return;
      try {
        await this.waitEtcd(30_000);
        stored();
      } catch (e) {
        this.lastError = (e as Error).message;
        log.warn('swarm join: the etcd member is not serving yet', { err: this.lastError });
      }
      if (!current()) return;
      await this.goLive('join', t0);
    });
    this.pending = p;
  }

  /** The end of an init or join that answered early, once its store serves: the first tick, then the heartbeat loop. */
  private async goLive(what: 'init' | 'join', t0: number): Promise<void> {
    const tStore = Date.now();
    await this.tick();
    this.pending = undefined;
    this.startLoop();
    log.info(`swarm ${what} completed`, { node: this.state?.nodeId, storeMs: tStore - t0, totalMs: Date.now() - t0 });
  }

  /**
   * Holds a swarm request while an init that answered early completes (see
   * pending.ts); undefined (nothing to wait for) otherwise. What the CLI
   * asks right after an init is answered from the init's records instead.
   */
  gate(method: string, path: string): Promise<void> | undefined {
    const p = this.pending;
    if (!p || !/^\/(swarm|nodes|services|tasks|secrets|configs|networks)(\/|$)/.test(path)) return undefined;
    if (p.rec && method === 'GET' && (path === '/swarm' || /^\/nodes\/[^/]+$/.test(path))) return undefined;
    return p.settled();
  }

  join(req: JoinApiRequest): Promise<void> {
    return this.serial(async () => {
      if (this.state) throw new SwarmError(503, ALREADY_IN_SWARM);
      const remotes = (req.RemoteAddrs ?? []).map((a) => withPort(a));
      if (!remotes.length) throw new SwarmError(400, 'at least 1 RemoteAddr is required to join');
      const token = parseJoinToken(req.JoinToken ?? '');
      if (!token) throw new SwarmError(400, 'invalid join token');
      const availability = checkAvailability(req.Availability || 'active');
      const listen = resolveListen(req.ListenAddr);
      // the control port is opened behind the answer: a busy one is found now, while the join goes on
      const freePort = portFree(listen.host, listen.port, CONTROL_PORT);
      freePort.catch(() => {}); // awaited below
      // one TLS connection per manager tried: the CA (from the handshake, or
      // asked for), checked against the token's digest, then the server's
      // certificate against the CA, then the join on the same connection (join-client.ts)
      const t0 = Date.now();
      let rootCA = '';
      let conn: JoinConnection | undefined;
      let lastErr: Error | undefined;
      for (const r of remotes) {
        try {
          const c = await JoinConnection.open(r);
          try {
            // the CA the handshake carried, when it is the token's; else the manager's GET /ca
            const chain = c.chainCA();
            rootCA = chain && caDigestHex(chain) === token.digestHex ? chain : await c.fetchCA();
          } catch (e) {
            c.close();
            throw e;
          }
          conn = c;
          break;
        } catch (e) {
          lastErr = e as Error;
        }
      }
      if (!conn) throw new SwarmError(500, `could not reach any manager: ${lastErr?.message ?? ''}`);
      let res: JoinResponse;
      let adv: { ip: string; port: number };
      let csr: { keyPem: string; csrPem: string };
      let jr: JoinRequest;
      let tCA: number;
      try {
        if (caDigestHex(rootCA) !== token.digestHex) throw new SwarmError(500, `remote CA does not match fingerprint. Expected: ${token.digestHex}`);
        try {
          conn.trust(rootCA);
        } catch (e) {
          throw new SwarmError(500, (e as Error).message);
        }
        // with no address given, advertise the one this host reaches the manager from (as swarmkit does)
        adv = resolveAdvertise(req.AdvertiseAddr, listen, this.deps.ignoreInterface, conn.localAddress);
        tCA = Date.now();
        // a busy control port refuses the join before the manager accepts it
        await freePort;
        csr = this.takeKey();
        jr = {
          token: req.JoinToken!.trim(), csr: csr.csrPem, hostname: os.hostname(), engineVersion: this.deps.engineVersion,
          addr: adv.ip, port: adv.port, availability, platform: platform(), resources: resources(),
        };
        res = await conn.post<JoinResponse>('/join', jr, 30_000);
      } finally {
        conn.close();
      }
      const remote = conn.addr;
      const tJoin = Date.now();
      let tFiles = tJoin;

      const st: LocalState = {
        nodeId: res.nodeId, clusterId: res.clusterId, role: res.role, listenAddr: `${listen.host}:${listen.port}`,
        advertiseAddr: adv.ip, port: adv.port, managers: res.managers,
        ...(res.etcd ? { etcdInitialCluster: res.etcd.initialCluster, etcdInitialState: 'existing' as const } : {}),
        ...(res.role === 'worker' ? { joinDesc: describe(jr) } : {}),
      };
      // the key's file and a clean directory were made ahead (prepareJoin) when this is the key staged
      const staged = this.files.holdsKey(csr.keyPem);
      if (!staged) this.files.removeAll();
      this.files.writeCerts({ 'swarm-root-ca.crt': rootCA, 'swarm-node.crt': res.cert, ...(staged ? {} : { 'swarm-node.key': csr.keyPem }) });
      if (res.etcd) this.files.writeCerts({ 'etcd-ca.crt': res.etcd.ca, 'etcd.crt': res.etcd.cert, 'etcd.key': res.etcd.key || csr.keyPem });
      try {
        this.state = st;
        this.files.saveState(st);
        tFiles = Date.now();
        this.stopped = false;
        // a new manager takes joins as soon as the answer is out; a worker's
        // port (its node routes: task logs) opens behind it (activate), its
        // being free checked above
        if (st.role === 'manager') await this.startControl();
      } catch (e) {
        await this.dropLocal();
        throw e;
      }
      // the manager made this node Ready with its record: the first heartbeat
      // need not be waited for; a manager's member, the components and the
      // heartbeat loop start behind the answer (from state.json, as after a
      // restart, when the daemon is killed in between)
      const activated = this.activate(st);
      if (st.role === 'manager') this.finishJoin(t0, activated);
      else {
        void activated.then(() => {
          if (this.stopped || this.state !== st) return;
          this.publish();
          this.startLoop();
        });
      }
      log.info('joined swarm', { node: st.nodeId, role: st.role, via: remote, caMs: tCA - t0, joinCallMs: tJoin - tCA, staged, filesMs: tFiles - tJoin, totalMs: Date.now() - t0 });
    });
  }

  /**
   * What an init or join starts once it has answered: on a manager, the
   * etcd member; on a worker, its control port (its components follow, see
   * join). Queued behind the
   * request that answers (in the same order as any later swarm request) and
   * run after its response is written and the read the CLI makes next (GET
   * /swarm after an init, /info after a join: spawning etcd blocks the JS
   * thread for 10-50 ms, which that read would wait out), or FOLLOW_UP_MS
   * without one.
   */
  private activate(st: LocalState): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const followed = new Promise<void>((r) => {
      this.followUp = r;
      timer = setTimeout(r, FOLLOW_UP_MS);
    });
    return this.serial(async () => {
      await followed;
      clearTimeout(timer);
      this.followUp = undefined;
      await new Promise((r) => setImmediate(r));
      if (this.state !== st || this.stopped) return;
      if (st.role === 'manager') this.startManager();
      else if (!this.control) {
        await this.startControl().catch((e) => {
          this.controlError = (e as Error).message;
          log.error('swarm control port could not be opened', { err: this.controlError });
        });
      }
    });
  }

  /** What a join needs that can be made before it comes: its key and request, the TLS client (off the join's path, a tick later). */
  private prepareJoin(): void {
    setImmediate(() => {
      if (this.state) return;
      this.spareKey ??= keyAndCsr();
      warmJoinClient();
      // and a whole join's client side once (join-client.ts), a little later
      rehearseJoin();
      // its files, between swarm requests (never beside an init's or a join's), not in the daemon's start
      const key = this.spareKey;
      setTimeout(() => void this.serial(async () => {
        if (this.state || this.spareKey !== key) return;
        try {
          this.files.stageKey(key.keyPem);
        } catch (e) {
          log.debug('a join\'s key could not be written ahead', { err: (e as Error).message });
        }
      }), 100).unref();
    });
  }

  /** The key made ahead, or a new one; never used twice. */
  private takeKey(): { keyPem: string; csrPem: string } {
    const k = this.spareKey ?? keyAndCsr();
    this.spareKey = undefined;
    return k;
  }

  leave(force: boolean): Promise<void> {
    return this.serial(async () => {
      const st = this.state;
      if (!st) throw new SwarmError(503, NO_SWARM);
      if (st.role === 'manager') {
        const others = await this.managerStats().catch(() => undefined);
        if (!force) {
          let msg = 'You are attempting to leave the swarm on a node that is participating as a manager. ';
          if (others) {
            const { reachable, unreachable } = others;
            if (reachable - 1 < Math.floor((reachable + unreachable) / 2) + 1) {
              if (reachable + unreachable === 1) {
                throw new SwarmError(503, msg + 'Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message. ');
              }
              msg += `Removing this node leaves ${reachable - 1} managers out of ${reachable + unreachable}. Without a Raft quorum your swarm will be inaccessible. `;
            }
          } else {
            msg += 'Doing so may lose the consensus of your cluster. ';
          }
          throw new SwarmError(503, msg + 'The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message.');
        }
        // a forced leave takes this member out of etcd (when the others can still agree on it)
        if (others && others.reachable + others.unreachable > 1 && this.store) {
          await this.store.resign(st.nodeId);
          await this.removeMember(this.peerUrlOf(st)).catch((e) => log.warn('could not remove the etcd member while leaving', { err: String(e) }));
        }
      }
      await this.dropLocal();
      log.info('left the swarm', { node: st.nodeId });
    });
  }

  async update(version: number | undefined, spec: Record<string, unknown> | undefined, flags: { rotateWorkerToken: boolean; rotateManagerToken: boolean; rotateManagerUnlockKey: boolean }): Promise<void> {
    const store = this.manager();
    const cur = await store.cluster();
    if (version === undefined || !Number.isFinite(version)) throw new SwarmError(400, 'invalid swarm version');
    if (version !== cur.index) throw outOfSequence();
    if ((spec?.EncryptionConfig as { AutoLockManagers?: boolean } | undefined)?.AutoLockManagers || flags.rotateManagerUnlockKey) {
      throw new SwarmError(501, 'autolock is not supported by berthd: the keys and the etcd data are not encrypted at rest');
    }
    const c = cur.value;
    const next: ClusterRecord = {
      ...c,
      spec: spec ? mergeSpec(defaultSpec(), spec) : c.spec,
      tokens: {
        worker: flags.rotateWorkerToken ? newJoinToken(c.rootCA.certPem) : c.tokens.worker,
        manager: flags.rotateManagerToken ? newJoinToken(c.rootCA.certPem) : c.tokens.manager,
      },
      updatedAt: new Date().toISOString(),
    };
    await store.updateCluster(next, cur.index);
  }

  /** Autolock is never on: Docker answers an empty key (the CLI says "no unlock key is set"). */
  async unlockKey(): Promise<{ UnlockKey: string }> {
    await this.manager().cluster();
    return { UnlockKey: '' };
  }

  async unlock(): Promise<void> {
    if (!this.state) throw new SwarmError(503, NO_SWARM);
    throw new SwarmError(400, 'swarm is not locked');
  }

  /** /info's Swarm section. */
  async info(): Promise<Record<string, unknown>> {
    this.followUp?.();
    const st = this.state;
    if (!st) return { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null };
    const out: Record<string, unknown> = {
      NodeID: st.nodeId, NodeAddr: st.advertiseAddr, LocalNodeState: 'active', ControlAvailable: false, Error: this.controlError || this.lastError,
      RemoteManagers: st.managers,
    };
    if (st.role === 'manager') {
      out.ControlAvailable = true;
      if (this.pending) {
        // an init's records; a joining manager's member is still catching up: what it is, and no counts yet
        const pc = this.pending.cluster();
        if (pc) Object.assign(out, { Nodes: 1, Managers: 1, Cluster: clusterInfo(pc) });
        return out;
      }
      try {
        const store = this.manager();
        await this.nodesWritten(1000);
        // this member's copy: /info (which the CLI calls right after a join) answers without a quorum round
        const [cluster, nodes] = await Promise.all([store.cluster(true), store.nodes(true)]);
        out.Nodes = nodes.length;
        out.Managers = nodes.filter((n) => n.value.spec.Role === 'manager').length;
        out.Cluster = clusterInfo(cluster);
      } catch (e) {
        out.Error = (e as Error).message;
      }
    }
    return out;
  }

  /** Throws dockerd's answer when this node cannot serve manager endpoints. */
  requireManager(): void {
    this.manager();
  }

  // ---- API: /nodes ----

  async listNodes(filters: Record<string, string[]>): Promise<Array<Record<string, unknown>>> {
    const store = this.manager();
    await this.nodesWritten();
    const [nodes, live, cluster] = await Promise.all([store.nodes(), this.liveness(store), store.cluster()]);
    const has = (k: string) => (filters[k]?.length ?? 0) > 0;
    // dockerd's accepted node filters; anything else is its "invalid filter" 400
    const f = new Filters(filters).validate(['id', 'label', 'role', 'name', 'node.label', 'membership']);
    return nodes
      .filter((n) => !has('id') || filters.id.some((p) => n.value.id.startsWith(p)))
      .filter((n) => !has('name') || filters.name.some((p) => (n.value.spec.Name || n.value.hostname).startsWith(p)))
      .filter((n) => !has('role') || filters.role.includes(n.value.spec.Role))
      .filter(() => !has('membership') || filters.membership.includes('accepted'))
      .filter((n) => f.matchKVList('node.label', n.value.spec.Labels))
      .filter((n) => f.matchKVList('label', engineLabels(n.value)))
      .sort((a, b) => a.value.createdAt.localeCompare(b.value.createdAt))
      .map((n) => nodeJson(n, live, cluster.value.rootCA.certPem));
  }

  async inspectNode(ref: string): Promise<Record<string, unknown>> {
    const p = this.pending;
    const self = p?.isSelf(ref) ? p.self() : undefined;
    if (p?.rec && self) {
      // the one node of a swarm still being made: a manager, and its leader
      return nodeJson(self, { alive: new Set([self.value.id]), leader: self.value.id }, p.rec.cluster.rootCA.certPem);
    }
    if (p) await p.settled();
    const store = this.manager();
    await this.nodesWritten();
    const n = await this.resolveNode(store, ref);
    const [live, cluster] = await Promise.all([this.liveness(store), store.cluster()]);
    return nodeJson(n, live, cluster.value.rootCA.certPem);
  }

  async updateNode(ref: string, version: number | undefined, spec: NodeSpecInput): Promise<void> {
    const store = this.manager();
    await this.nodesWritten();
    const n = await this.resolveNode(store, ref);
    if (version === undefined || !Number.isFinite(version)) throw new SwarmError(400, 'invalid node version');
    if (version !== n.index) throw outOfSequence();
    const role = (spec.Role || n.value.spec.Role) as Role;
    if (!ROLES.includes(role)) throw new SwarmError(400, `invalid role "${spec.Role}"`);
    const availability = checkAvailability(spec.Availability || n.value.spec.Availability);
    const next: NodeRecord = {
      ...n.value,
      spec: { ...(spec.Name ? { Name: spec.Name } : {}), Labels: spec.Labels ?? {}, Role: role, Availability: availability },
      updatedAt: new Date().toISOString(),
    };
    const demote = n.value.spec.Role === 'manager' && role === 'worker';
    if (demote) await this.checkDemote(store, n.value.id);
    if (role === 'manager' && !next.peerUrl) next.peerUrl = `https://${n.value.addr}:${etcdPorts(n.value.port).peer}`;
    await store.updateNode(next, n.index);
    this.noteUpdate(n.value, next);
    if (demote) {
      await this.removeMember(next.peerUrl ?? '').catch((e) => log.warn('could not remove the etcd member of a demoted node', { err: String(e) }));
      if (n.value.id === this.state?.nodeId) void this.serial(() => this.stepDown());
    }
  }

  async removeNode(ref: string, force: boolean): Promise<void> {
    const store = this.manager();
    await this.nodesWritten();
    const n = await this.resolveNode(store, ref);
    if (n.value.spec.Role === 'manager') {
      const member = n.value.peerUrl ? (await store.etcd.memberList()).find((m) => m.peerURLs.includes(n.value.peerUrl!)) : undefined;
      if (!force || member) {
        throw new SwarmError(400, `rpc error: code = FailedPrecondition desc = node ${n.value.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`);
      }
    }
    const alive = (await store.aliveNodes()).has(n.value.id);
    if (alive && !force) throw new SwarmError(400, `rpc error: code = FailedPrecondition desc = node ${n.value.id} is not down and can't be removed`);
    await store.deleteNode(n.value.id, n.index);
    store.forgetLease(n.value.id);
  }

  // ---- the control port's handlers (this node as a manager) ----

  private async onJoin(req: JoinRequest): Promise<JoinResponse> {
    const tIn = Date.now();
    // the cluster (tokens and CAs): an init's record while its store is being
    // made (the checks and signatures then overlap its etcd's first
    // election), else this member's copy, as swarmkit's CA server reads its
    // own store: no quorum round before the token is checked
    let store: SwarmStore | undefined;
    let cluster = this.pending?.cluster()?.value;
    if (!cluster) {
      await this.pending?.settled(undefined, 'stored');
      const s = this.manager();
      store = s;
      cluster = (await s.recentCluster().catch(() => s.cluster())).value;
    }
    const tCluster = Date.now();
    const token = String(req.token ?? '');
    const role: Role | undefined = sameToken(token, cluster.tokens.manager) ? 'manager' : sameToken(token, cluster.tokens.worker) ? 'worker' : undefined;
    if (!role) throw new SwarmError(400, BAD_TOKEN);
    if (typeof req.csr !== 'string' || !validDescription(req)) throw new SwarmError(400, 'invalid join request');
    const availability = checkAvailability(req.availability || 'active');
    const nodeId = newId();
    const subject = { CN: nodeId, OU: role === 'manager' ? 'swarm-manager' : 'swarm-worker', O: cluster.id };
    // a manager's etcd certificate is for the same key, signed by the etcd CA (in-process, milliseconds)
    const signing = Promise.all([
      signCsr({ csrPem: req.csr, ca: cluster.rootCA, subject, ips: [req.addr, '127.0.0.1'] }),
      role === 'manager' ? signCsr({ csrPem: req.csr, ca: cluster.etcdCA, subject, ips: [req.addr, '127.0.0.1'], dns: ['localhost'] }) : undefined,
    ]);
    signing.catch(() => {}); // awaited below
    if (!store) {
      // the store with the init's records, which make this node alive and the
      // Leader (store.createCluster): a manager joining need not wait for its
      // first tick (whose writes, once the member is added, wait for the new
      // member like every later tick's)
      await this.pending?.settled(undefined, 'stored');
      store = this.manager();
    }
    const s = store;
    const t0 = Date.now();
    // in parallel: a lease for the node's alive key, the etcd members (a manager's), the signatures
    const lease = s.aliveLease();
    lease.catch(() => {}); // awaited below; a refusal before then must not leave it unhandled
    const members = role === 'manager' ? s.etcd.memberList().catch(() => undefined) : undefined;
    let cert: string;
    let etcdCert: string | undefined;
    try {
      [cert, etcdCert] = await signing;
    } catch (e) {
      void lease.then((id) => s.etcd.leaseRevoke(id)).catch(() => {});
      throw new SwarmError(400, `invalid join request: ${(e as Error).message}`);
    }
    const rec = this.describedNode(nodeId, role, availability, req);
    const tSign = Date.now();
    if (role === 'worker') {
      // a worker is answered before its record is written (the write follows
      // at once; reads of the node list on this manager wait for it, and the
      // worker's first heartbeat makes the record if it never lands): its
      // answer needs only the managers, from the list as last read (stale
      // after a manager join: the worker's first heartbeat brings the new one)
      const nodes = await s.lastNodes();
      const tNodes = Date.now();
      this.writeLate(s, rec, lease);
      log.info('node joined', { node: nodeId, role, addr: req.addr, clusterMs: tCluster - tIn, waitMs: t0 - tIn, checkMs: tSign - t0, nodesMs: tNodes - tSign, writeMs: 'after', totalMs: Date.now() - tIn });
      return { nodeId, clusterId: cluster.id, role, rootCA: cluster.rootCA.certPem, cert, managers: managersOf(nodes) };
    }
    // the record first (one transaction, which reads back the nodes and who is alive): once a member is added, writes need the new member up
    const after = await s.putNewNode(rec, await lease);
    const tWrite = Date.now();
    const managers = managersOf(after.nodes);
    let etcd: EtcdCredentials | undefined;
    if (role === 'manager') {
      try {
        etcd = await this.admitMember(s, cluster, rec, etcdCert, { ...after, members: await members });
      } catch (e) {
        await s.node(nodeId).then((n) => n && s.deleteNode(nodeId, n.index)).catch(() => {});
        throw e;
      }
    }
    log.info('node joined', {
      node: nodeId, role, addr: req.addr, waitMs: t0 - tIn, checkMs: tSign - t0, writeMs: tWrite - tSign, addMs: Date.now() - tWrite, totalMs: Date.now() - tIn,
    });
    return { nodeId, clusterId: cluster.id, role, rootCA: cluster.rootCA.certPem, cert, managers, etcd };
  }

  /** A joining node's record as it describes itself (a join's request, or a worker's heartbeat). */
  private describedNode(id: string, role: Role, availability: Availability, d: NodeDescription): NodeRecord {
    const peerUrl = role === 'manager' ? `https://${d.addr}:${etcdPorts(d.port).peer}` : undefined;
    return {
      ...this.nodeRecord(id, role, availability, d.addr, d.port, peerUrl),
      hostname: String(d.hostname ?? ''), engineVersion: String(d.engineVersion ?? ''),
      platform: d.platform ?? platform(), resources: d.resources ?? { NanoCPUs: 0, MemoryBytes: 0 },
    };
  }

  /**
   * Writes a worker's record after its join was answered (store.putLateNode),
   * retried briefly; a write that never lands is made by the worker's first
   * heartbeat, which carries its description until answered.
   */
  private writeLate(s: SwarmStore, rec: NodeRecord, lease: Promise<string>): void {
    const w = (async () => {
      for (let i = 0; ; i++) {
        try {
          const made = await s.putLateNode(rec, i === 0 ? await lease : undefined);
          if (made !== 'created') log.info('a joined worker\'s record was not written by its join', { node: rec.id, why: made });
          return;
        } catch (e) {
          if (i >= 2 || this.store !== s) {
            log.warn('a joined worker\'s record could not be written; its heartbeat will', { node: rec.id, err: String(e) });
            return;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })().finally(() => this.nodeWrites.delete(rec.id));
    this.nodeWrites.set(rec.id, w);
  }

  /**
   * Resolves when the records of the joins this manager answered are written
   * (or given up), or after `ms`: without a quorum the writes retry for
   * several seconds, and what waits here (node ls, /info) then answers as
   * it would have without them.
   */
  private async nodesWritten(ms = NODE_WRITE_WAIT_MS): Promise<void> {
    if (!this.nodeWrites.size) return;
    await within(Promise.all([...this.nodeWrites.values()]), ms);
  }

  private async onHeartbeat(nodeId: string, clusterId: string, running: Role, desc: NodeDescription | undefined, certRole: string): Promise<HeartbeatResponse> {
    if (!this.state || clusterId !== this.state.clusterId) throw new SwarmError(401, 'not a node of this cluster');
    await this.pending?.settled();
    const store = this.manager();
    await this.nodeWrites.get(nodeId);
    // one read answers both: is the node still a member, and who the managers are; with the change feed
    // live it is the list as last read, kept until a node changes (a heartbeat is then one etcd call)
    let nodes = await store.recentNodes();
    let n = nodes.find((x) => x.value.id === nodeId);
    if (!n && desc && certRole === 'swarm-worker' && validDescription(desc)) {
      // a worker whose record the manager that answered its join did not
      // write: made now from its description, unless it was removed (tombstone)
      const rec = this.describedNode(nodeId, 'worker', checkAvailability(desc.availability || 'active'), desc);
      if ((await store.putLateNode(rec)) !== 'removed') {
        nodes = await store.nodes();
        n = nodes.find((x) => x.value.id === nodeId);
        log.info('a worker\'s record made by its heartbeat', { node: nodeId });
      }
    }
    if (!n) throw new SwarmError(404, `node ${nodeId} not found`);
    await store.heartbeat(nodeId);
    const managers = managersOf(nodes);
    if (n.value.spec.Role === 'manager' && running === 'worker') {
      const cluster = (await store.cluster()).value;
      return { role: 'manager', managers, etcd: await this.admitMember(store, cluster, n.value) };
    }
    return { role: n.value.spec.Role, managers };
  }

  /**
   * A manager-to-be's etcd identity, and its member added to etcd (once:
   * found again by its peer URL). `known`: the node list, alive set and
   * members a join has just read (no second round for them).
   */
  private async admitMember(store: SwarmStore, cluster: ClusterRecord, n: NodeRecord, certForOwnKey?: string,
    known?: { nodes: Array<Versioned<NodeRecord>>; alive: Set<string>; members?: Member[] }): Promise<EtcdCredentials> {
    const peerUrl = n.peerUrl ?? `https://${n.addr}:${etcdPorts(n.port).peer}`;
    // a joiner has its key (certForOwnKey signs it); a promoted worker gets a key made here, over mutual TLS
    const pair: KeyPair = certForOwnKey ? { certPem: certForOwnKey, keyPem: '' }
      : await issueKeyPair(cluster.etcdCA, { CN: n.id, OU: 'swarm-manager', O: cluster.id }, [n.addr, '127.0.0.1']);
    // read before the member is added: from then on a two-member cluster needs the new member for any quorum read
    const nodes = known?.nodes ?? await store.nodes();
    const byPeer = new Map(nodes.map((x) => [x.value.peerUrl, x.value.id]));
    let members = known?.members ?? await store.etcd.memberList();
    // this manager counts as up: it is answering, through its member (its own heartbeat may not have run yet, after an init)
    const self = this.state ? this.peerUrlOf(this.state) : undefined;
    if (!members.some((m) => m.peerURLs.includes(peerUrl))) {
      // while this (the init's) member runs its short raft timers, a new member is a learner until its
      // log caught up: a voter that is still starting would leave the lone voter without a quorum,
      // and with a 100 ms election timeout it would step down (election-settle.ts)
      const learner = !!this.settler?.pending;
      const added = await addMember(store, peerUrl, members, self, known && { nodes, alive: known.alive }, learner);
      members = added.members;
      this.settler?.poke();
      if (learner) this.promoteLearner(store, added.id);
    }
    const initialCluster = members
      .map((m) => `${m.name || byPeer.get(m.peerURLs[0]) || n.id}=${m.peerURLs[0]}`)
      .join(',');
    return { ca: cluster.etcdCA.certPem, cert: pair.certPem, key: pair.keyPem, initialCluster };
  }

  /**
   * The Berth leader, every LEARNER_CHECK_MS, promotes learners whose
   * promoter died or restarted before promoting them (election-settle.ts).
   */
  private promoteLeftLearners(store: SwarmStore): void {
    const now = Date.now();
    if (now - this.learnersAt < LEARNER_CHECK_MS) return;
    this.learnersAt = now;
    void promoteStartedLearners(store.etcd).then(
      (ids) => { if (ids.length) log.info('etcd learners left behind promoted', { members: ids }); },
      (e) => log.debug('etcd member list for learners', { err: String(e) }),
    );
  }

  /** Promotes a learner this manager added once its log caught up (tried every 50 ms; the settler's check retries later). */
  private promoteLearner(store: SwarmStore, id: string): void {
    void (async () => {
      const t0 = Date.now();
      while (this.store === store && Date.now() - t0 < LEARNER_PROMOTE_MS) {
        try {
          await store.etcd.memberPromote(id);
          log.info('etcd learner promoted', { member: id, ms: Date.now() - t0 });
          return;
        } catch (e) {
          if (!/in sync with leader|no leader|timed out|ECONNREFUSED/i.test(String(e))) {
            log.warn('etcd learner not promoted', { member: id, err: String(e) });
            return;
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }

  // ---- the heartbeat loop ----

  private startLoop(): void {
    clearTimeout(this.timer);
    clearInterval(this.leaderWatch);
    const run = async () => {
      if (this.stopped || !this.state) return;
      await this.tick().catch((e) => log.debug('swarm tick failed', { err: String(e) }));
      if (!this.stopped && this.state) this.timer = setTimeout(() => void run(), HEARTBEAT_MS);
    };
    this.timer = setTimeout(() => void run(), HEARTBEAT_MS);
    this.leaderWatch = setInterval(() => void this.watchLeader(), LEADER_POLL_MS);
  }

  /**
   * A dead leader's key goes when its lease expires; the manager that sees
   * it gone first campaigns at once (a tick) instead of at its next tick.
   */
  private async watchLeader(): Promise<void> {
    const st = this.state;
    const store = this.store;
    if (this.stopped || this.ticking || this.watching || !st || st.role !== 'manager' || !store || this.leaderId === st.nodeId) return;
    this.watching = true;
    try {
      if (!(await store.leader())) await this.tick();
    } catch {
      // no quorum yet: the next round asks again
    } finally {
      this.watching = false;
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking || !this.state) return;
    this.ticking = true;
    try {
      if (this.state.role === 'manager') await this.managerTick();
      else await this.workerTick();
    } finally {
      this.ticking = false;
      this.publish();
    }
  }

  private async managerTick(): Promise<void> {
    const st = this.state!;
    const store = this.store;
    if (!store) return;
    try {
      // beside the heartbeat: the next joiner's lease, made ahead (store.ts)
      void store.keepSpareLease().catch((e) => log.debug('spare alive lease', { err: String(e) }));
      // both renewals on the keepalive stream at once; the leader key, the node list and who
      // is alive from the change feed's cache (a transaction only after one of them changed)
      const [own, leaderLease, [leaderKv, nodes, alive]] = await Promise.all([store.heartbeat(st.nodeId), store.leaderLease(), store.tickReads()]);
      this.ownLease = own;
      this.leaderId = await store.campaign(st.nodeId, leaderLease, { leader: leaderKv });
      const self = nodes.find((n) => n.value.id === st.nodeId);
      this.localFailures = 0;
      this.lastError = '';
      if (!self) return void this.serial(() => this.removedFromCluster());
      if (self.value.spec.Role === 'worker') return void this.serial(() => this.stepDown());
      const managers = managersOf(nodes);
      if (JSON.stringify(managers) !== JSON.stringify(st.managers)) {
        st.managers = managers;
        this.files.saveState(st);
      }
      this.observe(nodes, alive);
      if (this.settler?.pending) void this.settler.check();
      else if (this.leaderId === st.nodeId) this.promoteLeftLearners(store);
    } catch (e) {
      this.localFailures++;
      this.lastError = (e as Error).message;
      // our member may have been removed (demoted, or the node removed): ask another manager what we are
      if (this.localFailures >= 3) await this.askRemote();
    }
  }

  private async workerTick(): Promise<void> {
    const st = this.state!;
    const res = await this.heartbeatRemote('worker');
    if (!res) return;
    if (res.role === 'manager' && res.etcd) await this.serial(() => this.promoteLocal(res.etcd!));
    void st;
  }

  /** A heartbeat through another manager's control port; undefined when none answered. */
  private async heartbeatRemote(running: Role): Promise<HeartbeatResponse | undefined> {
    const st = this.state!;
    const tls = this.nodeTls();
    const addrs = st.managers.map((m) => m.Addr).filter((a) => a !== `${st.advertiseAddr}:${st.port}`);
    for (const addr of addrs) {
      try {
        const desc = st.joinDesc;
        const res = await controlCall<HeartbeatResponse>(addr, 'POST', '/heartbeat', { running, desc }, tls, 3000, this.pool.agent(addr, 'beat'));
        this.lastError = '';
        // answered: the record exists (the description is sent no more)
        if (desc && st.joinDesc === desc) {
          delete st.joinDesc;
          this.files.saveState(st);
        }
        if (res.managers?.length && JSON.stringify(res.managers) !== JSON.stringify(st.managers)) {
          st.managers = res.managers;
          this.files.saveState(st);
        }
        // the manager we reached first goes first next time
        if (st.managers[0]?.Addr !== addr) st.managers.sort((a, b) => (a.Addr === addr ? -1 : b.Addr === addr ? 1 : 0));
        return res;
      } catch (e) {
        if (e instanceof SwarmError && e.status === 404 && !(e instanceof UnreachableError)) {
          await this.serial(() => this.removedFromCluster());
          return undefined;
        }
        this.lastError = (e as Error).message;
      }
    }
    return undefined;
  }

  private async askRemote(): Promise<void> {
    const res = await this.heartbeatRemote('manager');
    if (res?.role === 'worker') await this.serial(() => this.stepDown());
  }

  /**
   * The node event of an update made through this manager, at once: a second
   * update before the next tick would otherwise hide it from the tick's diff.
   */
  private noteUpdate(before: NodeRecord, after: NodeRecord): void {
    const seen = this.seen?.get(after.id);
    const next: Seen = { ...seenOf(after), state: seen?.state ?? 'ready' };
    if (seen) Object.assign(seen, next);
    const attrs = nodeChange({ ...seenOf(before), state: next.state }, next);
    if (attrs) this.deps.events.publish('node', 'update', after.id, attrs, 'swarm');
  }

  /** Diffs the node list against the last tick's and emits Docker's node events. */
  private observe(nodes: Array<Versioned<NodeRecord>>, alive: Set<string>): void {
    const now = new Map<string, Seen>(nodes.map((n) => [n.value.id, { ...seenOf(n.value), state: alive.has(n.value.id) ? 'ready' : 'down' }]));
    const prev = this.seen;
    this.seen = now;
    if (!prev) return;
    for (const [id, s] of now) {
      const p = prev.get(id);
      if (!p) {
        this.deps.events.publish('node', 'create', id, { name: s.name }, 'swarm');
        continue;
      }
      const attrs = nodeChange(p, s);
      if (attrs) this.deps.events.publish('node', 'update', id, attrs, 'swarm');
    }
    for (const [id, p] of prev) if (!now.has(id)) this.deps.events.publish('node', 'remove', id, { name: p.name }, 'swarm');
  }

  // ---- role changes of this node ----

  private async promoteLocal(creds: EtcdCredentials): Promise<void> {
    const st = this.state;
    if (!st || st.role === 'manager') return;
    this.files.writeCerts({ 'etcd-ca.crt': creds.ca, 'etcd.crt': creds.cert, 'etcd.key': creds.key });
    fs.rmSync(this.files.etcdData, { recursive: true, force: true });
    st.role = 'manager';
    st.etcdInitialCluster = creds.initialCluster;
    st.etcdInitialState = 'existing';
    this.files.saveState(st);
    this.startManager();
    log.info('promoted to manager', { node: st.nodeId });
  }

  private async stepDown(): Promise<void> {
    const st = this.state;
    if (!st || st.role !== 'manager') return;
    await this.store?.resign(st.nodeId);
    await this.stopManager();
    this.files.removeEtcd();
    st.role = 'worker';
    delete st.etcdInitialCluster;
    delete st.etcdInitialState;
    this.files.saveState(st);
    this.seen = undefined;
    log.info('demoted to worker', { node: st.nodeId });
  }

  /** Our node was removed from the cluster (node rm --force): back to inactive. */
  private async removedFromCluster(): Promise<void> {
    if (!this.state) return;
    log.warn('this node was removed from the swarm', { node: this.state.nodeId });
    await this.dropLocal();
  }

  private async dropLocal(): Promise<void> {
    clearTimeout(this.timer);
    clearInterval(this.leaderWatch);
    await this.control?.close();
    this.control = undefined;
    await this.stopManager();
    this.files.removeAll();
    this.state = undefined;
    this.pending = undefined;
    this.seen = undefined;
    this.lastError = '';
    this.controlError = '';
    this.leaderId = undefined;
    this.publish();
    this.pool.close();
    this.prepareJoin();
    // as Docker's leave: what the membership made (task containers) goes, bounded
    await Promise.all(this.components.map((c) => c.left && within(
      c.left().catch((e) => log.warn('swarm component did not clean up after leaving', { component: c.name, err: String(e) })), 15_000)));
  }

  // ---- the etcd member ----

  private startManager(): void {
    const st = this.state!;
    const ports = etcdPorts(st.port);
    const listenHost = st.listenAddr.replace(/:\d+$/, '');
    const proc = new EtcdProcess({
      name: st.nodeId,
      dataDir: this.files.etcdData,
      logFile: this.files.etcdLog,
      pidFile: this.files.etcdPid,
      clientUrl: `https://127.0.0.1:${ports.client}`,
      peerListenUrl: `https://${listenHost}:${ports.peer}`,
      peerAdvertiseUrl: this.peerUrlOf(st),
      initialCluster: st.etcdInitialCluster ?? `${st.nodeId}=${this.peerUrlOf(st)}`,
      initialState: st.etcdInitialState ?? 'existing',
      certFile: this.files.cert('etcd.crt'),
      keyFile: this.files.cert('etcd.key'),
      caFile: this.files.cert('etcd-ca.crt'),
      // an init's member, made now: alone, it elects itself within ~0.1 s (see election-settle.ts)
      fastElection: FAST_INIT_ELECTION && st.etcdInitialState === 'new' && !fs.existsSync(path.join(this.files.etcdData, 'member')),
    });
    proc.start();
    this.etcd = proc;
    this.client = new EtcdClient(`https://127.0.0.1:${ports.client}`, {
      ca: this.files.read('etcd-ca.crt'), cert: this.files.read('etcd.crt'), key: this.files.read('etcd.key'),
    });
    this.settler = proc.cfg.fastElection ? new ElectionSettler(proc, this.client) : undefined;
    // one watch of the store for both (the orchestrator, the dispatcher and heartbeats listen to it)
    const feed = new ChangeFeed(this.client);
    this.store = new SwarmStore(this.client, feed);
    this.objects = new ObjectStore(this.client, feed);
    this.managerGen++;
  }

  private async stopManager(): Promise<void> {
    this.settler = undefined;
    this.store = undefined;
    this.objects = undefined;
    this.leaderId = undefined;
    this.client?.close();
    this.client = undefined;
    await this.etcd?.stop();
    this.etcd = undefined;
  }

  private async waitEtcd(ms: number): Promise<void> {
    const end = Date.now() + ms;
    let last = '';
    while (Date.now() < end) {
      try {
        await this.client!.get('/berth/swarm/ping');
        return;
      } catch (e) {
        last = (e as Error).message;
      }
      // a refused connection answers at once: poll finely, etcd is usually up within a few hundred ms
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new SwarmError(500, `the etcd member did not become ready within ${ms / 1000} s: ${last} (see ${this.files.etcdLog})`);
  }

  private async removeMember(peerUrl: string): Promise<void> {
    const etcd = this.store?.etcd;
    if (!etcd || !peerUrl) return;
    const m = (await etcd.memberList()).find((x) => x.peerURLs.includes(peerUrl));
    if (m) await etcd.memberRemove(m.id);
  }

  private async startControl(): Promise<void> {
    const st = this.state!;
    const host = st.listenAddr.replace(/:\d+$/, '');
    const port = Number(st.listenAddr.split(':').pop());
    const control = new ControlServer({
      rootCA: () => this.files.read('swarm-root-ca.crt'),
      join: (r) => this.onJoin(r),
      heartbeat: (id, cl, r, certRole) => this.onHeartbeat(id, cl, r.running === 'manager' ? 'manager' : 'worker', r.desc, certRole),
      route: (p) => this.componentRoute(p),
    });
    const tls = this.nodeTls();
    await control.listen(host, port, { cert: tls.cert!, key: tls.key!, ca: tls.ca! });
    this.control = control;
    this.controlError = '';
  }

  // ---- helpers ----

  private manager(): SwarmStore {
    const st = this.state;
    if (!st) throw new SwarmError(503, NOT_MANAGER);
    if (st.role !== 'manager') throw new SwarmError(503, WORKER_NOT_MANAGER);
    if (!this.store) throw new SwarmError(503, MANAGER_NOT_READY);
    return this.store;
  }

  private peerUrlOf(st: LocalState): string {
    return `https://${st.advertiseAddr}:${etcdPorts(st.port).peer}`;
  }

  private async liveness(store: SwarmStore): Promise<Liveness> {
    const [alive, leader] = await Promise.all([store.aliveNodes(), store.leader()]);
    return { alive, leader };
  }

  private async managerStats(): Promise<{ reachable: number; unreachable: number }> {
    const store = this.manager();
    const [nodes, alive] = await Promise.all([store.nodes(), store.aliveNodes()]);
    const managers = nodes.filter((n) => n.value.spec.Role === 'manager');
    const reachable = managers.filter((n) => alive.has(n.value.id)).length;
    return { reachable, unreachable: managers.length - reachable };
  }

  /** swarmkit's checks before a manager is demoted: never the last one, never below quorum. */
  private async checkDemote(store: SwarmStore, id: string): Promise<void> {
    const [nodes, alive] = await Promise.all([store.nodes(), store.aliveNodes()]);
    const managers = nodes.filter((n) => n.value.spec.Role === 'manager');
    if (managers.length <= 1) throw new SwarmError(400, 'rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm');
    const remaining = managers.filter((n) => n.value.id !== id);
    const up = remaining.filter((n) => alive.has(n.value.id)).length;
    if (up < Math.floor(remaining.length / 2) + 1) {
      throw new SwarmError(400, 'rpc error: code = FailedPrecondition desc = can\'t remove member from the raft: this would result in a loss of quorum');
    }
  }

  private async resolveNode(store: SwarmStore, ref: string): Promise<Versioned<NodeRecord>> {
    const nodes = await store.nodes();
    const exact = nodes.find((n) => n.value.id === ref);
    if (exact) return exact;
    const byName = nodes.filter((n) => (n.value.spec.Name || n.value.hostname) === ref);
    if (byName.length === 1) return byName[0];
    const byPrefix = nodes.filter((n) => n.value.id.startsWith(ref));
    if (ref && byPrefix.length === 1) return byPrefix[0];
    if (byName.length > 1 || (ref && byPrefix.length > 1)) throw new SwarmError(400, `node ${ref} is ambiguous (${Math.max(byName.length, byPrefix.length)} matches found)`);
    throw new SwarmError(404, `node ${ref} not found`);
  }

  private nodeRecord(id: string, role: Role, availability: Availability, addr: string, port: number, peerUrl?: string): NodeRecord {
    const now = new Date().toISOString();
    return {
      id, createdAt: now, updatedAt: now,
      spec: { Labels: {}, Role: role, Availability: availability },
      hostname: os.hostname(), engineVersion: this.deps.engineVersion, addr, port, peerUrl,
      platform: platform(), resources: resources(),
    };
  }

  /** init, join, leave and role changes of this node run one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn, fn);
    this.lock = p.catch(() => {});
    return p;
  }
}

/**
 * Adds a member only when the members that are up, with the new one, make a
 * quorum of the grown cluster (etcd's strict reconfiguration check, which
 * berthd turns off: it also waits until its leader has seen every member for
 * 5 s, and managers joining back to back waited for that). "Up" is the
 * manager's heartbeat lease; a member that is down makes the add wait, bounded.
 */
async function addMember(store: SwarmStore, peerUrl: string, members: Member[], selfPeer: string | undefined,
  known?: { nodes: Array<Versioned<NodeRecord>>; alive: Set<string> }, learner = false): Promise<{ id: string; members: Member[] }> {
  const end = Date.now() + 15_000;
  for (;;) {
    const [nodes, alive] = known ? [known.nodes, known.alive] : await Promise.all([store.nodes(), store.aliveNodes()]);
    known = undefined;
    const upPeers = new Set(nodes.filter((n) => alive.has(n.value.id) && n.value.peerUrl).map((n) => n.value.peerUrl));
    if (selfPeer) upPeers.add(selfPeer);
    const up = members.filter((m) => m.peerURLs.some((u) => upPeers.has(u))).length;
    const quorum = Math.floor((members.length + 1) / 2) + 1;
    try {
      // a learner does not count in the quorum; etcd 3.4 takes one at a time (the one before is promoted first)
      if (!learner && up + 1 < quorum) throw new Error(`etcd: unhealthy cluster: ${up} of ${members.length} members up, ${quorum} needed with the new one`);
      return await store.etcd.memberAdd(peerUrl, learner);
    } catch (e) {
      if (!/unhealthy cluster|too many learner/.test((e as Error).message) || Date.now() > end) throw e;
      // a learner before this one is promoted within ms of its catch-up: look again soon
      await new Promise((r) => setTimeout(r, learner ? 50 : 250));
      members = await store.etcd.memberList();
    }
  }
}

function outOfSequence(): SwarmError {
  return new SwarmError(500, 'rpc error: code = Unknown desc = update out of sequence');
}

/** A node's description as a join or heartbeat carries it: an IPv4 address and a port. */
function validDescription(d: NodeDescription): boolean {
  return typeof d === 'object' && d !== null && typeof d.addr === 'string' && /^[0-9.]+$/.test(d.addr) && Number.isInteger(d.port);
}

/** The description in a join request (without its token and CSR). */
function describe(r: JoinRequest): NodeDescription {
  return { hostname: r.hostname, engineVersion: r.engineVersion, addr: r.addr, port: r.port, availability: r.availability, platform: r.platform, resources: r.resources };
}

function checkAvailability(a: string): Availability {
  if (!AVAILABILITIES.includes(a)) throw new SwarmError(400, `invalid availability "${a}"`);
  return a as Availability;
}

function withPort(addr: string): string {
  const a = addr.trim().replace(/^tcp:\/\//, '');
  return /:\d+$/.test(a) ? a : `${a}:2377`;
}

function platform(): { Architecture: string; OS: string } {
  return { Architecture: os.arch() === 'x64' ? 'x86_64' : os.arch() === 'arm64' ? 'aarch64' : os.arch(), OS: 'linux' };
}

function resources(): { NanoCPUs: number; MemoryBytes: number } {
  return { NanoCPUs: os.cpus().length * 1e9, MemoryBytes: os.totalmem() };
}

/** Throws dockerd-like text when `host:port` cannot be listened on (an etcd member's port taken). */
const CONTROL_PORT = 'remote API address';
/** How long a read of the node list on a manager waits for the records of joins it answered (nodesWritten). */
const NODE_WRITE_WAIT_MS = 3000;
/** How long what an init or join starts behind its answer waits for the client's next read (activate). */
const FOLLOW_UP_MS = 80;
/** An init's lone etcd member starts with short raft timers (on by default; BERTH_SWARM_FAST_INIT_ELECTION=0: off). */
const FAST_INIT_ELECTION = process.env.BERTH_SWARM_FAST_INIT_ELECTION !== '0';
/** How often the Berth leader looks for learners nobody promoted (one member list). */
const LEARNER_CHECK_MS = 5000;
/** How long the manager that added a learner tries to promote it (it catches up in well under a second). */
const LEARNER_PROMOTE_MS = 30_000;

async function portFree(host: string, port: number, what?: typeof CONTROL_PORT): Promise<void> {
  const net = await import('node:net');
  await new Promise<void>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => reject(new SwarmError(500, what
      ? `failed to listen on ${what}: ${e.message}`
      : `failed to listen on ${host}:${port} for the etcd member: ${e.message}`)));
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}
