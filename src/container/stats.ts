// Docker's stats JSON (GET /containers/{id}/stats) from two raw samples:
// the docker CLI computes CPU % from cpu_stats − precpu_stats.
import type { RawStats } from '../host/cgroups/stats';

export interface DockerStats {
  read: string;
  preread: string;
  name: string;
  id: string;
  num_procs: number;
  pids_stats: { current: number; limit?: number };
  blkio_stats: Record<string, Array<{ major: number; minor: number; op: string; value: number }> | null>;
  storage_stats: Record<string, never>;
  cpu_stats: unknown;
  precpu_stats: unknown;
  memory_stats: unknown;
  networks?: RawStats['networks'];
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

function cpuJson(s: RawStats | undefined): unknown {
  if (!s) return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  return {
    cpu_usage: {
      total_usage: s.cpu.totalUsage,
      ...(s.cpu.percpu.length ? { percpu_usage: s.cpu.percpu } : {}),
      usage_in_kernelmode: s.cpu.kernel,
      usage_in_usermode: s.cpu.user,
    },
    system_cpu_usage: s.cpu.systemUsage,
    online_cpus: s.cpu.onlineCpus,
    throttling_data: {
      periods: s.cpu.throttling.periods,
      throttled_periods: s.cpu.throttling.throttledPeriods,
      throttled_time: s.cpu.throttling.throttledTime,
    },
  };
}

/** A stopped container answers zeros, as Docker does. */
export function toDockerStats(id: string, name: string, cur: RawStats | undefined, prev: RawStats | undefined, withNetworks: boolean): DockerStats {
  const mem = cur?.memory;
  return {
    read: cur ? cur.read.toISOString() : ZERO_TIME,
    preread: prev ? prev.read.toISOString() : ZERO_TIME,
    name: name.startsWith('/') ? name : `/${name}`,
    id,
    num_procs: 0,
    pids_stats: cur ? { current: cur.pids.current, ...(cur.pids.limit ? { limit: cur.pids.limit } : {}) } : {current: 0},
    blkio_stats: {
      io_service_bytes_recursive: cur ? cur.blkio.serviceBytes : null,
      io_serviced_recursive: cur ? cur.blkio.serviced : null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    storage_stats: {},
    cpu_stats: cpuJson(cur),
    precpu_stats: cpuJson(prev),
    memory_stats: mem ? { usage: mem.usage, max_usage: mem.maxUsage, stats: mem.stats, limit: mem.limit, failcnt: mem.failcnt } : {},
    ...(withNetworks && cur ? { networks: cur.networks } : {}),
  };
}
