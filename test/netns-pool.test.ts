// The pool of spare network namespaces (network/netns-pool.ts): filled after
// a start once starts pause, handed to the next starts (the container's
// namespace is a former spare: same namespace inode), working networking in
// it, drained on a daemon stop, swept after a SIGKILL, off with
// BERTH_NETNS_POOL=0, and never left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startDaemon, waitFor, daemonTag, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
let tag: string;
/** berthd's environment: read at each (re)start. */
const daemonEnv: Record<string, string> = { BERTH_NETNS_POOL: '3' };

before(async () => {
  d = await startDaemon({ env: daemonEnv });
  await d.loadBusybox();
  tag = daemonTag(d.chainPrefix);
});

after(async () => {
  await d?.stop();
});

const ls = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
/** nsfs: a spare's file once its namespace is mounted on it (before that it is an empty file with an inode of its own). */
const NSFS_MAGIC = 0x6e736673;
const mounted = (name: string) => {
  try {
    return fs.statfsSync(`/run/netns/${name}`).type === NSFS_MAGIC;
  } catch {
    return false;
  }
};
/** The spares whose namespace is mounted: one the pool is still making is not counted (its inode would be the bare file's). */
const spares = () => ls('/run/netns').filter((n) => new RegExp(`^${tag}_p[0-9a-f]{8}$`).test(n) && mounted(n)).sort();
const ino = (name: string) => fs.statSync(`/run/netns/${name}`).ino;
const waitSpares = (n: number, what: string) =>
  waitFor(async () => spares().length === n, 30_000, what, 100, () => `: ${spares().join(' ')}\n${d.logs().slice(-2000)}`);

test('spares are made once starts pause, handed to starts, and refilled', async () => {
  assert.deepEqual(spares(), [], 'no spare before the first start');
  await d.ok(['run', '--rm', 'busybox', 'true']);
  await waitSpares(3, 'three spares after the first start');
  const inodes = new Set(spares().map(ino));
  // three starts take spares: each container's namespace is one. The pool is
  // full before each start, so no refill runs while it takes one (a spare
  // made between the look and the start would be taken unseen: LIFO).
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await waitSpares(3, `the pool full before start ${i + 1}`);
    for (const s of spares()) inodes.add(ino(s));
    ids.push((await d.ok(['run', '-d', 'busybox', 'sleep', '300'])).trim());
  }
  const taken = new Set<number>();
  for (const id of ids) {
    const ns = `${tag}-${id.slice(0, 12)}`;
    assert.ok(inodes.has(ino(ns)), `${ns} is a former spare`);
    taken.add(ino(ns));
  }
  assert.equal(taken.size, 3);
  // networking works in an adopted namespace: its own address and MAC, the gateway answers
  const ip = (await d.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.Gateway}}', ids[0]])).trim().split(' ');
  const inside = await d.ok(['exec', ids[0], 'ip', 'addr', 'show', 'eth0']);
  assert.match(inside, new RegExp(`inet ${ip[0].replace(/\./g, '\\.')}/`));
  assert.match(inside, new RegExp(`link/ether ${ip[1]}`));
  await d.ok(['exec', ids[0], 'ping', '-c', '1', '-W', '5', ip[2]]);
  await d.ok(['exec', ids[0], 'ping', '-c', '1', '-W', '5', (await d.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', ids[1]])).trim()]);
  // refilled, none of the spares a container's
  await waitSpares(3, 'the pool refilled');
  for (const s of spares()) assert.ok(!taken.has(ino(s)), `${s} is no container's`);
  await d.ok(['rm', '-f', ...ids]);
  await waitFor(async () => ls('/run/netns').filter((n) => n.startsWith(`${tag}-`)).length === 0, 30_000, 'the containers\' namespaces gone');
  assert.equal(spares().length, 3, 'a removal neither takes nor leaves spares');
});

test('a stop drains the pool; a SIGKILL leaves spares the next start sweeps', async () => {
  await d.ok(['run', '--rm', 'busybox', 'true']);
  await waitSpares(3, 'a full pool');
  await d.terminate('SIGTERM');
  assert.deepEqual(spares(), [], 'a stop drains the pool');
  await d.start();
  await d.ok(['run', '--rm', 'busybox', 'true']);
  await waitSpares(3, 'a full pool again');
  const old = spares();
  await d.kill();
  assert.deepEqual(spares(), old, 'a SIGKILL leaves them');
  await d.start();
  await waitFor(async () => spares().every((s) => !old.includes(s)), 30_000, 'the leftovers swept');
  assert.deepEqual(spares(), [], 'no spare before a start');
});

test('BERTH_NETNS_POOL=0: no spares, containers make their own namespace', async () => {
  await d.terminate('SIGTERM');
  daemonEnv.BERTH_NETNS_POOL = '0';
  try {
    await d.start();
    await d.ok(['run', '--rm', 'busybox', 'true']);
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(spares(), []);
    assert.ok(fs.existsSync(`/run/netns/${tag}-${id.slice(0, 12)}`));
    await d.ok(['rm', '-f', id]);
  } finally {
    daemonEnv.BERTH_NETNS_POOL = '3';
  }
});
