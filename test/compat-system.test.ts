// What clients run every day beyond containers and images: system df and
// prune (docker CLI, berth, python3-docker), the plugin list/inspect, and the
// websocket attach (a real websocket client).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startDaemon, waitFor, type TestDaemon } from './helpers/daemon';
import { pyOk } from './helpers/python';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});
after(async () => {
  await d?.stop();
});

test('system df: Docker JSON through python3-docker, and the docker CLI and berth summaries agree', async () => {
  await d.ok(['volume', 'create', 'dfvol']);
  await d.ok(['run', '-d', '--name', 'dfrun', '-v', 'dfvol:/data', 'busybox', 'sh', '-c', 'head -c 100000 /dev/zero > /data/blob; sleep 300']);
  await d.ok(['run', '--name', 'dfstopped', 'busybox', 'sh', '-c', 'head -c 50000 /dev/zero > /f']);
  await waitFor(async () => (await d.ok(['exec', 'dfrun', 'ls', '/data'])).includes('blob'), 10_000, 'blob written');
  const out = await pyOk(d, `
import docker, json
c = docker.from_env()
print(json.dumps(c.df()))
`);
  const df = JSON.parse(out);
  assert.ok(df.LayersSize > 100_000, `LayersSize ${df.LayersSize}`);
  assert.equal(df.Images.length, 1);
  assert.equal(df.Images[0].Containers, 2);
  assert.equal(df.Images[0].SharedSize, 0);
  assert.equal(df.Images[0].Size, df.LayersSize);
  const stopped = df.Containers.find((c: any) => c.Names[0] === '/dfstopped');
  assert.ok(stopped.SizeRw >= 50_000, `SizeRw ${stopped.SizeRw}`);
  const vol = df.Volumes.find((v: any) => v.Name === 'dfvol');
  assert.equal(vol.UsageData.RefCount, 1);
  assert.equal(vol.UsageData.Size, 100_000);
  assert.deepEqual(df.BuildCache, []);

  const docker = await d.ok(['system', 'df']);
  const berth = await d.berth(['system', 'df']);
  assert.equal(berth.code, 0, berth.stderr);
  assert.match(docker, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\n/);
  assert.match(docker, /\nImages\s+1\s+1\s+\S+\s+0B \(0%\)\n/);
  assert.match(docker, /\nContainers\s+2\s+1\s+/);
  assert.match(docker, /\nLocal Volumes\s+1\s+1\s+100kB\s+0B \(0%\)\n/);
  assert.match(docker, /\nBuild Cache\s+0\s+0\s+0B\s+0B\n/);
  assert.equal(berth.stdout, docker);

  const dv = await d.ok(['system', 'df', '-v']);
  const bv = await d.berth(['system', 'df', '-v']);
  assert.equal(bv.code, 0, bv.stderr);
  assert.match(dv, /^Images space usage:\n\nREPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS\nbusybox\s+latest\s+/);
  assert.match(dv, /\nLocal Volumes space usage:\n\nVOLUME NAME\s+LINKS\s+SIZE\ndfvol\s+1\s+100kB\n/);
  assert.match(dv, /\nBuild cache usage: 0B\n/);
  // the CREATED column ticks with the clock; everything else must be the same text
  const norm = (s: string) => s.replace(/(Less than |About )?(an?|\d+) \w+ ago/g, 'X ago').replace(/Up (About |Less than )?(an?|\d+) \w+/g, 'Up X').replace(/ +/g, ' ');
  assert.equal(norm(bv.stdout), norm(dv));
  await d.ok(['rm', '-f', 'dfrun']);
});

test('system prune: berth prints what docker prints, and removes the same things', async () => {
  await d.ok(['create', '--name', 'prunec', 'busybox', 'true']);
  await d.ok(['network', 'create', 'prunenet']);
  await d.ok(['volume', 'create', 'keepvol']);
  const r = await d.berth(['system', 'prune', '--volumes'], { input: 'y\n' });
  assert.equal(r.code, 0, r.stderr);
  const id = (await d.ok(['ps', '-aq', '--no-trunc', '--filter', 'name=dfstopped'])).trim();
  assert.equal(id, '', 'stopped container pruned');
  assert.ok(r.stdout.startsWith(
    'WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n' +
    '  - all anonymous volumes not used by at least one container\n  - all dangling images\n  - unused build cache\n\n' +
    'Are you sure you want to continue? [y/N] Deleted Containers:\n'), r.stdout);
  assert.match(r.stdout, /\n\nDeleted Networks:\nprunenet\n\n/);
  assert.match(r.stdout, /\nTotal reclaimed space: \d+(\.\d+)?kB\n$/);
  // named volumes stay (only anonymous ones go), as with docker's API 1.42+
  assert.equal((await d.ok(['volume', 'ls', '-q'])).includes('keepvol'), true);
  // -a -f: the unused image goes too; the texts match docker's
  const b = await d.berth(['system', 'prune', '-a', '-f']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /^Deleted Images:\nuntagged: busybox:latest\ndeleted: sha256:[0-9a-f]{64}\n/);
  assert.match(b.stdout, /\n\nTotal reclaimed space: \S+\n$/);
  const dk = await d.ok(['system', 'prune', '-a', '-f']);
  assert.equal(dk, 'Total reclaimed space: 0B\n');
  const again = await d.berth(['system', 'prune', '-a', '-f']);
  assert.equal(again.stdout, dk);
  await d.loadBusybox();
});

test('plugins: docker plugin ls is empty, inspect and SDK get answer not found as Docker', async () => {
  const ls = await d.ok(['plugin', 'ls']);
  assert.match(ls, /^ID\s+NAME\s+DESCRIPTION\s+ENABLED\n$/);
  const i = await d.docker(['plugin', 'inspect', 'vieux/sshfs']);
  assert.equal(i.code, 1);
  assert.match(i.stderr, /plugin "vieux\/sshfs" not found/);
  const out = await pyOk(d, `
import docker
c = docker.from_env()
print(len(c.plugins.list()))
try:
    c.plugins.get('nope')
except docker.errors.NotFound as e:
    print('notfound', e.explanation)
`);
  assert.equal(out, '0\nnotfound plugin "nope" not found\n');
});

test('attach/ws: a websocket client gets raw output (no stream headers) and feeds stdin', async () => {
  await d.ok(['run', '-d', '-i', '--name', 'wsc', 'busybox', 'sh', '-c', 'while read l; do echo "out:$l"; echo "err:$l" >&2; done']);
  const ws = new WebSocket('ws+unix://' + d.socket + ':/v1.43/containers/wsc/attach/ws?stream=1&stdin=1&stdout=1&stderr=1');
  const got: Array<{ data: Buffer; binary: boolean }> = [];
  ws.on('message', (data: Buffer, binary: boolean) => got.push({ data: Buffer.from(data), binary }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  ws.send('hello\n');
  const text = () => Buffer.concat(got.map((g) => g.data)).toString();
  await waitFor(async () => text().includes('out:hello\n') && text().includes('err:hello\n'), 10_000, 'websocket output', 100, () => `: ${JSON.stringify(text())}`);
  assert.ok(got.every((g) => g.binary), 'binary frames at API 1.43');
  assert.equal(text().split('\n').filter(Boolean).sort().join(','), 'err:hello,out:hello');
  ws.close();
  // an old API version gets text frames
  const old = new WebSocket('ws+unix://' + d.socket + ':/v1.41/containers/wsc/attach/ws?stream=1&stdin=1&stdout=1');
  const frames: boolean[] = [];
  old.on('message', (_data: Buffer, binary: boolean) => frames.push(binary));
  await new Promise<void>((resolve, reject) => { old.once('open', () => resolve()); old.once('error', reject); });
  old.send('x\n');
  await waitFor(async () => frames.length > 0, 10_000, 'websocket output (v1.41)');
  assert.equal(frames[0], false);
  old.close();
  await d.ok(['rm', '-f', 'wsc']);
});
