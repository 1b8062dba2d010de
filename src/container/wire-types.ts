// The Go types behind a container create/update body, checked before anything
// is stored: Docker decodes the body into typed structs, so a field of the
// wrong JSON type is a 400 ("json: cannot unmarshal ...") there, and a record
// holding one would later break every client that lists containers.
// Unknown fields pass (Go ignores them); null is always fine (zero value).
import { InvalidParameter } from '../util/errors';

type Scalar = 'string' | 'bool' | 'int64' | 'int' | 'uint16' | 'uint32' | 'uint64';
type Spec =
  | Scalar
  | { list: Spec; go?: string }
  | { map: Spec; go: string }
  | { struct: Record<string, Spec>; go: string }
  | 'strslice';

const strs: Spec = { list: 'string', go: '[]string' };
const strMap: Spec = { map: 'string', go: 'map[string]string' };
const set = (go: string): Spec => ({ map: { struct: {}, go: 'struct {}' }, go });

const HEALTH: Spec = { go: 'container.HealthConfig', struct: { Test: strs, Interval: 'int64', Timeout: 'int64', StartPeriod: 'int64', StartInterval: 'int64', Retries: 'int' } };

export const CONFIG_FIELDS: Record<string, Spec> = {
  Hostname: 'string', Domainname: 'string', User: 'string', AttachStdin: 'bool', AttachStdout: 'bool', AttachStderr: 'bool',
  ExposedPorts: set('nat.PortSet'), Tty: 'bool', OpenStdin: 'bool', StdinOnce: 'bool', Env: strs, Cmd: 'strslice',
  Healthcheck: HEALTH, ArgsEscaped: 'bool', Image: 'string', Volumes: set('map[string]struct {}'), WorkingDir: 'string',
  Entrypoint: 'strslice', NetworkDisabled: 'bool', MacAddress: 'string', OnBuild: strs, Labels: strMap, StopSignal: 'string',
  StopTimeout: 'int', Shell: 'strslice',
};

const throttle: Spec = { list: { go: 'blkiodev.ThrottleDevice', struct: { Path: 'string', Rate: 'uint64' } } };

export const HOST_CONFIG_FIELDS: Record<string, Spec> = {
  Binds: strs, ContainerIDFile: 'string', LogConfig: { go: 'container.LogConfig', struct: { Type: 'string', Config: strMap } },
  NetworkMode: 'string', PortBindings: { go: 'nat.PortMap', map: { list: { go: 'nat.PortBinding', struct: { HostIp: 'string', HostPort: 'string' } }, go: '[]nat.PortBinding' } },
  RestartPolicy: { go: 'container.RestartPolicy', struct: { Name: 'string', MaximumRetryCount: 'int' } }, AutoRemove: 'bool',
  VolumeDriver: 'string', VolumesFrom: strs, ConsoleSize: { list: 'uint32', go: '[2]uint' }, Annotations: strMap,
  CapAdd: 'strslice', CapDrop: 'strslice', CgroupnsMode: 'string', Dns: strs, DnsOptions: strs, DnsSearch: strs, ExtraHosts: strs,
  GroupAdd: strs, IpcMode: 'string', Cgroup: 'string', Links: strs, OomScoreAdj: 'int', PidMode: 'string', Privileged: 'bool',
  PublishAllPorts: 'bool', ReadonlyRootfs: 'bool', SecurityOpt: strs, StorageOpt: strMap, Tmpfs: strMap, UTSMode: 'string',
  UsernsMode: 'string', ShmSize: 'int64', Sysctls: strMap, Runtime: 'string', Isolation: 'string',
  CpuShares: 'int64', Memory: 'int64', NanoCpus: 'int64', CgroupParent: 'string', BlkioWeight: 'uint16',
  BlkioWeightDevice: { list: { go: 'blkiodev.WeightDevice', struct: { Path: 'string', Weight: 'uint16' } } },
  BlkioDeviceReadBps: throttle, BlkioDeviceWriteBps: throttle, BlkioDeviceReadIOps: throttle, BlkioDeviceWriteIOps: throttle,
  CpuPeriod: 'int64', CpuQuota: 'int64', CpuRealtimePeriod: 'int64', CpuRealtimeRuntime: 'int64', CpusetCpus: 'string', CpusetMems: 'string',
  Devices: { list: { go: 'container.DeviceMapping', struct: { PathOnHost: 'string', PathInContainer: 'string', CgroupPermissions: 'string' } } },
  DeviceCgroupRules: strs,
  DeviceRequests: { list: { go: 'container.DeviceRequest', struct: { Driver: 'string', Count: 'int', DeviceIDs: strs, Capabilities: { list: strs, go: '[][]string' }, Options: strMap } } },
  KernelMemory: 'int64', KernelMemoryTCP: 'int64', MemoryReservation: 'int64', MemorySwap: 'int64', MemorySwappiness: 'int64',
  OomKillDisable: 'bool', PidsLimit: 'int64', Ulimits: { list: { go: 'units.Ulimit', struct: { Name: 'string', Hard: 'int64', Soft: 'int64' } } },
  CpuCount: 'int64', CpuPercent: 'int64', IOMaximumIOps: 'uint64', IOMaximumBandwidth: 'uint64',
  Mounts: { list: { go: 'mount.Mount', struct: {
    Type: 'string', Source: 'string', Target: 'string', ReadOnly: 'bool', Consistency: 'string',
    BindOptions: { go: 'mount.BindOptions', struct: { Propagation: 'string', NonRecursive: 'bool', CreateMountpoint: 'bool' } },
    VolumeOptions: { go: 'mount.VolumeOptions', struct: { NoCopy: 'bool', Labels: strMap, DriverConfig: { go: 'mount.Driver', struct: { Name: 'string', Options: strMap } } } },
    TmpfsOptions: { go: 'mount.TmpfsOptions', struct: { SizeBytes: 'int64', Mode: 'uint32' } },
  } } },
  MaskedPaths: strs, ReadonlyPaths: strs, Init: 'bool',
};

const ENDPOINT: Spec = { go: 'network.EndpointSettings', struct: {
  IPAMConfig: { go: 'network.EndpointIPAMConfig', struct: { IPv4Address: 'string', IPv6Address: 'string', LinkLocalIPs: strs } },
  Links: strs, Aliases: strs, NetworkID: 'string', EndpointID: 'string', Gateway: 'string', IPAddress: 'string', IPPrefixLen: 'int',
  IPv6Gateway: 'string', GlobalIPv6Address: 'string', GlobalIPv6PrefixLen: 'int', MacAddress: 'string', DriverOpts: strMap,
} };

const CREATE: Spec = { go: 'ContainerConfigWrapper', struct: {
  ...CONFIG_FIELDS,
  HostConfig: { go: 'container.HostConfig', struct: HOST_CONFIG_FIELDS },
  NetworkingConfig: { go: 'network.NetworkingConfig', struct: { EndpointsConfig: { map: ENDPOINT, go: 'map[string]*network.EndpointSettings' } } },
} };

const UPDATE: Spec = { go: 'container.UpdateConfig', struct: { ...HOST_CONFIG_FIELDS } };

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return `number ${v}`;
  if (typeof v === 'boolean') return 'bool';
  return typeof v; // string, object
}

function goName(s: Spec): string {
  if (typeof s === 'string') return s === 'strslice' ? 'strslice.StrSlice' : s;
  if ('list' in s) return s.go ?? `[]${goName(s.list)}`;
  return s.go;
}

const RANGES: Record<string, [number, number]> = {
  int: [-(2 ** 63), 2 ** 63], int64: [-(2 ** 63), 2 ** 63], uint16: [0, 65535], uint32: [0, 2 ** 32 - 1], uint64: [0, 2 ** 64],
};

/** A struct's field spec; own keys only, so `__proto__` or `constructor` in a body is an unknown field as in Go. */
function field(struct: Record<string, Spec>, k: string): Spec | undefined {
  return Object.prototype.hasOwnProperty.call(struct, k) ? struct[k] : undefined;
}

function check(v: unknown, s: Spec, struct: string, path: string[]): void {
  if (v === null || v === undefined) return;
  const fail = (): never => {
    throw new InvalidParameter(`json: cannot unmarshal ${jsonKind(v)} into Go struct field ${struct}.${path.join('.')} of type ${goName(s)}`);
  };
  if (s === 'strslice') {
    if (typeof v === 'string') return;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail();
    return;
  }
  if (typeof s === 'string') {
    if (s === 'string') { if (typeof v !== 'string') fail(); return; }
    if (s === 'bool') { if (typeof v !== 'boolean') fail(); return; }
    const [lo, hi] = RANGES[s];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail();
    return;
  }
  if ('list' in s) {
    if (!Array.isArray(v)) fail();
    (v as unknown[]).forEach((x) => check(x, s.list, struct, path));
    return;
  }
  if (typeof v !== 'object' || Array.isArray(v)) fail();
  if ('map' in s) {
    for (const x of Object.values(v as object)) check(x, s.map, struct, path);
    return;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const f = field(s.struct, k);
    if (f) check(x, f, struct, [...path, k]);
  }
}

/** Throws InvalidParameter (400) when a create body has a field of the wrong JSON type. */
export function checkCreateBody(body: unknown): void {
  for (const [k, x] of Object.entries(body as Record<string, unknown>)) {
    const f = field((CREATE as { struct: Record<string, Spec> }).struct, k);
    if (f) check(x, f, 'ContainerConfigWrapper', [k]);
  }
}

/** The same for POST /containers/{id}/update. */
export function checkUpdateBody(body: unknown): void {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  for (const [k, x] of Object.entries(body as Record<string, unknown>)) {
    const f = field((UPDATE as { struct: Record<string, Spec> }).struct, k);
    if (f) check(x, f, 'UpdateConfig', [k]);
  }
}
