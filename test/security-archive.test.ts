// The archive and export paths against a hostile container (issue 10 item 2,
// the CVE-2018-15664 class): a container swaps a directory and a symlink that
// names a host directory (renameat2 RENAME_EXCHANGE in a loop, from a tiny
// static binary compiled here) while we PUT, GET and export through it again
// and again; no try may write, read or list a canary outside the rootfs.
// Also the hostile tars of the archive corpus (issue 10 item 13) and a
// container whose files change under `docker cp` (item 3: berthd stays up).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as tar from 'tar-stream';
import { startDaemon, run, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
let work: string;
/** The host directory the container's symlink names; nothing may ever reach it. */
let canary: string;
let secret: string;

const SWAP_C = `#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  for (;;) syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 2 /* RENAME_EXCHANGE */);
}
`;

interface Answer { status: number; body: Buffer; error?: string }

/** One raw API request; a dropped connection is an answer too (status 0). */
function api(method: string, p: string, body?: Buffer, timeout = 30_000): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: d.socket, path: `/v1.43${p}`, method, headers: body ? { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } : {}, timeout }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), error: e.message }));
    });
    req.on('error', (e) => resolve({ status: 0, body: Buffer.alloc(0), error: e.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

async function makeTar(entries: Array<Partial<tar.Header> & { name: string; body?: string }>): Promise<Buffer> {
  const pack = tar.pack();
  // Consumed while written: a big entry would otherwise wait for a reader that never comes.
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((res) => { pack.on('data', (c) => chunks.push(c as Buffer)); pack.on('end', () => res()); });
  for (const e of entries) {
    const { body, ...h } = e;
    await new Promise<void>((res, rej) => pack.entry({ mode: 0o644, ...h } as tar.Header, body ?? '', (err) => (err ? rej(err) : res())));
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

async function berthdAlive(): Promise<boolean> {
  return d.ping();
}

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  work = fs.mkdtempSync('/tmp/berth-secarch-');
  // The canary lives on the host, outside any rootfs, at a path the container names in a symlink.
  canary = fs.mkdtempSync('/tmp/berth-canary-');
  secret = `HOST-SECRET-${randomBytes(6).toString('hex')}`;
  fs.writeFileSync(path.join(canary, 'secret'), secret);
  fs.writeFileSync(path.join(work, 'swap.c'), SWAP_C);
  const cc = await run('cc', ['-static', '-O2', '-o', path.join(work, 'swap'), path.join(work, 'swap.c')]);
  assert.equal(cc.code, 0, `cc -static failed (scripts/install-deps.sh installs gcc and libc6-dev): ${cc.stderr}`);
  // /w/d is a directory, /w/l a link to the host canary; the loop swaps them for ever.
  await d.ok(['run', '-d', '--name', 'racer', '-v', `${path.join(work, 'swap')}:/swap:ro`, 'busybox', 'sh', '-c',
    `mkdir -p /w/d && echo container > /w/d/secret && ln -s ${canary} /w/l && exec /swap /w/d /w/l`]);
});

after(async () => {
  // The racer's init is the swap loop (pid 1 of its namespace ignores SIGTERM): remove it before the daemon goes.
  await d?.docker(['rm', '-f', 'racer', 'target', 'flap', 'leaver']).catch(() => {});
  await d?.stop();
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(canary, { recursive: true, force: true });
});

/**
 * Runs `once` up to `tries` times within `ms`, counting escapes; returns
 * [tries done, escapes]. On a loaded host each try is slow, so it goes on
 * past `ms` (up to 4x) until the minimum the test asserts is reached.
 */
async function hammer(tries: number, ms: number, once: (i: number) => Promise<boolean>, min = 8): Promise<[number, number]> {
  const end = Date.now() + ms;
  const hardEnd = Date.now() + 4 * ms;
  let n = 0;
  let escapes = 0;
  while (n < tries && (Date.now() < end || n < min) && Date.now() < hardEnd) {
    if (await once(n)) escapes++;
    n++;
  }
  return [n, escapes];
}

test('PUT /archive racing a symlink swap never writes outside the rootfs', async (t) => {
  const [n, escapes] = await hammer(60, 10_000, async (i) => {
    const body = await makeTar([{ name: `pwned-${i}`, body: 'escaped\n' }]);
    await api('PUT', '/containers/racer/archive?path=/w/d', body);
    return fs.existsSync(path.join(canary, `pwned-${i}`));
  });
  t.diagnostic(`PUT tries ${n}, escapes ${escapes}`);
  assert.ok(n >= 8, `only ${n} tries`);
  assert.equal(escapes, 0, `a PUT wrote into the host directory ${canary}: ${fs.readdirSync(canary).join(' ')}`);
  assert.ok(await berthdAlive());
});

test('GET /archive racing a symlink swap never reads a host file', async (t) => {
  const [n, escapes] = await hammer(60, 10_000, async () => {
    const a = await api('GET', '/containers/racer/archive?path=/w/d/secret');
    const b = await api('GET', '/containers/racer/archive?path=/w/d');
    return a.body.includes(secret) || b.body.includes(secret);
  });
  t.diagnostic(`GET tries ${n} (x2: a file and its directory), escapes ${escapes}`);
  assert.ok(n >= 4, `only ${n} tries`);
  assert.equal(escapes, 0, 'a GET returned the host canary');
  assert.ok(await berthdAlive());
});

test('export racing a symlink swap never leaks host content', async (t) => {
  const [n, escapes] = await hammer(30, 8_000, async () => {
    const a = await api('GET', '/containers/racer/export');
    assert.equal(a.status, 200, a.body.toString().slice(0, 200));
    return a.body.includes(secret);
  });
  t.diagnostic(`export tries ${n}, escapes ${escapes}`);
  assert.ok(n >= 4, `only ${n} tries`);
  assert.equal(escapes, 0, 'an export carried the host canary');
  assert.ok(await berthdAlive());
});

test('hostile tars get a 400 on the same connection, naming container paths only', async () => {
  await d.ok(['run', '-d', '--name', 'target', 'busybox', 'sleep', '600']);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const put = (body: Buffer): Promise<Answer & { socketReused: boolean }> =>
    new Promise((resolve) => {
      const req = http.request({ socketPath: d.socket, agent, path: '/v1.43/containers/target/archive?path=/tmp', method: 'PUT', headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), socketReused: req.reusedSocket }));
      });
      req.on('error', (e) => resolve({ status: 0, body: Buffer.alloc(0), error: e.message, socketReused: false }));
      req.end(body);
    });
  try {
    // ../ entries, with a large file after them so the body is still arriving when the 400 is decided.
    const dotdot = await makeTar([{ name: '../../../../tmp/berth-dotdot-probe', body: 'x' }, { name: 'big', body: 'y'.repeat(4 << 20) }]);
    const r1 = await put(dotdot);
    assert.equal(r1.status, 400, `../ entry: ${r1.status} ${r1.error ?? r1.body.toString()}`);
    assert.match(r1.body.toString(), /invalid archive entry/);
    assert.ok(!fs.existsSync('/tmp/berth-dotdot-probe'));
    // The agent takes the socket back just after the response ends.
    await new Promise((r) => setTimeout(r, 100));
    // A hard link to a target that is not there: 400, and the message names no host path.
    const r2 = await put(await makeTar([{ name: 'hl', type: 'link', linkname: 'no/such/target' }]));
    assert.equal(r2.status, 400, `hardlink: ${r2.status} ${r2.body.toString()}`);
    assert.ok(r2.socketReused, 'the connection was dropped after the first 400');
    assert.doesNotMatch(r2.body.toString(), new RegExp(d.dataRoot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.doesNotMatch(r2.body.toString(), /merged|overlay|\/proc\//);
    assert.match(r2.body.toString(), /no\/such\/target/);
    // A symlink to a host path then a file through it: lands inside the container.
    const r3 = await put(await makeTar([{ name: 'hostlink', type: 'symlink', linkname: canary }, { name: 'hostlink/through', body: 'inside\n' }]));
    assert.equal(r3.status, 200, r3.body.toString());
    assert.ok(!fs.existsSync(path.join(canary, 'through')), 'wrote through a symlink onto the host');
    assert.equal(await d.ok(['exec', 'target', 'cat', `${canary}/through`]), 'inside\n');
    // A hard link to a host file by absolute name links the container's own file, if any, never the host's.
    const r4 = await put(await makeTar([{ name: 'hl2', type: 'link', linkname: path.join(canary, 'secret') }]));
    assert.equal(r4.status, 400, r4.body.toString());
    assert.notEqual(fs.statSync(path.join(canary, 'secret')).nlink, 2);
  } finally {
    agent.destroy();
  }
});

test('docker cp from a container whose file flaps: errors at most, berthd never dies', async (t) => {
  await d.ok(['run', '-d', '--name', 'flap', 'busybox', 'sh', '-c', 'while :; do echo x >/f; rm -f /f; done']);
  const codes = new Map<number, number>();
  const end = Date.now() + 10_000;
  const hardEnd = Date.now() + 40_000; // a loaded host: go on until the 8 tries asserted below
  let n = 0;
  while (n < 100 && (Date.now() < end || n < 8) && Date.now() < hardEnd) {
    const a = await api('GET', '/containers/flap/archive?path=/f');
    codes.set(a.status, (codes.get(a.status) ?? 0) + 1);
    n++;
    if (n % 25 === 0) assert.ok(await berthdAlive(), `berthd died after ${n} tries:\n${d.logs().slice(-2000)}`);
  }
  t.diagnostic(`flap tries ${n}: ${[...codes].map(([s, c]) => `${s}x${c}`).join(' ')}`);
  assert.ok(n >= 8, `only ${n} tries`);
  // Through the docker CLI as well, a few times.
  for (let i = 0; i < 5; i++) await d.docker(['cp', 'flap:/f', '-']);
  assert.ok(await berthdAlive(), `berthd died:\n${d.logs().slice(-2000)}`);
  assert.doesNotMatch(d.logs(), /Emitted 'error' event|Size mismatch|uncaught/i);
  await d.ok(['rm', '-f', 'flap']);
});

/** The confined archive helpers this test's berthd has running (its children running fsroot/helper.js). */
function helpers(): string[] {
  const cmd = (p: string): string => { try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'); } catch { return ''; } };
  const pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  const berthd = pids.filter((p) => cmd(p).includes('berthd') && cmd(p).includes(d.socket));
  assert.equal(berthd.length, 1, 'cannot find the test berthd');
  const ppid = (p: string): string => { try { return /PPid:\s*(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? ''; } catch { return ''; } };
  return pids.filter((p) => ppid(p) === berthd[0] && cmd(p).includes('fsroot/helper.js'));
}

test('clients that leave mid-stream: berthd survives and its helpers go away', async () => {
  await d.ok(['run', '-d', '--name', 'leaver', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=8 2>/dev/null; exec sleep 600']);
  for (const p of ['/containers/leaver/export', '/containers/leaver/archive?path=/big']) {
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const req = http.request({ socketPath: d.socket, path: `/v1.43${p}` }, (res) => {
          res.once('data', () => { req.destroy(); resolve(); });
          res.on('error', () => resolve());
        });
        req.on('error', () => resolve());
        req.end();
      });
    }
  }
  // An upload cut off in the middle of an entry.
  const body = await makeTar([{ name: 'half', body: 'z'.repeat(1 << 20) }]);
  await new Promise<void>((resolve) => {
    const req = http.request({ socketPath: d.socket, path: '/v1.43/containers/leaver/archive?path=/tmp', method: 'PUT', headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } });
    req.on('error', () => resolve());
    req.write(body.subarray(0, 300_000), () => setTimeout(() => { req.destroy(); resolve(); }, 200));
  });
  const end = Date.now() + 10_000;
  while (helpers().length && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(helpers(), [], 'archive helpers left running');
  assert.ok(await berthdAlive(), `berthd died:\n${d.logs().slice(-2000)}`);
  // And the container is still usable through the archive API.
  assert.equal((await api('HEAD', '/containers/leaver/archive?path=/big')).status, 200);
  await d.ok(['rm', '-f', 'leaver']);
});
