// What the container service keeps about each container, and the seam other
// services (network, volumes) plug into. Config/HostConfig keep Docker's wire
// field names so inspect round-trips what the client sent.
import type { OciSpec } from '../host/runtime/spec-types';

/** Docker's container Config (the `Config` of create and inspect). */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object> | null;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[] | null;
  Cmd: string[] | null;
  Healthcheck?: unknown;
  ArgsEscaped?: boolean;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  NetworkDisabled?: boolean;
  MacAddress?: string;
  OnBuild: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[];
  [k: string]: unknown;
}

export interface Ulimit { Name: string; Soft: number; Hard: number }

export interface RestartPolicy { Name: string; MaximumRetryCount: number }

/** Docker's HostConfig; unknown fields are kept as sent. */
export interface HostConfig {
  Binds: string[] | null;
  ContainerIDFile: string;
  LogConfig: { Type: string; Config: Record<string, string> };
  NetworkMode: string;
  PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> | null;
  RestartPolicy: RestartPolicy;
  AutoRemove: boolean;
  VolumeDriver: string;
  VolumesFrom: string[] | null;
  Mounts?: unknown[];
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  CgroupnsMode: string;
  Dns: string[];
  DnsOptions: string[];
  DnsSearch: string[];
  ExtraHosts: string[] | null;
  GroupAdd: string[] | null;
  IpcMode: string;
  Cgroup: string;
  Links: string[] | null;
  OomScoreAdj: number;
  PidMode: string;
  Privileged: boolean;
  PublishAllPorts: boolean;
  ReadonlyRootfs: boolean;
  SecurityOpt: string[] | null;
  StorageOpt?: Record<string, string> | null;
  Tmpfs?: Record<string, string> | null;
  UTSMode: string;
  UsernsMode: string;
  ShmSize: number;
  Sysctls?: Record<string, string> | null;
  Runtime: string;
  Isolation: string;
  CpuShares: number;
  Memory: number;
  NanoCpus: number;
  CgroupParent: string;
  BlkioWeight: number;
  CpuPeriod: number;
  CpuQuota: number;
  CpuRealtimePeriod: number;
  CpuRealtimeRuntime: number;
  CpusetCpus: string;
  CpusetMems: string;
  Devices: unknown[] | null;
  DeviceCgroupRules?: string[] | null;
  MemoryReservation: number;
  MemorySwap: number;
  MemorySwappiness: number | null;
  OomKillDisable: boolean | null;
  PidsLimit: number | null;
  Ulimits: Ulimit[] | null;
  Init?: boolean | null;
  MaskedPaths?: string[] | null;
  ReadonlyPaths?: string[] | null;
  [k: string]: unknown;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** Docker's State object, kept in its wire shape. */
export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  OOMKilled: boolean;
}

/** A mount as inspect shows it (set by the volume owner's hook). */
export interface MountPoint {
  Type: string;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface ContainerRecord {
  id: string;
  /** Without the leading slash. */
  name: string;
  created: string;
  /** Image id (sha256:...). */
  imageId: string;
  path: string;
  args: string[];
  config: ContainerConfig;
  hostConfig: HostConfig;
  /** As sent at create (EndpointsConfig ...), for the network owner. */
  networkingConfig: { EndpointsConfig?: Record<string, any> } | null;
  state: ContainerState;
  restartCount: number;
  /** conmon's k8s-file log. */
  logPath: string;
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
  /** Inspect's NetworkSettings; the network hooks fill it. */
  networkSettings: Record<string, any>;
  /** Inspect's Mounts; the volume hooks fill it. */
  mounts: MountPoint[];
  /** The image's runtime config at create (Volumes for the volume hook). */
  imageConfig?: Record<string, any>;
  /** Set while a conmon is watching the container. */
  conmonPid?: number;
  /** Extra state a hook wants kept with the record (e.g. allocated addresses). */
  extra: Record<string, unknown>;
}

/**
 * Seam for the network and volume services. Hooks run in the order added.
 * A throwing onCreate/beforeStart fails the create/start and nothing is left.
 */
export interface ContainerHook {
  /** Validate/prepare at create (may throw → create fails, nothing left behind). */
  onCreate?(c: ContainerRecord): Promise<void>;
  /** Start-time work that needs neither rootfs nor spec; runs while the rootfs is mounted (afterStop undoes it). */
  prepare?(c: ContainerRecord): Promise<void>;
  /** May add mounts, set the netns path, add hosts entries. */
  beforeStart?(c: ContainerRecord, spec: OciSpec, bundle: { dir: string; rootfs: string }): Promise<void>;
  /** After the runtime created the container, before its process runs (work begun in beforeStart may finish here). */
  beforeRun?(c: ContainerRecord): Promise<void>;
  /** Release addresses, veths, ... */
  afterStop?(c: ContainerRecord): Promise<void>;
  onRemove?(c: ContainerRecord, opts: { removeVolumes: boolean }): Promise<void>;
  /**
   * At daemon start, a container found still running (live restore): its
   * init's pid and the start time the runtime recorded for it (the pid is
   * trusted only while that process has that start time).
   */
  afterRestore?(c: ContainerRecord, init: { pid: number; start?: number }): Promise<void>;
  /**
   * This hook's afterStop of an --rm container and its onRemove may run after
   * the container is reported removed (in the background; redone from the
   * trash at start-up after a crash). Its onRemove must then also do afterStop's
   * work, and anything that needs what it releases must wait for it.
   */
  deferRemove?: boolean;
}
