// The network service's part in a container's life, plugged into the
// container service's hook seam: validate at create, plumb before start,
// release after stop, forget at remove.
import type { NetworkService, NetSetup } from './service';
import type { NetContainer } from './types';
import type { ContainerHook, ContainerRecord } from '../container/types';
import type { OciSpec } from '../host/runtime/spec-types';
import { setNetns } from '../host/runtime/spec';
import { replaceFiles } from '../host/native/replace-files';

/** Reads what networking needs from a container record. */
export function netView(c: ContainerRecord): NetContainer {
  const cfg = c.config;
  const hc = c.hostConfig;
  return {
    id: c.id,
    name: c.name.replace(/^\//, ''),
    hostname: cfg.Hostname ?? '',
    domainname: cfg.Domainname ?? '',
    networkMode: hc.NetworkMode || 'default',
    endpointsConfig: c.networkingConfig?.EndpointsConfig ?? {},
    macAddress: cfg.MacAddress || undefined,
    portBindings: hc.PortBindings ?? {},
    publishAll: !!hc.PublishAllPorts,
    exposedPorts: Object.keys(cfg.ExposedPorts ?? {}),
    env: cfg.Env ?? [],
    links: hc.Links ?? [],
    dns: hc.Dns ?? [],
    dnsSearch: hc.DnsSearch ?? [],
    dnsOptions: hc.DnsOptions ?? [],
    extraHosts: hc.ExtraHosts ?? [],
    running: !!c.state.Running,
    labels: cfg.Labels ?? {},
    pid: c.state.Pid,
    ...(c.extra?.health && c.state.Running ? { health: String((c.extra.health as { Status?: string }).Status ?? '') } : {}),
  };
}

export class NetworkHook implements ContainerHook {
  /** Namespaces whose inside is still being configured, by container id (see beforeRun). */
  private readonly pending = new Map<string, Promise<Error | undefined>>();

  /** Setups begun by prepare(), taken by beforeStart(). */
  private readonly early = new Map<string, Promise<NetSetup>>();

  constructor(private readonly net: NetworkService) {}

  async prepare(c: ContainerRecord): Promise<void> {
    const v = netView(c);
    const p = this.net.setup(v);
    this.early.set(v.id, p);
    await p;
  }

  async onCreate(c: ContainerRecord): Promise<void> {
    const v = netView(c);
    this.net.prepare(v);
    c.networkSettings = this.net.settingsJson(v);
  }

  async beforeStart(c: ContainerRecord, spec: OciSpec): Promise<void> {
    const v = netView(c);
    const begun = this.early.get(v.id);
    this.early.delete(v.id);
    const s = await (begun ?? this.net.setup(v));
    if (s.ready) this.pending.set(v.id, s.ready);
    try {
      setNetns(spec, s.hostMode ? undefined : s.netnsPath);
      if (!s.hostMode) spec.hostname = s.hostname;
      // The container service bind-mounts these files; we fill them in.
      const files: Array<[string | undefined, string]> = [
        [c.hostsPath, s.hostsFile],
        [c.resolvConfPath, s.resolvConf],
        [c.hostnamePath, s.hostname + '\n'],
      ];
      await replaceFiles(files.filter((f): f is [string, string] => !!f[0]).map(([path, data]) => ({ path, data })));
      if (s.linkEnv.length) spec.process.env = [...spec.process.env, ...s.linkEnv];
      c.networkSettings = this.net.settingsJson(v);
    } catch (e) {
      await this.net.teardown(v.id).catch(() => {});
      throw e;
    }
  }

  /** Created, not yet running: the namespace's inside must be ready now. */
  async beforeRun(c: ContainerRecord): Promise<void> {
    const id = netView(c).id;
    const ready = this.pending.get(id);
    this.pending.delete(id);
    const err = ready && (await ready);
    if (err) throw err;
  }

  async afterStop(c: ContainerRecord): Promise<void> {
    const v = netView(c);
    this.pending.delete(v.id);
    this.early.delete(v.id);
    await this.net.teardown(v.id);
    c.networkSettings = this.net.settingsJson(v);
  }

  /** A container still running at daemon start: its namespace file is made its namespace again if that was lost; its embedded DNS listens again. */
  async afterRestore(c: ContainerRecord, init: { pid: number; start?: number }): Promise<void> {
    await this.net.restoreNetns(netView(c), init.pid, init.start);
    await this.net.restoreDns(netView(c));
  }

  /** An --rm container's network goes after its removal's answer (forget() tears it down; NetworkService waits for it where it matters). */
  readonly deferRemove = true;

  async onRemove(c: ContainerRecord): Promise<void> {
    const id = netView(c).id;
    this.pending.delete(id);
    this.early.delete(id);
    await this.net.forget(id);
  }
}
