// Image records as the image service keeps and returns them. The config is
// Docker's image config JSON (the OCI image config plus Docker's extra
// fields); its sha256 is the image id.

/** The runtime part of an image config (OCI calls it ImageConfig). */
export interface ImageConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number } | null;
  ArgsEscaped?: boolean;
  Image?: string;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  NetworkDisabled?: boolean;
  OnBuild?: string[] | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[] | null;
  [k: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The whole image config JSON (what `sha256:<id>` hashes). */
export interface ImageConfigJSON {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  comment?: string;
  container?: string;
  container_config?: ImageConfig;
  docker_version?: string;
  config?: ImageConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
  [k: string]: unknown;
}

export interface ImageRecord {
  /** `sha256:<hex>` of the config bytes. */
  id: string;
  config: ImageConfigJSON;
  /** Full normalized refs (`docker.io/library/busybox:latest`). */
  repoTags: string[];
  /** Full normalized canonical refs (`docker.io/library/busybox@sha256:...`). */
  repoDigests: string[];
  /** Parent image id (builder intermediates, commit), or ''. */
  parent: string;
  /** Total uncompressed size of all layers, bytes. */
  size: number;
  /** ISO time the image was created (config.created, else when recorded). */
  created: string;
  /** ISO time the image was last tagged, or ''. */
  lastTagTime: string;
}
