// What berthd does for its own memory and a manager's etcd member's: V8's
// young generation kept at 1 MiB per semi-space (young-gen.ts, checked in a
// child node that loads it and then keeps many young objects alive, which
// grows the new space to 16 MiB without it), and the etcd member's GOGC
// (etcd.ts; the member's argv is checked in swarm-single).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { etcdEnv, ETCD_GOGC, SNAPSHOT_COUNT } from '../src/host/etcd';

const YOUNG_GEN = path.join(__dirname, '..', 'src', 'daemon', 'young-gen.js');

/** New-space size (KiB) of a child node after surviving allocations, with young-gen.js loaded first or not. */
function newSpaceKiB(load: boolean, env: NodeJS.ProcessEnv = {}): number {
  const script = `
    ${load ? `require(${JSON.stringify(YOUNG_GEN)});` : ''}
    const keep = [];
    for (let i = 0; i < 1e6; i++) { const o = { i, s: 'x' + i }; if (i % 4 === 0) keep.push(o); }
    const ns = require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(ns.space_size / 1024 + keep.length * 0));`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout);
}

test('young-gen: the new space stays at 1 MiB per semi-space', () => {
  const without = newSpaceKiB(false);
  const withIt = newSpaceKiB(true);
  assert.ok(without > 4096, `V8's default grows the new space (got ${without} KiB): the check below would prove nothing`);
  assert.ok(withIt <= 2048, `new space ${withIt} KiB with young-gen loaded`);
});

test('young-gen: a size given to node or BERTH_YOUNG_GEN=default wins', () => {
  assert.ok(newSpaceKiB(true, { NODE_OPTIONS: '--max-semi-space-size=4' }) > 2048);
  assert.ok(newSpaceKiB(true, { BERTH_YOUNG_GEN: 'default' }) > 4096);
});

test('etcd member: GOGC 25 unless the operator set one; a snapshot every 10000 entries', () => {
  assert.equal(etcdEnv({ PATH: '/bin' }).GOGC, ETCD_GOGC);
  assert.equal(ETCD_GOGC, '25');
  assert.equal(etcdEnv({ PATH: '/bin', GOGC: '80' }).GOGC, '80');
  assert.equal(etcdEnv({ PATH: '/bin' }).PATH, '/bin');
  assert.equal(SNAPSHOT_COUNT, 10_000);
});
