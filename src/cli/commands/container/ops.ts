// `berth top`, `berth stats`, `berth update`: as docker's.
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { tabwrite } from '../../tabwriter';
import { bytesSize, humanSize } from '../../units';
import { ramInBytes } from './opts';
import { forEach } from '../../each';

export const topCommand: Command = {
  name: 'top',
  usage: 'CONTAINER [ps OPTIONS]',
  short: 'Display the running processes of a container',
  interspersed: false,
  args: { min: 1 },
  async run(ctx, p) {
    const [id, ...ps] = p.args;
    const r = await ctx.client.containerTop(id, ps.length ? ps.join(' ') : undefined);
    ctx.out(tabwrite([r.Titles.join('\t'), ...r.Processes.map((row) => row.join('\t'))].join('\n') + '\n'));
    return 0;
  },
};

/** The docker CLI's CPU % (calculateCPUPercentUnix) and memory without cache. */
function row(s: any): Record<string, string> {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const m = s.memory_stats ?? {};
  const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0;
  const used = Math.max(0, (m.usage ?? 0) - (cache < (m.usage ?? 0) ? cache : 0));
  const limit = m.limit ?? 0;
  let rx = 0, tx = 0;
  for (const n of Object.values<any>(s.networks ?? {})) { rx += n.rx_bytes ?? 0; tx += n.tx_bytes ?? 0; }
  let br = 0, bw = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (/^read$/i.test(e.op)) br += e.value;
    if (/^write$/i.test(e.op)) bw += e.value;
  }
  return {
    ID: String(s.id ?? '').slice(0, 12), Name: String(s.name ?? '').replace(/^\//, ''),
    CPUPerc: `${cpu.toFixed(2)}%`, MemUsage: `${bytesSize(used)} / ${bytesSize(limit)}`,
    MemPerc: `${limit ? ((used / limit) * 100).toFixed(2) : '0.00'}%`,
    NetIO: `${humanSize(rx)} / ${humanSize(tx)}`, BlockIO: `${humanSize(br)} / ${humanSize(bw)}`, PIDs: String(s.pids_stats?.current ?? 0),
  };
}

export const statsCommand: Command = {
  name: 'stats',
  usage: '[OPTIONS] [CONTAINER...]',
  short: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    { name: 'all', short: 'a', type: 'bool', usage: 'Show all containers (default shows just running)' },
    { name: 'format', type: 'string', usage: 'Format output using a custom template' },
    { name: 'no-stream', type: 'bool', usage: 'Disable streaming stats and only pull the first result' },
    { name: 'no-trunc', type: 'bool', usage: "Don't truncate output" },
  ],
  async run(ctx, p) {
    let ids = p.args;
    if (!ids.length) ids = (await ctx.client.containerList({ all: !!p.flags.all })).map((c) => c.Id);
    const fmt: string = p.flags.format || '';
    const render = (rows: Array<Record<string, string>>) => {
      if (fmt && !fmt.startsWith('table')) return rows.map((r) => fmt.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_m, k) => r[k] ?? '')).join('\n') + '\n';
      const cols = ['ID', 'Name', 'CPUPerc', 'MemUsage', 'MemPerc', 'NetIO', 'BlockIO', 'PIDs'];
      const head = 'CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS';
      return tabwrite([head, ...rows.map((r) => cols.map((c) => r[c]).join('\t'))].join('\n') + '\n');
    };
    const one = async (id: string): Promise<Record<string, string>> => {
      const res = await ctx.client.containerStats(id, false);
      let text = '';
      for await (const chunk of res) text += chunk.toString();
      if ((res.statusCode ?? 200) >= 400) throw new CliError(`Error response from daemon: ${JSON.parse(text).message}`, 1);
      return row(JSON.parse(text));
    };
    if (p.flags['no-stream']) {
      ctx.out(render(await Promise.all(ids.map(one))));
      return 0;
    }
    for (let i = 0; i < 1e9; i++) {
      const rows = await Promise.all(ids.map(one));
      ctx.out((ctx.stdout.isTTY ? '\x1b[2J\x1b[H' : '') + render(rows));
    }
    return 0;
  },
};

export const updateCommand: Command = {
  name: 'update',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Update configuration of one or more containers',
  flags: [
    { name: 'blkio-weight', type: 'int', usage: 'Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)' },
    { name: 'cpu-period', type: 'int', usage: 'Limit CPU CFS (Completely Fair Scheduler) period' },
    { name: 'cpu-quota', type: 'int', usage: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
    { name: 'cpu-shares', short: 'c', type: 'int', usage: 'CPU shares (relative weight)' },
    { name: 'cpus', type: 'string', usage: 'Number of CPUs' },
    { name: 'cpuset-cpus', type: 'string', usage: 'CPUs in which to allow execution (0-3, 0,1)' },
    { name: 'cpuset-mems', type: 'string', usage: 'MEMs in which to allow execution (0-3, 0,1)' },
    { name: 'memory', short: 'm', type: 'string', usage: 'Memory limit' },
    { name: 'memory-reservation', type: 'string', usage: 'Memory soft limit' },
    { name: 'memory-swap', type: 'string', usage: "Swap limit equal to memory plus swap: -1 to enable unlimited swap" },
    { name: 'pids-limit', type: 'int', usage: 'Tune container pids limit (set -1 for unlimited)' },
    { name: 'restart', type: 'string', usage: 'Restart policy to apply when a container exits' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    const f = p.flags;
    const body: Record<string, unknown> = {};
    const set = (flag: string, key: string, conv: (v: any) => unknown = (v) => v) => { if (p.changed.has(flag)) body[key] = conv(f[flag]); };
    set('blkio-weight', 'BlkioWeight');
    set('cpu-period', 'CpuPeriod');
    set('cpu-quota', 'CpuQuota');
    set('cpu-shares', 'CpuShares');
    set('cpus', 'NanoCpus', (v) => Math.round(Number(v) * 1e9));
    set('cpuset-cpus', 'CpusetCpus');
    set('cpuset-mems', 'CpusetMems');
    set('memory', 'Memory', (v) => ramInBytes(v, 'memory'));
    set('memory-reservation', 'MemoryReservation', (v) => ramInBytes(v, 'memory-reservation'));
    set('memory-swap', 'MemorySwap', (v) => (v === '-1' ? -1 : ramInBytes(v, 'memory-swap')));
    set('pids-limit', 'PidsLimit');
    if (p.changed.has('restart')) {
      const [name, max] = String(f.restart).split(':');
      body.RestartPolicy = { Name: name, MaximumRetryCount: max ? Number(max) : 0 };
    }
    if (!Object.keys(body).length) throw new CliError('you must provide one or more flags when using this command', 1);
    await forEach(ctx, p.args, async (id) => {
      const r = await ctx.client.containerUpdate(id, body);
      for (const w of r.Warnings ?? []) ctx.err(`${w}\n`);
      return id;
    });
    return 0;
  },
};
