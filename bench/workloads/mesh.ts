// The swarm routing mesh (issue 16) on the namespaces layout, berthd only:
// Docker's mesh needs IPVS, which this kernel lacks (CONFIG_IP_VS unset), so
// its cells say so. Two hosts; one busybox httpd task on m1, published with
// `-p 8080:80` and also on an attachable overlay; a client container on w1
// (no task there) on that overlay. A small load generator (node, in the
// client's network namespace through nsenter) makes N sequential HTTP
// requests, a new connection each:
//   mesh:   http://<w1's address>:8080/ — DNAT and SNAT on w1, across the
//           ingress VXLAN to the task on m1;
//   vip:    http://<the service's VIP on the overlay>/ — the VIP's DNAT in
//           the client's own namespace, then across the overlay's VXLAN;
//   direct: http://<the task's overlay address>/ — across the overlay's VXLAN
//           to the same task (the limit: the same hop without mesh or VIP).
// Runnable alone: `node dist/bench/run.js --only mesh [--quick]`.
import type { Bench, Row, Workload } from '../lib/bench';
import type { Engine } from '../lib/engine';
import { startCluster, type Cluster, type ClusterHost } from '../../test/helpers/cluster';
import { sleep } from '../lib/proc';

async function must(h: ClusterHost, args: string[], timeout = 120_000): Promise<string> {
  const r = await h.docker(args, { timeout });
  if (r.code !== 0) throw new Error(`docker ${args.slice(0, 3).join(' ')} on ${h.name}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return r.stdout;
}

/** N sequential GETs, one connection each; prints {total ms, median µs, p90 µs, fails}. */
const LOADGEN = `
const http = require('node:http');
const [url, n] = [process.argv[1], Number(process.argv[2])];
const one = () => new Promise((res) => {
  const t = process.hrtime.bigint();
  const req = http.get(url, { agent: false, timeout: 5000 }, (r) => { r.resume(); r.on('end', () => res(r.statusCode === 200 ? Number(process.hrtime.bigint() - t) / 1e3 : -1)); });
  req.on('timeout', () => { req.destroy(); res(-1); });
  req.on('error', () => res(-1));
});
(async () => {
  const lat = []; let fails = 0; const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) { const v = await one(); if (v < 0) fails++; else lat.push(v); }
  const total = Number(process.hrtime.bigint() - t0) / 1e6;
  lat.sort((a, b) => a - b);
  console.log(JSON.stringify({ total, median: lat[Math.floor(lat.length / 2)] ?? 0, p90: lat[Math.floor(lat.length * 0.9)] ?? 0, fails }));
})();
`;

interface Load { total: number; median: number; p90: number; fails: number }

async function load(w1: ClusterHost, pid: string, url: string, n: number): Promise<Load> {
  const r = await w1.exec('nsenter', ['-t', pid, '-n', process.execPath, '-e', LOADGEN, url, String(n)], { timeout: 600_000 });
  if (r.code !== 0) throw new Error(`load generator: ${r.stderr.trim().split('\n')[0]}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Load;
  if (out.fails) throw new Error(`${out.fails} of ${n} requests to ${url} failed`);
  return out;
}

const HTTPD = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'];

export const workload: Workload = {
  name: 'mesh',
  description: 'routing mesh and VIP, 2 hosts in network namespaces (berthd; Docker needs IPVS): HTTP through the mesh and the VIP vs the task address',
  order: 92,
  ownEngines: true,
  async run(b: Bench) {
    const n = b.mode.quick ? 500 : 1000;
    const rows: Record<'mesh' | 'vip' | 'direct', Row> = {
      mesh: b.row('mesh-http', `${n} sequential HTTP GETs (new connection each) through the routing mesh, from a node with no task`, 's', { note: 'goal: within 20% of the direct row (mesh/direct ≤ 1.2, logged)' }),
      vip: b.row('mesh-vip', `${n} sequential HTTP GETs to the service's VIP on the overlay, from a container on a node with no task`, 's'),
      direct: b.row('mesh-direct-limit', `${n} sequential HTTP GETs to the task's overlay address (the limit)`, 's'),
    };
    const berth = b.live.find((e: Engine) => e.key === 'berth');
    for (const e of b.live) if (e !== berth) for (const r of Object.values(rows)) b.fail(r, e, new Error('Docker\'s routing mesh needs IPVS: CONFIG_IP_VS is not set on this kernel'));
    if (!berth) return;
    let cluster: Cluster | undefined;
    const onExit = () => cluster?.destroySync();
    process.once('exit', onExit);
    try {
      cluster = await startCluster(2, { engine: 'berthd', names: ['msm1', 'msw1'], startTimeout: 120_000, debug: false });
      const [m1, w1] = cluster.hosts;
      berth.version ||= (await m1.docker(['version', '--format', '{{.Server.Version}}'])).stdout.trim();
      await must(m1, ['swarm', 'init', '--advertise-addr', m1.addr]);
      const token = (await must(m1, ['swarm', 'join-token', '-q', 'worker'])).trim();
      await must(w1, ['swarm', 'join', '--token', token, '--advertise-addr', w1.addr, `${m1.addr}:2377`]);
      await Promise.all([m1.loadBusybox(), w1.loadBusybox()]);
      await must(m1, ['network', 'create', '-d', 'overlay', '--attachable', 'ovm']);
      await must(m1, ['service', 'create', '-d', '--name', 'web', '-p', '8080:80', '--network', 'ovm', '--constraint', 'node.hostname==msm1', 'busybox', ...HTTPD]);
      let task = '';
      for (const t0 = performance.now(); performance.now() - t0 < 120_000 && !task; await sleep(500)) {
        task = (await m1.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=web'], { timeout: 20_000 })).stdout.trim();
      }
      if (!task) throw new Error('the web task did not start');
      const taskIp = (await must(m1, ['inspect', '-f', '{{(index .NetworkSettings.Networks "ovm").IPAddress}}', task])).trim();
      for (const t0 = performance.now(); performance.now() - t0 < 30_000 && (await w1.docker(['network', 'inspect', 'ovm'], { timeout: 10_000 })).code !== 0;) await sleep(300);
      await must(w1, ['run', '-d', '--name', 'cli', '--network', 'ovm', 'busybox', 'sleep', '3600']);
      const pid = (await must(w1, ['inspect', '-f', '{{.State.Pid}}', 'cli'])).trim();
      const vip = (await must(m1, ['service', 'inspect', '-f', '{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}', 'web'])).trim().split(' ')
        .map((a) => a.split('/')[0]).find((a) => a.split('.').slice(0, 3).join('.') === taskIp.split('.').slice(0, 3).join('.'));
      if (!vip) throw new Error('the service has no VIP on the overlay');
      const urls = { mesh: `http://${w1.addr}:8080/`, vip: `http://${vip}/`, direct: `http://${taskIp}/` };
      // both paths answer (the mesh after every node's sync)
      for (const [k, url] of Object.entries(urls)) {
        let ok = false;
        for (const t0 = performance.now(); performance.now() - t0 < 60_000 && !ok; await sleep(500)) ok = await load(w1, pid, url, 1).then(() => true, () => false);
        if (!ok) throw new Error(`${k} (${url}) does not answer`);
      }
      for (const url of Object.values(urls)) await load(w1, pid, url, 50);
      const runs = b.runs(4, 2);
      const lat: Record<string, number[]> = { mesh: [], vip: [], direct: [] };
      for (let i = 0; i < runs; i++) {
        const order = (i % 2 === 0 ? ['mesh', 'vip', 'direct'] : ['direct', 'vip', 'mesh']) as Array<'mesh' | 'vip' | 'direct'>;
        for (const k of order) {
          const r = await load(w1, pid, urls[k], n);
          b.add(rows[k], berth, r.total / 1000);
          lat[k].push(r.median);
        }
      }
      const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
      const m = rows.mesh.results.berth.summary?.median ?? 0;
      const v = rows.vip.results.berth.summary?.median ?? 0;
      const d = rows.direct.results.berth.summary?.median ?? 0;
      b.log(`  mesh ${m.toFixed(2)} s, VIP ${v.toFixed(2)} s vs direct ${d.toFixed(2)} s for ${n} requests: mesh/direct ${(m / d).toFixed(2)}×, VIP/direct ${(v / d).toFixed(2)}×; per request (median of run medians) mesh ${med(lat.mesh).toFixed(0)} µs, VIP ${med(lat.vip).toFixed(0)} µs, direct ${med(lat.direct).toFixed(0)} µs`);
    } catch (err) {
      for (const r of Object.values(rows)) b.fail(r, berth, err);
    } finally {
      if (cluster) {
        await cluster.destroy();
        const left = await cluster.leftovers();
        if (left.length) b.log(`  berth: LEFT BEHIND: ${left.join('; ')}`);
      }
      process.removeListener('exit', onExit);
    }
  },
};
