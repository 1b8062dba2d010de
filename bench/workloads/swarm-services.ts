// Swarm services on the namespaces layout (test/helpers/cluster.ts): three
// hosts (a manager and two workers), each its own engine — berthd or
// dockerd. Per run, a fresh cluster with busybox loaded everywhere:
// `service create --replicas 10` until `service ls` shows 10/10, `service
// scale` 10 → 30 until 30/30, then kill -9 of a worker until its tasks run
// elsewhere (30/30 again, none on the dead node). A second service of 10
// replicas (stop signal KILL) gets a rolling update to another tag of the
// same image (parallelism 2, no delay) until its 10 running tasks all run
// the new tag.
// Both engines give a task without networks a default-bridge endpoint (veth
// and address, as `docker run` gets on a stock dockerd): dockerd keeps its
// docker0 here (no iptables), where the other cluster workloads run it with
// --bridge=none, which leaves such a task with no network at all while
// berthd's still gets its endpoint (unequal work per task);
// BENCH_DOCKER_BRIDGE=none runs dockerd that way, for comparison.
// Runnable alone:
// `node dist/bench/run.js --only swarm-services`.
import type { Bench, Row, Workload } from '../lib/bench';
import type { Engine } from '../lib/engine';
import type { ClusterHost } from '../../test/helpers/cluster';
import { secondsUntil, withCluster, alternatingRuns, logMedians } from '../lib/cluster-runs';

const HOSTS = ['mgr', 'wrk1', 'wrk2'];

async function must(h: ClusterHost, args: string[], timeout = 120_000): Promise<string> {
  const r = await h.docker(args, { timeout });
  if (r.code !== 0) throw new Error(`docker ${args.slice(0, 3).join(' ')} on ${h.name}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return r.stdout;
}

/** `service ls`'s REPLICAS of one service. */
async function replicas(h: ClusterHost, name: string): Promise<string> {
  return (await must(h, ['service', 'ls', '--filter', `name=${name}`, '--format', '{{.Replicas}}'], 20_000)).trim();
}

/** Tasks desired running that run `image` (`service ps`). */
async function runningImage(h: ClusterHost, name: string, image: string): Promise<number> {
  const out = await must(h, ['service', 'ps', name, '--filter', 'desired-state=running', '--format', '{{.Image}} {{.CurrentState}}'], 20_000);
  return out.trim().split('\n').filter((l) => l.startsWith(`${image} Running`)).length;
}

/** Running tasks of a service per node name (`service ps`, desired running). */
async function runningByNode(h: ClusterHost, name: string): Promise<Map<string, number>> {
  const out = await must(h, ['service', 'ps', name, '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'], 20_000);
  const m = new Map<string, number>();
  for (const line of out.trim().split('\n')) {
    const [node, state] = line.split(' ');
    if (state === 'Running') m.set(node, (m.get(node) ?? 0) + 1);
  }
  return m;
}

async function oneRun(b: Bench, e: Engine, rows: Record<string, Row>): Promise<void> {
  await withCluster(b, e, HOSTS, async (hosts) => {
    const [mgr, , w2] = hosts;
    await Promise.all(hosts.map((h) => h.loadBusybox()));
    await must(mgr, ['swarm', 'init', '--advertise-addr', mgr.addr]);
    const token = (await must(mgr, ['swarm', 'join-token', '-q', 'worker'])).trim();
    for (const h of hosts.slice(1)) await must(h, ['swarm', 'join', '--token', token, `${mgr.addr}:2377`]);
    await secondsUntil(performance.now(), 120, '3 Ready nodes', async () =>
      (await must(mgr, ['node', 'ls', '--format', '{{.Status}}'], 10_000)).split('\n').filter((s) => s === 'Ready').length === HOSTS.length);

    let t0 = performance.now();
    await must(mgr, ['service', 'create', '-d', '--no-resolve-image', '--replicas', '10', '--name', 'bench', 'busybox', 'sleep', '100000']);
    b.add(rows.create, e, await secondsUntil(t0, 180, '10/10', async () => (await replicas(mgr, 'bench')) === '10/10'));

    // rolling update: a second service of 10, to a second tag of busybox (present everywhere: no pull)
    await Promise.all(hosts.map((h) => must(h, ['tag', 'busybox', 'busybox:v2'])));
    // SIGKILL stops: `sleep` as pid 1 ignores SIGTERM, and each batch would wait out the 10 s grace period
    await must(mgr, ['service', 'create', '-d', '--no-resolve-image', '--replicas', '10', '--stop-signal', 'KILL', '--name', 'roll', 'busybox', 'sleep', '100000']);
    await secondsUntil(performance.now(), 180, 'roll 10/10', async () => (await replicas(mgr, 'roll')) === '10/10');
    t0 = performance.now();
    await must(mgr, ['service', 'update', '-d', '--no-resolve-image', '--update-parallelism', '2', '--update-delay', '0s', '--image', 'busybox:v2', 'roll']);
    b.add(rows.update, e, await secondsUntil(t0, 300, '10 tasks on busybox:v2', async () => (await runningImage(mgr, 'roll', 'busybox:v2')) === 10));
    await must(mgr, ['service', 'rm', 'roll']);
    await secondsUntil(performance.now(), 120, 'roll\'s containers gone', async () =>
      (await Promise.all(hosts.map(async (h) => (await must(h, ['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=roll'])).trim()))).every((x) => !x));

    t0 = performance.now();
    await must(mgr, ['service', 'scale', '-d', 'bench=30']);
    b.add(rows.scale, e, await secondsUntil(t0, 300, '30/30', async () => (await replicas(mgr, 'bench')) === '30/30'));

    const before = (await runningByNode(mgr, 'bench')).get('wrk2') ?? 0;
    t0 = performance.now();
    await w2.kill('SIGKILL');
    b.add(rows.reschedule, e, await secondsUntil(t0, 300, 'tasks of the killed worker running elsewhere', async () => {
      const m = await runningByNode(mgr, 'bench');
      return !m.has('wrk2') && [...m.values()].reduce((a, x) => a + x, 0) === 30;
    }));
    rows.reschedule.note = [rows.reschedule.note, `${e.key}: ${before} tasks on the killed worker`].filter(Boolean).join('; ');
  }, { dockerBridge: process.env.BENCH_DOCKER_BRIDGE !== 'none' });
}

export const workload: Workload = {
  name: 'swarm-services',
  description: 'swarm services, 3 hosts in network namespaces: create 10 replicas, scale 10 → 30, rolling update of 10, reschedule after a worker\'s kill -9',
  order: 91,
  ownEngines: true,
  async run(b) {
    const rows = {
      create: b.row('service-create-10', '`service create --replicas 10` until 10/10', 's', { target: { minRatio: 2 } }),
      scale: b.row('service-scale-30', '`service scale` 10 → 30 until 30/30', 's', { target: { minRatio: 2 } }),
      update: b.row('service-update-10', 'rolling update of 10 replicas (parallelism 2, no delay) until 10 run the new image', 's', { target: { minRatio: 2 } }),
      reschedule: b.row('service-reschedule', 'tasks of a kill -9\'d worker running elsewhere', 's', { target: { minRatio: 2 } }),
    };
    // a failed run keeps the rows it already measured
    await alternatingRuns(b, rows, b.runs(3, 1), (e) => oneRun(b, e, rows), (e, err) => {
      for (const r of Object.values(rows)) if (!r.results[e.key].summary) b.fail(r, e, err);
    });
    logMedians(b, rows, () => 2);
  },
};
