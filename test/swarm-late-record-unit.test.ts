// A worker's record written after its join answered (store.ts putLateNode),
// against a fake etcd that keeps keys and revisions and evaluates a
// transaction's compares as etcd does. The record is made once, by whichever
// of the manager's late write and the worker's first heartbeat comes first;
// `node rm` leaves a tombstone, so a late write or a heartbeat that still
// carries the node's description never brings a removed node back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwarmStore } from '../src/swarm/store';
import type { Compare, EtcdClient, KV, Op } from '../src/swarm/etcd-client';
import type { NodeRecord } from '../src/swarm/types';

class FakeEtcd {
  rev = 1;
  nextLease = 1;
  readonly kv = new Map<string, KV>();
  readonly revoked: string[] = [];

  async leaseGrant(): Promise<string> {
    return String(100 + this.nextLease++);
  }

  async leaseRevoke(id: string): Promise<void> {
    this.revoked.push(id);
  }

  async leaseKeepAlive(): Promise<number> {
    return 3;
  }

  async txn(compare: Compare[], success: Op[], failure: Op[] = []): Promise<{ succeeded: boolean; revision: number; kvs: KV[]; ranges: KV[][] }> {
    const ok = compare.every((c) => {
      const kv = this.kv.get(c.key);
      assert.equal(c.target, c.create_revision !== undefined ? 'CREATE' : 'MOD');
      const have = c.target === 'CREATE' ? kv?.createRevision ?? 0 : kv?.modRevision ?? 0;
      return have === (c.target === 'CREATE' ? c.create_revision : c.mod_revision);
    });
    const ops = ok ? success : failure;
    const wrote = ops.some((o) => !('range' in o));
    if (wrote) this.rev++;
    const ranges: KV[][] = [];
    for (const o of ops) {
      if ('put' in o) {
        const old = this.kv.get(o.put.key);
        this.kv.set(o.put.key, { key: o.put.key, value: o.put.value, modRevision: this.rev, createRevision: old?.createRevision ?? this.rev, lease: o.put.lease ?? '0' });
      } else if ('del' in o) {
        this.kv.delete(o.del.key);
      } else {
        const r = o.range;
        ranges.push([...this.kv.values()].filter((kv) => (r.prefix ? kv.key.startsWith(r.key) : kv.key === r.key)));
      }
    }
    return { succeeded: ok, revision: this.rev, kvs: ranges.flat(), ranges };
  }

  async getPrefix(prefix: string): Promise<KV[]> {
    return [...this.kv.values()].filter((kv) => kv.key.startsWith(prefix));
  }

  async get(key: string): Promise<KV | undefined> {
    return this.kv.get(key);
  }
}

function worker(id: string): NodeRecord {
  return {
    id, createdAt: 'now', updatedAt: 'now', spec: { Labels: {}, Role: 'worker', Availability: 'active' },
    hostname: 'w', engineVersion: 'x', addr: '10.0.0.9', port: 2377,
    platform: { Architecture: 'x86_64', OS: 'linux' }, resources: { NanoCPUs: 1e9, MemoryBytes: 1 },
  };
}

function storeWith(): { store: SwarmStore; etcd: FakeEtcd } {
  const etcd = new FakeEtcd();
  return { store: new SwarmStore(etcd as unknown as EtcdClient), etcd };
}

test('the late write makes the record and the alive key; the heartbeat after it finds it made', async () => {
  const { store, etcd } = storeWith();
  assert.equal(await store.putLateNode(worker('w1'), 'L1'), 'created');
  assert.deepEqual((await store.nodes()).map((n) => n.value.id), ['w1']);
  assert.deepEqual([...(await store.aliveNodes())], ['w1']);
  assert.equal(etcd.kv.get('/berth/swarm/alive/w1')?.lease, 'L1');
  // the worker's first heartbeat, its description still carried: nothing made twice, its lease given back
  const revBefore = etcd.rev;
  assert.equal(await store.putLateNode(worker('w1')), 'exists');
  assert.equal(etcd.rev, revBefore);
  assert.equal(etcd.revoked.length, 1);
});

test('a heartbeat makes the record when the late write never landed; the late write then changes nothing', async () => {
  const { store, etcd } = storeWith();
  assert.equal(await store.putLateNode(worker('w2')), 'created');
  const rec = etcd.kv.get('/berth/swarm/nodes/w2');
  assert.equal(await store.putLateNode(worker('w2'), 'L2'), 'exists');
  assert.deepEqual(etcd.kv.get('/berth/swarm/nodes/w2'), rec);
  assert.deepEqual(etcd.revoked, ['L2']);
});

test('node rm leaves a tombstone: neither a heartbeat with the description nor a late write makes the node again', async () => {
  const { store, etcd } = storeWith();
  assert.equal(await store.putLateNode(worker('w3'), 'L3'), 'created');
  const n = (await store.node('w3'))!;
  await store.deleteNode('w3', n.index);
  assert.equal(await store.node('w3'), undefined);
  assert.ok(etcd.kv.has('/berth/swarm/removed/w3'), 'tombstone written with the removal');
  assert.equal(etcd.kv.has('/berth/swarm/alive/w3'), false);
  assert.equal(await store.putLateNode(worker('w3')), 'removed');
  assert.equal(await store.putLateNode(worker('w3'), 'L4'), 'removed');
  assert.equal(await store.node('w3'), undefined);
  assert.deepEqual((await store.nodes()).map((x) => x.value.id), []);
  // a synchronous join's write (a manager's) is refused the same way
  await assert.rejects(store.putNewNode(worker('w3'), 'L5'), /already exists/);
  assert.ok(etcd.revoked.includes('L4') && etcd.revoked.includes('L5'));
});
