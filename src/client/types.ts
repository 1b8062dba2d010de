// The Engine API shapes the client and CLI read (v1.43). Only the fields we
// use are typed; everything else passes through untouched.

export type Filters = Record<string, string[]>;
export type Labels = Record<string, string>;

export interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: Port[];
  SizeRw?: number;
  SizeRootFs?: number;
  Labels: Labels | null;
  State: string;
  Status: string;
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: { Networks?: Record<string, unknown> };
  Mounts?: Array<{ Name?: string; Source?: string; Destination?: string; Type?: string }>;
}

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Labels | null;
  Containers: number;
}

export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export interface ContainerCreateBody {
  [k: string]: unknown;
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object>;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  Image?: string;
  Labels?: Labels;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  StopSignal?: string;
  StopTimeout?: number;
  HostConfig?: Record<string, unknown>;
  NetworkingConfig?: { EndpointsConfig?: Record<string, unknown> };
}

export interface CreateResponse {
  Id: string;
  Warnings: string[] | null;
}

export interface WaitResponse {
  StatusCode: number;
  Error?: { Message?: string } | null;
}

export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Labels };
  scope?: string;
  time: number;
  /** Digits as a string when it is beyond 2^53 (it always is, for real clocks). */
  timeNano: number | string;
  status?: string;
  id?: string;
  from?: string;
}

/** One line of JSON progress (pull, push, load, import, build). */
export interface ProgressMessage {
  id?: string;
  status?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: unknown;
}

export interface PruneReport {
  ContainersDeleted?: string[] | null;
  ImagesDeleted?: Array<{ Untagged?: string; Deleted?: string }> | null;
  VolumesDeleted?: string[] | null;
  NetworksDeleted?: string[] | null;
  SpaceReclaimed?: number;
}

export interface FilesystemChange {
  Path: string;
  Kind: number;
}
