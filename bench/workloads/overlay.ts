// Overlay networks (swarm part 3) on the namespaces layout: a manager and a
// worker, an attachable overlay, a busybox `nc` server on one host and a
// client on the other; the time to push 256 MiB across the VXLAN (less the `docker exec` round trip), against
// the same pair on one user bridge of one host (the limit), and the average
// ping RTT across the overlay. Docker 20.10 runs the same layout (its
// attachable overlays need no IPVS). Runnable alone:
// `node dist/bench/run.js --only overlay`.
import type { Bench, Row, Workload } from '../lib/bench';
import type { Engine } from '../lib/engine';
import { startCluster, type Cluster, type ClusterHost } from '../../test/helpers/cluster';
import { sleep } from '../lib/proc';

const MIB = 256;

async function must(h: ClusterHost, args: string[], timeout = 120_000): Promise<string> {
  const r = await h.docker(args, { timeout });
  if (r.code !== 0) throw new Error(`docker ${args.slice(0, 3).join(' ')} on ${h.name}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return r.stdout;
}

/** Seconds to send MIB MiB from a client container on `from` to a server container `srv` on `to`, over network `net`. */
async function transfer(to: ClusterHost, from: ClusterHost, net: string, tag: string): Promise<number> {
  // stdin held open (busybox nc closes the connection at EOF on stdin); the byte count proves the transfer
  await must(to, ['run', '-d', '--name', `srv${tag}`, '--network', net, 'busybox', 'sh', '-c', 'tail -f /dev/null | nc -l -p 5000 | wc -c > /tmp/bytes']);
  try {
    await must(from, ['run', '-d', '--name', `cli${tag}`, '--network', net, 'busybox', 'sleep', '600']);
    // the server listens and its name resolves (cross-host: after the peer table sync)
    const t0 = performance.now();
    while (performance.now() - t0 < 30_000) {
      const r = await from.docker(['exec', `cli${tag}`, 'ping', '-c', '1', '-W', '1', `srv${tag}`], { timeout: 10_000 });
      if (r.code === 0) break;
      await sleep(300);
    }
    // the cost of `docker exec` itself (engine-dependent) is measured and taken off
    const base: number[] = [];
    for (let k = 0; k < 3; k++) {
      const tb = performance.now();
      await must(from, ['exec', `cli${tag}`, 'true']);
      base.push(performance.now() - tb);
    }
    base.sort((a, b) => a - b);
    const t1 = performance.now();
    await must(from, ['exec', `cli${tag}`, 'sh', '-c', `dd if=/dev/zero bs=1M count=${MIB} 2>/dev/null | nc srv${tag} 5000`]);
    const s = Math.max(0, performance.now() - t1 - base[1]) / 1000;
    let got = '';
    for (const tw = performance.now(); performance.now() - tw < 30_000 && !got; await sleep(200)) {
      got = (await to.docker(['exec', `srv${tag}`, 'cat', '/tmp/bytes'], { timeout: 10_000 })).stdout.trim();
    }
    if (Number(got) !== MIB * 1024 * 1024) throw new Error(`the server got ${got || 'nothing'} bytes, not ${MIB} MiB`);
    return s;
  } finally {
    await from.docker(['rm', '-f', `cli${tag}`], { timeout: 60_000 });
    await to.docker(['rm', '-f', `srv${tag}`], { timeout: 60_000 });
  }
}

async function rtt(to: ClusterHost, from: ClusterHost, net: string): Promise<number> {
  await must(to, ['run', '-d', '--name', 'pong', '--network', net, 'busybox', 'sleep', '600']);
  try {
    const out = await must(from, ['run', '--rm', '--network', net, 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do ping -c 1 -W 1 pong >/dev/null && break; sleep 0.5; done; ping -c 20 -i 0.2 pong']);
    const m = /= [\d.]+\/([\d.]+)\//.exec(out);
    if (!m) throw new Error(`no ping summary: ${out.slice(-200)}`);
    return Number(m[1]);
  } finally {
    await to.docker(['rm', '-f', 'pong'], { timeout: 60_000 });
  }
}

async function oneRun(b: Bench, e: Engine, rows: Record<string, Row>, i: number): Promise<void> {
  let cluster: Cluster | undefined;
  const onExit = () => cluster?.destroySync();
  process.once('exit', onExit);
  try {
    cluster = await startCluster(2, { engine: e.key === 'docker' ? 'dockerd' : 'berthd', names: ['ovm1', 'ovw1'], startTimeout: 120_000, debug: false });
    const [m1, w1] = cluster.hosts;
    e.version ||= (await m1.docker(['version', '--format', '{{.Server.Version}}'])).stdout.trim();
    await must(m1, ['swarm', 'init', '--advertise-addr', m1.addr]);
    const token = (await must(m1, ['swarm', 'join-token', '-q', 'worker'])).trim();
    await must(w1, ['swarm', 'join', '--token', token, '--advertise-addr', w1.addr, `${m1.addr}:2377`]);
    await Promise.all([m1.loadBusybox(), w1.loadBusybox()]);
    await must(m1, ['network', 'create', '-d', 'overlay', '--attachable', 'ovb']);
    // dockerd started with --bridge=none: a user bridge of its own for the limit
    await must(m1, ['network', 'create', 'lb']);
    const t0 = performance.now();
    while (performance.now() - t0 < 30_000 && (await w1.docker(['network', 'inspect', 'ovb'], { timeout: 10_000 })).code !== 0) await sleep(300);
    b.add(rows.overlay, e, await transfer(w1, m1, 'ovb', `o${i}`));
    b.add(rows.bridge, e, await transfer(m1, m1, 'lb', `b${i}`));
    b.add(rows.rtt, e, await rtt(w1, m1, 'ovb'));
  } finally {
    if (cluster) {
      await cluster.destroy();
      const left = await cluster.leftovers();
      if (left.length) b.log(`  ${e.key}: LEFT BEHIND: ${left.join('; ')}`);
    }
    process.removeListener('exit', onExit);
  }
}

export const workload: Workload = {
  name: 'overlay',
  description: 'overlay network, 2 hosts in network namespaces: nc bandwidth across the VXLAN vs one bridge, ping RTT',
  order: 91,
  ownEngines: true,
  async run(b) {
    const rows = {
      overlay: b.row('overlay-xfer', `${MIB} MiB container→container across the overlay (busybox nc)`, 's', { target: { minRatio: 1 } }),
      bridge: b.row('overlay-bridge-limit', `${MIB} MiB container→container on one user bridge (the limit)`, 's'),
      rtt: b.row('overlay-rtt', 'ping RTT across the overlay (avg of 20)', 'ms', { target: { minRatio: 0.8 } }),
    };
    const runs = b.runs(3, 1);
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? b.live : [...b.live].reverse();
      for (const e of order) {
        if (Object.values(rows).every((r) => b.failed(r, e))) continue;
        try {
          await oneRun(b, e, rows, i);
        } catch (err) {
          for (const r of Object.values(rows)) b.fail(r, e, err);
        }
      }
    }
    for (const r of Object.values(rows)) {
      b.log(`  ${r.title}: ${b.live.map((e) => `${e.key} ${r.results[e.key].summary?.median.toFixed(2) ?? r.results[e.key].error ?? 'failed'}`).join(', ')} ${r.unit} (median)`);
    }
  },
};
