// The normalised Compose model (what `config` prints and the engine side
// reads): every list-or-mapping key in one canonical form, paths absolute,
// ports and volumes in their long syntax.
export interface PortConfig {
  name?: string;
  mode: string;
  host_ip?: string;
  target: number;
  published?: string;
  protocol: string;
  app_protocol?: string;
}

export interface VolumeMount {
  type: 'volume' | 'bind' | 'tmpfs' | 'npipe' | 'cluster' | 'image';
  source?: string;
  target: string;
  read_only?: boolean;
  consistency?: string;
  bind?: { propagation?: string; create_host_path?: boolean; selinux?: string };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: number | string; mode?: number };
}

export interface DependsOn {
  condition: 'service_started' | 'service_healthy' | 'service_completed_successfully';
  required: boolean;
  restart?: boolean;
}

export interface ServiceNetwork {
  aliases?: string[];
  ipv4_address?: string;
  ipv6_address?: string;
  priority?: number;
}

export interface BuildConfig {
  context: string;
  dockerfile?: string;
  dockerfile_inline?: string;
  args?: Record<string, string | null>;
  target?: string;
  labels?: Record<string, string>;
  cache_from?: string[];
  network?: string;
  extra_hosts?: string[];
  shm_size?: number | string;
  no_cache?: boolean;
  pull?: boolean;
}

export interface Healthcheck {
  test?: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  start_interval?: string;
  disable?: boolean;
}

/** A service after normalisation; keys not listed pass through as written. */
export interface ServiceConfig {
  [key: string]: any;
  name: string;
  image?: string;
  build?: BuildConfig;
  command?: string[] | null;
  entrypoint?: string[] | null;
  environment?: Record<string, string | null>;
  env_file?: Array<{ path: string; required: boolean }>;
  labels?: Record<string, string>;
  ports?: PortConfig[];
  expose?: string[];
  volumes?: VolumeMount[];
  depends_on?: Record<string, DependsOn>;
  networks?: Record<string, ServiceNetwork | null>;
  network_mode?: string;
  healthcheck?: Healthcheck;
  profiles?: string[];
  scale?: number;
  deploy?: { replicas?: number; resources?: { limits?: Record<string, any>; reservations?: Record<string, any> }; restart_policy?: Record<string, any>; [k: string]: any };
}

export interface NetworkConfig {
  [key: string]: any;
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  ipam?: { driver?: string; config?: Array<Record<string, any>>; options?: Record<string, string> };
  internal?: boolean;
  attachable?: boolean;
  enable_ipv6?: boolean;
  external?: boolean;
  labels?: Record<string, string>;
}

export interface VolumeConfig {
  [key: string]: any;
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  external?: boolean;
  labels?: Record<string, string>;
}

export interface FileObjectConfig {
  name: string;
  file?: string;
  environment?: string;
  content?: string;
  external?: boolean;
}

export interface Project {
  name: string;
  workingDir: string;
  configFiles: string[];
  envFiles: string[];
  /** The variables interpolation saw (OS environment over .env). */
  environment: Record<string, string>;
  services: Record<string, ServiceConfig>;
  /** Services left out by profiles (kept for `config --profiles` and errors). */
  disabled: Record<string, ServiceConfig>;
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  secrets: Record<string, FileObjectConfig>;
  configs: Record<string, FileObjectConfig>;
  /** Top-level x- keys. */
  extensions: Record<string, unknown>;
  warnings: string[];
}
