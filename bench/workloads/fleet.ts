// Workloads 3 and 4: with N containers running (100; 20 in quick mode),
// memory of each container's monitor process (conmon / containerd-shim) and
// of each daemon, then `docker ps` and `docker inspect` latency.
import type { Workload } from '../lib/bench';
import type { Engine } from '../lib/engine';
import { failureText, pool, sleep, waitFor } from '../lib/proc';

const MiB = 1024;

export const workload: Workload = {
  name: 'fleet',
  description: 'memory per container and per daemon, `ps` and `inspect` latency, with N containers running',
  order: 30,
  async run(b) {
    const n = b.runs(100, 20);
    const monRss = b.row('monitor-rss', 'monitor RSS per container (conmon / containerd-shim)', 'MiB', { target: { maxBerth: 2.5 } });
    const monPss = b.row('monitor-pss', 'monitor PSS per container (shared pages split)', 'MiB');
    const daemonRss = b.row('daemon-rss', `daemon RSS with ${n} containers (berthd / dockerd + containerd)`, 'MiB', { target: { maxBerth: 100 } });
    const ps = b.row('ps', `\`ps\` with ${n} containers`, 'ms');
    const inspect = b.row('inspect', `\`inspect <c>\` with ${n} containers`, 'ms');
    const all = [monRss, monPss, daemonRss, ps, inspect];
    const ids = new Map<Engine, string[]>();
    try {
      await b.each(all, async (e) => {
        b.log(`  starting ${n} containers on ${e.title}`);
        const rs = await pool(Array.from({ length: n }), 4, () => e.docker(['run', '-d', 'busybox', 'sleep', '1000'], { timeout: 120_000 }));
        const bad = rs.filter((r) => r.code !== 0);
        if (bad.length) throw new Error(`${bad.length}/${n} run -d failed: ${failureText(bad[0])}`);
        ids.set(e, rs.map((r) => r.stdout.trim()));
        await waitFor(`${n} containers running`, 60_000, async () => (await e.containerIds(false)).length >= n, 250);
      });
      await sleep(2000); // let the monitors and daemons settle after the burst

      for (const e of b.live) {
        if (b.failed(monRss, e)) continue;
        const snaps = [];
        for (let i = 0; i < 3; i++) {
          if (i) await sleep(1000);
          snaps.push(e.memory());
        }
        const last = snaps[snaps.length - 1];
        if (last.monitors.length !== n) {
          const msg = `found ${last.monitors.length} monitor processes for ${n} containers`;
          b.fail(monRss, e, msg);
          b.fail(monPss, e, msg);
        } else {
          for (const m of last.monitors) {
            b.add(monRss, e, m.rssKiB / MiB);
            if (Number.isFinite(m.pssKiB)) b.add(monPss, e, m.pssKiB / MiB);
          }
        }
        for (const s of snaps) b.add(daemonRss, e, s.daemonRssKiB / MiB);
        const procs = [...new Set(last.daemonProcs.map((c) => (c === 'node' ? 'berthd' : c)))].join(' + ');
        daemonRss.note = [daemonRss.note, `${e.title} counts ${procs}`].filter(Boolean).join('; ');
        b.log(`  ${e.key}: ${last.monitors.length} monitors, daemon ${(last.daemonRssKiB / MiB).toFixed(1)} MiB (${procs})`);
      }

      await b.interleave(
        ps,
        b.runs(20, 5),
        async (e) => {
          const r = await e.docker(['ps'], { timeout: 60_000 });
          if (r.code !== 0) throw new Error(failureText(r));
          const lines = r.stdout.trim().split('\n').length - 1;
          if (lines !== n) throw new Error(`docker ps listed ${lines} containers, expected ${n}`);
          return r.ms;
        },
        1,
      );
      await b.interleave(
        inspect,
        b.runs(20, 5),
        async (e, i) => {
          const list = ids.get(e)!;
          const id = list[(i + list.length) % list.length];
          const r = await e.docker(['inspect', id], { timeout: 60_000 });
          if (r.code !== 0) throw new Error(failureText(r));
          return r.ms;
        },
        1,
      );
      for (const r of [monRss, monPss, daemonRss]) {
        b.log(`  ${r.title}: ${b.live.map((e) => `${e.key} ${r.results[e.key].summary?.median.toFixed(2) ?? 'failed'}`).join(', ')} MiB (median)`);
      }
    } finally {
      for (const e of b.live) {
        b.log(`  removing containers on ${e.title}`);
        await e.removeAllContainers();
      }
    }
  },
};
