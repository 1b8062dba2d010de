// FeedReads against a real etcd: the reads are answered without a round trip
// while the change feed reports nothing they cover, read again after a
// change to a key they cover, and a change elsewhere keeps them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEtcd, CountingClient, until, type TestEtcd } from './helpers/etcd';
import type { KV } from '../src/swarm/etcd-client';
import { ChangeFeed } from '../src/swarm/change-feed';
import { FeedReads } from '../src/swarm/feed-reads';

let etcd: TestEtcd | undefined;
let client: CountingClient | undefined;

before(async () => {
  etcd = await startTestEtcd('f1');
  client = new CountingClient(etcd.url, etcd.tls);
  await until('etcd', async () => client!.put('/probe', 'x').then(() => true, () => false));
});

after(async () => {
  client?.close();
  await etcd?.stop();
});

test('reads kept while the feed reports no change to their keys, read again after one', async () => {
  const c = client!;
  const feed = new ChangeFeed(c);
  const values = (kvs: KV[]) => kvs.map((kv) => kv.value);
  const reads = new FeedReads<[string[], string[]]>(c, feed, [
    { op: { range: { key: '/berth/swarm/a/', prefix: true } }, parse: values },
    { op: { range: { key: '/berth/swarm/k' } }, parse: values },
  ]);
  try {
    await c.put('/berth/swarm/a/1', 'one');
    await c.put('/berth/swarm/k', 'k1');
    assert.deepEqual(await reads.get(), [['one'], ['k1']]);
    await until('the feed live', async () => feed.live);
    // the first read after the watch is in place is kept
    await reads.get();
    const n = c.txns;
    const got = await reads.get();
    assert.deepEqual(got, [['one'], ['k1']]);
    assert.equal(c.txns, n, 'no round trip while nothing covered changed');
    got[0].push('changed by the caller');
    assert.deepEqual(await reads.get(), [['one'], ['k1']], 'each call parses afresh');

    // a key not covered (neither under the prefix nor the exact key): still kept
    const rev = await c.put('/berth/swarm/kk', 'other');
    await until('the feed at that revision', async () => feed.revision >= rev);
    await reads.get();
    assert.equal(c.txns, n, 'a change elsewhere keeps the reads');

    // a covered key: read again (up to the watch's delay)
    await c.put('/berth/swarm/a/2', 'two');
    await until('the new key seen', async () => (await reads.get())[0].length === 2);
    assert.ok(c.txns > n);
    await c.put('/berth/swarm/k', 'k2');
    await until('the exact key seen', async () => (await reads.get())[1][0] === 'k2');

    // writes always go to etcd, with the reads in the same transaction
    const before = c.txns;
    assert.deepEqual(await reads.get([{ put: { key: '/berth/swarm/a/3', value: 'three' } }]), [['one', 'two', 'three'], ['k2']]);
    assert.equal(c.txns, before + 1);
  } finally {
    reads.close();
    feed.close();
  }
});

test('changed() waits for a change to a covered key, its time, a wake or close: never longer', async () => {
  const c = client!;
  const feed = new ChangeFeed(c);
  const reads = new FeedReads<[string[]]>(c, feed, [{ op: { range: { key: '/berth/swarm/w/', prefix: true } }, parse: (kvs) => kvs.map((kv) => kv.value) }]);
  const timed = async (p: Promise<void>) => { const t = Date.now(); await p; return Date.now() - t; };
  try {
    await reads.get();
    await until('the feed live', async () => feed.live);
    // a change elsewhere does not end the wait; its time does
    const other = timed(reads.changed(600));
    await c.put('/berth/swarm/x', '1');
    assert.ok(await other >= 550, 'waited its time');
    // a covered key ends it as soon as the feed reports it
    const waiting = timed(reads.changed(8000));
    await new Promise((r) => setTimeout(r, 100));
    await c.put('/berth/swarm/w/1', 'one');
    assert.ok(await waiting < 4000, 'woken by the change');
    assert.deepEqual(await reads.get(), [['one']]);
    // a wake ends it; close ends every waiter
    let wake!: () => void;
    const woken = timed(reads.changed(8000, new Promise<void>((r) => { wake = r; })));
    setTimeout(wake, 50);
    assert.ok(await woken < 4000);
    const closing = timed(reads.changed(8000));
    setTimeout(() => reads.close(), 50);
    assert.ok(await closing < 4000);
    // without a live feed (closed reads no longer listen) it looks again within a second
    assert.ok(await timed(reads.changed(8000)) < 2000);
  } finally {
    reads.close();
    feed.close();
  }
});
