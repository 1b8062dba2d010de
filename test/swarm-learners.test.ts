// A joining manager's etcd member enters as a learner while the init's member
// runs its short raft timers (election-settle.ts), and the manager that added
// it promotes it. If that manager dies first, the learner would stay a
// non-voter that `node ls` counts as a manager: promoteStartedLearners (the
// settler's and the Berth leader's tick) must make it a voter. Two real etcd
// members, the second added as a learner and never promoted by its adder.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEtcd, startTestMember, type TestEtcd } from './helpers/etcd';
import { EtcdClient } from '../src/swarm/etcd-client';
import { promoteStartedLearners } from '../src/swarm/election-settle';

const members: TestEtcd[] = [];
let client: EtcdClient | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

after(async () => {
  client?.close();
  for (const m of members.reverse()) await m.stop();
});

test('a learner whose adder never promoted it is promoted once it runs and caught up', async () => {
  const first = await startTestEtcd('l1');
  members.push(first);
  client = new EtcdClient(first.url, first.tls);
  await until('the first member', async () => client!.put('/probe', 'x').then(() => true));
  // An added learner that has not started yet is left alone (no name, no client URL).
  let learnerId = '';
  const second = await startTestMember(first, 'l2', async (peerUrl) => {
    learnerId = (await client!.memberAdd(peerUrl, true)).id;
    assert.deepEqual(await promoteStartedLearners(client!), [], 'a learner not started yet is not promoted');
  });
  members.push(second);
  const promoted = await until('the learner promoted', async () => {
    const ids = await promoteStartedLearners(client!);
    return ids.length ? ids : undefined;
  });
  assert.deepEqual(promoted, [learnerId]);
  const list = await client.memberList();
  assert.equal(list.length, 2);
  assert.ok(list.every((m) => !m.isLearner), `still a learner: ${JSON.stringify(list)}`);
  // Nothing left to promote: the next look does nothing.
  assert.deepEqual(await promoteStartedLearners(client), []);
  // The promoted member is a voter serving the same data.
  const c2 = new EtcdClient(second.url, second.tls);
  try {
    await until('the second member serves', async () => (await c2.get('/probe')) !== undefined);
  } finally {
    c2.close();
  }
});
