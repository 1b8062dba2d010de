// The network service's part in a container's life, plugged into the
// container service's hook seam: validate at create, plumb before start,
// release after stop, forget at remove.
import fs from 'node:fs';
import type { NetworkService, NetSetup } from './service';
import type { NetContainer } from './types';

/** Reads what networking needs from a container record (Docker-shaped Config/HostConfig). */
export function netView(c: any): NetContainer {
  const cfg = c.config ?? c.Config ?? {};
  const hc = c.hostConfig ?? c.HostConfig ?? {};
  const nc = c.networkingConfig ?? c.NetworkingConfig ?? {};
  const state = c.state ?? c.State ?? {};
  return {
    id: c.id ?? c.Id,
    name: String(c.name ?? c.Name ?? '').replace(/^\//, ''),
    hostname: cfg.Hostname ?? '',
    domainname: cfg.Domainname ?? '',
    networkMode: hc.NetworkMode || 'default',
    endpointsConfig: nc.EndpointsConfig ?? {},
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
    running: !!(state.running ?? state.Running),
    pid: state.pid ?? state.Pid,
  };
}

/** Sets (or with `undefined`, removes) the network namespace of an OCI spec. */
export function setNetns(spec: any, nsPath: string | undefined): void {
  spec.linux ??= {};
  const list: any[] = (spec.linux.namespaces ??= []);
  const i = list.findIndex((n) => n.type === 'network');
  if (nsPath === undefined) {
    if (i >= 0) list.splice(i, 1);
    return;
  }
  if (i >= 0) list[i] = { type: 'network', path: nsPath };
  else list.push({ type: 'network', path: nsPath });
}

/** Replaces the spec's mount at `dest` (or adds it). */
export function putMount(spec: any, m: { destination: string; type: string; source: string; options: string[] }): void {
  const mounts: any[] = (spec.mounts ??= []);
  const i = mounts.findIndex((x) => x.destination === m.destination);
  if (i >= 0) mounts[i] = m;
  else mounts.push(m);
}

export class NetworkHook {
  /** Namespaces whose inside is still being configured, by container id (see beforeRun). */
  private readonly pending = new Map<string, Promise<Error | undefined>>();

  /** Setups begun by prepare(), taken by beforeStart(). */
  private readonly early = new Map<string, Promise<NetSetup>>();

  constructor(private readonly net: NetworkService) {}

  async prepare(c: any): Promise<void> {
    const v = netView(c);
    const p = this.net.setup(v);
    this.early.set(v.id, p);
    await p;
  }

  async onCreate(c: any): Promise<void> {
    const v = netView(c);
    this.net.prepare(v);
    c.networkSettings = this.net.settingsJson(v);
  }

  async beforeStart(c: any, spec: any, _bundle: { dir: string; rootfs: string }): Promise<void> {
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
      for (const [p, text] of files) {
        if (!p) continue;
        const tmp = `${p}.tmp`;
        fs.writeFileSync(tmp, text, { mode: 0o644 });
        fs.renameSync(tmp, p);
      }
      if (s.linkEnv.length) {
        spec.process ??= {};
        spec.process.env = [...(spec.process.env ?? []), ...s.linkEnv];
      }
      c.networkSettings = this.net.settingsJson(v);
    } catch (e) {
      await this.net.teardown(v.id).catch(() => {});
      throw e;
    }
  }

  /** Created, not yet running: the namespace's inside must be ready now. */
  async beforeRun(c: any): Promise<void> {
    const id = netView(c).id;
    const ready = this.pending.get(id);
    this.pending.delete(id);
    const err = ready && (await ready);
    if (err) throw err;
  }

  async afterStop(c: any): Promise<void> {
    const v = netView(c);
    this.pending.delete(v.id);
    this.early.delete(v.id);
    await this.net.teardown(v.id);
    c.networkSettings = this.net.settingsJson(v);
  }

  async onRemove(c: any): Promise<void> {
    await this.net.forget(netView(c).id);
  }
}
