// Raw resource usage of one container, read from its cgroup files and its
// network namespace, in the units Docker's stats API reports.
import fs from 'node:fs';
import os from 'node:os';
import { cgroupVersion } from '../sysinfo';
import { cgroupDir, readCgroupFile } from './paths';

export interface CpuSample {
  totalUsage: number; // ns
  percpu: number[]; // ns
  kernel: number; // ns
  user: number; // ns
  systemUsage: number; // ns, whole host since boot (from /proc/stat)
  onlineCpus: number;
  throttling: { periods: number; throttledPeriods: number; throttledTime: number };
}

export interface MemorySample {
  usage: number;
  maxUsage: number;
  limit: number;
  failcnt: number;
  stats: Record<string, number>;
}

export interface BlkioEntry { major: number; minor: number; op: string; value: number }

export interface NetSample {
  [iface: string]: {
    rx_bytes: number; rx_packets: number; rx_errors: number; rx_dropped: number;
    tx_bytes: number; tx_packets: number; tx_errors: number; tx_dropped: number;
  };
}

export interface RawStats {
  read: Date;
  cpu: CpuSample;
  memory: MemorySample;
  pids: { current: number; limit: number };
  blkio: { serviceBytes: BlkioEntry[]; serviced: BlkioEntry[] };
  networks: NetSample;
}

const USER_HZ = 100;
const num = (s: string | undefined, dflt = 0) => {
  if (s === undefined) return dflt;
  const t = s.trim();
  if (t === 'max') return 0;
  const n = Number(t);
  return Number.isFinite(n) ? n : dflt;
};

function keyValues(s: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (s ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** Host CPU time since boot in ns, as Docker computes system_cpu_usage. */
export function systemCpuUsage(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line.split(/\s+/).slice(1, 8).reduce((a, b) => a + Number(b), 0);
  return (ticks * 1e9) / USER_HZ;
}

function cpuV1(path: string): Omit<CpuSample, 'systemUsage' | 'onlineCpus'> {
  const acct = cgroupDir(path, 'cpuacct');
  const cpu = cgroupDir(path, 'cpu');
  const percpu = (readCgroupFile(acct, 'cpuacct.usage_percpu') ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  const st = keyValues(readCgroupFile(acct, 'cpuacct.stat'));
  const thr = keyValues(readCgroupFile(cpu, 'cpu.stat'));
  return {
    totalUsage: num(readCgroupFile(acct, 'cpuacct.usage')),
    percpu,
    kernel: ((st.system ?? 0) * 1e9) / USER_HZ,
    user: ((st.user ?? 0) * 1e9) / USER_HZ,
    throttling: { periods: thr.nr_periods ?? 0, throttledPeriods: thr.nr_throttled ?? 0, throttledTime: thr.throttled_time ?? 0 },
  };
}

function cpuV2(dir: string | undefined): Omit<CpuSample, 'systemUsage' | 'onlineCpus'> {
  const st = keyValues(readCgroupFile(dir, 'cpu.stat'));
  return {
    totalUsage: (st.usage_usec ?? 0) * 1000,
    percpu: [],
    kernel: (st.system_usec ?? 0) * 1000,
    user: (st.user_usec ?? 0) * 1000,
    throttling: { periods: st.nr_periods ?? 0, throttledPeriods: st.nr_throttled ?? 0, throttledTime: (st.throttled_usec ?? 0) * 1000 },
  };
}

function blkioV1(path: string, file: string): BlkioEntry[] {
  const dir = cgroupDir(path, 'blkio');
  const raw = readCgroupFile(dir, file) ?? readCgroupFile(dir, file.replace('blkio.', 'blkio.throttle.')) ?? '';
  const out: BlkioEntry[] = [];
  for (const line of raw.split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3], value: Number(m[4]) });
  }
  return out;
}

function blkioV2(dir: string | undefined): { serviceBytes: BlkioEntry[]; serviced: BlkioEntry[] } {
  const serviceBytes: BlkioEntry[] = [];
  const serviced: BlkioEntry[] = [];
  for (const line of (readCgroupFile(dir, 'io.stat') ?? '').split('\n')) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    if (!dev || !dev.includes(':')) continue;
    const [major, minor] = dev.split(':').map(Number);
    const kv = Object.fromEntries(kvs.map((x) => x.split('=')).map(([k, v]) => [k, Number(v)]));
    serviceBytes.push({ major, minor, op: 'read', value: kv.rbytes ?? 0 }, { major, minor, op: 'write', value: kv.wbytes ?? 0 });
    serviced.push({ major, minor, op: 'read', value: kv.rios ?? 0 }, { major, minor, op: 'write', value: kv.wios ?? 0 });
  }
  return { serviceBytes, serviced };
}

/** Interface counters inside the container's network namespace (via its init pid). */
export function netStats(pid: number): NetSample {
  const out: NetSample = {};
  if (!pid) return out;
  let raw = '';
  try {
    raw = fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  } catch {
    return out;
  }
  for (const line of raw.split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out[m[1]] = {
      rx_bytes: f[0], rx_packets: f[1], rx_errors: f[2], rx_dropped: f[3],
      tx_bytes: f[8], tx_packets: f[9], tx_errors: f[10], tx_dropped: f[11],
    };
  }
  return out;
}

/** One sample of a container's usage; `cgroupsPath` as in its OCI spec. */
export function readStats(cgroupsPath: string, pid: number): RawStats {
  const v2 = cgroupVersion() === '2';
  const unified = v2 ? cgroupDir(cgroupsPath, '') : undefined;
  const cpuPart = v2 ? cpuV2(unified) : cpuV1(cgroupsPath);
  const hostMem = os.totalmem();
  let memory: MemorySample;
  if (v2) {
    const stats = keyValues(readCgroupFile(unified, 'memory.stat'));
    const limit = num(readCgroupFile(unified, 'memory.max')) || hostMem;
    memory = { usage: num(readCgroupFile(unified, 'memory.current')), maxUsage: num(readCgroupFile(unified, 'memory.peak')), limit, failcnt: keyValues(readCgroupFile(unified, 'memory.events')).oom ?? 0, stats };
  } else {
    const dir = cgroupDir(cgroupsPath, 'memory');
    const rawLimit = num(readCgroupFile(dir, 'memory.limit_in_bytes'));
    memory = {
      usage: num(readCgroupFile(dir, 'memory.usage_in_bytes')),
      maxUsage: num(readCgroupFile(dir, 'memory.max_usage_in_bytes')),
      // v1 reports "unlimited" as a huge page-aligned number; Docker shows host memory.
      limit: rawLimit > 0 && rawLimit < hostMem ? rawLimit : hostMem,
      failcnt: num(readCgroupFile(dir, 'memory.failcnt')),
      stats: keyValues(readCgroupFile(dir, 'memory.stat')),
    };
  }
  const pidsDir = v2 ? unified : cgroupDir(cgroupsPath, 'pids');
  const pids = { current: num(readCgroupFile(pidsDir, 'pids.current')), limit: num(readCgroupFile(pidsDir, 'pids.max')) };
  const blkio = v2
    ? blkioV2(unified)
    : { serviceBytes: blkioV1(cgroupsPath, 'blkio.io_service_bytes_recursive'), serviced: blkioV1(cgroupsPath, 'blkio.io_serviced_recursive') };
  return {
    read: new Date(),
    cpu: { ...cpuPart, systemUsage: systemCpuUsage(), onlineCpus: os.cpus().length },
    memory,
    pids,
    blkio,
    networks: netStats(pid),
  };
}
