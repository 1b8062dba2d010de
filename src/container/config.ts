// A container's configuration: HostConfig defaults (Docker's and the
// daemon's), the image config merged into a create request's Config, and
// one validator for create and update, as moby's
// verifyContainerSettings(hostConfig, update) — resource limits
// (limits.ts), the restart policy, and at create the rest of Config and
// HostConfig (validate.ts). Pure: no daemon, no container records. The
// wire-level JSON type checks (wire-types.ts) come before all of this.
import { InvalidParameter } from '../util/errors';
import { effectiveCaps, memorySwapLimit } from '../host/runtime/spec';
import type { ImageConfig, ImageRecord } from '../image/types';
import { checkResources } from './limits';
import { mergeLogConfig } from './logs-driver';
import { parseSignal } from './signals';
import { validateExposedPorts, validateHealthcheck, validateHostConfig } from './validate';
import type { ContainerConfig, HostConfig, RestartPolicy } from './types';

/** The daemon's settings a container config depends on (plain values, not the daemon's config). */
export interface DaemonDefaults {
  /** --default-runtime */
  defaultRuntime?: string;
  /** --log-driver and --log-opt */
  logDriver?: string;
  logOpts?: Record<string, string>;
  /** OCI runtimes by name (--add-runtime). */
  runtimes?: Record<string, string>;
}

export const RESTART_POLICIES = ['', 'no', 'always', 'unless-stopped', 'on-failure'];

/** Docker's HostConfig when the request leaves a field out (what inspect shows). */
export const HOST_DEFAULTS: HostConfig = {
  Binds: null, ContainerIDFile: '', LogConfig: { Type: '', Config: {} }, NetworkMode: 'default', PortBindings: {},
  RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, AutoRemove: false, VolumeDriver: '', VolumesFrom: null,
  CapAdd: null, CapDrop: null, CgroupnsMode: 'host', Dns: [], DnsOptions: [], DnsSearch: [], ExtraHosts: null,
  GroupAdd: null, IpcMode: 'private', Cgroup: '', Links: null, OomScoreAdj: 0, PidMode: '', Privileged: false,
  PublishAllPorts: false, ReadonlyRootfs: false, SecurityOpt: null, UTSMode: '', UsernsMode: '', ShmSize: 67108864,
  Runtime: 'runc', Isolation: '', CpuShares: 0, Memory: 0, NanoCpus: 0, CgroupParent: '', BlkioWeight: 0,
  CpuPeriod: 0, CpuQuota: 0, CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0, CpusetCpus: '', CpusetMems: '',
  Devices: [], MemoryReservation: 0, MemorySwap: 0, MemorySwappiness: null, OomKillDisable: null, PidsLimit: null,
  Ulimits: null, MaskedPaths: null, ReadonlyPaths: null,
};

/** The HostConfig a create request asked for, with Docker's and the daemon's defaults filled in (log options checked). */
export function withHostDefaults(h: Record<string, unknown>, daemon: DaemonDefaults): HostConfig {
  const out: HostConfig = { ...HOST_DEFAULTS, ...(h as Partial<HostConfig>) } as HostConfig;
  for (const [k, v] of Object.entries(HOST_DEFAULTS)) if ((out as any)[k] == null && v != null) (out as any)[k] = v;
  if (!out.NetworkMode) out.NetworkMode = 'default';
  if (!out.RestartPolicy || typeof out.RestartPolicy !== 'object') out.RestartPolicy = { Name: 'no', MaximumRetryCount: 0 };
  if (!out.RestartPolicy.Name) out.RestartPolicy = { ...out.RestartPolicy, Name: 'no' };
  if (!out.LogConfig || typeof out.LogConfig !== 'object') out.LogConfig = { Type: '', Config: {} };
  if (!out.LogConfig.Config) out.LogConfig = { ...out.LogConfig, Config: {} };
  if (!out.ShmSize) out.ShmSize = 67108864;
  if (!h.Runtime) out.Runtime = daemon.defaultRuntime || 'runc';
  out.LogConfig = mergeLogConfig(out.LogConfig, { Type: daemon.logDriver || 'json-file', Config: daemon.logOpts ?? {} });
  return out;
}

/** Docker's merge of the image config into the create request's Config. */
export function mergeImageConfig(body: any, img: ImageRecord): ContainerConfig {
  const ic: ImageConfig = img.config.config ?? {};
  const env = new Map<string, string>();
  const order: string[] = [];
  const put = (e: string) => {
    const k = e.split('=')[0];
    if (!env.has(k)) order.push(k);
    env.set(k, e);
  };
  for (const e of ic.Env ?? []) put(e);
  for (const e of body.Env ?? []) put(String(e));
  let entrypoint: string[] | null = Array.isArray(body.Entrypoint) ? body.Entrypoint.map(String) : typeof body.Entrypoint === 'string' ? [body.Entrypoint] : null;
  let cmd: string[] | null = Array.isArray(body.Cmd) ? body.Cmd.map(String) : typeof body.Cmd === 'string' ? [body.Cmd] : null;
  if (entrypoint && entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  if (!entrypoint || entrypoint.length === 0) {
    if (!cmd || cmd.length === 0) cmd = ic.Cmd ?? null;
    if (entrypoint === null) entrypoint = ic.Entrypoint ?? null;
  }
  const labels = { ...(ic.Labels ?? {}), ...(body.Labels ?? {}) };
  const exposed = { ...(ic.ExposedPorts ?? {}), ...(body.ExposedPorts ?? {}) };
  const volumes = { ...(ic.Volumes ?? {}), ...(body.Volumes ?? {}) };
  return {
    Hostname: body.Hostname ?? '',
    Domainname: body.Domainname ?? '',
    User: body.User || ic.User || '',
    AttachStdin: !!body.AttachStdin,
    AttachStdout: !!body.AttachStdout,
    AttachStderr: !!body.AttachStderr,
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    Tty: !!body.Tty,
    OpenStdin: !!body.OpenStdin,
    StdinOnce: !!body.StdinOnce,
    Env: order.length ? order.map((k) => env.get(k)!) : null,
    Cmd: cmd,
    ...(body.Healthcheck ?? ic.Healthcheck ? { Healthcheck: body.Healthcheck ?? ic.Healthcheck } : {}),
    Image: String(body.Image),
    Volumes: Object.keys(volumes).length ? volumes : null,
    WorkingDir: body.WorkingDir || ic.WorkingDir || '',
    Entrypoint: entrypoint,
    ...(body.NetworkDisabled ? { NetworkDisabled: true } : {}),
    ...(body.MacAddress ? { MacAddress: body.MacAddress } : {}),
    OnBuild: body.OnBuild ?? null,
    Labels: labels,
    ...(body.StopSignal || ic.StopSignal ? { StopSignal: body.StopSignal || ic.StopSignal } : {}),
    ...(typeof body.StopTimeout === 'number' ? { StopTimeout: body.StopTimeout } : {}),
    ...(body.Shell ? { Shell: body.Shell } : {}),
  };
}

/**
 * A restart policy as Docker checks it. At create an AutoRemove container
 * may have none; at update the same conflict is checked after the name,
 * with update's text (moby: validateHostConfig vs UpdateContainer).
 */
export function validateRestartPolicy(rp: RestartPolicy, o: { autoRemove: boolean; update?: boolean }): void {
  const some = !!rp.Name && rp.Name !== 'no';
  if (!o.update && o.autoRemove && some) throw new InvalidParameter('can\'t create \'AutoRemove\' container with restart policy');
  if (!RESTART_POLICIES.includes(rp.Name)) throw new InvalidParameter(`invalid restart policy '${rp.Name}'`);
  if (o.update && o.autoRemove && some) throw new InvalidParameter('Restart policy cannot be updated because AutoRemove is enabled for the container');
  if (rp.Name !== 'on-failure' && rp.MaximumRetryCount) throw new InvalidParameter(`maximum retry count cannot be used with restart policy '${rp.Name}'`);
  if (rp.Name === 'on-failure' && rp.MaximumRetryCount < 0) throw new InvalidParameter('maximum retry count cannot be negative');
}

export type VerifyOptions =
  /** create: the request's Config (body) and the runtimes the daemon knows. */
  | { update?: false; config: Record<string, any>; runtimes: Record<string, string> }
  /** update: the HostConfig before, the resources asked for, and the restart policy asked for, if any. */
  | { update: true; current: HostConfig; requested: Partial<HostConfig>; restartPolicy?: RestartPolicy };

/**
 * The one validator of create and update (moby's verifyContainerSettings):
 * throws Docker's errors, returns Docker's warnings; clears in `h` what this
 * kernel cannot apply (limits.ts).
 */
export function verifyContainerSettings(h: HostConfig, o: VerifyOptions): string[] {
  if (o.update) {
    // A new memory limit must stay under the swap limit set before, unless the swap changes too (moby's UpdateContainer).
    const req = o.requested;
    const swapBefore = o.current.MemorySwap ?? 0;
    if (req.Memory && !req.MemorySwap && swapBefore > 0 && req.Memory > swapBefore) {
      throw new InvalidParameter('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
    }
    const warnings = checkResources(h, { current: o.current });
    if (o.restartPolicy) validateRestartPolicy(o.restartPolicy, { autoRemove: !!o.current.AutoRemove, update: true });
    return warnings;
  }
  const warnings = checkResources(h);
  if (h.OomScoreAdj < -1000 || h.OomScoreAdj > 1000) throw new InvalidParameter(`Invalid value ${h.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  // What start would reject fails at create.
  effectiveCaps(h);
  validateRestartPolicy(h.RestartPolicy, { autoRemove: !!h.AutoRemove });
  const body = o.config;
  if (body.WorkingDir && !String(body.WorkingDir).startsWith('/')) {
    throw new InvalidParameter(`the working directory '${body.WorkingDir}' is invalid, it needs to be an absolute path`);
  }
  if (body.StopSignal) parseSignal(String(body.StopSignal));
  validateHealthcheck(body.Healthcheck);
  validateExposedPorts(body.ExposedPorts);
  validateHostConfig(h, o.runtimes);
  return warnings;
}

/** The resources `docker update` may change. */
const UPDATABLE = [
  'BlkioWeight', 'CpuShares', 'CpuPeriod', 'CpuQuota', 'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'CpusetCpus', 'CpusetMems',
  'Memory', 'MemoryReservation', 'MemorySwap', 'KernelMemory', 'NanoCpus', 'PidsLimit', 'OomKillDisable',
] as const;

/**
 * POST /containers/{id}/update's body applied to `current`: the next
 * HostConfig, Docker's warnings, and whether resources changed (to apply
 * live). Throws Docker's errors; `current` is left as it was.
 */
export function applyUpdate(current: HostConfig, body: Record<string, any>): { next: HostConfig; resourcesChanged: boolean; warnings: string[] } {
  const h = current as unknown as Record<string, any>;
  const patch: Record<string, any> = {};
  // Zero means "unchanged" in Docker's UpdateConfig (PidsLimit 0 means unlimited).
  for (const k of UPDATABLE) if (body[k] !== undefined && body[k] !== null && !(typeof body[k] === 'number' && body[k] === 0 && k !== 'PidsLimit')) patch[k] = body[k];
  const next = { ...h, ...patch } as HostConfig & Record<string, any>;
  const rp = body.RestartPolicy;
  const asked = rp && typeof rp === 'object' && rp.Name !== undefined ? rp as RestartPolicy : undefined;
  const warnings = verifyContainerSettings(next, { update: true, current, requested: patch, restartPolicy: asked });
  if (patch.NanoCpus) { next.CpuPeriod = 0; next.CpuQuota = 0; }
  if (patch.CpuQuota || patch.CpuPeriod) next.NanoCpus = 0;
  // Docker's default swap for a new memory limit when none was ever set.
  if (patch.Memory && !patch.MemorySwap && !h.MemorySwap) next.MemorySwap = memorySwapLimit(patch.Memory, 0);
  if (asked) next.RestartPolicy = { Name: asked.Name || 'no', MaximumRetryCount: Number(asked.MaximumRetryCount ?? 0) };
  return { next, resourcesChanged: Object.keys(patch).length > 0, warnings };
}
