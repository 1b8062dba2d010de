// Services and tasks as the Engine API shows them (v1.43 Service, Task), and
// the checks and defaults a ServiceSpec gets when it is created or updated
// (moby's convert + swarmkit's controlapi validation, with their texts).
import type { Json, ServiceRecord, TaskRecord } from './objects';
import type { Versioned } from './types';
import { SwarmError } from './errors';
import { placementError } from './constraint';
import { hideIngress } from './network/overlay';
import { goJsonTime } from '../util/go-json-time';

const SECOND = 1_000_000_000;

/** Docker 20.10's UpdateConfig/RollbackConfig when the client sends none (swarmkit's api/defaults). */
export function defaultUpdateConfig(): Json {
  return { Parallelism: 1, FailureAction: 'pause', Monitor: 5 * SECOND, MaxFailureRatio: 0, Order: 'stop-first' };
}

export function defaultRestartPolicy(): Json {
  return { Condition: 'any', Delay: 5 * SECOND, MaxAttempts: 0 };
}

const invalid = (desc: string) => new SwarmError(400, `rpc error: code = InvalidArgument desc = ${desc}`);

const DNS_NAME = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
const IMAGE_REF = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

const obj = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * A ServiceSpec from a client, checked as dockerd checks it and with
 * Docker's defaults filled in (Mode replicated 1, Update/RollbackConfig,
 * RestartPolicy, EndpointSpec vip). `name` gives an empty Name a random one.
 */
export function prepareServiceSpec(given: Json | undefined, randomName: () => string): Json {
  if (!given) throw invalid('spec must not be empty');
  const spec: Json = structuredClone(given);
  if (!spec.Name) spec.Name = randomName();
  const name = String(spec.Name);
  if (!DNS_NAME.test(name)) throw invalid('name must be valid as a DNS name component');
  if (name.length > 63) throw invalid('name must be 63 characters or fewer');
  if (!obj(spec.Labels)) spec.Labels = {};

  const mode = obj(spec.Mode) ?? {};
  if (mode.Global && mode.Replicated) throw new SwarmError(400, 'cannot specify both replicated mode and global mode');
  if (mode.ReplicatedJob || mode.GlobalJob) throw new SwarmError(501, 'job modes (replicated-job, global-job) are not supported by berthd');
  if (mode.Global) spec.Mode = { Global: {} };
  else {
    const r = obj(mode.Replicated);
    const replicas = r && r.Replicas !== undefined && r.Replicas !== null ? Number(r.Replicas) : 1;
    if (!Number.isInteger(replicas) || replicas < 0) throw invalid(`invalid replica count ${String(r?.Replicas)}`);
    spec.Mode = { Replicated: { Replicas: replicas } };
  }

  const tt = obj(spec.TaskTemplate);
  const cs = obj(tt?.ContainerSpec);
  if (!tt || (!cs && !tt.PluginSpec && !tt.NetworkAttachmentSpec)) throw invalid('TaskSpec: missing runtime');
  if (!cs) throw new SwarmError(501, 'only container tasks (ContainerSpec) are supported by berthd');
  const image = typeof cs.Image === 'string' ? cs.Image : '';
  if (!image) throw invalid('ContainerSpec: image reference must be provided');
  if (!IMAGE_REF.test(image)) throw invalid(`ContainerSpec: "${image}" is not a valid repository/tag`);

  const rp = obj(tt.RestartPolicy);
  const restart: Json = { ...defaultRestartPolicy(), ...(rp ?? {}) };
  if (!['none', 'on-failure', 'any'].includes(String(restart.Condition))) throw new SwarmError(400, `invalid RestartCondition: "${String(restart.Condition)}"`);
  if (num(restart.Delay) < 0) throw invalid('TaskSpec: restart-delay cannot be negative');
  if (num(restart.Window) < 0) throw invalid('TaskSpec: restart-window cannot be negative');
  tt.RestartPolicy = restart;
  const res = obj(tt.Resources);
  for (const part of ['Limits', 'Reservations']) {
    const r = obj(res?.[part]);
    if (r && (num(r.NanoCPUs) < 0 || num(r.MemoryBytes) < 0)) throw invalid(`TaskSpec: ${part === 'Limits' ? 'limit' : 'reservation'} values cannot be negative`);
  }
  if (!Number.isInteger(num(tt.ForceUpdate))) throw invalid('TaskSpec: ForceUpdate must be an integer');
  const badPlacement = placementError(tt.Placement);
  if (badPlacement) throw invalid(badPlacement);

  for (const [key, word] of [['UpdateConfig', 'update'], ['RollbackConfig', 'rollback']] as const) {
    const u: Json = { ...defaultUpdateConfig(), ...(obj(spec[key]) ?? {}) };
    if (num(u.Delay) < 0) throw invalid(`TaskSpec: ${word}-delay cannot be negative`);
    if (num(u.Monitor) < 0) throw invalid(`TaskSpec: ${word}-monitor cannot be negative`);
    const ratio = num(u.MaxFailureRatio);
    if (ratio < 0 || ratio > 1) throw invalid(`TaskSpec: ${word}-maxfailureratio cannot be less than 0 or bigger than 1`);
    if (!['pause', 'continue', 'rollback'].includes(String(u.FailureAction))) throw new SwarmError(400, `invalid FailureAction: "${String(u.FailureAction)}"`);
    if (key === 'RollbackConfig' && u.FailureAction === 'rollback') throw new SwarmError(400, 'invalid FailureAction: "rollback" for a rollback');
    if (!['stop-first', 'start-first'].includes(String(u.Order))) throw new SwarmError(400, `invalid Order: "${String(u.Order)}"`);
    spec[key] = u;
  }

  const ep: Json = { Mode: 'vip', ...(obj(spec.EndpointSpec) ?? {}) };
  if (!['vip', 'dnsrr'].includes(String(ep.Mode))) throw new SwarmError(400, `invalid ResolutionMode: "${String(ep.Mode)}"`);
  const ports = Array.isArray(ep.Ports) ? (ep.Ports as Json[]) : [];
  const seen = new Set<string>();
  for (const p of ports) {
    const published = num(p.PublishedPort);
    const pmode = String(p.PublishMode || 'ingress');
    if (ep.Mode === 'dnsrr' && pmode === 'ingress' && published) throw invalid("EndpointSpec: port published with ingress mode can't be used with dnsrr mode");
    const key = `${published}/${String(p.Protocol || 'tcp')}/${pmode}`;
    if (published && seen.has(key)) throw invalid('EndpointSpec: duplicate published ports provided');
    seen.add(key);
  }
  spec.EndpointSpec = ep;
  return spec;
}

/** A ServiceSpec with swarmkit's defaults for fields a client left out (inspect's insertDefaults). */
function withDefaults(spec: Json): Json {
  const s: Json = structuredClone(spec);
  const tt: Json = { ...(obj(s.TaskTemplate) ?? {}) };
  const cs: Json = { ...(obj(tt.ContainerSpec) ?? {}) };
  if (cs.StopGracePeriod === undefined) cs.StopGracePeriod = 10 * SECOND;
  if (cs.DNSConfig === undefined) cs.DNSConfig = {};
  tt.ContainerSpec = cs;
  const res: Json = { ...(obj(tt.Resources) ?? {}) };
  if (!res.Limits) res.Limits = {};
  if (!res.Reservations) res.Reservations = {};
  tt.Resources = res;
  tt.RestartPolicy = { ...defaultRestartPolicy(), ...(obj(tt.RestartPolicy) ?? {}) };
  if (!tt.Placement) tt.Placement = {};
  s.TaskTemplate = tt;
  s.UpdateConfig = { ...defaultUpdateConfig(), ...(obj(s.UpdateConfig) ?? {}) };
  s.RollbackConfig = { ...defaultUpdateConfig(), ...(obj(s.RollbackConfig) ?? {}) };
  return s;
}

export interface ServiceStatus { RunningTasks: number; DesiredTasks: number; CompletedTasks: number }

/** A ServiceSpec without the routing mesh's ingress attachment (Docker keeps it out of the spec). */
function shown(spec: Json): Json {
  const tt = obj(spec.TaskTemplate);
  return tt ? { ...spec, TaskTemplate: hideIngress(tt) } : spec;
}

export function serviceJson(v: Versioned<ServiceRecord>, opts: { insertDefaults?: boolean; status?: ServiceStatus } = {}): Json {
  const s = v.value;
  const out: Json = {
    ID: s.id,
    Version: { Index: v.index },
    CreatedAt: goJsonTime(s.createdAt),
    UpdatedAt: goJsonTime(s.updatedAt),
    Spec: shown(opts.insertDefaults ? withDefaults(s.spec) : s.spec),
  };
  if (s.previousSpec) out.PreviousSpec = shown(opts.insertDefaults ? withDefaults(s.previousSpec) : s.previousSpec);
  out.Endpoint = s.endpoint ?? { Spec: {} };
  if (s.updateStatus) out.UpdateStatus = { ...s.updateStatus, StartedAt: goJsonTime(s.updateStatus.StartedAt), CompletedAt: goJsonTime(s.updateStatus.CompletedAt) };
  if (opts.status) out.ServiceStatus = opts.status;
  return out;
}

export function taskJson(v: Versioned<TaskRecord>): Json {
  const t = v.value;
  const status: Json = { Timestamp: goJsonTime(t.status.Timestamp), State: t.status.State, Message: t.status.Message };
  if (t.status.Err) status.Err = t.status.Err;
  if (t.status.ContainerStatus) status.ContainerStatus = t.status.ContainerStatus;
  status.PortStatus = t.status.PortStatus ?? {};
  const out: Json = {
    ID: t.id,
    Version: { Index: v.index },
    CreatedAt: goJsonTime(t.createdAt),
    UpdatedAt: goJsonTime(t.updatedAt),
    Labels: t.labels ?? {},
    Spec: hideIngress(t.spec),
    ServiceID: t.serviceId,
  };
  if (t.slot) out.Slot = t.slot;
  if (t.nodeId) out.NodeID = t.nodeId;
  out.Status = status;
  out.DesiredState = t.desiredState;
  if (t.networks?.length) out.NetworksAttachments = t.networks;
  return out;
}

export function serviceName(s: ServiceRecord): string {
  return String(s.spec.Name ?? '');
}

export function isGlobal(spec: Json): boolean {
  return !!obj(spec.Mode)?.Global;
}

export function replicasOf(spec: Json): number {
  return num(obj(obj(spec.Mode)?.Replicated)?.Replicas);
}
