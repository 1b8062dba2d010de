// Swarm mode on the namespaces layout (test/helpers/cluster.ts): five hosts,
// each a network namespace with its own engine — berthd (+ the etcd it runs
// on managers) or dockerd (+ its containerd). Per run, a fresh cluster:
// `swarm init`, two manager joins, two worker joins, RSS per manager, then
// kill -9 of a worker (time until a manager shows it Down) and kill -9 of
// the leader (time until another manager is Leader). Runnable alone:
// `node dist/bench/run.js --only swarm`.
import type { Bench, Row, Workload } from '../lib/bench';
import type { Engine } from '../lib/engine';
import type { ClusterHost } from '../../test/helpers/cluster';
import { settled, sleep } from '../lib/proc';
import { secondsUntil, withCluster, alternatingRuns, logMedians } from '../lib/cluster-runs';

const HOSTS = ['mgr1', 'mgr2', 'mgr3', 'wrk1', 'wrk2'];

/** Wall time of a docker command that must succeed, ms. */
async function timed(h: ClusterHost, args: string[], timeout = 120_000): Promise<number> {
  const t0 = performance.now();
  const r = await h.docker(args, { timeout });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`docker ${args.slice(0, 2).join(' ')} on ${h.name}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return ms;
}

/** `node ls` as hostname → [status, manager status]; undefined while the manager cannot answer. */
async function nodeStates(h: ClusterHost): Promise<Map<string, [string, string]> | undefined> {
  const r = await h.docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'], { timeout: 10_000 }).catch(() => undefined);
  if (!r || r.code !== 0) return undefined;
  const m = new Map<string, [string, string]>();
  for (const line of r.stdout.trim().split('\n')) {
    const [name, status, ms] = line.split(' ');
    if (name) m.set(name, [status, ms ?? '']);
  }
  return m;
}

/** Whether this engine's daemon can init a swarm at all (berthd before swarm mode answers 503/404). */
async function swarmSupported(h: ClusterHost): Promise<string | undefined> {
  const r = await h.api('GET', '/swarm');
  if (r.status === 404 || r.status === 501) return `berthd has no swarm mode (GET /swarm answered ${r.status})`;
  const probe = await h.api('POST', '/swarm/init', { ListenAddr: '0.0.0.0:2377', AdvertiseAddr: h.addr });
  if (probe.status >= 200 && probe.status < 300) {
    // It worked: leave again, the run inits for real.
    await h.api('POST', '/swarm/leave?force=1');
    return undefined;
  }
  const msg = typeof probe.body === 'object' && probe.body ? String((probe.body as { message?: string }).message) : String(probe.body);
  return `berthd cannot init a swarm (POST /swarm/init answered ${probe.status}: ${msg.slice(0, 120)})`;
}

async function oneRun(b: Bench, e: Engine, rows: Record<string, Row>, first: boolean): Promise<void> {
  await withCluster(b, e, HOSTS, async (hosts) => {
    const [m1, m2, m3, w1, w2] = hosts;
    if (e.key !== 'docker' && first) {
      const why = await swarmSupported(m1);
      if (why) {
        b.log(`  ${e.key}: skipped: ${why}`);
        for (const r of Object.values(rows)) b.fail(r, e, `skipped: ${why}`);
        return;
      }
    }
    b.add(rows.init, e, await timed(m1, ['swarm', 'init', '--advertise-addr', m1.addr]));
    const mtoken = (await m1.docker(['swarm', 'join-token', '-q', 'manager'])).stdout.trim();
    const wtoken = (await m1.docker(['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
    // Each join once the machine is quiet again (≤ 5 s), as a person typing
    // the next command finds it: not beside the last join's own start-up
    // (a new manager's store and components), which on 2 cores decided
    // which engine's next join was slower more than the join itself.
    // How long each wait was is logged: the work the last step left running.
    const join = async (h: ClusterHost, token: string) => {
      const s0 = performance.now();
      const quiet = await settled();
      b.log(`  ${e.key}: ${h.name} joins after ${Math.round(performance.now() - s0)} ms of waiting${quiet ? '' : ' (never quiet)'}`);
      return timed(h, ['swarm', 'join', '--token', token, `${m1.addr}:2377`]);
    };
    for (const h of [m2, m3]) b.add(rows.joinManager, e, await join(h, mtoken));
    for (const h of [w1, w2]) b.add(rows.joinWorker, e, await join(h, wtoken));
    await secondsUntil(performance.now(), 120, '5 Ready nodes', async () => {
      const s = await nodeStates(m1);
      return !!s && [...s.values()].filter(([st]) => st === 'Ready').length === HOSTS.length;
    });
    await sleep(3000); // settle after the joins before reading memory
    for (const h of [m1, m2, m3]) {
      const mem = await h.rss();
      b.add(rows.rss, e, mem.kib / 1024);
      rows.rss.note = [rows.rss.note, `${e.key}: ${[...new Set(mem.procs)].join(' + ')}`].filter((x, i, a) => x && a.indexOf(x) === i).join('; ');
    }

    // A worker dies: how long until a manager shows it Down.
    let t0 = performance.now();
    await w2.kill('SIGKILL');
    b.add(rows.down, e, await secondsUntil(t0, 120, 'killed worker shown Down', async () => (await nodeStates(m1))?.get('wrk2')?.[0] === 'Down'));

    // The leader dies (engine and its etcd / containerd): a new Leader, seen from mgr2.
    t0 = performance.now();
    await m1.kill('SIGKILL');
    b.add(rows.failover, e, await secondsUntil(t0, 180, 'new Leader after the leader\'s kill -9', async () => {
      const s = await nodeStates(m2);
      return !!s && [...s.entries()].some(([name, [, ms]]) => name !== 'mgr1' && ms === 'Leader');
    }));
  });
}

export const workload: Workload = {
  name: 'swarm',
  description: 'swarm mode, 5 hosts in network namespaces: init, joins, failover, Down detection, manager RSS',
  order: 90,
  ownEngines: true,
  async run(b) {
    const rows = {
      init: b.row('swarm-init', '`swarm init`', 'ms', { target: { minRatio: 2 } }),
      joinManager: b.row('swarm-join-manager', '`swarm join` as a manager', 'ms', { target: { minRatio: 2 } }),
      joinWorker: b.row('swarm-join-worker', '`swarm join` as a worker', 'ms', { target: { minRatio: 2 } }),
      down: b.row('swarm-down', 'killed worker shown `Down` (kill -9)', 's', { target: { minRatio: 2 } }),
      failover: b.row('swarm-failover', 'new `Leader` after the leader\'s kill -9', 's', { target: { minRatio: 2 } }),
      rss: b.row('swarm-manager-rss', 'RSS per manager (berthd + etcd / dockerd + containerd)', 'MiB', { target: { minRatio: 1 } }),
    };
    await alternatingRuns(b, rows, b.runs(3, 1), (e, i) => oneRun(b, e, rows, i === 0), (e, err) => {
      for (const r of Object.values(rows)) b.fail(r, e, err);
    });
    for (const r of [rows.joinManager, rows.joinWorker]) r.note = 'each join once the machine is quiet (settled(), ≤ 5 s): a new manager keeps starting after its join answered, and the next join no longer runs beside that';
    logMedians(b, rows, (r) => (r.unit === 'ms' ? 0 : 2));
  },
};
