// The spare alive lease a manager keeps for the next join (store.ts), without
// etcd: a fake client counts grants, renewals and revocations, and the clock
// is moved by hand. A join takes the spare only while it is fresh (renewed
// within the last second, so at least 2 s of its 3 s TTL are left); a stale
// or expired one is never handed out; the spare goes after a minute with no join.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwarmStore } from '../src/swarm/store';
import type { EtcdClient } from '../src/swarm/etcd-client';

class FakeEtcd {
  next = 1;
  granted: string[] = [];
  renewed: string[] = [];
  revoked: string[] = [];
  /** Leases etcd has let expire: their renewal answers TTL 0. */
  expired = new Set<string>();

  async leaseGrant(ttl: number): Promise<string> {
    assert.equal(ttl, 3);
    const id = String(this.next++);
    this.granted.push(id);
    return id;
  }

  async leaseKeepAlive(id: string): Promise<number> {
    this.renewed.push(id);
    return this.expired.has(id) ? 0 : 3;
  }

  async leaseRevoke(id: string): Promise<void> {
    this.revoked.push(id);
  }
}

function storeWith(): { store: SwarmStore; etcd: FakeEtcd } {
  const etcd = new FakeEtcd();
  const store = new SwarmStore(etcd as unknown as EtcdClient);
  return { store, etcd };
}

test('a join takes the spare lease made ahead; the next join without one gets a new grant', async (t) => {
  const now = { t: 1_000_000 };
  t.mock.method(Date, 'now', () => now.t);
  const { store, etcd } = storeWith();
  await store.keepSpareLease();
  assert.deepEqual(etcd.granted, ['1'], 'the tick grants one spare');
  now.t += 400;
  assert.equal(await store.aliveLease(), '1', 'a fresh spare is handed out');
  assert.deepEqual(etcd.granted, ['1'], 'no grant on the join');
  assert.equal(await store.aliveLease(), '2', 'no spare left: a new grant');
  assert.deepEqual(etcd.revoked, []);
});

test('the tick renews the spare; a stale one (ticks stalled) is revoked, never handed out', async (t) => {
  const now = { t: 2_000_000 };
  t.mock.method(Date, 'now', () => now.t);
  const { store, etcd } = storeWith();
  await store.keepSpareLease();
  now.t += 500;
  await store.keepSpareLease();
  assert.deepEqual(etcd.renewed, ['1'], 'the second tick renews it');
  assert.deepEqual(etcd.granted, ['1']);
  // no tick for 1.5 s: less than 2 s of the lease may be left
  now.t += 1500;
  assert.equal(await store.aliveLease(), '2');
  assert.deepEqual(etcd.revoked, ['1']);
});

test('a spare etcd let expire is replaced at the next tick', async (t) => {
  const now = { t: 3_000_000 };
  t.mock.method(Date, 'now', () => now.t);
  const { store, etcd } = storeWith();
  await store.keepSpareLease();
  etcd.expired.add('1');
  now.t += 500;
  await store.keepSpareLease();
  assert.deepEqual(etcd.granted, ['1', '2']);
  assert.equal(await store.aliveLease(), '2');
});

test('no join for a minute: the spare is revoked and no other made until a join', async (t) => {
  const now = { t: 4_000_000 };
  t.mock.method(Date, 'now', () => now.t);
  const { store, etcd } = storeWith();
  await store.keepSpareLease();
  now.t += 61_000;
  await store.keepSpareLease();
  assert.deepEqual(etcd.revoked, ['1']);
  await store.keepSpareLease();
  assert.deepEqual(etcd.granted, ['1'], 'idle: nothing granted');
  assert.equal(await store.aliveLease(), '2', 'a join grants its own');
  await store.keepSpareLease();
  assert.deepEqual(etcd.granted, ['1', '2', '3'], 'after a join the spare comes back');
});
