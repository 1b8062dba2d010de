// The VXLAN forwarding table of a swarm overlay (src/host/network/vxlan.ts):
// programmed by difference only — entries already right are never touched —
// and repaired from the kernel's own table. The last test uses a real VXLAN
// device (root, unique name, random port), removed afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tableOf, tableCommands, parseTable, readTable, syncTable, type VxlanPeer } from '../src/host/network/vxlan';

const A: VxlanPeer = { ip: '10.0.1.2', mac: '02:42:0A:00:01:02', dst: '172.30.9.3' };
const B: VxlanPeer = { ip: '10.0.1.3', mac: '02:42:0a:00:01:03', dst: '172.30.9.3' };
const C: VxlanPeer = { ip: '10.0.1.4', mac: '02:42:0a:00:01:04', dst: '172.30.9.4' };

test('tableCommands: equal tables need nothing; a new peer adds only its own entries', () => {
  assert.deepEqual(tableCommands('vx', tableOf([A, B]), tableOf([B, A])), { fdb: [], neigh: [] });
  const add = tableCommands('vx', tableOf([A]), tableOf([A, B, C]));
  assert.deepEqual(add.fdb, [
    'fdb append 00:00:00:00:00:00 dev vx dst 172.30.9.4 self permanent',
    'fdb replace 02:42:0a:00:01:03 dev vx dst 172.30.9.3 self permanent',
    'fdb replace 02:42:0a:00:01:04 dev vx dst 172.30.9.4 self permanent',
  ]);
  assert.deepEqual(add.neigh, [
    'neigh replace 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vx nud permanent',
    'neigh replace 10.0.1.4 lladdr 02:42:0a:00:01:04 dev vx nud permanent',
  ]);
});

test('tableCommands: stale entries go first, a node left keeps no flood entry, a moved address is replaced', () => {
  const moved = { ...B, mac: '02:42:0a:00:01:99' };
  const c = tableCommands('vx', tableOf([A, B, C]), tableOf([A, moved]));
  assert.deepEqual(c.fdb, [
    'fdb del 02:42:0a:00:01:03 dev vx dst 172.30.9.3 self',
    'fdb del 02:42:0a:00:01:04 dev vx dst 172.30.9.4 self',
    'fdb del 00:00:00:00:00:00 dev vx dst 172.30.9.4 self',
    'fdb replace 02:42:0a:00:01:99 dev vx dst 172.30.9.3 self permanent',
  ]);
  assert.deepEqual(c.neigh, [
    'neigh del 10.0.1.4 dev vx',
    'neigh replace 10.0.1.3 lladdr 02:42:0a:00:01:99 dev vx nud permanent',
  ]);
});

test('parseTable: only the device\'s own entries with a destination; the bridge\'s entries for the port are not ours', () => {
  const fdb = JSON.stringify([
    { mac: 'ee:de:42:a1:f8:97', flags: [], master: 'br0', state: '' },
    { mac: '92:41:b5:0d:9d:36', flags: [], master: 'br0', state: 'permanent' },
    { mac: '02:42:0a:00:01:02', dst: '172.30.9.3', flags: ['self'], state: 'permanent' },
    { mac: '00:00:00:00:00:00', dst: '172.30.9.3', flags: ['self'], state: 'permanent' },
  ]);
  const neigh = JSON.stringify([{ dst: '10.0.1.2', lladdr: '02:42:0a:00:01:02', state: ['PERMANENT'] }]);
  assert.deepEqual(parseTable(fdb, neigh), tableOf([A]));
  assert.deepEqual(parseTable('', ''), tableOf([]));
});

test('a real VXLAN device: a kernel read repairs a missing entry and drops a stale one, leaving the rest', { timeout: 60_000 }, async (t) => {
  const dev = `bvt${randomBytes(3).toString('hex')}`;
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  sh('ip', ['link', 'add', dev, 'type', 'vxlan', 'id', '4242', 'dstport', String(port), 'nolearning', 'proxy']);
  t.after(() => {
    try {
      sh('ip', ['link', 'del', dev]);
    } catch { /* gone */ }
  });
  sh('ip', ['link', 'set', dev, 'up']);
  const want = tableOf([A, B, C]);
  await syncTable(dev, tableOf([]), want);
  assert.deepEqual(await readTable(dev), want);
  // behind our back: one entry lost, one stale entry added
  sh('bridge', ['fdb', 'del', '02:42:0a:00:01:03', 'dev', dev, 'dst', '172.30.9.3', 'self']);
  sh('ip', ['neigh', 'replace', '10.0.1.77', 'lladdr', '02:42:0a:00:01:77', 'dev', dev, 'nud', 'permanent']);
  const seen = await readTable(dev);
  assert.ok(seen && !seen.fdb.has('02:42:0a:00:01:03 172.30.9.3') && seen.neigh.has('10.0.1.77 02:42:0a:00:01:77'));
  const cmds = tableCommands(dev, seen, want);
  assert.deepEqual(cmds, {
    fdb: [`fdb replace 02:42:0a:00:01:03 dev ${dev} dst 172.30.9.3 self permanent`],
    neigh: [`neigh del 10.0.1.77 dev ${dev}`],
  });
  await syncTable(dev, seen, want);
  assert.deepEqual(await readTable(dev), want);
  // a device that is not there: no table, no throw
  assert.equal(await readTable(`${dev}no`), undefined);
});
