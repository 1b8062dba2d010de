// Resource limits as Docker validates them (daemon/daemon_unix.go
// verifyPlatformContainerResources): errors for impossible values, warnings
// (and the value dropped) for what this kernel's cgroups cannot do.
import fs from 'node:fs';
import os from 'node:os';
import { InvalidParameter } from '../util/errors';
import { cgroupDir } from '../host/cgroups/paths';

export interface ResourceFields {
  Memory?: number;
  MemoryReservation?: number;
  MemorySwap?: number;
  MemorySwappiness?: number | null;
  KernelMemory?: number;
  OomKillDisable?: boolean | null;
  NanoCpus?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpuShares?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  [k: string]: unknown;
}

const MB6 = 6 * 1024 * 1024;

/** "0-2,4" → [0,1,2,4]; undefined when malformed. */
function parseSet(s: string): number[] | undefined {
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    if (b < a) return undefined;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

function available(file: string): string {
  const dir = cgroupDir('/', 'cpuset');
  try {
    return fs.readFileSync(`${dir}/${file}`, 'utf8').trim();
  } catch {
    return file === 'cpuset.cpus' ? `0-${os.cpus().length - 1}` : '0';
  }
}

function blkioWeightSupported(): boolean {
  const dir = cgroupDir('/', 'blkio');
  return !!dir && fs.existsSync(`${dir}/blkio.weight`);
}

/**
 * Checks `h` in place; throws Docker's errors; returns Docker's warnings and
 * clears what cannot be applied. `current`: the container's resources
 * before an update (a memory limit set earlier counts). Called through
 * config.ts's verifyContainerSettings.
 */
export function checkResources(h: ResourceFields, o: { current?: ResourceFields } = {}): string[] {
  const warnings: string[] = [];
  const mem = h.Memory ?? 0;
  const swap = h.MemorySwap ?? 0;
  if (mem < 0 || (mem > 0 && mem < MB6)) throw new InvalidParameter('Minimum memory limit allowed is 6MB');
  if (swap > 0 && mem === 0 && !(o.current?.Memory)) throw new InvalidParameter('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (swap > 0 && mem > 0 && swap < mem) throw new InvalidParameter('Minimum memoryswap limit should be larger than memory limit, see usage');
  const sw = h.MemorySwappiness;
  if (sw != null && sw !== -1 && (sw < 0 || sw > 100)) throw new InvalidParameter(`Invalid value: ${sw}, valid memory swappiness range is 0-100`);
  const res = h.MemoryReservation ?? 0;
  if (res < 0 || (res > 0 && res < MB6)) throw new InvalidParameter('Minimum memory reservation allowed is 6MB');
  if (mem > 0 && res > 0 && mem < res) throw new InvalidParameter('Minimum memory limit can not be less than memory reservation limit, see usage');
  if (h.OomKillDisable && !mem) warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  // Go's runtime.NumCPU (what dockerd checks against) counts the affinity mask, as this does,
  // without os.cpus()'s read of /proc/cpuinfo and /proc/stat on every create.
  const ncpu = os.availableParallelism();
  const nano = h.NanoCpus ?? 0;
  if (nano > 0 && ((h.CpuPeriod ?? 0) > 0)) throw new InvalidParameter('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nano > 0 && ((h.CpuQuota ?? 0) > 0)) throw new InvalidParameter('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nano < 0 || nano > ncpu * 1e9) throw new InvalidParameter(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  const period = h.CpuPeriod ?? 0;
  if (period !== 0 && (period < 1000 || period > 1000000)) throw new InvalidParameter('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  const quota = h.CpuQuota ?? 0;
  if (quota > 0 && quota < 1000) throw new InvalidParameter('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if ((h.CpuShares ?? 0) < 0) throw new InvalidParameter('invalid CPU shares: must be >= 0');
  for (const [field, file, what] of [['CpusetCpus', 'cpuset.cpus', 'CPUs'], ['CpusetMems', 'cpuset.mems', 'memory nodes']] as const) {
    const v = h[field];
    if (!v) continue;
    const want = parseSet(v);
    if (!want) throw new InvalidParameter(`Invalid value ${v} for cpuset ${field === 'CpusetCpus' ? 'cpus' : 'mems'}`);
    const avail = available(file);
    const have = new Set(parseSet(avail) ?? []);
    if (!want.every((x) => have.has(x))) throw new InvalidParameter(`Requested ${what} are not available - requested ${v}, available: ${avail}`);
  }
  if (h.BlkioWeight) {
    if (h.BlkioWeight < 10 || h.BlkioWeight > 1000) throw new InvalidParameter('Range of blkio weight is from 10 to 1000');
    if (!blkioWeightSupported()) {
      warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
      h.BlkioWeight = 0;
    }
  }
  if (h.KernelMemory) {
    warnings.push('Specifying a kernel memory limit is deprecated and will be removed in a future release.');
    h.KernelMemory = 0;
  }
  if (h.PidsLimit != null && h.PidsLimit <= 0) h.PidsLimit = 0;
  return warnings;
}
