// The swarm's service-side objects (swarm parts 2 and 3) as etcd holds them under
// /berth/swarm/objects/<kind>/<id>. Specs are Docker's JSON as the API gave
// them (defaults filled in by whoever creates the record); Docker's response
// shapes are made from these records in views, never stored.

/** swarmkit's task states, in their order: a task only moves forward. */
export const TASK_STATES = [
  'new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running',
  'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned',
] as const;
export type TaskState = typeof TASK_STATES[number];

/** a < b in swarmkit's order (used to refuse a report that moves a task backwards). */
export function stateBefore(a: TaskState, b: TaskState): boolean {
  return TASK_STATES.indexOf(a) < TASK_STATES.indexOf(b);
}

/** The states after which a task's container no longer runs. */
export function isTerminal(s: TaskState): boolean {
  return TASK_STATES.indexOf(s) > TASK_STATES.indexOf('running');
}

export type Json = Record<string, unknown>;

export interface UpdateStatus {
  State: 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';
  StartedAt?: string;
  CompletedAt?: string;
  Message?: string;
}

export interface ServiceRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  /** Docker's ServiceSpec (Name, Labels, TaskTemplate, Mode, UpdateConfig, RollbackConfig, EndpointSpec). */
  spec: Json;
  previousSpec?: Json;
  /** Docker's Endpoint (Spec, Ports, VirtualIPs), kept by the allocator (swarm part 3). */
  endpoint?: Json;
  updateStatus?: UpdateStatus;
}

export interface TaskStatus {
  Timestamp: string;
  State: TaskState;
  Message: string;
  Err?: string;
  ContainerStatus?: { ContainerID?: string; PID?: number; ExitCode?: number };
  PortStatus?: Json;
}

export interface TaskRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  serviceId: string;
  /** Replicated services: the slot (1..N); global services: 0 (the node is the slot). */
  slot: number;
  /** '' until the scheduler assigns it (global tasks are created with their node). */
  nodeId: string;
  /** The service's TaskTemplate when the task was made (the updater compares it with the service's). */
  spec: Json;
  /** The service record's Version.Index when the task was made. */
  serviceIndex: number;
  desiredState: TaskState;
  status: TaskStatus;
  /** Docker's NetworksAttachments (swarm part 3). */
  networks?: Json[];
  /** Generic resources and the like the scheduler assigned (reserved for later). */
  assigned?: Json;
  /**
   * A restart's replacement waits for the restart policy's delay: the
   * orchestrator creates it with desiredState 'ready' and this time, and
   * only schedules it (desiredState 'running') once the time has passed.
   */
  notBefore?: string;
  /** Labels of the task (Docker's Task.Labels; the service's ContainerSpec labels stay in spec). */
  labels?: Record<string, string>;
  /** The service's `mode=host` published ports when the task was made (its node publishes them as `docker run -p`). */
  hostPorts?: Json[];
}

/** A service Endpoint's `mode=host` ports (the tasks carry them to their nodes). */
export function hostPortsOf(endpoint: Json | undefined): Json[] | undefined {
  const ports = ((endpoint?.Ports ?? []) as Json[]).filter((p) => p.PublishMode === 'host' && Number(p.TargetPort) > 0);
  return ports.length ? ports : undefined;
}

/** Docker's task name: <service>.<slot> (replicated) or <service>.<node id> (global), then .<task id> for containers. */
export function taskName(serviceName: string, t: Pick<TaskRecord, 'slot' | 'nodeId'>): string {
  return `${serviceName}.${t.slot > 0 ? t.slot : t.nodeId}`;
}

export interface SecretRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  /** Docker's SecretSpec; spec.Data (base64) is stored and never returned by the API. */
  spec: Json;
}

export interface ConfigRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  /** Docker's ConfigSpec; spec.Data (base64) is returned by the API. */
  spec: Json;
}

/** A swarm-scoped network (overlay; swarm part 3): its spec, subnet and VXLAN id, allocated cluster-wide. */
export interface NetworkRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  /** Docker's NetworkCreate body (Name, Driver, Attachable, Internal, IPAM, Options, Labels). */
  spec: Json;
  /** Allocated IPAM config (Subnet, Gateway) and the VXLAN network identifier. */
  ipam: Array<{ Subnet: string; Gateway: string }>;
  vni: number;
}

export interface ObjectKinds {
  services: ServiceRecord;
  tasks: TaskRecord;
  secrets: SecretRecord;
  configs: ConfigRecord;
  networks: NetworkRecord;
}
export type Kind = keyof ObjectKinds;
