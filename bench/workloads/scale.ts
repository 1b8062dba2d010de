// Workload: scale. Grows each engine to N running containers (busybox sleep;
// 10, 100, 1000 by default, `--scale-sizes` to change) and at each size
// measures what grows with N: starting them, `ps`, `ps -a --filter label=…`,
// `inspect`, `stats --no-stream`, `events --since` (a replay of every event
// so far), daemon RSS and monitor memory. Sizes are reached one after the
// other (10, then 90 more, …), so "start" is ms per container for that step:
// flat when starting does not slow down as the fleet grows. `ps` is also
// timed through each engine's own CLI (berth CLI, served by its resident
// process, on berthd; the docker CLI on dockerd) and as the API call alone
// (GET /containers/json), and the growth of each from the first size to the
// last is noted (issue 17 t4: within 2x from 10 to 1,000).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Bench, Row, Workload } from '../lib/bench';
import { DOCKER_CLI, type Engine } from '../lib/engine';
import { REPO_ROOT } from '../lib/berth-engine';
import { failureText, pool, run, settled, sleep, waitFor } from '../lib/proc';

const MiB = 1024;
const LABEL = 'bench.scale';

export const workload: Workload = {
  name: 'scale',
  description: 'with 10, 100, 1000 running containers: start, ps, filter, inspect, stats, events, memory',
  order: 35,
  async run(b) {
    const sizes = b.mode.scaleSizes ?? (b.mode.quick ? [10, 50] : [10, 100, 1000]);
    const ids = new Map<Engine, string[]>();
    const growth: Array<{ n: number; own: Row; api: Row }> = [];
    // the resident CLI server's socket: private to this run
    const cliDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-scale-cli-'));
    fs.chmodSync(cliDir, 0o700);
    const since = new Map<Engine, number>();
    for (const e of b.live) {
      ids.set(e, []);
      since.set(e, Math.floor(Date.now() / 1000) - 1);
    }
    try {
      for (const n of sizes) {
        const start = b.row(`start-${n}`, `start to ${n} containers (\`run -d\`, 4 at a time), per container`, 'ms');
        const rss = b.row(`rss-${n}`, `daemon RSS with ${n} containers (berthd / dockerd + containerd)`, 'MiB', { target: n >= 1000 ? { maxBerth: 150, minRatio: 2 } : undefined });
        const mon = b.row(`monitor-${n}`, `monitor RSS per container with ${n} (conmon / containerd-shim)`, 'MiB');
        const ps = b.row(`ps-${n}`, `\`ps\` with ${n} containers`, 'ms');
        const filter = b.row(`filter-${n}`, `\`ps -a --filter label=…\` (1 match) with ${n}`, 'ms');
        const inspect = b.row(`inspect-${n}`, `\`inspect <c>\` with ${n} containers`, 'ms');
        const stats = b.row(`stats-${n}`, `\`stats --no-stream\` of all ${n}`, 'ms');
        const events = b.row(`events-${n}`, `\`events --since\` replay with ${n} (every event so far)`, 'ms');
        const own = b.row(`own-ps-${n}`, `\`ps\` with ${n} containers through the engine's own CLI (berth CLI, served, on berthd; docker CLI on dockerd)`, 'ms');
        const api = b.row(`api-ps-${n}`, `GET /containers/json alone with ${n} containers`, 'ms');
        growth.push({ n, own, api });
        const all: Row[] = [start, rss, mon, ps, own, api, filter, inspect, stats, events];

        // Grow, one engine after the other (each gets the machine to itself).
        await b.each(all, async (e) => {
          const have = ids.get(e)!;
          const more = n - have.length;
          if (more <= 0) return;
          b.log(`  ${e.key}: starting ${more} containers (to ${n})`);
          const t0 = performance.now();
          const rs = await pool(Array.from({ length: more }), 4, (_, i) =>
            e.docker(['run', '-d', '--label', `${LABEL}=1`, '--label', `${LABEL}.i=${have.length + i}`, 'busybox', 'sleep', '100000'], { timeout: 180_000 }),
          );
          const wall = performance.now() - t0;
          const bad = rs.filter((r) => r.code !== 0);
          have.push(...rs.filter((r) => r.code === 0).map((r) => r.stdout.trim()));
          if (bad.length) throw new Error(`${bad.length}/${more} run -d failed: ${failureText(bad[0])}`);
          await waitFor(`${n} containers running`, 120_000, async () => (await e.containerIds(false)).length >= n, 500);
          b.add(start, e, wall / more);
          b.log(`  ${e.key}: ${more} started in ${(wall / 1000).toFixed(1)} s`);
        });
        await sleep(2000); // let the daemons settle after the burst

        for (const e of b.live) {
          if (b.failed(rss, e)) continue;
          const snaps = [];
          for (let i = 0; i < 3; i++) {
            if (i) await sleep(1000);
            snaps.push(e.memory());
          }
          for (const s of snaps) b.add(rss, e, s.daemonRssKiB / MiB);
          const last = snaps[snaps.length - 1];
          if (last.monitors.length !== n) b.fail(mon, e, `found ${last.monitors.length} monitor processes for ${n} containers`);
          else for (const m of last.monitors) b.add(mon, e, m.rssKiB / MiB);
          b.log(`  ${e.key}: daemon ${(last.daemonRssKiB / MiB).toFixed(1)} MiB, ${last.monitors.length} monitors; load ${loadavg()}`);
        }

        const runs = n >= 1000 ? b.runs(10, 3) : b.runs(15, 5);
        // Each sample waits (≤ 1 s) for a quiet machine first, as the overlay
        // and import rows do: right after the other engine's sample its
        // daemon may still be working (GC, a 370 ms `ps` of 1,000 rows).
        const cli = async (e: Engine, args: string[], check?: (out: string) => string | undefined, timeout = 120_000): Promise<number> => {
          await settled(1000);
          const r = await e.docker(args, { timeout });
          if (r.code !== 0) throw new Error(failureText(r));
          const bad = check?.(r.stdout);
          if (bad) throw new Error(bad);
          return r.ms;
        };
        const lines = (s: string): number => s.trim().split('\n').filter(Boolean).length;
        await b.interleave(ps, runs, (e) => cli(e, ['ps'], (o) => (lines(o) - 1 !== n ? `ps listed ${lines(o) - 1}, expected ${n}` : undefined)), 1);
        await b.interleave(own, runs, async (e) => {
          const { NODE_OPTIONS: _no, ...env } = e.env;
          await settled(1000);
          const r = e.key === 'berth'
            ? await run(BERTH, ['ps'], { env: { ...env, BERTH_CLI_SOCKET: path.join(cliDir, 'sock') }, timeout: 120_000 })
            : await run(DOCKER_CLI, ['ps'], { env, timeout: 120_000 });
          if (r.code !== 0) throw new Error(failureText(r));
          if (lines(r.stdout) - 1 !== n) throw new Error(`ps listed ${lines(r.stdout) - 1}, expected ${n}`);
          return r.ms;
        }, 1);
        await b.interleave(api, runs, async (e) => {
          await settled(1000);
          return listTime(e.socket, n);
        }, 1);
        await b.interleave(
          filter,
          runs,
          (e, i) => cli(e, ['ps', '-a', '-q', '--filter', `label=${LABEL}.i=${pick(i * 7, n)}`], (o) => (lines(o) !== 1 ? `filter matched ${lines(o)}, expected 1` : undefined)),
          1,
        );
        await b.interleave(inspect, runs, (e, i) => { const l = ids.get(e)!; return cli(e, ['inspect', l[pick(i * 13, l.length)]]); }, 1);
        await b.interleave(
          stats,
          n >= 1000 ? b.runs(3, 1) : b.runs(5, 2),
          (e) => cli(e, ['stats', '--no-stream', '--format', '{{.ID}} {{.MemUsage}}'], (o) => (lines(o) < n ? `stats listed ${lines(o)}, expected ${n}` : undefined), 300_000),
        );
        await b.interleave(events, runs, (e) => {
          const until = Math.floor(Date.now() / 1000);
          return cli(e, ['events', '--since', String(since.get(e)), '--until', String(until), '--format', '{{.Type}}'], (o) => (lines(o) < 2 * n ? `events replayed ${lines(o)}, expected ≥ ${2 * n}` : undefined));
        });
      }
      noteGrowth(b, growth);
    } finally {
      for (const e of b.live) {
        b.log(`  removing containers on ${e.title}`);
        if (!(await e.removeAllContainers(600_000))) b.log(`  ${e.title}: removal incomplete within 10 min; the rest goes with the daemon`);
      }
      // the resident CLI server exits once its socket is gone
      fs.rmSync(cliDir, { recursive: true, force: true });
    }
  },
};

const BERTH = path.join(REPO_ROOT, 'bin', 'berth');

/** ms for GET /containers/json on the engine's socket, the whole answer read; checks it lists `n`. */
function listTime(socket: string, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get({ socketPath: socket, path: '/v1.41/containers/json', timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        try {
          const got = (JSON.parse(Buffer.concat(chunks).toString()) as unknown[]).length;
          if (got !== n) return reject(new Error(`the API listed ${got}, expected ${n}`));
        } catch (e) {
          return reject(e);
        }
        resolve(ms);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', reject);
  });
}

/** Notes how `ps` grew from the first size to the last, per engine (the issue's "flat": within 2x). */
function noteGrowth(b: Bench, growth: Array<{ n: number; own: Row; api: Row }>): void {
  if (growth.length < 2) return;
  const first = growth[0];
  const last = growth[growth.length - 1];
  for (const k of ['own', 'api'] as const) {
    const parts = b.live.map((e) => {
      const a = first[k].results[e.key]?.summary?.median;
      const z = last[k].results[e.key]?.summary?.median;
      return `${e.title} ${a && z ? `${(z / a).toFixed(2)}×` : '?'}`;
    });
    last[k].note = `growth from ${first.n} to ${last.n} containers: ${parts.join(', ')} (goal: within 2×)`;
    b.log(`  ${last[k].title}: ${last[k].note}`);
  }
}

/** An index in [0, n) for run i (negative during warm-up). */
function pick(i: number, n: number): number {
  return ((i % n) + n) % n;
}

function loadavg(): string {
  return os.loadavg().map((x) => x.toFixed(1)).join(' ');
}
