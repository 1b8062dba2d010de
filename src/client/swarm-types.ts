// Engine API v1.43 swarm objects, as far as the CLI reads them.

export interface SwarmVersion {
  Index: number;
}

export interface SwarmSpec {
  Name?: string;
  Labels?: Record<string, string> | null;
  Orchestration?: { TaskHistoryRetentionLimit?: number } | null;
  Raft?: { SnapshotInterval?: number; KeepOldSnapshots?: number; LogEntriesForSlowFollowers?: number; ElectionTick?: number; HeartbeatTick?: number };
  Dispatcher?: { HeartbeatPeriod?: number } | null;
  CAConfig?: { NodeCertExpiry?: number; ExternalCAs?: ExternalCA[] | null; SigningCACert?: string; SigningCAKey?: string; ForceRotate?: number } | null;
  EncryptionConfig?: { AutoLockManagers?: boolean };
  TaskDefaults?: Record<string, unknown>;
}

export interface ExternalCA {
  Protocol: string;
  URL: string;
  Options?: Record<string, string>;
  CACert?: string;
}

export interface TLSInfo {
  TrustRoot?: string;
  CertIssuerSubject?: string;
  CertIssuerPublicKey?: string;
}

export interface Swarm {
  ID: string;
  Version: SwarmVersion;
  CreatedAt: string;
  UpdatedAt: string;
  Spec: SwarmSpec;
  TLSInfo?: TLSInfo;
  RootRotationInProgress?: boolean;
  JoinTokens: { Worker: string; Manager: string };
}

export interface SwarmInitRequest {
  ListenAddr: string;
  AdvertiseAddr: string;
  DataPathAddr: string;
  DataPathPort: number;
  DefaultAddrPool: string[] | null;
  ForceNewCluster: boolean;
  Spec: SwarmSpec;
  AutoLockManagers: boolean;
  Availability: string;
  SubnetSize: number;
}

export interface SwarmJoinRequest {
  ListenAddr: string;
  AdvertiseAddr: string;
  DataPathAddr: string;
  RemoteAddrs: string[];
  JoinToken: string;
  Availability: string;
}

export interface NodeSpec {
  Name?: string;
  Labels?: Record<string, string> | null;
  Role?: string;
  Availability?: string;
}

export interface SwarmNode {
  ID: string;
  Version: SwarmVersion;
  CreatedAt: string;
  UpdatedAt: string;
  Spec: NodeSpec;
  Description?: {
    Hostname?: string;
    Platform?: { Architecture?: string; OS?: string };
    Resources?: { NanoCPUs?: number; MemoryBytes?: number };
    Engine?: { EngineVersion?: string; Labels?: Record<string, string> | null; Plugins?: Array<{ Type: string; Name: string }> | null };
    TLSInfo?: TLSInfo;
  };
  Status: { State: string; Message?: string; Addr?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string; Addr?: string } | null;
}

export interface SwarmTask {
  ID: string;
  Version?: SwarmVersion;
  CreatedAt?: string;
  Name?: string;
  ServiceID?: string;
  NodeID?: string;
  Slot?: number;
  Spec?: { ContainerSpec?: { Image?: string; TTY?: boolean } };
  DesiredState?: string;
  Status?: {
    Timestamp?: string;
    State?: string;
    Err?: string;
    PortStatus?: { Ports?: Array<{ Protocol?: string; TargetPort?: number; PublishedPort?: number }> | null };
  };
}

/** A secret or a config (Spec.Data only on configs). */
export interface SwarmFile {
  ID: string;
  Version: SwarmVersion;
  CreatedAt: string;
  UpdatedAt: string;
  Spec: { Name: string; Labels?: Record<string, string> | null; Data?: string; Driver?: { Name?: string } | null; Templating?: { Name?: string } | null };
}

/** A service as /services answers (the spec kept loose: the CLI edits it as JSON). */
export interface SwarmService {
  ID: string;
  Version: SwarmVersion;
  CreatedAt: string;
  UpdatedAt: string;
  Spec: Record<string, unknown> & { Name: string };
  PreviousSpec?: Record<string, unknown>;
  Endpoint?: { Ports?: Array<{ Protocol?: string; TargetPort?: number; PublishedPort?: number; PublishMode?: string }> | null };
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number; CompletedTasks?: number };
  UpdateStatus?: { State?: string; Message?: string };
}
