// Docker's JSON shapes for a container: inspect, list entries, status text.
import type { ContainerRecord } from './types';
import { humanDuration } from '../common/duration';

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function statusText(c: ContainerRecord, now = Date.now()): string {
  const st = c.state;
  switch (st.Status) {
    case 'running': {
      const h = (c.extra.health as { Status?: string } | undefined)?.Status;
      const suffix = h === 'starting' ? ' (health: starting)' : h ? ` (${h})` : '';
      return `Up ${humanDuration(now - Date.parse(st.StartedAt))}${suffix}`;
    }
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(st.StartedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${st.ExitCode}) ${humanDuration(now - Date.parse(st.FinishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'exited':
      if (st.FinishedAt === ZERO_TIME) return 'Created';
      return `Exited (${st.ExitCode}) ${humanDuration(now - Date.parse(st.FinishedAt))} ago`;
    default:
      return 'Created';
  }
}

function networkSettings(c: ContainerRecord): Record<string, unknown> {
  return {
    Bridge: '',
    SandboxID: '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: {},
    SandboxKey: '',
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: '',
    Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    MacAddress: '',
    Networks: {},
    ...c.networkSettings,
  };
}

export function inspectJson(c: ContainerRecord, graph: { upper: string; merged: string; work: string; lower: string }, sizes?: { rw: number; rootFs: number }): Record<string, unknown> {
  const st = c.state;
  const out: Record<string, unknown> = {
    Id: c.id,
    Created: c.created,
    Path: c.path,
    Args: c.args,
    State: {
      Status: st.Status,
      Running: st.Running,
      Paused: st.Paused,
      Restarting: st.Restarting,
      OOMKilled: st.OOMKilled,
      Dead: st.Dead,
      Pid: st.Pid,
      ExitCode: st.ExitCode,
      Error: st.Error,
      StartedAt: st.StartedAt,
      FinishedAt: st.FinishedAt,
      ...(c.extra.health ? { Health: c.extra.health } : {}),
    },
    Image: c.imageId,
    ResolvConfPath: c.resolvConfPath,
    HostnamePath: c.hostnamePath,
    HostsPath: c.hostsPath,
    LogPath: c.logPath,
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: c.hostConfig,
    GraphDriver: {
      Data: { LowerDir: graph.lower, MergedDir: graph.merged, UpperDir: graph.upper, WorkDir: graph.work },
      Name: 'overlay2',
    },
    Mounts: c.mounts ?? [],
    Config: c.config,
    NetworkSettings: networkSettings(c),
  };
  if (sizes) {
    out.SizeRw = sizes.rw;
    out.SizeRootFs = sizes.rootFs;
  }
  return out;
}

export function listJson(c: ContainerRecord, imageName: string, sizes?: { rw: number; rootFs: number }): Record<string, unknown> {
  const ns = networkSettings(c);
  const ports: unknown[] = [];
  const bound = (ns.Ports ?? {}) as Record<string, Array<{ HostIp: string; HostPort: string }> | null>;
  for (const [k, v] of Object.entries(bound)) {
    const [p, proto] = k.split('/');
    if (!v || !v.length) ports.push({ PrivatePort: Number(p), Type: proto ?? 'tcp' });
    else for (const b of v) ports.push({ IP: b.HostIp || '0.0.0.0', PrivatePort: Number(p), PublicPort: Number(b.HostPort), Type: proto ?? 'tcp' });
  }
  const out: Record<string, unknown> = {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: imageName,
    ImageID: c.imageId,
    Command: [c.path, ...c.args].filter((x) => x !== '').join(' '),
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: ports,
    Labels: c.config.Labels ?? {},
    State: c.state.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.hostConfig.NetworkMode || 'default' },
    NetworkSettings: { Networks: ns.Networks ?? {} },
    Mounts: c.mounts ?? [],
  };
  if (sizes) {
    out.SizeRw = sizes.rw;
    out.SizeRootFs = sizes.rootFs;
  }
  return out;
}
