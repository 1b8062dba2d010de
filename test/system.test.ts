// The daemon itself: ping, version, info, events, version prefixes, errors,
// the data-root lock, and a clean SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startDaemon, type TestDaemon, ROOT_DIR } from './helpers/daemon';

let d: TestDaemon;

function request(method: string, p: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: d.socket, path: p, method, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

before(async () => {
  d = await startDaemon();
});
after(async () => {
  await d?.stop();
});

test('/_ping answers GET and HEAD with Docker headers, with and without a version prefix', async () => {
  for (const p of ['/_ping', '/v1.43/_ping', '/v1.24/_ping']) {
    const r = await request('GET', p);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'OK');
    assert.equal(r.headers['api-version'], '1.43');
    assert.equal(r.headers['ostype'], 'linux');
    assert.equal(r.headers['builder-version'], '1');
  }
  const h = await request('HEAD', '/_ping');
  assert.equal(h.status, 200);
  assert.equal(h.headers['api-version'], '1.43');
});

test('versions outside 1.24..1.43 are refused with Docker\'s message', async () => {
  const hi = await request('GET', '/v1.99/version');
  assert.equal(hi.status, 400);
  assert.match(JSON.parse(hi.body).message, /client version 1.99 is too new. Maximum supported API version is 1.43/);
  const lo = await request('GET', '/v1.12/version');
  assert.equal(lo.status, 400);
  assert.match(JSON.parse(lo.body).message, /too old/);
});

test('unknown paths answer 404 JSON', async () => {
  const r = await request('GET', '/v1.43/nonsense');
  assert.equal(r.status, 404);
  assert.equal(JSON.parse(r.body).message, 'page not found');
});

test('docker version shows the Berth engine and negotiates API 1.43', async () => {
  const r = await d.docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '1.43 1.24 linux');
  const b = await d.berth(['version', '--format', '{{.Server.APIVersion}}']);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout.trim(), '1.43');
});

test('docker info reports the driver, cgroups, data root and runtimes', async () => {
  const r = await d.docker(['info', '--format', '{{json .}}']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.Driver, 'overlay2');
  assert.equal(info.DockerRootDir, d.dataRoot);
  assert.equal(info.DefaultRuntime, 'runc');
  assert.ok(info.Runtimes.runc);
  assert.ok(info.NCPU >= 1);
  assert.ok(info.MemTotal > 0);
  assert.match(info.CgroupVersion, /^[12]$/);
  assert.equal(info.OSType, 'linux');
  assert.ok(Array.isArray(info.DriverStatus) && info.DriverStatus.some((x: string[]) => x[0] === 'Backing Filesystem'));
  const b = await d.berth(['info']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /Storage Driver: overlay2/);
});

test('events: since/until replay the daemon start event and stop', async () => {
  const r = await d.docker(['events', '--since', '0', '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=daemon', '--format', '{{.Type}} {{.Action}}']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /daemon start/);
});

test('a second daemon on the same data root is refused', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT_DIR, 'bin', 'berthd'), '-H', `unix://${d.root}/other.sock`, '--data-root', d.dataRoot, '--exec-root', `${d.root}/exec2`], { timeout: 20_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr.toString(), /another berthd is already using data root/);
});

test('the socket is mode 0660', async () => {
  const fs = await import('node:fs');
  assert.equal(fs.statSync(d.socket).mode & 0o777, 0o660);
});

test('SIGTERM stops serving and a restart serves again', async () => {
  await d.restart();
  assert.equal(await d.ping(), true);
});
