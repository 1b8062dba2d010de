// Swarm services and tasks, the manager side (issue 15): two berthd hosts
// in network namespaces (a manager and a worker) driven with the docker CLI.
// `service create/ls/inspect/ps/scale/update/rollback/rm` answer with
// dockerd's shapes and texts; the leader's orchestrator makes one task per
// slot and the scheduler spreads them over the nodes; scale down gives the
// highest slots desired state remove; Version.Index guards updates; global
// mode follows drain; the tasks of a worker killed with kill -9 are replaced
// on a live node within a bound; a worker refuses service calls as dockerd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster, type ClusterHost } from './helpers/cluster';
import { waitFor } from './helpers/daemon';

let cluster: Cluster;
let mgr: ClusterHost, wrk: ClusterHost;
const ids: Record<string, string> = {};
/** Asserted bound from a worker's kill -9 to its tasks assigned elsewhere (the liveness TTL is 3 s; goal ≤ 6 s). */
const RESCHEDULE_BOUND_MS = 15_000;

interface Task {
  ID: string; Version: { Index: number }; ServiceID: string; Slot?: number; NodeID?: string; DesiredState: string;
  Status: { State: string; Message: string; Timestamp: string; PortStatus: unknown }; Spec: { ContainerSpec: { Image: string } };
  CreatedAt: string; UpdatedAt: string; Labels: unknown;
}

async function tasks(h: ClusterHost, service: string): Promise<Task[]> {
  const r = await h.api('GET', `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [service] }))}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as Task[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Svc = Record<string, any>;

const wanted = (ts: Task[]) => ts.filter((t) => t.DesiredState === 'running');
const slots = (ts: Task[]) => wanted(ts).map((t) => t.Slot).sort();

before(async () => {
  cluster = await startCluster(2, { names: ['mgr', 'wrk'], startTimeout: 90_000 });
  [mgr, wrk] = cluster.hosts;
  await Promise.all(cluster.hosts.map((h) => h.loadBusybox()));
  await mgr.ok(['swarm', 'init', '--advertise-addr', mgr.addr]);
  const token = (await mgr.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
  await wrk.ok(['swarm', 'join', '--token', token, `${mgr.addr}:2377`]);
  await waitFor(async () => (await mgr.ok(['node', 'ls', '--format', '{{.Status}}'])).split('\n').filter((s) => s === 'Ready').length === 2, 60_000, 'two Ready nodes');
  for (const h of cluster.hosts) ids[h.name] = (await h.ok(['info', '--format', '{{.Swarm.NodeID}}'])).trim();
});

after(async () => {
  if (!cluster) return;
  await cluster.destroy();
  assert.deepEqual(await cluster.leftovers(), []);
});

test('service create, ls, inspect and ps: dockerd\'s shapes; tasks made and spread', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const id = (await mgr.ok(['service', 'create', '-d', '--no-resolve-image', '--replicas', '2', '--name', 'web', '--label', 'tier=front', 'busybox', 'sleep', '1000'])).trim();
  assert.match(id, /^[a-z0-9]{25}$/);
  const [svc] = JSON.parse(await mgr.ok(['service', 'inspect', 'web'])) as Svc[];
  assert.equal(svc.ID, id);
  assert.equal(typeof svc.Version.Index, 'number');
  assert.ok(Date.parse(svc.CreatedAt) && Date.parse(svc.UpdatedAt));
  assert.equal(svc.Spec.Name, 'web');
  assert.deepEqual(svc.Spec.Labels, { tier: 'front' });
  assert.deepEqual(svc.Spec.Mode, { Replicated: { Replicas: 2 } });
  assert.equal(svc.Spec.TaskTemplate.ContainerSpec.Image, 'busybox:latest');
  assert.deepEqual(svc.Spec.TaskTemplate.ContainerSpec.Args, ['sleep', '1000']);
  assert.equal(svc.Spec.TaskTemplate.RestartPolicy.Condition, 'any');
  assert.equal(svc.Spec.UpdateConfig.FailureAction, 'pause');
  assert.equal(svc.Spec.UpdateConfig.Order, 'stop-first');
  assert.equal(svc.Spec.RollbackConfig.Parallelism, 1);
  assert.equal(svc.Spec.EndpointSpec.Mode, 'vip');
  assert.deepEqual(svc.Endpoint, { Spec: {} });
  assert.equal(svc.PreviousSpec, undefined);
  // by name, id and id prefix; a missing one is dockerd's error
  assert.equal(JSON.parse(await mgr.ok(['service', 'inspect', id.slice(0, 6)]))[0].ID, id);
  const miss = await mgr.docker(['service', 'inspect', 'nope']);
  assert.equal(miss.code, 1);
  assert.match(miss.stderr, /no such service: nope/i);

  // the orchestrator's tasks: slots 1 and 2, scheduled one per node
  await waitFor(async () => (await tasks(mgr, 'web')).filter((t) => t.Status.State === 'running').length === 2, 30_000, 'two running tasks');
  const ts = await tasks(mgr, 'web');
  assert.deepEqual(slots(ts), [1, 2]);
  assert.deepEqual(ts.map((t) => t.NodeID).sort(), [ids.mgr, ids.wrk].sort());
  for (const t of ts) {
    assert.equal(t.ServiceID, id);
    assert.equal(t.Spec.ContainerSpec.Image, 'busybox:latest');
    assert.equal(t.Status.Message, 'started');
    assert.deepEqual(t.Status.PortStatus, {});
    assert.deepEqual(t.Labels, {});
  }
  const one = await mgr.api('GET', `/tasks/${ts[0].ID}`);
  assert.equal(one.status, 200);
  assert.equal((one.body as Task).ID, ts[0].ID);
  assert.equal((await mgr.api('GET', '/tasks/nope')).status, 404);

  const ls = await mgr.ok(['service', 'ls']);
  assert.match(ls, /^ID +NAME +MODE +REPLICAS +IMAGE +PORTS\n/);
  assert.match(ls, new RegExp(`^${id.slice(0, 12)} +web +replicated +[0-2]/2 +busybox:latest *$`, 'm'));
  assert.equal((await mgr.ok(['service', 'ls', '--filter', 'label=tier=front', '-q'])).trim(), id.slice(0, 12));
  assert.equal((await mgr.ok(['service', 'ls', '--filter', 'mode=global', '-q'])).trim(), '');
  const ps = await mgr.ok(['service', 'ps', 'web', '--format', '{{.Name}} {{.Node}} {{.DesiredState}}']);
  assert.deepEqual(ps.trim().split('\n').map((l) => l.split(' ')[0]).sort(), ['web.1', 'web.2']);
  assert.match(ps, /web\.\d (mgr|wrk) Running/);

  // the name is taken
  const dup = await mgr.docker(['service', 'create', '-d', '--no-resolve-image', '--name', 'web', 'busybox', 'true']);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /rpc error: code = AlreadyExists desc = service web already exists/);
  const bad = await mgr.docker(['service', 'create', '-d', '--no-resolve-image', '--name', 'bad name', 'busybox']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /name must be valid as a DNS name component/);

  const ev = await mgr.ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=service', '--format', '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}']);
  assert.match(ev, new RegExp(`^create ${id} web$`, 'm'));
});

test('scale up and down: slots added, the highest removed', async () => {
  await mgr.ok(['service', 'scale', '-d', 'web=4']);
  await waitFor(async () => slots(await tasks(mgr, 'web')).join() === '1,2,3,4', 10_000, 'four slots');
  await waitFor(async () => (await tasks(mgr, 'web')).every((t) => t.NodeID), 10_000, 'four tasks assigned');
  const per = (ts: Task[], n: string) => wanted(ts).filter((t) => t.NodeID === ids[n]).length;
  const ts = await tasks(mgr, 'web');
  assert.deepEqual([per(ts, 'mgr'), per(ts, 'wrk')], [2, 2], 'spread two per node');
  await mgr.ok(['service', 'scale', '-d', 'web=1']);
  await waitFor(async () => slots(await tasks(mgr, 'web')).join() === '1', 10_000, 'slot 1 left');
  for (const t of await tasks(mgr, 'web')) if (t.Slot !== 1) assert.equal(t.DesiredState, 'remove');
  const ls = await mgr.ok(['service', 'ls', '--format', '{{.Name}} {{.Replicas}}']);
  assert.match(ls, /^web [01]\/1$/m);
});

test('update: Version.Index guards it, PreviousSpec kept, rollback swaps back', async () => {
  const [svc] = JSON.parse(await mgr.ok(['service', 'inspect', 'web'])) as Svc[];
  const stale = await mgr.api('POST', `/services/${svc.ID}/update?version=${svc.Version.Index - 1}`, svc.Spec);
  assert.equal(stale.status, 500);
  assert.match(JSON.stringify(stale.body), /update out of sequence/);
  const noVersion = await mgr.api('POST', `/services/${svc.ID}/update`, svc.Spec);
  assert.equal(noVersion.status, 400);
  const rename = await mgr.api('POST', `/services/${svc.ID}/update?version=${svc.Version.Index}`, { ...svc.Spec, Name: 'other' });
  assert.equal(rename.status, 501);
  assert.match(JSON.stringify(rename.body), /renaming services is not supported/);

  await mgr.ok(['service', 'update', '-d', '--no-resolve-image', '--env-add', 'A=1', 'web']);
  const [up] = JSON.parse(await mgr.ok(['service', 'inspect', 'web'])) as Svc[];
  assert.ok(up.Version.Index > svc.Version.Index);
  assert.deepEqual(up.Spec.TaskTemplate.ContainerSpec.Env, ['A=1']);
  assert.equal(up.PreviousSpec.TaskTemplate.ContainerSpec.Env, undefined);
  // the version read before the update is stale now
  const again = await mgr.api('POST', `/services/${svc.ID}/update?version=${svc.Version.Index}`, svc.Spec);
  assert.equal(again.status, 500);

  await mgr.ok(['service', 'update', '-d', '--force', 'web']);
  const [forced] = JSON.parse(await mgr.ok(['service', 'inspect', 'web'])) as Svc[];
  assert.equal(forced.Spec.TaskTemplate.ForceUpdate, 1);

  await mgr.ok(['service', 'rollback', '-d', 'web']);
  const [back] = JSON.parse(await mgr.ok(['service', 'inspect', 'web'])) as Svc[];
  assert.equal(back.Spec.TaskTemplate.ForceUpdate ?? 0, 0);
  assert.equal(back.UpdateStatus.State, 'rollback_started');
  assert.equal(back.UpdateStatus.Message, 'manually requested rollback');
  assert.equal(back.PreviousSpec.TaskTemplate.ForceUpdate, 1);
  const ev = await mgr.ok(['events', '--since', '0', '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=service', '--filter', 'event=update', '--format', '{{.Actor.Attributes.name}} {{index .Actor.Attributes "updatestate.new"}}']);
  assert.match(ev, /^web rollback_started$/m);
});

test('a worker answers service calls with dockerd\'s 503', async () => {
  const r = await wrk.docker(['service', 'ls']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state/);
  assert.equal((await wrk.api('GET', '/tasks')).status, 503);
});

test('global mode: one task per node; a drained node loses its task', async () => {
  const id = (await mgr.ok(['service', 'create', '-d', '--no-resolve-image', '--mode', 'global', '--name', 'agent', 'busybox', 'sleep', '1000'])).trim();
  await waitFor(async () => wanted(await tasks(mgr, 'agent')).length === 2, 10_000, 'two global tasks');
  const ts = wanted(await tasks(mgr, 'agent'));
  assert.deepEqual(ts.map((t) => t.NodeID).sort(), [ids.mgr, ids.wrk].sort());
  for (const t of ts) assert.equal(t.Slot, undefined);
  assert.match(await mgr.ok(['service', 'ls', '--filter', `id=${id}`, '--format', '{{.Mode}} {{.Replicas}}']), /^global [0-2]\/2\n$/);
  await mgr.ok(['node', 'update', '--availability', 'drain', 'wrk']);
  await waitFor(async () => wanted(await tasks(mgr, 'agent')).map((t) => t.NodeID).join() === ids.mgr, 10_000, 'only the manager keeps a task');
  await mgr.ok(['node', 'update', '--availability', 'active', 'wrk']);
  await waitFor(async () => wanted(await tasks(mgr, 'agent')).length === 2, 10_000, 'the worker gets a task again');
  await mgr.ok(['service', 'rm', 'agent']);
});

test('kill -9 of a worker: its tasks are replaced on a live node within a bound', async () => {
  await mgr.ok(['service', 'scale', '-d', 'web=4']);
  await waitFor(async () => wanted(await tasks(mgr, 'web')).filter((t) => t.NodeID).length === 4, 10_000, 'four assigned');
  const onWorker = wanted(await tasks(mgr, 'web')).filter((t) => t.NodeID === ids.wrk);
  assert.ok(onWorker.length >= 1, 'the worker has tasks');
  const t0 = Date.now();
  await wrk.kill('SIGKILL');
  await waitFor(async () => {
    const ts = wanted(await tasks(mgr, 'web'));
    return ts.length === 4 && ts.every((t) => t.NodeID === ids.mgr);
  }, RESCHEDULE_BOUND_MS + 5_000, 'all four slots on the manager');
  const ms = Date.now() - t0;
  console.log(`# reschedule after kill -9 of a worker: ${ms} ms`);
  assert.ok(ms < RESCHEDULE_BOUND_MS, `rescheduled in ${ms} ms`);
  const after = await tasks(mgr, 'web');
  for (const t of onWorker) assert.equal(after.find((x) => x.ID === t.ID)?.DesiredState, 'shutdown');
  assert.deepEqual(slots(after), [1, 2, 3, 4]);
});

test('service rm: the service goes, its tasks are removed', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const [svc] = JSON.parse(await mgr.ok(['service', 'inspect', 'web'])) as Svc[];
  assert.equal((await mgr.ok(['service', 'rm', 'web'])).trim(), 'web');
  assert.equal((await mgr.ok(['service', 'ls', '-q'])).trim(), '');
  await waitFor(async () => {
    const r = await mgr.api('GET', `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [svc.ID] }))}`);
    return r.status === 404 || (r.body as Task[]).every((t) => t.DesiredState === 'remove');
  }, 10_000, 'tasks desired remove');
  const all = (await mgr.api('GET', '/tasks')).body as Task[];
  assert.ok(all.filter((t) => t.ServiceID === svc.ID).every((t) => t.DesiredState === 'remove'));
  const rm = await mgr.docker(['service', 'rm', 'web']);
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /service web not found/);
  const ev = await mgr.ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=service', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
  assert.match(ev, /^remove web$/m);
});
