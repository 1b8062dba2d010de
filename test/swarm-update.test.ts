// Rolling updates, rollback and placement end to end (issue 15): three
// berthd hosts in network namespaces (a manager and two workers) driven with
// the docker CLI. `service update --limit-cpu 0.5` replaces the tasks and
// the new containers carry the limit; `service rollback` takes it away
// again; parallelism 1 with a 2 s delay over 4 replicas replaces one task at
// a time (seen from the tasks' timestamps); an update to a command that
// exits 1 with --update-failure-action rollback rolls back by itself;
// constraints place tasks only on matching nodes, and a task that fits
// nowhere stays pending with dockerd's "no suitable node" text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster, type ClusterHost } from './helpers/cluster';
import { waitFor } from './helpers/daemon';

let cluster: Cluster;
let mgr: ClusterHost, w1: ClusterHost, w2: ClusterHost;
const ids: Record<string, string> = {};
const numbers: Record<string, string> = {};
/** A busybox loop that stops at once on SIGTERM (sleep as PID 1 would wait out the grace period). */
const LOOP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done'];

interface Task {
  ID: string; ServiceID: string; Slot?: number; NodeID?: string; DesiredState: string; CreatedAt: string;
  Status: { State: string; Message: string; Err?: string; Timestamp: string; ContainerStatus?: { ContainerID?: string } };
  Spec: { ContainerSpec: { Image: string; Args?: string[]; Env?: string[] }; Resources?: { Limits?: { NanoCPUs?: number } } };
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Svc = Record<string, any>;

async function tasks(service: string): Promise<Task[]> {
  const r = await mgr.api('GET', `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [service] }))}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as Task[];
}

async function inspect(service: string): Promise<Svc> {
  const r = await mgr.api('GET', `/services/${service}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as Svc;
}

const running = (ts: Task[]) => ts.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');

async function allRunning(service: string, n: number, ms = 60_000, ok: (t: Task) => boolean = () => true): Promise<Task[]> {
  let got: Task[] = [];
  await waitFor(async () => {
    const ts = await tasks(service);
    got = running(ts);
    return got.length === n && got.every(ok) && ts.filter((t) => t.DesiredState === 'running').length === n;
  }, ms, `${n} running tasks of ${service}`);
  return got;
}

async function updateState(service: string, state: string, ms = 90_000, seen?: Set<string>): Promise<Svc> {
  let svc: Svc = {};
  await waitFor(async () => {
    svc = await inspect(service);
    if (svc.UpdateStatus) seen?.add(`${svc.UpdateStatus.State}: ${svc.UpdateStatus.Message}`);
    return svc.UpdateStatus?.State === state;
  }, ms, `${service} UpdateStatus ${state}`);
  return svc;
}

/** NanoCpus of the running containers of a service, over all hosts. */
async function nanoCpus(service: string): Promise<number[]> {
  const out: number[] = [];
  for (const h of cluster.hosts) {
    const ps = (await h.ok(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`])).trim();
    if (!ps) continue;
    const ins = JSON.parse(await h.ok(['inspect', ...ps.split('\n')])) as Array<{ HostConfig: { NanoCpus: number } }>;
    out.push(...ins.map((c) => c.HostConfig.NanoCpus));
  }
  return out;
}

before(async () => {
  cluster = await startCluster(3, { names: ['mgr', 'w1', 'w2'], startTimeout: 90_000 });
  [mgr, w1, w2] = cluster.hosts;
  await Promise.all(cluster.hosts.map((h) => h.loadBusybox()));
  await mgr.ok(['swarm', 'init', '--advertise-addr', mgr.addr]);
  const token = (await mgr.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
  for (const w of [w1, w2]) await w.ok(['swarm', 'join', '--token', token, `${mgr.addr}:2377`]);
  await waitFor(async () => (await mgr.ok(['node', 'ls', '--format', '{{.Status}}'])).split('\n').filter((s) => s === 'Ready').length === 3, 60_000, 'three Ready nodes');
  for (const h of cluster.hosts) ids[h.name] = (await h.ok(['info', '--format', '{{.Swarm.NodeID}}'])).trim();
});

after(async () => {
  if (numbers && Object.keys(numbers).length) console.log('swarm-update numbers:', JSON.stringify(numbers));
  if (!cluster) return;
  // services of a failed test go first, and their containers with them
  const left = (await mgr.docker(['service', 'ls', '-q'])).stdout.trim();
  if (left) await mgr.docker(['service', 'rm', ...left.split('\n')]);
  await waitFor(async () => {
    for (const h of cluster.hosts) if ((await h.docker(['ps', '-aq'])).stdout.trim()) return false;
    return true;
  }, 30_000, 'no task containers left').catch(() => undefined);
  await cluster.destroy();
  assert.deepEqual(await cluster.leftovers(), []);
});

test('update --limit-cpu 0.5 replaces the tasks with limited containers; rollback restores them', async () => {
  await mgr.ok(['service', 'create', '-d', '--no-resolve-image', '--replicas', '3', '--name', 'lim', '--update-parallelism', '3', '--update-monitor', '1s',
    '--rollback-parallelism', '3', '--rollback-monitor', '1s', 'busybox', ...LOOP]);
  const first = await allRunning('lim', 3);
  assert.deepEqual(await nanoCpus('lim'), [0, 0, 0]);
  const t0 = Date.now();
  await mgr.ok(['service', 'update', '-d', '--limit-cpu', '0.5', 'lim']);
  const seen = new Set<string>();
  const done = await updateState('lim', 'completed', 90_000, seen);
  numbers.limitCpuUpdateMs = String(Date.now() - t0);
  assert.equal(done.UpdateStatus.Message, 'update completed');
  assert.ok(Date.parse(done.UpdateStatus.CompletedAt) >= Date.parse(done.UpdateStatus.StartedAt));
  assert.ok([...seen].some((s) => s === 'updating: update in progress') || seen.size === 1, [...seen].join(', '));
  assert.equal(done.Spec.TaskTemplate.Resources.Limits.NanoCPUs, 500_000_000);
  assert.equal(done.PreviousSpec.TaskTemplate.Resources?.Limits?.NanoCPUs, undefined);
  const limited = await allRunning('lim', 3, 30_000, (t) => t.Spec.Resources?.Limits?.NanoCPUs === 500_000_000);
  assert.equal(limited.filter((t) => first.some((f) => f.ID === t.ID)).length, 0, 'every task was replaced');
  await waitFor(async () => (await nanoCpus('lim')).join() === '500000000,500000000,500000000', 30_000, 'limited containers');
  const ps = await mgr.ok(['service', 'ps', 'lim', '--format', '{{.Name}} {{.DesiredState}}']);
  assert.equal(ps.split('\n').filter((l) => / Shutdown$/.test(l)).length, 3, ps);

  const t1 = Date.now();
  await mgr.ok(['service', 'rollback', '-d', 'lim']);
  const rb = await updateState('lim', 'rollback_completed');
  numbers.rollbackMs = String(Date.now() - t1);
  assert.equal(rb.UpdateStatus.Message, 'rollback completed');
  assert.equal(rb.Spec.TaskTemplate.Resources?.Limits?.NanoCPUs, undefined);
  await allRunning('lim', 3, 30_000, (t) => !t.Spec.Resources?.Limits?.NanoCPUs);
  await waitFor(async () => (await nanoCpus('lim')).join() === '0,0,0', 30_000, 'unlimited containers again');
  await mgr.ok(['service', 'rm', 'lim']);
});

test('parallelism 1, delay 2 s over 4 replicas: one task at a time, in slot order', async () => {
  await mgr.ok(['service', 'create', '-d', '--no-resolve-image', '--replicas', '4', '--name', 'roll', '--update-parallelism', '1', '--update-delay', '2s',
    '--update-monitor', '1s', 'busybox', ...LOOP]);
  await allRunning('roll', 4);
  const t0 = Date.now();
  await mgr.ok(['service', 'update', '-d', '--env-add', 'V=2', 'roll']);
  const fresh = await allRunning('roll', 4, 90_000, (t) => (t.Spec.ContainerSpec.Env ?? []).includes('V=2'));
  numbers.rolling4x2sMs = String(Date.now() - t0);
  await updateState('roll', 'completed');
  fresh.sort((a, b) => a.CreatedAt.localeCompare(b.CreatedAt));
  assert.deepEqual(fresh.map((t) => t.Slot), [1, 2, 3, 4], 'slots replaced in order');
  const gaps: number[] = [];
  for (let i = 1; i < fresh.length; i++) {
    // the next task is made only after the previous one runs and the delay has passed
    const gap = Date.parse(fresh[i].CreatedAt) - Date.parse(fresh[i - 1].Status.Timestamp);
    assert.ok(gap >= 1900, `task ${i + 1} created ${gap} ms after task ${i} ran`);
    gaps.push(Date.parse(fresh[i].Status.Timestamp) - Date.parse(fresh[i - 1].Status.Timestamp));
  }
  numbers.rollingGapsMs = gaps.join('/');
  await mgr.ok(['service', 'rm', 'roll']);
});

test('--update-failure-action rollback: an update to a command that exits 1 rolls back by itself', async () => {
  await mgr.ok(['service', 'create', '-d', '--no-resolve-image', '--replicas', '2', '--name', 'fb', '--update-failure-action', 'rollback',
    '--update-monitor', '3s', '--rollback-monitor', '1s', 'busybox', ...LOOP]);
  await allRunning('fb', 2);
  const t0 = Date.now();
  await mgr.ok(['service', 'update', '-d', '--args', 'false', 'fb']);
  const seen = new Set<string>();
  const svc = await updateState('fb', 'rollback_completed', 90_000, seen);
  numbers.autoRollbackMs = String(Date.now() - t0);
  assert.equal(svc.UpdateStatus.Message, 'rollback completed');
  assert.deepEqual(svc.Spec.TaskTemplate.ContainerSpec.Args, LOOP);
  assert.equal(svc.PreviousSpec, undefined);
  const started = [...seen].find((s) => s.startsWith('rollback_started'));
  if (started) assert.match(started, /^rollback_started: update rolled back due to failure or early termination of task [a-z0-9]{25}$/);
  const ts = await tasks('fb');
  assert.ok(ts.some((t) => t.Status.State === 'failed' && (t.Spec.ContainerSpec.Args ?? []).join(' ') === 'false'), 'the new command ran and failed');
  await allRunning('fb', 2, 30_000, (t) => (t.Spec.ContainerSpec.Args ?? [])[0] === 'sh');
  await mgr.ok(['service', 'rm', 'fb']);
});

test('constraints place tasks only on matching nodes; a task that fits nowhere stays pending', async () => {
  await mgr.ok(['node', 'update', '--label-add', 'zone=a', 'w1']);
  await mgr.ok(['service', 'create', '-d', '--no-resolve-image', '--replicas', '3', '--name', 'pin', '--constraint', 'node.labels.zone==a', 'busybox', ...LOOP]);
  await mgr.ok(['service', 'create', '-d', '--no-resolve-image', '--replicas', '2', '--name', 'onmgr', '--constraint', 'node.role==manager', 'busybox', ...LOOP]);
  await mgr.ok(['service', 'create', '-d', '--no-resolve-image', '--replicas', '2', '--name', 'notw1', '--constraint', `node.hostname!=w1`, 'busybox', ...LOOP]);
  const pin = await allRunning('pin', 3);
  assert.deepEqual([...new Set(pin.map((t) => t.NodeID))], [ids.w1]);
  const onmgr = await allRunning('onmgr', 2);
  assert.deepEqual([...new Set(onmgr.map((t) => t.NodeID))], [ids.mgr]);
  const notw1 = await allRunning('notw1', 2);
  assert.ok(notw1.every((t) => t.NodeID !== ids.w1));
  assert.equal(new Set(notw1.map((t) => t.NodeID)).size, 2, 'spread over the two other nodes');

  await mgr.ok(['service', 'create', '-d', '--no-resolve-image', '--replicas', '1', '--name', 'nowhere', '--constraint', 'node.labels.zone==zz', 'busybox', ...LOOP]);
  await waitFor(async () => (await tasks('nowhere')).some((t) => t.Status.State === 'pending' && !!t.Status.Err), 20_000, 'a pending task');
  const [t] = await tasks('nowhere');
  assert.equal(t.Status.Err, 'no suitable node (scheduling constraints not satisfied on 3 nodes)');
  const ps = await mgr.ok(['service', 'ps', 'nowhere', '--no-trunc', '--format', '{{.CurrentState}}|{{.Error}}']);
  assert.match(ps, /^Pending .*\|"?no suitable node \(scheduling constraints not satisfied on 3 nodes\)"?$/m);

  // a label that appears later: the pending task is placed there
  await mgr.ok(['node', 'update', '--label-add', 'zone=zz', 'w2']);
  const placed = await allRunning('nowhere', 1, 30_000);
  assert.equal(placed[0].NodeID, ids.w2);

  const bad = await mgr.docker(['service', 'create', '-d', '--no-resolve-image', '--name', 'bad', '--constraint', 'node.role=manager', 'busybox', 'true']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /constraint expected one operator from ==, !=/);
  for (const s of ['pin', 'onmgr', 'notw1', 'nowhere']) await mgr.ok(['service', 'rm', s]);
});
