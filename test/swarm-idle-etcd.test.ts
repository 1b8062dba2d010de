// What an idle swarm asks of etcd, against a real member: lease keepalives
// travel on one HTTP/2 stream (etcd counts one LeaseKeepAlive stream for
// many renewals, of several leases, in order, concurrent or not), a revoked
// lease answers 0, a member gone fails the waiting renewal instead of
// hanging it; and a manager's tick reads (leader key, nodes, alive) make no
// transaction while the change feed reports none of their keys changed, but
// see an expired alive lease (Down) as soon as the feed does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startTestEtcd, CountingClient, until, type TestEtcd } from './helpers/etcd';
import { EtcdError } from '../src/swarm/etcd-client';
import { ChangeFeed } from '../src/swarm/change-feed';
import { SwarmStore } from '../src/swarm/store';

let etcd: TestEtcd | undefined;
let client: CountingClient | undefined;

/** etcd's count of LeaseKeepAlive streams opened so far (its Prometheus metrics). */
function keepAliveStreams(e: TestEtcd): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(`${e.url}/metrics`, { ca: e.tls.ca, cert: e.tls.cert, key: e.tls.key, checkServerIdentity: () => undefined }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => {
        const m = /^grpc_server_started_total\{grpc_method="LeaseKeepAlive"[^}]*\} (\d+)/m.exec(text);
        resolve(m ? Number(m[1]) : 0);
      });
    }).on('error', reject);
  });
}

before(async () => {
  etcd = await startTestEtcd('ka1');
  client = new CountingClient(etcd.url, etcd.tls);
  await until('etcd', async () => client!.put('/probe', 'x').then(() => true, () => false));
});

after(async () => {
  client?.close();
  await etcd?.stop();
});

test('keepalives of several leases share one stream and answer each its own TTL', async () => {
  const c = client!;
  const [a, b] = [await c.leaseGrant(30), await c.leaseGrant(5)];
  assert.equal(await c.leaseKeepAlive(a), 30);
  const streams = await keepAliveStreams(etcd!);
  // concurrent renewals of both, then one after another
  const ttls = await Promise.all(Array.from({ length: 20 }, (_, i) => c.leaseKeepAlive(i % 2 ? b : a)));
  assert.deepEqual(ttls, Array.from({ length: 20 }, (_, i) => (i % 2 ? 5 : 30)));
  for (let i = 0; i < 10; i++) assert.equal(await c.leaseKeepAlive(b), 5);
  assert.equal(await keepAliveStreams(etcd!), streams, '30 renewals opened no new stream');
  await c.leaseRevoke(b);
  assert.equal(await c.leaseKeepAlive(b), 0, 'a revoked lease answers 0');
  assert.equal(await c.leaseKeepAlive(a), 30, 'and the stream goes on');
  await c.leaseRevoke(a);
});

test('a tick reads nothing while its keys are unchanged, and sees an alive lease expire', async () => {
  const c = client!;
  const feed = new ChangeFeed(c);
  const store = new SwarmStore(c, feed);
  try {
    const node = (id: string) => JSON.stringify({ id, spec: { Role: 'manager' } });
    await c.put('/berth/swarm/nodes/n1', node('n1'));
    await c.put('/berth/swarm/nodes/n2', node('n2'));
    const short = await c.leaseGrant(1);
    await c.put('/berth/swarm/alive/n2', short, short);
    const lease = await c.leaseGrant(30);
    await c.put('/berth/swarm/leader', 'n1', lease);
    await store.tickReads();
    await until('the feed live', async () => feed.live);
    await store.tickReads();
    const n = c.txns;
    for (let i = 0; i < 5; i++) {
      const [leader, nodes, alive] = await store.tickReads();
      assert.equal(leader?.value, 'n1');
      assert.equal(leader?.lease, lease);
      assert.deepEqual(nodes.map((x) => x.value.id).sort(), ['n1', 'n2']);
      assert.ok(alive.has('n2'));
    }
    assert.equal(c.txns, n, 'no transaction while nothing they cover changed');
    // the campaign answers from the known key: the leader stays, no write
    assert.equal(await store.campaign('n2', short, { leader: (await store.tickReads())[0] }), 'n1');
    assert.equal(c.txns, n);
    // n2's lease runs out: etcd deletes alive/n2, the feed reports it, the next tick sees it
    await until('n2 no longer alive', async () => !(await store.tickReads())[2].has('n2'), 10_000);
    assert.ok(c.txns > n);
    await c.leaseRevoke(lease);
    await until('the leader key gone', async () => (await store.tickReads())[0] === undefined, 10_000);
  } finally {
    feed.close();
  }
});

test('a renewal waiting on a member that is gone fails instead of hanging', async () => {
  const c = client!;
  const lease = await c.leaseGrant(30);
  await etcd!.stop();
  etcd = undefined;
  const t0 = Date.now();
  await assert.rejects(c.leaseKeepAlive(lease), (e: unknown) => e instanceof EtcdError);
  assert.ok(Date.now() - t0 < 6000, `failed within the client's timeout (${Date.now() - t0} ms)`);
});
