// /_ping, /version, /info, /events.
import os from 'node:os';
import type { Router } from '../router';
import { API_VERSION, MIN_API_VERSION } from '../context';
import { BERTH_VERSION, GIT_COMMIT } from '../../version';
import { hostInfo, backingFs } from '../../host/sysinfo';
import { matchEvent } from '../../events/filter';
import { timestampNs } from '../../common/time';
import { InvalidParameter } from '../../util/errors';
import type { EventBus } from '../../events/bus';
import type { ContainerService } from '../../container/service';
import type { ImageService } from '../../image/service';
import type { VolumeService } from '../../volume/service';
import type { SwarmService } from '../../swarm/service';

/** The daemon settings /info reports; read at each request, so a SIGHUP reload shows. */
export interface EngineSettings {
  readonly dataRoot: string;
  readonly logLevel: string;
  readonly logDriver: string;
  readonly insecureRegistries: readonly string[];
  readonly labels?: readonly string[];
  readonly runtimes: Readonly<Record<string, string>>;
  readonly defaultRuntime: string;
  readonly liveRestore: boolean;
}

/** What the system routes call (moby's router/system backend). */
export interface SystemBackend {
  startedAt: Date;
  daemonId: string;
  settings: EngineSettings;
  /** dockerd's /info Warnings (insecure API listeners). */
  warnings(): string[];
  events: Pick<EventBus, 'since' | 'subscribe'>;
  containers: Pick<ContainerService, 'counts' | 'list' | 'runtimeCommit'>;
  images: Pick<ImageService, 'count' | 'layersSize' | 'list'>;
  volumes: Pick<VolumeService, 'all' | 'usageJson'>;
  swarm: Pick<SwarmService, 'pingState' | 'info'>;
}

export function registerSystemRoutes(r: Router, d: SystemBackend): void {
  const ping = (ctx: import('../context').Ctx) => {
    const headers = {
      'Api-Version': API_VERSION,
      'Builder-Version': '1',
      'Ostype': 'linux',
      'Cache-Control': 'no-cache, no-store, must-revalidate',
      'Pragma': 'no-cache',
      'Swarm': d.swarm.pingState(),
    };
    if (ctx.method === 'HEAD') {
      ctx.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '0', ...headers });
      ctx.res.end();
      return;
    }
    ctx.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '2', ...headers });
    ctx.res.end('OK');
  };
  r.get('/_ping', ping);
  r.head('/_ping', ping);

  r.get('/version', (ctx) => {
    const h = hostInfo();
    ctx.send(200, {
      Platform: { Name: 'Berth Engine' },
      Components: [
        {
          Name: 'Engine',
          Version: BERTH_VERSION,
          Details: {
            ApiVersion: API_VERSION,
            Arch: h.goArch,
            BuildTime: d.startedAt.toISOString(),
            Experimental: 'false',
            GitCommit: GIT_COMMIT,
            GoVersion: process.version,
            KernelVersion: h.kernelVersion,
            MinAPIVersion: MIN_API_VERSION,
            Os: 'linux',
          },
        },
      ],
      Version: BERTH_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: GIT_COMMIT,
      GoVersion: process.version,
      Os: 'linux',
      Arch: h.goArch,
      KernelVersion: h.kernelVersion,
      BuildTime: d.startedAt.toISOString(),
    });
  });

  r.get('/info', async (ctx) => {
    const h = hostInfo();
    const runcCommit = await d.containers.runtimeCommit();
    const c = d.containers.counts();
    const cfg = d.settings;
    ctx.send(200, {
      ID: d.daemonId,
      Containers: c.total,
      ContainersRunning: c.running,
      ContainersPaused: c.paused,
      ContainersStopped: c.stopped,
      Images: d.images.count(),
      Driver: 'overlay2',
      DriverStatus: [
        ['Backing Filesystem', backingFs(cfg.dataRoot)],
        ['Supports d_type', 'true'],
        ['Using metacopy', 'false'],
        ['Native Overlay Diff', 'true'],
        ['userxattr', 'false'],
      ],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file', 'local'] },
      MemoryLimit: true,
      SwapLimit: true,
      KernelMemory: false,
      KernelMemoryTCP: false,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      OomKillDisable: h.cgroupVersion === '1',
      IPv4Forwarding: true,
      BridgeNfIptables: true,
      BridgeNfIp6tables: true,
      Debug: cfg.logLevel === 'debug',
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: cfg.logDriver,
      CgroupDriver: h.cgroupDriver,
      CgroupVersion: h.cgroupVersion,
      NEventsListener: 0,
      KernelVersion: h.kernelVersion,
      OperatingSystem: h.operatingSystem,
      OSVersion: h.osVersion,
      OSType: 'linux',
      Architecture: h.architecture,
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: [],
        AllowNondistributableArtifactsHostnames: [],
        InsecureRegistryCIDRs: ['127.0.0.0/8'],
        IndexConfigs: {
          'docker.io': { Name: 'docker.io', Mirrors: [], Secure: true, Official: true },
          ...Object.fromEntries(cfg.insecureRegistries.map((n) => [n, { Name: n, Mirrors: [], Secure: false, Official: false }])),
        },
        Mirrors: [],
      },
      NCPU: h.ncpu,
      MemTotal: h.memTotal,
      GenericResources: null,
      DockerRootDir: cfg.dataRoot,
      HttpProxy: process.env.HTTP_PROXY ?? '',
      HttpsProxy: process.env.HTTPS_PROXY ?? '',
      NoProxy: process.env.NO_PROXY ?? '',
      Name: os.hostname(),
      Labels: cfg.labels ?? [],
      ExperimentalBuild: false,
      ServerVersion: BERTH_VERSION,
      Runtimes: Object.fromEntries(Object.entries(cfg.runtimes).map(([name, p]) => [name, { path: p }])),
      DefaultRuntime: cfg.defaultRuntime,
      Swarm: await d.swarm.info(),
      LiveRestoreEnabled: cfg.liveRestore !== false,
      Isolation: '',
      InitBinary: 'docker-init',
      ContainerdCommit: { ID: '', Expected: '' },
      RuncCommit: { ID: runcCommit, Expected: runcCommit },
      InitCommit: { ID: '', Expected: '' },
      SecurityOptions: ['name=seccomp,profile=builtin'],
      Warnings: d.warnings(),
    });
  });

  // docker system df. The classic builder keeps its cache as images, so like
  // Docker with BuildKit idle the BuildCache list is empty. `type` (API 1.42)
  // limits what is computed; the others are then null, as moby leaves them.
  r.get('/system/df', async (ctx) => {
    const types = ctx.query.getAll('type');
    for (const t of types) {
      if (!['container', 'image', 'volume', 'build-cache'].includes(t)) throw new InvalidParameter(`unknown object type: ${t}`);
    }
    const want = (t: string) => types.length === 0 || types.includes(t);
    const out: Record<string, unknown> = { LayersSize: 0, Images: null, Containers: null, Volumes: null, BuildCache: null };
    if (want('image')) {
      out.LayersSize = d.images.layersSize();
      out.Images = d.images.list({ sharedSize: true });
    }
    if (want('container')) out.Containers = await d.containers.list({ all: true, size: true, filters: {} });
    if (want('volume')) out.Volumes = d.volumes.all().filter((v) => v.driver === 'local').map((v) => d.volumes.usageJson(v));
    if (want('build-cache')) out.BuildCache = [];
    ctx.send(200, out);
  });

  r.get('/events', (ctx) => {
    const filters = ctx.filters();
    const now = Date.now() * 1e6;
    const since = ctx.str('since');
    const until = ctx.str('until');
    const sinceNs = since ? Number(timestampNs(since, now / 1e6)) : undefined;
    const untilNs = until ? Number(timestampNs(until, now / 1e6)) : undefined;
    const res = ctx.stream(200, 'application/json');
    const write = (ev: import('../../events/bus').EngineEvent) => {
      if (untilNs !== undefined && ev.timeNano > untilNs) return;
      if (!matchEvent(ev, filters)) return;
      res.write(JSON.stringify(ev) + '\n');
    };
    if (sinceNs !== undefined) for (const ev of d.events.since(sinceNs)) write(ev);
    if (untilNs !== undefined && untilNs <= now) {
      res.end();
      return;
    }
    const unsubscribe = d.events.subscribe(write);
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      res.end();
    };
    if (untilNs !== undefined) timer = setTimeout(finish, Math.max(0, (untilNs - now) / 1e6));
    res.on('close', finish);
  });
}
