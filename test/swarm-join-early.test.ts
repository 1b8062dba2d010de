// Joins that reach a manager whose init answered early (its etcd member may
// still be electing itself, pending.ts): the manager checks the token and
// signs against the init's record meanwhile, writes once the store serves
// (a manager's join also waits for the init's first tick: the init's node
// stays the Leader). A wrong token in that window is refused with Docker's text
// and leaves the joiner out of any swarm; a manager and a worker joining at
// once, right after the init, both get in; every manager then lists 3 Ready
// nodes, 1 Leader, 1 Reachable. Real hosts in namespaces (test/helpers/cluster.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster, type ClusterHost } from './helpers/cluster';
import { waitFor } from './helpers/daemon';

let cluster: Cluster;
let m1: ClusterHost, m2: ClusterHost, w1: ClusterHost;

before(async () => {
  cluster = await startCluster(3, { names: ['m1', 'm2', 'w1'] });
  [m1, m2, w1] = cluster.hosts;
});

after(async () => {
  await cluster?.destroy();
});

async function lsRows(h: ClusterHost): Promise<string[] | undefined> {
  const r = await h.docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'], { timeout: 10_000 }).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trim().split('\n').sort() : undefined;
}

test('joins right after init: a wrong token is refused, a manager and a worker at once both get in', async (t) => {
  // the API, not the CLI: the joins go out within milliseconds of the init's answer
  const init = await m1.api('POST', '/v1.43/swarm/init', { ListenAddr: '0.0.0.0:2377', AdvertiseAddr: m1.addr });
  assert.equal(init.status, 200, JSON.stringify(init.body));
  const sw = await m1.api('GET', '/v1.43/swarm');
  assert.equal(sw.status, 200);
  const tokens = (sw.body as { JoinTokens: { Worker: string; Manager: string } }).JoinTokens;
  const join = (h: ClusterHost, token: string) => h.api('POST', '/v1.43/swarm/join', { ListenAddr: '0.0.0.0:2377', AdvertiseAddr: h.addr, RemoteAddrs: [`${m1.addr}:2377`], JoinToken: token });

  // the right CA digest, a wrong secret
  const bad = tokens.Worker.replace(/-[0-9a-z]{25}$/, '-' + '0'.repeat(25));
  const refused = await join(w1, bad);
  assert.equal(refused.status >= 400, true);
  assert.match(String((refused.body as { message?: string }).message), /A valid join token is necessary to join this cluster/);
  const info = await w1.api('GET', '/v1.43/info');
  assert.equal((info.body as { Swarm: { LocalNodeState: string } }).Swarm.LocalNodeState, 'inactive', 'a refused join leaves no swarm state');

  const t0 = Date.now();
  const [jm, jw] = await Promise.all([join(m2, tokens.Manager), join(w1, tokens.Worker)]);
  t.diagnostic(`both joins answered in ${Date.now() - t0} ms`);
  assert.equal(jm.status, 200, JSON.stringify(jm.body));
  assert.equal(jw.status, 200, JSON.stringify(jw.body));

  const want = ['m1 Ready Leader', 'm2 Ready Reachable', 'w1 Ready '].map((s) => s.trimEnd()).sort();
  for (const h of [m1, m2]) {
    let last: string[] | undefined;
    await waitFor(async () => {
      last = (await lsRows(h))?.map((s) => s.trimEnd());
      return JSON.stringify(last) === JSON.stringify(want);
    }, 30_000, `node ls on ${h.name} shows 3 Ready nodes, 1 Leader, 1 Reachable`, 250, () => `last: ${JSON.stringify(last)}\n${h.logs().slice(-3000)}`);
  }
  const m2info = (await m2.api('GET', '/v1.43/info')).body as { Swarm: { ControlAvailable: boolean; Nodes: number; Managers: number } };
  assert.equal(m2info.Swarm.ControlAvailable, true);
});
