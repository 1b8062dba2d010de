// The swarm scheduler (src/swarm/orchestrator/scheduler.ts) as a pure
// function: spread, constraints, preferences, max replicas, reservations,
// node availability, and swarmkit's "no suitable node (…)" texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { schedule, parseConstraints, placementError, matchConstraints, type ScheduleNode, type ScheduleInput } from '../src/swarm/orchestrator/scheduler';
import type { NodeRecord } from '../src/swarm/types';
import type { TaskRecord, Json } from '../src/swarm/objects';

const T0 = '2026-01-01T00:00:00.000Z';

function node(id: string, opts: { role?: 'manager' | 'worker'; labels?: Record<string, string>; ready?: boolean; availability?: 'active' | 'pause' | 'drain'; cpus?: number; mem?: number; arch?: string; addr?: string; engine?: Record<string, string> } = {}): ScheduleNode {
  const n: NodeRecord & { engineLabels?: Record<string, string> } = {
    id, createdAt: T0, updatedAt: T0,
    spec: { Labels: opts.labels ?? {}, Role: opts.role ?? 'worker', Availability: opts.availability ?? 'active' },
    hostname: `host-${id}`, engineVersion: '24.0.0', addr: opts.addr ?? '10.0.0.1', port: 2377,
    platform: { Architecture: opts.arch ?? 'x86_64', OS: 'linux' },
    resources: { NanoCPUs: (opts.cpus ?? 2) * 1e9, MemoryBytes: opts.mem ?? 4 * 1024 ** 3 },
  };
  if (opts.engine) n.engineLabels = opts.engine;
  return { node: n, ready: opts.ready ?? true, availability: opts.availability ?? 'active' };
}

let seq = 0;
function task(serviceId: string, spec: Json = {}, extra: Partial<TaskRecord> = {}): TaskRecord {
  seq++;
  return {
    id: `t${String(seq).padStart(4, '0')}`, createdAt: T0, updatedAt: T0, serviceId, slot: seq, nodeId: '',
    spec: { ContainerSpec: { Image: 'busybox' }, ...spec }, serviceIndex: 1, desiredState: 'running',
    status: { Timestamp: T0, State: 'pending', Message: 'pending task scheduling' }, ...extra,
  };
}

function run(tasks: TaskRecord[], nodes: ScheduleNode[], running: TaskRecord[] = []) {
  const input: ScheduleInput = { tasks: tasks.map((t) => ({ task: t, service: { TaskTemplate: t.spec } })), nodes, running };
  return schedule(input);
}

function counts(out: ReturnType<typeof run>): Record<string, number> {
  const c: Record<string, number> = {};
  for (const p of out.values()) if ('nodeId' in p) c[p.nodeId] = (c[p.nodeId] ?? 0) + 1;
  return c;
}

test('spreads a service evenly, fewest tasks of the service first, then fewest tasks overall', () => {
  const nodes = [node('a'), node('b'), node('c')];
  const out = run([1, 2, 3, 4, 5, 6].map(() => task('s1')), nodes);
  assert.deepEqual(counts(out), { a: 2, b: 2, c: 2 });
  // b already carries a task of another service: the first new one goes elsewhere
  const busy = task('other', {}, { nodeId: 'b', status: { Timestamp: T0, State: 'running', Message: 'started' } });
  const one = run([task('s2')], nodes, [busy]);
  assert.notEqual((one.values().next().value as { nodeId: string }).nodeId, 'b');
  // a node already running two of s3 gets the new ones last
  const mine = [task('s3', {}, { nodeId: 'a' }), task('s3', {}, { nodeId: 'a' })];
  const two = run([task('s3'), task('s3')], nodes, mine);
  assert.deepEqual(counts(two), { b: 1, c: 1 });
});

test('scale 1 → 5 over 3 nodes uses every node; tasks placed in one call count for the next', () => {
  const nodes = [node('a'), node('b'), node('c')];
  const existing = task('s', {}, { nodeId: 'b' });
  const out = run([1, 2, 3, 4].map(() => task('s')), nodes, [existing]);
  const c = counts(out);
  c.b = (c.b ?? 0) + 1;
  assert.deepEqual(Object.keys(c).sort(), ['a', 'b', 'c']);
  assert.ok(Math.max(...Object.values(c)) - Math.min(...Object.values(c)) <= 1, JSON.stringify(c));
});

test('down, paused and drained nodes get no new tasks', () => {
  const out = run([task('s'), task('s')], [node('a', { ready: false }), node('b', { availability: 'pause' }), node('c', { availability: 'drain' }), node('d')]);
  assert.deepEqual(counts(out), { d: 2 });
  const none = run([task('s')], [node('a', { ready: false }), node('b', { availability: 'drain' })]);
  assert.deepEqual([...none.values()], [{ pending: 'no suitable node (2 nodes not available for new tasks)' }]);
  const one = run([task('s')], [node('a', { ready: false })]);
  assert.deepEqual([...one.values()], [{ pending: 'no suitable node (1 node not available for new tasks)' }]);
  assert.deepEqual([...run([task('s')], []).values()], [{ pending: 'no suitable node' }]);
});

test('constraints: node.role, node.id, node.hostname, labels, engine labels, platform, ip; == and !=', () => {
  const nodes = [
    node('m1', { role: 'manager', labels: { zone: 'east', ssd: 'true' }, addr: '10.1.0.5' }),
    node('w1', { labels: { zone: 'west' }, engine: { storage: 'ssd' }, addr: '10.2.0.5' }),
    node('w2', { labels: { zone: 'East' }, arch: 'aarch64', addr: '10.2.0.6' }),
  ];
  const where = (constraints: string[]) => Object.keys(counts(run([1, 2, 3, 4, 5, 6].map(() => task('s', { Placement: { Constraints: constraints } })), nodes))).sort();
  assert.deepEqual(where(['node.role==manager']), ['m1']);
  assert.deepEqual(where(['node.role != manager']), ['w1', 'w2']);
  assert.deepEqual(where(['node.id==w2']), ['w2']);
  assert.deepEqual(where(['node.hostname==host-w1']), ['w1']);
  assert.deepEqual(where(['node.labels.zone==east']), ['m1', 'w2'], 'values compare case-insensitively');
  assert.deepEqual(where(['node.labels.zone==east', 'node.role==worker']), ['w2']);
  assert.deepEqual(where(['node.labels.ssd!=true']), ['w1', 'w2'], 'a missing label is the empty string');
  assert.deepEqual(where(['engine.labels.storage==ssd']), ['w1']);
  assert.deepEqual(where(['node.platform.arch==aarch64']), ['w2']);
  assert.deepEqual(where(['node.platform.os==linux']), ['m1', 'w1', 'w2']);
  assert.deepEqual(where(['node.ip==10.2.0.0/16']), ['w1', 'w2']);
  assert.deepEqual(where(['node.ip!=10.2.0.6']), ['m1', 'w1']);
  const none = run([task('s', { Placement: { Constraints: ['node.labels.zone==north'] } })], nodes);
  assert.deepEqual([...none.values()], [{ pending: 'no suitable node (scheduling constraints not satisfied on 3 nodes)' }]);
  const unknown = run([task('s', { Placement: { Constraints: ['node.colour==red'] } })], nodes);
  assert.deepEqual([...unknown.values()], [{ pending: 'no suitable node (scheduling constraints not satisfied on 3 nodes)' }]);
  assert.equal(matchConstraints(nodes[0].node, ['node.role==manager']), true);
  assert.equal(matchConstraints(nodes[1].node, ['node.role==manager']), false);
});

test('the constraint validator answers with swarmkit texts', () => {
  assert.equal(placementError({ Constraints: ['node.role==manager', 'node.labels.a != b'] }), undefined);
  assert.equal(placementError(undefined), undefined);
  assert.equal(placementError({ Constraints: ['node.role=manager'] }), 'constraint expected one operator from ==, !=');
  assert.equal(placementError({ Constraints: ['node role==manager'] }), "key 'node role' is invalid");
  assert.equal(placementError({ Constraints: ['node.role==man>ager'] }), "value 'man>ager' is invalid");
  assert.equal(placementError({ Constraints: ['==x'] }), "key '' is invalid");
  assert.deepEqual(parseConstraints([' node.id == abc ']), [{ key: 'node.id', op: '==', value: 'abc' }]);
});

test('max replicas per node', () => {
  const nodes = [node('a'), node('b'), node('c')];
  const tasks = [1, 2, 3, 4, 5].map(() => task('s', { Placement: { MaxReplicas: 1 } }));
  const out = run(tasks, nodes);
  assert.deepEqual(counts(out), { a: 1, b: 1, c: 1 });
  const pending = [...out.values()].filter((p) => 'pending' in p);
  assert.deepEqual(pending, [{ pending: 'no suitable node (max replicas per node limit exceed)' }, { pending: 'no suitable node (max replicas per node limit exceed)' }]);
  // combined with constraints: the filter that turned more nodes away comes first
  const nodes4 = [node('a'), node('b', { role: 'manager' }), node('c', { role: 'manager' }), node('d', { role: 'manager' })];
  const mixed = run([1, 2].map(() => task('s', { Placement: { MaxReplicas: 1, Constraints: ['node.role==worker'] } })), nodes4);
  assert.deepEqual(counts(mixed), { a: 1 });
  assert.deepEqual([...mixed.values()].filter((p) => 'pending' in p), [{ pending: 'no suitable node (scheduling constraints not satisfied on 3 nodes; max replicas per node limit exceed)' }]);
});

test('resource reservations: tasks fit in what the node has left', () => {
  const nodes = [node('a', { cpus: 2 }), node('b', { cpus: 1 })];
  const spec = { Resources: { Reservations: { NanoCPUs: 1e9 } } };
  const out = run([1, 2, 3, 4].map(() => task('s', spec)), nodes);
  assert.deepEqual(counts(out), { a: 2, b: 1 });
  assert.deepEqual([...out.values()].filter((p) => 'pending' in p), [{ pending: 'no suitable node (insufficient resources on 2 nodes)' }]);
  // what other services reserve counts; terminal tasks are not passed in and shut-down ones still hold theirs until they stop
  const other = task('o', { Resources: { Reservations: { MemoryBytes: 3 * 1024 ** 3 } } }, { nodeId: 'a', desiredState: 'shutdown' });
  const mem = run([task('s', { Resources: { Reservations: { MemoryBytes: 2 * 1024 ** 3 } } })], [node('a')], [other]);
  assert.deepEqual([...mem.values()], [{ pending: 'no suitable node (insufficient resources on 1 node)' }]);
  // mixed: one node down, one too small
  const mixed = run([task('s', { Resources: { Reservations: { NanoCPUs: 4e9 } } })], [node('a', { ready: false }), node('b'), node('c')]);
  assert.deepEqual([...mixed.values()], [{ pending: 'no suitable node (insufficient resources on 2 nodes; 1 node not available for new tasks)' }]);
});

test('platforms in the placement', () => {
  const nodes = [node('a', { arch: 'x86_64' }), node('b', { arch: 'aarch64' })];
  const out = run([task('s', { Placement: { Platforms: [{ Architecture: 'arm64', OS: 'linux' }] } })], nodes);
  assert.deepEqual(counts(out), { b: 1 });
  const none = run([task('s', { Placement: { Platforms: [{ Architecture: 's390x', OS: 'linux' }] } })], nodes);
  assert.deepEqual([...none.values()], [{ pending: 'no suitable node (unsupported platform on 2 nodes)' }]);
});

test('spread preferences: even over label values, nodes without the label share one branch', () => {
  const nodes = [
    node('e1', { labels: { dc: 'east' } }), node('e2', { labels: { dc: 'east' } }), node('e3', { labels: { dc: 'east' } }),
    node('w1', { labels: { dc: 'west' } }),
    node('x1'),
  ];
  const spec = { Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.dc' } }] } };
  const out = run([1, 2, 3, 4, 5, 6].map(() => task('s', spec)), nodes);
  const c = counts(out);
  const east = (c.e1 ?? 0) + (c.e2 ?? 0) + (c.e3 ?? 0);
  assert.equal(east, 2, JSON.stringify(c));
  assert.equal(c.w1, 2);
  assert.equal(c.x1, 2);
  // existing tasks count: west already has 3, so new ones go to the other branches
  const existing = [1, 2, 3].map(() => task('s', spec, { nodeId: 'w1' }));
  const more = counts(run([1, 2, 3].map(() => task('s', spec)), nodes, existing));
  assert.equal(more.w1 ?? 0, 0, JSON.stringify(more));
  // a branch that cannot take more (constraints) leaves its share to the others
  const spec2 = { Placement: { Constraints: ['node.id!=w1'], Preferences: spec.Placement.Preferences } };
  const c2 = counts(run([1, 2, 3, 4, 5, 6].map(() => task('s2', spec2)), nodes));
  assert.equal(c2.w1 ?? 0, 0);
  assert.equal(Object.values(c2).reduce((a, b) => a + b, 0), 6);
  assert.equal((c2.e1 ?? 0) + (c2.e2 ?? 0) + (c2.e3 ?? 0), 3, JSON.stringify(c2));
  assert.equal(c2.x1, 3);
});

test('global-style tasks already carrying a node are not the scheduler\'s; many tasks are placed fast', () => {
  const nodes = Array.from({ length: 50 }, (_, i) => node(`n${String(i).padStart(2, '0')}`));
  const tasks = Array.from({ length: 1000 }, () => task('big'));
  const t0 = process.hrtime.bigint();
  const out = run(tasks, nodes);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(out.size, 1000);
  const c = counts(out);
  assert.deepEqual(new Set(Object.values(c)), new Set([20]));
  assert.ok(ms < 2000, `1000 tasks over 50 nodes took ${ms} ms`);
});
