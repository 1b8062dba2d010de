// Fault injection: berthd is killed with SIGKILL while it publishes ports,
// starts a burst of containers, loads an image, builds, and creates and
// removes volumes; it is restarted on the same data each time. After every
// restart its state must agree with runc's (`runc list` under its exec root)
// and the host's (mounts under the data root, network namespaces, veths,
// iptables rules of its chain prefix), nothing half-made may be left behind,
// and nothing made before the fault may be lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { startDaemon, waitFor, type TestDaemon } from './helpers/daemon';
import { writeBigImageArchive } from './fixtures/big-image';

let d: TestDaemon;
const faults: string[] = [];

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});
after(async () => {
  if (faults.length) console.log(`faults injected and survived: ${faults.length} (${faults.join(', ')})`);
  await d?.stop();
});

const ok = (args: string[], timeout?: number): Promise<string> => d.ok(args, timeout).then((s) => s.trim());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let out = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('timeout'));
    }, 3000);
    s.on('connect', () => s.write('GET / HTTP/1.0\r\n\r\n'));
    s.on('data', (b) => (out += b.toString()));
    s.on('end', () => {
      clearTimeout(t);
      resolve(out);
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

async function answers(port: number, text: string, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await httpGet(port)).includes(text)) return true;
    } catch { /* not yet */ }
    await sleep(100);
  }
  return false;
}

/** One Engine API call (no CLI process: cheap on a loaded host); resolves with the status, 0 if the connection broke. */
function api(method: string, p: string, body?: unknown): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: d.socket, method, path: p, headers: { 'Content-Type': 'application/json' }, timeout: 20_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** SIGKILL berthd, then start it again on the same data root. */
async function crash(what: string): Promise<void> {
  await d.kill();
  faults.push(what);
  await d.start();
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/**
 * The daemon's view against runc's and the host's: running containers are
 * exactly runc's running containers; mounts, netns, veths and DNAT rules are
 * exactly those of running containers; no staging or temp leftovers.
 */
async function assertConsistent(where: string): Promise<void> {
  // Few CLI calls: each costs much on a loaded host.
  const status = new Map<string, string>();
  for (const line of (await ok(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.State}}'])).split('\n').filter(Boolean)) {
    const [id, st] = line.split(' ');
    status.set(id, st);
  }
  const running = [...status].filter(([, st]) => st === 'running').map(([id]) => id).sort();
  for (const [id, s] of status) assert.ok(['running', 'created', 'exited'].includes(s), `${where}: ${id.slice(0, 12)} is ${s}`);
  const runc = JSON.parse(sh('runc', ['--root', path.join(d.execRoot, 'runc'), 'list', '-f', 'json']) || '[]') as Array<{ id: string; status: string }>;
  assert.deepEqual(runc.map((c) => c.id).sort(), running, `${where}: runc list vs docker ps`);
  assert.ok(runc.every((c) => c.status === 'running'), `${where}: runc states ${JSON.stringify(runc)}`);
  // Mounts under the data root: one overlay per running container.
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(d.dataRoot + '/'));
  assert.deepEqual(mounts.sort(), running.map((id) => path.join(d.dataRoot, 'containers', id, 'merged')).sort(), `${where}: mounts`);
  // Network namespaces and veths: those of running containers only (all here use the default bridge).
  const tag = d.chainPrefix.toLowerCase().slice(0, 8);
  const netns = (fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : []).filter((n) => n.startsWith(tag + '-')).sort();
  assert.deepEqual(netns, running.map((id) => `${tag}-${id.slice(0, 12)}`).sort(), `${where}: netns`);
  const veths = fs.readdirSync('/sys/class/net').filter((n) => n.startsWith(tag + 'v'));
  assert.equal(veths.length, running.length, `${where}: veths ${veths.join(' ')}`);
  // DNAT rules: one per published port of a running container.
  const want: string[] = [];
  const portLines = running.length ? (await ok(['inspect', '-f', '{{json .NetworkSettings.Ports}}', ...running])).split('\n').filter(Boolean) : [];
  for (const line of portLines) {
    const ports = JSON.parse(line) as Record<string, Array<{ HostPort: string }> | null>;
    for (const list of Object.values(ports ?? {})) for (const b of list ?? []) want.push(b.HostPort);
  }
  const dnat = sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith(`-A ${d.chainPrefix}-NAT`) && l.includes('DNAT'));
  assert.deepEqual(dnat.map((l) => /--dport (\d+)/.exec(l)![1]).sort(), want.sort(), `${where}: DNAT rules ${JSON.stringify(dnat)} for ports ${JSON.stringify(want)}`);
  const fwd = sh('iptables-save', ['-t', 'filter']).split('\n').filter((l) => l.startsWith(`-A ${d.chainPrefix}-FORWARD`));
  const accept = fwd.filter((l) => l.startsWith(`-A ${d.chainPrefix}-FORWARD -d `) && l.includes('--dport'));
  assert.equal(accept.length, want.length, `${where}: FORWARD accepts, in ${fwd.join('; ')}`);
  // The loopback DNAT jump exists exactly while some port is published.
  const jump = sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith('-A OUTPUT') && l.includes(`-j ${d.chainPrefix}-NAT`));
  assert.equal(jump.length, want.length ? 1 : 0, `${where}: OUTPUT jump ${jump.join('; ')}`);
  // No staging or half-made directories.
  const left = [
    ...fs.readdirSync(path.join(d.dataRoot, 'blobs', 'tmp')).map((n) => `blobs/tmp/${n}`),
    ...fs.readdirSync(path.join(d.dataRoot, 'layers')).filter((n) => n.startsWith('tmp-')).map((n) => `layers/${n}`),
    ...fs.readdirSync(path.join(d.dataRoot, 'volumes')).filter((n) => n.startsWith('.')).map((n) => `volumes/${n}`),
    ...fs.readdirSync(path.join(d.dataRoot, 'containers')).filter((n) => !status.has(n)).map((n) => `containers/${n}`),
  ];
  assert.deepEqual(left, [], `${where}: leftovers`);
  // Every volume listed has its directory, and every directory a volume.
  const vols = (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();
  assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'volumes')).sort(), vols, `${where}: volume dirs`);
}

/** What was made before the faults and must survive all of them. */
async function assertNothingLost(): Promise<void> {
  assert.equal(await ok(['run', '--rm', '-v', 'keepvol:/v', 'busybox', 'cat', '/v/data']), 'precious');
  assert.equal(await ok(['run', '--rm', 'keepimg', 'cat', '/kept']), 'kept');
  assert.equal(await ok(['inspect', '-f', '{{.State.Status}}', 'keeper']), 'running');
  assert.ok(await answers(18931, 'keeper-page'), 'keeper still serves its published port');
}

test('setup: a volume, an image and a running container with a published port that every fault must leave intact', async () => {
  await ok(['volume', 'create', 'keepvol']);
  await ok(['run', '--rm', '-v', 'keepvol:/v', 'busybox', 'sh', '-c', 'echo precious > /v/data']);
  await ok(['run', '--name', 'kimg', 'busybox', 'sh', '-c', 'echo kept > /kept']);
  await ok(['commit', 'kimg', 'keepimg']);
  await ok(['rm', 'kimg']);
  await ok(['run', '-d', '--name', 'keeper', '-p', '127.0.0.1:18931:80', 'busybox', 'sh', '-c', 'mkdir -p /www && echo keeper-page > /www/index.html && exec httpd -f -p 80 -h /www']);
  assert.ok(await answers(18931, 'keeper-page'));
  await assertConsistent('setup');
});

test('published ports answer while berthd is down, after its restart, and close with the container', async () => {
  await ok(['run', '-d', '--name', 'pweb', '-p', '18932:80', 'busybox', 'sh', '-c', 'mkdir -p /www && echo up-page > /www/index.html && exec httpd -f -p 80 -h /www']);
  assert.ok(await answers(18932, 'up-page'), 'answers with berthd up');
  await d.kill();
  faults.push('SIGKILL with published ports');
  try {
    // No daemon, no userland proxy: the kernel path must serve loopback.
    assert.equal(await d.ping(), false);
    assert.ok(await answers(18932, 'up-page', 5000), 'answers on 0.0.0.0 binding while berthd is down');
    assert.ok(await answers(18931, 'keeper-page', 5000), 'answers on 127.0.0.1 binding while berthd is down');
  } finally {
    await d.start();
  }
  assert.ok(await answers(18932, 'up-page'), 'answers after restart');
  await ok(['rm', '-f', 'pweb']);
  await assert.rejects(httpGet(18932), 'port closed after rm');
  const rules = ['nat', 'filter'].flatMap((t) => sh('iptables-save', ['-t', t]).split('\n')).filter((l) => l.includes('18932'));
  assert.deepEqual(rules, [], 'no rule of the removed container is left');
  await assertConsistent('after ports');
});

test('SIGKILL during a burst of 10 `run -d`: the restarted daemon releases half-started containers', async () => {
  const runs = Array.from({ length: 10 }, (_, i) =>
    d.docker(['run', '-d', '--name', `burst${i}`, 'busybox', 'sleep', '300'], { timeout: 30_000 }));
  // Kill once some containers exist but the burst is not through.
  const dir = path.join(d.dataRoot, 'containers');
  const base = fs.readdirSync(dir).length;
  await waitFor(async () => fs.readdirSync(dir).length >= base + 3, 20_000, 'burst under way', 20);
  await crash('SIGKILL during run burst');
  await Promise.allSettled(runs);
  await assertConsistent('after run burst');
  // The half-started ones start cleanly now.
  const names = (await ok(['ps', '-a', '--filter', 'name=burst', '--format', '{{.Names}} {{.State}}'])).split('\n').filter(Boolean);
  for (const line of names) {
    const [name, state] = line.split(' ');
    if (state !== 'running') await ok(['start', name]);
  }
  // (A kill before any record was written leaves none: their directories go as orphans.)
  if (names.length) await ok(['rm', '-f', ...names.map((l) => l.split(' ')[0])]);
  await assertConsistent('after burst cleanup');
});

test('SIGKILL during `docker load`: no partial image, no staging left; the load then succeeds', async () => {
  // An image with a 12 MB layer, so the load takes a while.
  const archive = path.join(d.root, 'big.tar');
  await writeBigImageArchive(archive, 12);
  const load = spawn('docker', ['load', '-i', archive], { env: d.env, stdio: 'ignore' });
  const loadDone = new Promise((r) => load.once('exit', r));
  const tmp = path.join(d.dataRoot, 'blobs', 'tmp');
  await waitFor(async () => fs.readdirSync(tmp).length > 0, 20_000, 'load staging under way', 10);
  await crash('SIGKILL during load');
  await loadDone;
  assert.notEqual((await d.docker(['image', 'inspect', 'bigimg'])).code, 0, 'no half-loaded image');
  await assertConsistent('after load');
  await ok(['load', '-i', archive]);
  assert.equal(await ok(['run', '--rm', 'bigimg', 'sh', '-c', 'wc -c < /big']), String(12 * 1024 * 1024));
  await ok(['rmi', 'bigimg']);
});

test('SIGKILL during `docker build` (in a RUN step): no build container, mount or context left', async () => {
  const ctx = path.join(d.root, 'ctx');
  fs.mkdirSync(ctx, { recursive: true });
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo start > /s && sleep 30\n');
  const build = spawn('docker', ['build', '-t', 'faultbuild', ctx], { env: d.env, stdio: 'ignore' });
  const buildDone = new Promise((r) => build.once('exit', r));
  const runcRoot = path.join(d.execRoot, 'runc');
  const runcIds = () => (fs.existsSync(runcRoot) ? fs.readdirSync(runcRoot) : []);
  const before0 = runcIds().length;
  await waitFor(async () => runcIds().length > before0, 20_000, 'RUN step under way', 20);
  await crash('SIGKILL during build');
  await buildDone;
  assert.notEqual((await d.docker(['image', 'inspect', 'faultbuild'])).code, 0);
  assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'builder')).filter((n) => n !== 'tmp'), [], 'no build context left');
  await assertConsistent('after build');
});

test('SIGKILL during volume creates and removes: every volume is whole or absent', async () => {
  for (let i = 0; i < 10; i++) assert.equal(await api('POST', '/volumes/create', { Name: `old${i}` }), 201);
  const ops = [
    ...Array.from({ length: 40 }, (_, i) => api('POST', '/volumes/create', { Name: `new${i}` })),
    ...Array.from({ length: 10 }, (_, i) => api('DELETE', `/volumes/old${i}`)),
  ];
  // Kill while some are done and some not.
  const dir = path.join(d.dataRoot, 'volumes');
  await waitFor(async () => fs.readdirSync(dir).some((n) => n.startsWith('new')), 10_000, 'volume writes under way', 5);
  await crash('SIGKILL during volume writes');
  await Promise.allSettled(ops);
  await assertConsistent('after volumes');
  // Whatever exists can be used and removed.
  const vols = (await ok(['volume', 'ls', '-q'])).split('\n').filter((v) => /^(old|new)\d+$/.test(v));
  if (vols.length) await ok(['volume', 'rm', ...vols]);
});

test('nothing made before the faults was lost', async () => {
  await assertNothingLost();
  await assertConsistent('end');
  assert.ok(faults.length >= 5, `faults injected: ${faults.length}`);
});
