// Volumes without containers: create/ls/inspect/rm/prune through the docker
// CLI, local driver options (tmpfs, bind), name validation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
});
after(async () => {
  await d?.stop();
});

test('create, inspect, ls with filters and format, rm', async () => {
  const c = await d.docker(['volume', 'create', '--label', 'tier=db', 'data1']);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout.trim(), 'data1');
  const v = JSON.parse((await d.docker(['volume', 'inspect', 'data1'])).stdout)[0];
  assert.equal(v.Name, 'data1');
  assert.equal(v.Driver, 'local');
  assert.equal(v.Scope, 'local');
  assert.deepEqual(v.Labels, { tier: 'db' });
  assert.equal(v.Mountpoint, path.join(d.dataRoot, 'volumes', 'data1', '_data'));
  assert.ok(fs.statSync(v.Mountpoint).isDirectory());
  assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT/);
  // idempotent create, as Docker
  assert.equal((await d.docker(['volume', 'create', 'data1'])).code, 0);
  assert.equal((await d.docker(['volume', 'create', 'data2'])).code, 0);
  const anon = (await d.docker(['volume', 'create'])).stdout.trim();
  assert.match(anon, /^[0-9a-f]{64}$/);
  let ls = await d.docker(['volume', 'ls', '--filter', 'label=tier=db', '--format', '{{.Name}}']);
  assert.equal(ls.stdout.trim(), 'data1');
  ls = await d.docker(['volume', 'ls', '--filter', 'name=data', '-q']);
  assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['data1', 'data2']);
  ls = await d.docker(['volume', 'ls', '--filter', 'dangling=true', '--format', '{{.Driver}} {{.Name}}']);
  assert.match(ls.stdout, /local data1/);
  ls = await d.docker(['volume', 'ls', '--filter', 'driver=local', '-q']);
  assert.equal(ls.stdout.trim().split('\n').length, 3);
  // prune removes only anonymous volumes unless --all
  const pr = await d.docker(['volume', 'prune', '-f']);
  assert.equal(pr.code, 0, pr.stderr);
  assert.match(pr.stdout, new RegExp(anon));
  ls = await d.docker(['volume', 'ls', '-q']);
  assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['data1', 'data2']);
  const rm = await d.docker(['volume', 'rm', 'data2']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.ok(!fs.existsSync(path.join(d.dataRoot, 'volumes', 'data2')));
  const missing = await d.docker(['volume', 'rm', 'nope']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no such volume/);
  assert.equal((await d.docker(['volume', 'rm', '-f', 'nope'])).code, 0);
  const all = await d.docker(['volume', 'prune', '-af']);
  assert.equal(all.code, 0, all.stderr);
  assert.equal((await d.docker(['volume', 'ls', '-q'])).stdout.trim(), '');
});

test('bad names are refused and nothing is made', async () => {
  for (const name of ['a/b', '..', '../x', 'x..//y']) {
    const r = await d.docker(['volume', 'create', name]);
    assert.notEqual(r.code, 0, name);
    assert.match(r.stderr, /includes invalid characters for a local volume name/);
  }
  const r = await d.docker(['volume', 'create', '-d', 'nfsplug', 'v']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /plugin "nfsplug" not found/);
  assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'volumes')), []);
});

test('local driver options: -o type= device= o= are recorded', async () => {
  const r = await d.docker(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', 'tv']);
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse((await d.docker(['volume', 'inspect', 'tv'])).stdout)[0];
  assert.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
  const bad = await d.docker(['volume', 'create', '-o', 'foo=bar', 'bv']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid option key: "foo"/);
  assert.equal((await d.docker(['volume', 'rm', 'tv'])).code, 0);
});

test('berth volume create/ls/inspect/rm/prune', async () => {
  assert.equal((await d.berth(['volume', 'create', '--label', 'via=berth', 'bv1'])).stdout.trim(), 'bv1');
  const ls = await d.berth(['volume', 'ls']);
  assert.match(ls.stdout, /^DRIVER\s+VOLUME NAME\nlocal\s+bv1\n$/);
  const q = await d.berth(['volume', 'ls', '-q', '--filter', 'label=via=berth']);
  assert.equal(q.stdout.trim(), 'bv1');
  const mp = await d.berth(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'bv1']);
  assert.equal(mp.stdout.trim(), path.join(d.dataRoot, 'volumes', 'bv1', '_data'));
  const rm = await d.berth(['volume', 'rm', 'bv1']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal((await d.berth(['volume', 'create'])).code, 0);
  const pr = await d.berth(['volume', 'prune', '-f']);
  assert.match(pr.stdout, /Deleted Volumes:\n[0-9a-f]{64}\n/);
  assert.equal((await d.berth(['volume', 'ls', '-q'])).stdout.trim(), '');
});
