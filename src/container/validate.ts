// Create-time checks of a container's Config and HostConfig that dockerd
// makes before anything is stored (daemon/container.go
// verifyContainerSettings, daemon_unix.go verifyPlatformContainerSettings,
// the log driver and device-cgroup-rule checks), with Docker's texts, so bad
// input is a 400 at create rather than a failure at start.
import { InvalidParameter } from '../util/errors';
import { parseSecurityOpts } from '../host/runtime/spec';
import { parseDeviceCgroupRule } from '../host/runtime/spec-extra';
import type { HostConfig } from './types';

/** Go's time.Millisecond in ns: containertypes.MinimumDuration. */
const MIN_DURATION_NS = 1_000_000;

const IPC_MODES = ['', 'none', 'private', 'shareable', 'host'];

export function validateHealthcheck(h: any): void {
  if (!h || typeof h !== 'object') return;
  for (const k of ['Interval', 'Timeout', 'StartPeriod']) {
    const v = Number(h[k] ?? 0);
    if (v !== 0 && v < MIN_DURATION_NS) throw new InvalidParameter(`${k} in Healthcheck cannot be less than 1ms`);
  }
  if (Number(h.Retries ?? 0) < 0) throw new InvalidParameter('Retries in Healthcheck cannot be negative');
}

/** ExposedPorts keys are "<port>[/<proto>]", as go-connections' nat.ParsePort reads them. */
export function validateExposedPorts(ports: unknown): void {
  if (!ports || typeof ports !== 'object') return;
  for (const key of Object.keys(ports)) {
    const port = key.split('/')[0];
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new InvalidParameter(`invalid port specification: "${port}"`);
  }
}

export function validateHostConfig(h: HostConfig, runtimes: Record<string, string>): void {
  if (h.ShmSize < 0) throw new InvalidParameter('SHM size can not be less than 0');
  const ipc = h.IpcMode ?? '';
  if (!IPC_MODES.includes(ipc) && !(ipc.startsWith('container:') && ipc.length > 'container:'.length)) {
    throw new InvalidParameter(`invalid IPC mode: ${ipc}`);
  }
  if (!Object.prototype.hasOwnProperty.call(runtimes, h.Runtime)) throw new InvalidParameter(`Unknown runtime specified ${h.Runtime}`);
  for (const r of h.DeviceCgroupRules ?? []) parseDeviceCgroupRule(String(r));
  parseSecurityOpts(h.SecurityOpt ?? []);
}
