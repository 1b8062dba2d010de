// Wires the services together in dependency order: store → storage →
// images → containers; api/ sees only the narrow backends of backends.ts.
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { openDb, type Db } from '../store/db';
import { EventBus } from '../events/bus';
import { Overlay2 } from '../host/storage/overlay2';
import { ImageService } from '../image/service';
import { ContainerService } from '../container/service';
import { ExecService } from '../container/exec';
import { AttachService } from '../container/attach';
import { OpsService } from '../container/ops';
import { ArchiveService } from '../container/archive';
import { HealthService } from '../container/health';
import { NetworkService } from '../network/service';
import { VolumeService } from '../volume/service';
import { NetworkHook, netView } from '../network/hook';
import { VolumeHook } from '../volume/hook';
import type { MountPoint } from '../volume/mounts';
import { BuilderService } from '../builder/service';
import { DaemonBuilderBackend } from '../builder/daemon-backend';
import { ServiceRunner } from '../builder/runner-containers';
import { DistributionService } from '../distribution/service';
import { OverlayComponent } from '../swarm/network/overlay';
import { SwarmService } from '../swarm/service';
import { Dispatcher } from '../swarm/dispatcher';
import { Agent } from '../swarm/agent/agent';
import { TaskLogs } from '../swarm/agent/logs';
import { swarmEngine } from './swarm-engine';
import { ServiceApi } from '../swarm/services';
import { SecretApi } from '../swarm/secrets';
import { Orchestrator } from '../swarm/orchestrator/orchestrator';
import { randomName } from '../container/names';
import { BERTH_VERSION } from '../version';
import type { DaemonConfig } from './config';
import { log } from '../util/log';

export class Daemon {
  readonly startedAt = new Date();
  readonly events = new EventBus();
  readonly db: Db;
  readonly storage: Overlay2;
  readonly images: ImageService;
  readonly containers: ContainerService;
  readonly execs: ExecService;
  readonly attach: AttachService;
  readonly ops: OpsService;
  readonly archive: ArchiveService;
  readonly health: HealthService;
  readonly networks: NetworkService;
  readonly volumes: VolumeService;
  readonly builder: BuilderService;
  readonly distribution: DistributionService;
  readonly swarm: SwarmService;
  /** `service logs` / `task logs`: gathered from the nodes running the tasks. */
  readonly swarmLogs: TaskLogs;
  /** Swarm services and tasks on managers (/services, /tasks). */
  readonly serviceApi: ServiceApi;
  readonly secretApi: SecretApi;
  /** Keeps tasks in line with services, on the leader. */
  readonly orchestrator: Orchestrator;
  private readonly overlay: OverlayComponent;
  /** Stable engine id, kept in the data root. */
  readonly daemonId: string;

  constructor(readonly config: DaemonConfig) {
    fs.mkdirSync(config.dataRoot, { recursive: true, mode: 0o711 });
    fs.mkdirSync(config.execRoot, { recursive: true, mode: 0o700 });
    const idFile = path.join(config.dataRoot, 'engine-id');
    if (!fs.existsSync(idFile)) fs.writeFileSync(idFile, randomUUID() + '\n');
    this.daemonId = fs.readFileSync(idFile, 'utf8').trim();
    this.db = openDb(path.join(config.dataRoot, 'berth.db'));
    this.storage = new Overlay2(config.dataRoot);
    this.images = new ImageService({ db: this.db, events: this.events, storage: this.storage, dataRoot: config.dataRoot });
    this.distribution = new DistributionService({
      db: this.db,
      images: this.images,
      events: this.events,
      // getters: a SIGHUP reload (config-file.ts) reaches the next pull or push
      get insecureRegistries() { return config.insecureRegistries; },
      get maxConcurrentDownloads() { return config.maxConcurrentDownloads; },
      get maxConcurrentUploads() { return config.maxConcurrentUploads; },
    });
    this.networks = new NetworkService({ db: this.db, events: this.events, config });
    this.volumes = new VolumeService({ db: this.db, events: this.events, dataRoot: config.dataRoot });
    this.containers = new ContainerService({
      db: this.db,
      events: this.events,
      storage: this.storage,
      images: this.images,
      config,
    });
    this.execs = new ExecService(this.containers, this.events, config.execRoot);
    this.attach = new AttachService(this.containers);
    this.ops = new OpsService(this.containers);
    this.archive = new ArchiveService(this.containers);
    this.health = new HealthService(this.containers, this.execs, this.events);
    this.wireNetworkAndVolumes();
    this.builder = new BuilderService(
      this.db,
      new DaemonBuilderBackend(this.images, this.storage, new ServiceRunner(this.containers, this.storage), path.join(config.dataRoot, 'builder', 'tmp'),
        (ref, sink) => this.distribution.pull({ fromImage: ref }, sink)),
      config.dataRoot,
    );
    const tag = config.chainPrefix.toLowerCase();
    this.swarm = new SwarmService({
      dataRoot: config.dataRoot,
      events: this.events,
      engineVersion: BERTH_VERSION,
      // our bridges and container veths are never the address other hosts reach
      ignoreInterface: (n) => n === config.bridge || n.startsWith(`${tag}-`) || n.startsWith(`${tag}v`) || /^(docker|br-|veth)/.test(n),
    });
    // the node side of swarm services: the dispatcher first (a manager's agent asks it in-process)
    const engine = swarmEngine(this);
    const dispatcher = new Dispatcher();
    this.swarm.attach(dispatcher);
    this.swarm.attach(new Agent(engine, dispatcher));
    this.swarmLogs = new TaskLogs(engine);
    this.swarm.attach(this.swarmLogs);
    // swarm overlays: the swarm side allocates and keeps the peer table, the network domain runs the data plane
    const overlay = this.overlay = new OverlayComponent({
      endpoints: () => this.networks.overlayEndpoints(),
      apply: (st) => this.networks.applySwarm(st),
    });
    this.orchestrator = new Orchestrator();
    this.orchestrator.onWrite = () => dispatcher.poke();
    this.secretApi = new SecretApi({ events: this.events, requireManager: () => this.swarm.requireManager() });
    this.swarm.attach(this.secretApi);
    this.serviceApi = new ServiceApi({
      // a service's overlays and VIPs are allocated by the overlay component
      endpoints: {
        allocate: (id, spec, prev) => overlay.serviceEndpoint(id, spec, prev),
        release: (id, ep) => overlay.releaseService(id, ep),
      },
      events: this.events,
      requireManager: () => this.swarm.requireManager(),
      randomName: () => randomName(),
      onChange: () => this.orchestrator.kick(),
      resolveRefs: (spec) => this.secretApi.resolveServiceRefs(spec),
    });
    this.swarm.attach(this.serviceApi);
    this.swarm.attach(this.orchestrator);
    this.swarm.attach(overlay);
    // a task's health changed: its node publishes it (balancing sets, tasks.NAME) now rather than at the next sync
    this.events.subscribe((ev) => {
      if (ev.Type === 'container' && ev.Action.startsWith('health_status')) overlay.kick();
    });
    this.networks.setSwarm(overlay);
  }

  /** Network and volume services plug into the container lifecycle. */
  private wireNetworkAndVolumes(): void {
    const find = (ref: string) => {
      try {
        return this.containers.get(ref);
      } catch {
        return undefined;
      }
    };
    this.networks.setContainerLookup({ find: (ref) => { const c = find(ref); return c ? netView(c) : undefined; } });
    this.networks.onChange = (id) => { const c = find(id); if (c) c.networkSettings = this.networks.settingsJson(netView(c)); };
    this.containers.addHook(new VolumeHook(this.volumes, (ref) => find(ref)?.extra?.mountPoints as MountPoint[] | undefined));
    this.containers.addHook(new NetworkHook(this.networks));
  }

  async init(): Promise<void> {
    await this.storage.init();
    await this.images.init();
    await this.distribution.init();
    await this.volumes.init();
    await this.networks.init();
    await this.containers.init();
    // Network and volume records of containers a crash kept from being recorded.
    const known = new Set(this.containers.all().map((c) => c.id));
    this.networks.dropUnknown(known);
    // (endpoints whose namespace was lost and not made again from a running container's init)
    this.networks.dropVanished();
    this.volumes.dropUnknownRefs(known);
    this.health.init();
    for (const c of this.containers.all()) c.networkSettings = this.networks.settingsJson(netView(c));
    await this.builder.init();
    await this.swarm.init();
  }

  /** live-restore off: stop every running container (each with its stop timeout) before the daemon exits. */
  async stopAllContainers(): Promise<void> {
    const running = this.containers.all().filter((c) => c.state.Running);
    await Promise.all(running.map((c) => this.containers.stop(c.id).catch((e) => {
      log.error('could not stop a container at shutdown', { id: c.id, err: String(e) });
    })));
  }

  async shutdown(): Promise<void> {
    this.overlay.detach();
    await this.swarm.shutdown();
    this.health.shutdown();
    await this.containers.shutdown();
    await this.networks.shutdown();
    await this.volumes.shutdown();
    this.db.close();
  }
}
