// A worker's join is answered before its record is written (service.ts
// onJoin, store.ts putLateNode): what a client sees must not change. Right
// after the join, `node ls` on the manager that answered lists the worker
// Ready (it waits for its pending write); the worker stops sending its
// description once a heartbeat is answered; and after `node rm` a late
// heartbeat that still carries the description (a worker that never saw
// an answer) is refused and does not bring the node back (tombstone).
// Two hosts in namespaces (test/helpers/cluster.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, type Cluster, type ClusterHost } from './helpers/cluster';
import { waitFor } from './helpers/daemon';
import { controlCall } from '../src/swarm/control';
import { SwarmError } from '../src/swarm/errors';

let cluster: Cluster;
let m1: ClusterHost, w1: ClusterHost;

before(async () => {
  cluster = await startCluster(2, { names: ['m1', 'w1'] });
  [m1, w1] = cluster.hosts;
});

after(async () => {
  await cluster?.destroy();
});

async function ls(h: ClusterHost): Promise<string[]> {
  return (await h.ok(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], 20_000)).trim().split('\n').filter(Boolean).sort();
}

const stateOf = (h: ClusterHost) => JSON.parse(fs.readFileSync(path.join(h.dataRoot, 'swarm', 'state.json'), 'utf8')) as { nodeId: string; joinDesc?: unknown };

test('node ls right after a worker join lists it Ready; its description goes with the first answered heartbeat', async () => {
  await m1.ok(['swarm', 'init', '--advertise-addr', m1.addr]);
  const token = (await m1.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
  assert.equal((await w1.ok(['swarm', 'join', '--token', token, `${m1.addr}:2377`])).trim(), 'This node joined a swarm as a worker.');
  // no wait: the manager that answered lists what it answered
  assert.deepEqual(await ls(m1), ['m1 Ready', 'w1 Ready']);
  await waitFor(async () => stateOf(w1).joinDesc === undefined, 15_000, 'the worker\'s description dropped after an answered heartbeat', 200);
  assert.deepEqual(await ls(m1), ['m1 Ready', 'w1 Ready']);
});

test('node rm, then a late heartbeat carrying the description: refused, the node stays removed', async () => {
  const certs = path.join(w1.dataRoot, 'swarm', 'certificates');
  const tls = {
    ca: fs.readFileSync(path.join(certs, 'swarm-root-ca.crt'), 'utf8'),
    cert: fs.readFileSync(path.join(certs, 'swarm-node.crt'), 'utf8'),
    key: fs.readFileSync(path.join(certs, 'swarm-node.key'), 'utf8'),
  };
  await w1.kill('SIGKILL');
  await waitFor(async () => (await ls(m1)).includes('w1 Down'), 20_000, 'w1 Down after kill -9', 300);
  assert.equal((await m1.ok(['node', 'rm', 'w1'])).trim(), 'w1');
  const desc = {
    hostname: 'w1', engineVersion: 'test', addr: w1.addr, port: 2377, availability: 'active',
    platform: { Architecture: 'x86_64', OS: 'linux' }, resources: { NanoCPUs: 1e9, MemoryBytes: 1 << 30 },
  };
  const beat = controlCall(`${m1.addr}:2377`, 'POST', '/heartbeat', { running: 'worker', desc }, tls, 10_000);
  await assert.rejects(beat, (e: unknown) => e instanceof SwarmError && e.status === 404);
  assert.deepEqual(await ls(m1), ['m1 Ready']);
  // the same heartbeat without a certificate of the cluster is not even looked at
  const anon = controlCall(`${m1.addr}:2377`, 'POST', '/heartbeat', { running: 'worker', desc }, { ca: tls.ca }, 10_000);
  await assert.rejects(anon, (e: unknown) => e instanceof SwarmError && e.status === 401);
  assert.deepEqual(await ls(m1), ['m1 Ready']);
});
