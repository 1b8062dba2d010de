// The swarm's records: what etcd holds (cluster, nodes) and what each node
// keeps locally (state.json). Docker's JSON shapes are made in views.ts.
import type { KeyPair } from '../host/x509';

export type Role = 'manager' | 'worker';
export type Availability = 'active' | 'pause' | 'drain';

export interface ClusterRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  /** Docker's swarm Spec, as given (defaults filled in). */
  spec: Record<string, unknown>;
  rootCA: KeyPair;
  /** A second CA only managers see: etcd peers and clients, so a worker's node certificate opens no etcd port. */
  etcdCA: KeyPair;
  tokens: { worker: string; manager: string };
  defaultAddrPool: string[];
  subnetSize: number;
  dataPathPort: number;
}

export interface NodeRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  spec: { Name?: string; Labels: Record<string, string>; Role: Role; Availability: Availability };
  hostname: string;
  engineVersion: string;
  /** The advertise address (IP) and control port. */
  addr: string;
  port: number;
  /** The etcd peer URL of a manager (its member is found by it). */
  peerUrl?: string;
  platform: { Architecture: string; OS: string };
  resources: { NanoCPUs: number; MemoryBytes: number };
}

/** What a joining node tells about itself (its join request, and a worker's heartbeats until one is answered). */
export interface NodeDescription {
  hostname: string;
  engineVersion: string;
  addr: string;
  port: number;
  availability?: string;
  platform: { Architecture: string; OS: string };
  resources: { NanoCPUs: number; MemoryBytes: number };
}

/** A record with its etcd revision (Version.Index). */
export interface Versioned<T> { value: T; index: number }

/** What a node keeps in <data-root>/swarm/state.json. */
export interface LocalState {
  nodeId: string;
  clusterId: string;
  role: Role;
  /** host:port the control server listens on. */
  listenAddr: string;
  advertiseAddr: string;
  port: number;
  /** addr:port of the managers this node knows (workers heartbeat to them). */
  managers: Array<{ NodeID: string; Addr: string }>;
  /** Only used to start a member whose data dir is still empty. */
  etcdInitialCluster?: string;
  etcdInitialState?: 'new' | 'existing';
  /**
   * A worker's description, sent with its heartbeats until one is answered:
   * the manager writes the record after answering the join, and the first
   * heartbeat makes it when that write did not land (store.putLateNode).
   */
  joinDesc?: NodeDescription;
}
