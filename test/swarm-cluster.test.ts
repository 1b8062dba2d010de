// Swarm mode across hosts (issue 14), on the multi-host harness: five
// berthd "hosts" in network namespaces (3 managers, 2 workers) driven with
// the docker CLI — joins, node ls from every manager, the leader killed with
// kill -9 and a new one elected, rejoin, a dead worker shown Down, promote,
// demote, drain, leave, rm, refused tokens, a worker refused manager calls,
// and nothing left on the machine afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startCluster, type Cluster, type ClusterHost } from './helpers/cluster';
import { waitFor } from './helpers/daemon';

let cluster: Cluster;
let m1: ClusterHost, m2: ClusterHost, m3: ClusterHost, w1: ClusterHost, w2: ClusterHost;
const times: Record<string, number> = {};
// Bounds asserted here (generous for a loaded 2-core machine); the goals are 3–4 s and ≤ 8 s.
const DOWN_BOUND_MS = 12_000;
const FAILOVER_BOUND_MS = 15_000;

interface Row { host: string; status: string; availability: string; manager: string; self: boolean }

async function nodeLs(h: ClusterHost): Promise<Row[]> {
  const out = await h.ok(['node', 'ls', '--format', '{{.Hostname}}|{{.Status}}|{{.Availability}}|{{.ManagerStatus}}|{{.Self}}'], 20_000);
  return out.trim().split('\n').filter(Boolean).map((l) => {
    const [host, status, availability, manager, self] = l.split('|');
    return { host, status, availability, manager, self: self === 'true' };
  });
}

async function tryLs(h: ClusterHost): Promise<Row[] | undefined> {
  try {
    return await nodeLs(h);
  } catch {
    return undefined;
  }
}

const row = (rows: Row[] | undefined, host: string) => rows?.find((r) => r.host === host);

function etcdProcesses(): string[] {
  const out: string[] = [];
  for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.split('\0')[0].endsWith('etcd') && cmd.includes(cluster.root + '/')) out.push(`${p} ${cmd.replace(/\0/g, ' ').slice(0, 120)}`);
    } catch { /* gone */ }
  }
  return out;
}

async function timed(name: string, fn: () => Promise<unknown>): Promise<void> {
  const t0 = Date.now();
  await fn();
  times[name] = Date.now() - t0;
}

before(async () => {
  const t0 = Date.now();
  cluster = await startCluster(5, { names: ['m1', 'm2', 'm3', 'w1', 'w2'] });
  [m1, m2, m3, w1, w2] = cluster.hosts;
  times['5 hosts up'] = Date.now() - t0;
});

after(async () => {
  process.stdout.write(`# swarm timings (ms): ${JSON.stringify(times)}\n`);
  await cluster?.destroy();
});

test('init, 2 managers and 2 workers join; every manager lists 5 Ready nodes, 1 Leader, 2 Reachable', async () => {
  let out = '';
  await timed('init', async () => { out = await m1.ok(['swarm', 'init', '--advertise-addr', m1.addr]); });
  assert.match(out, /Swarm initialized: current node \([0-9a-z]{25}\) is now a manager\./);
  assert.match(out, new RegExp(`docker swarm join --token SWMTKN-1-\\S+ ${m1.addr.replace(/\./g, '\\.')}:2377`));
  const workerToken = (await m1.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
  const managerToken = (await m1.ok(['swarm', 'join-token', '-q', 'manager'])).trim();

  // While m2 and w1 join, w2 is refused: with a bad secret, and with another
  // cluster's token (w2's own one-node swarm: its CA digest does not match).
  const refusals = async () => {
    const t0 = Date.now();
    const badSecret = workerToken.replace(/-[0-9a-z]{25}$/, '-0000000000000000000000000');
    const r1 = await w2.docker(['swarm', 'join', '--token', badSecret, `${m1.addr}:2377`]);
    assert.notEqual(r1.code, 0);
    assert.match(r1.stderr, /rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster/);
    await w2.ok(['swarm', 'init', '--advertise-addr', w2.addr]);
    const otherToken = (await w2.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
    await w2.ok(['swarm', 'leave', '--force']);
    const r2 = await w2.docker(['swarm', 'join', '--token', otherToken, `${m1.addr}:2377`]);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /remote CA does not match fingerprint\. Expected: [0-9a-f]{64}/);
    assert.equal(JSON.parse(await w2.ok(['info', '--format', '{{json .Swarm.LocalNodeState}}'])), 'inactive');
    times['refusals'] = Date.now() - t0;
  };
  // the joins: no --advertise-addr, each host advertises the address it reaches the manager from
  const joinM2 = () => timed('join manager m2', async () => {
    assert.equal((await m2.ok(['swarm', 'join', '--token', managerToken, `${m1.addr}:2377`])).trim(), 'This node joined a swarm as a manager.');
  });
  const joinW1 = () => timed('join worker w1', async () => {
    assert.equal((await w1.ok(['swarm', 'join', '--token', workerToken, `${m1.addr}:2377`])).trim(), 'This node joined a swarm as a worker.');
  });
  await Promise.all([joinM2(), joinW1(), refusals()]);
  await Promise.all([
    timed('join manager m3', () => m3.ok(['swarm', 'join', '--token', managerToken, `${m2.addr}:2377`])),
    timed('join worker w2', () => w2.ok(['swarm', 'join', '--token', workerToken, `${m2.addr}:2377`])),
  ]);

  const tLs = Date.now();
  for (const m of [m1, m2, m3]) {
    let rows: Row[] | undefined;
    await waitFor(async () => {
      rows = await tryLs(m);
      return rows?.length === 5 && rows.every((r) => r.status === 'Ready');
    }, 20_000, `5 Ready nodes seen from ${m.name}`, 300, () => `: ${JSON.stringify(rows)}`);
    assert.deepEqual(rows!.map((r) => r.host).sort(), ['m1', 'm2', 'm3', 'w1', 'w2']);
    assert.equal(rows!.filter((r) => r.manager === 'Leader').length, 1);
    assert.equal(rows!.filter((r) => r.manager === 'Reachable').length, 2);
    assert.equal(row(rows, 'm1')!.manager, 'Leader');
    assert.deepEqual(rows!.filter((r) => r.self).map((r) => r.host), [m.name]);
    assert.equal(row(rows, 'w1')!.manager, '');
  }
  times['node ls x3'] = Date.now() - tLs;
  const info = JSON.parse(await m2.ok(['info', '--format', '{{json .Swarm}}']));
  assert.equal(info.Nodes, 5);
  assert.equal(info.Managers, 3);
  assert.equal(info.NodeAddr, m2.addr);
});

test('a worker cannot call manager endpoints; no etcd runs on workers', async () => {
  for (const args of [['node', 'ls'], ['swarm', 'join-token', 'worker'], ['node', 'rm', 'm1']]) {
    const r = await w1.docker(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, /This node is not a swarm manager\. Worker nodes can't be used to view or modify cluster state\./);
  }
  const info = JSON.parse(await w1.ok(['info', '--format', '{{json .Swarm}}']));
  assert.equal(info.LocalNodeState, 'active');
  assert.equal(info.ControlAvailable, false);
  assert.equal(info.RemoteManagers.length, 3);
  // etcd's peer port takes a manager's etcd certificate and refuses a worker's node certificate
  const certs = (h: ClusterHost) => `${h.dataRoot}/swarm/certificates`;
  const peer = `https://${m1.addr}:2380/members`;
  const asManager = await m2.exec('curl', ['-sS', '-k', '--http1.1', '--max-time', '5', '--cert', `${certs(m2)}/etcd.crt`, '--key', `${certs(m2)}/etcd.key`, peer], { timeout: 15_000 });
  assert.equal(asManager.code, 0, asManager.stderr);
  assert.match(asManager.stdout, /peerURLs/);
  const asWorker = await w1.exec('curl', ['-sS', '-k', '--http1.1', '--max-time', '5', '--cert', `${certs(w1)}/swarm-node.crt`, '--key', `${certs(w1)}/swarm-node.key`, peer], { timeout: 15_000 });
  assert.notEqual(asWorker.code, 0, `a worker's certificate must not open etcd: ${asWorker.stdout}`);
  assert.equal(fs.existsSync(`${certs(w1)}/etcd.key`), false);

  const etcd = etcdProcesses();
  assert.equal(etcd.length, 3, etcd.join('\n'));
  for (const w of [w1, w2]) assert.ok(!etcd.some((p) => p.includes(w.root + '/')), `no etcd on ${w.name}`);
});

test('kill -9 of the leader: another manager leads within the bound; the old one rejoins', async () => {
  const t0 = Date.now();
  await m1.kill('SIGKILL');
  let rows: Row[] | undefined;
  await waitFor(async () => {
    rows = await tryLs(m2);
    const leader = rows?.find((r) => r.manager === 'Leader');
    return !!leader && leader.host !== 'm1';
  }, FAILOVER_BOUND_MS, 'a new leader', 200, () => `: ${JSON.stringify(rows)}`);
  times['failover'] = Date.now() - t0;
  assert.ok(['m2', 'm3'].includes(rows!.find((r) => r.manager === 'Leader')!.host));
  await waitFor(async () => row(await tryLs(m3), 'm1')?.status === 'Down', 10_000, 'm1 shown Down from m3');
  const swarm = await m3.api('GET', '/v1.43/swarm');
  assert.equal(swarm.status, 200);
  assert.match((swarm.body as { ID: string }).ID, /^[0-9a-z]{25}$/);

  const t1 = Date.now();
  await m1.start();
  await waitFor(async () => {
    const r = await tryLs(m1);
    return row(r, 'm1')?.status === 'Ready' && row(r, 'm1')?.manager === 'Reachable' && r!.filter((x) => x.manager === 'Leader').length === 1;
  }, 30_000, 'm1 back as a Reachable manager', 300);
  times['rejoin after restart'] = Date.now() - t1;
});

test('a killed worker is Down within the bound', async () => {
  const t0 = Date.now();
  await w2.kill('SIGKILL');
  await waitFor(async () => row(await tryLs(m1), 'w2')?.status === 'Down', DOWN_BOUND_MS, 'w2 Down', 200);
  times['worker down'] = Date.now() - t0;
  assert.equal(row(await nodeLs(m3), 'w2')!.status, 'Down');
});

test('promote, demote and drain', async () => {
  assert.match(await m2.ok(['node', 'promote', 'w1']), /Node w1 promoted to a manager in the swarm\./);
  await waitFor(async () => (await w1.docker(['node', 'ls'])).code === 0, 20_000, 'w1 serves manager calls', 300);
  await waitFor(async () => row(await tryLs(m3), 'w1')?.manager === 'Reachable', 15_000, 'w1 Reachable', 300);
  assert.equal(etcdProcesses().length, 4);

  assert.match(await m3.ok(['node', 'demote', 'w1']), /Manager w1 demoted in the swarm\./);
  await waitFor(async () => {
    const r = await w1.docker(['node', 'ls']);
    return r.code !== 0 && /Worker nodes can't be used/.test(r.stderr);
  }, 20_000, 'w1 is a worker again', 300);
  await waitFor(async () => etcdProcesses().length === 3, 10_000, 'w1 stopped its etcd member');
  await waitFor(async () => row(await tryLs(m1), 'w1')?.status === 'Ready', 10_000, 'w1 Ready as a worker', 300);

  await m1.ok(['node', 'update', '--availability', 'drain', 'm3']);
  assert.equal(row(await nodeLs(m2), 'm3')!.availability, 'Drain');
});

test('leave and rm: a manager is warned, a node that is up is not removed, a down or left worker is', async () => {
  const warn = await m3.docker(['swarm', 'leave']);
  assert.notEqual(warn.code, 0);
  assert.match(warn.stderr, /You are attempting to leave the swarm on a node that is participating as a manager\./);
  const up = await m1.docker(['node', 'rm', 'w1']);
  assert.notEqual(up.code, 0);
  assert.match(up.stderr, /rpc error: code = FailedPrecondition desc = node \S+ is not down and can't be removed/);

  assert.equal((await m2.ok(['node', 'rm', 'w2'])).trim(), 'w2');
  assert.equal((await w1.ok(['swarm', 'leave'])).trim(), 'Node left the swarm.');
  assert.equal(JSON.parse(await w1.ok(['info', '--format', '{{json .Swarm.LocalNodeState}}'])), 'inactive');
  await waitFor(async () => row(await tryLs(m1), 'w1')?.status === 'Down', DOWN_BOUND_MS, 'w1 Down after leaving', 300);
  assert.equal((await m1.ok(['node', 'rm', 'w1'])).trim(), 'w1');
  const rows = await nodeLs(m3);
  assert.deepEqual(rows.map((r) => r.host).sort(), ['m1', 'm2', 'm3']);
});

test('destroy leaves no namespace, process, etcd member or directory', async () => {
  await cluster.destroy();
  assert.deepEqual(etcdProcesses(), []);
  assert.deepEqual(await cluster.leftovers(), []);
});
