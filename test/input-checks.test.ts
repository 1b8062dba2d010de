// Input that dockerd refuses (or accepts) must get the same status and text
// from berthd: create-time checks, request framing, commit names, swarm
// endpoints on a non-swarm node, --add-runtime, tcp:// warnings, and the
// docker CLI's unpadded build context. One assertion per case, Docker's
// status and message (moby v20.10 sources).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
let tcpPort = 0;
let wrapper = '';
let wrapperLog = '';
let wrapperDir = '';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

before(async () => {
  tcpPort = await freePort();
  wrapperDir = fs.mkdtempSync('/tmp/berth-ic-');
  wrapper = path.join(wrapperDir, 'rt.sh');
  wrapperLog = path.join(wrapperDir, 'rt.log');
  // A runc-compatible runtime that records that it was the one called.
  fs.writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> ${wrapperLog}\nexec runc "$@"\n`, { mode: 0o755 });
  d = await startDaemon({ args: ['--add-runtime', `berthtest=${wrapper}`, '-H', `tcp://127.0.0.1:${tcpPort}`] });
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
  if (wrapperDir) fs.rmSync(wrapperDir, { recursive: true, force: true });
});

interface Answer { status: number; text: string; json: any }

function api(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const h: Record<string, string | number> = data ? { 'Content-Type': 'application/json', 'Content-Length': data.length, ...headers } : headers;
    const req = http.request({ socketPath: d.socket, method, path: p, headers: h, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: any;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, text, json });
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.end(data);
  });
}

async function refused(body: unknown, status: number, message: string, p = '/v1.43/containers/create'): Promise<void> {
  const r = await api('POST', p, body);
  assert.deepEqual({ status: r.status, message: r.json?.message }, { status, message }, JSON.stringify(body).slice(0, 200));
}

// ---- issue 10 item 6: runtimes ---------------------------------------------------

test('an unknown HostConfig.Runtime is a 400 with Docker\'s text', async () => {
  await refused({ Image: 'busybox', HostConfig: { Runtime: '/bin/sh' } }, 400, 'Unknown runtime specified /bin/sh');
});

test('--add-runtime: /info lists it and `docker run --runtime` runs the container with it', async () => {
  const info = await api('GET', '/v1.43/info');
  assert.deepEqual(info.json.Runtimes.berthtest, { path: wrapper });
  const out = await d.ok(['run', '--rm', '--runtime', 'berthtest', 'busybox', 'echo', 'via-wrapper']);
  assert.equal(out.trim(), 'via-wrapper');
  assert.match(fs.readFileSync(wrapperLog, 'utf8'), /\bcreate\b/, 'the added runtime was not the one conmon ran');
});

// ---- issue 10 item 7: tcp:// without --tlsverify ------------------------------------

test('a tcp:// host without TLS is logged and reported in /info Warnings', async () => {
  const info = await api('GET', '/v1.43/info');
  assert.ok(
    (info.json.Warnings as string[]).some((w) => w.startsWith(`WARNING: API is accessible on http://127.0.0.1:${tcpPort} without encryption.`)),
    JSON.stringify(info.json.Warnings),
  );
  assert.match(d.logs(), /Binding to IP address without --tlsverify is insecure/);
});

// ---- issue 10 item 9: a body over 64 MB ------------------------------------------------

test('a request body over 64 MB is read to its end and answered 400', async () => {
  // A client that writes the whole body before reading blocked for ~300 s: the daemon stopped reading after the limit.
  const size = 66 * 1024 * 1024 + 1;
  const answer = await new Promise<string>((resolve, reject) => {
    const s = net.connect(d.socket);
    let got = '';
    let sent = false;
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`body not taken within 20 s (all sent: ${sent}, answer: ${JSON.stringify(got.slice(0, 80))})`)); }, 20_000);
    const check = () => {
      if (sent && got.includes('\r\n\r\n') && got.includes('}')) { clearTimeout(timer); s.destroy(); resolve(got); }
    };
    s.on('data', (b) => { got += b.toString(); check(); });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.write(`POST /v1.43/containers/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`);
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        // the last write's callback: every byte has left our buffer (the daemon took them)
        const ok = s.write(chunk.subarray(0, n), left === 0 ? () => { sent = true; check(); } : undefined);
        if (!ok) { s.once('drain', pump); return; }
      }
    };
    pump();
  });
  assert.match(answer, /^HTTP\/1\.1 400 [^\r]*\r\n[\s\S]*"request body too large"/);
});

// ---- issue 10 item 10: commit validates the name first --------------------------------

test('POST /commit?repo=../x is a 400 and leaves no image behind', async () => {
  await d.ok(['create', '--name', 'commit-bad', 'busybox', 'true']);
  const before = (await api('GET', '/v1.43/images/json?all=1')).json.length;
  const r = await api('POST', '/v1.43/commit?container=commit-bad&repo=../x', {});
  const afterCount = (await api('GET', '/v1.43/images/json?all=1')).json.length;
  assert.deepEqual({ status: r.status, message: r.json?.message, images: afterCount }, { status: 400, message: 'invalid reference format', images: before });
});

// ---- issue 10 item 12: docker build -f outside the context ----------------------------

test('docker build -f <Dockerfile outside the context> works (the CLI sends an unpadded tar)', async () => {
  const ctx = fs.mkdtempSync('/tmp/berth-ic-ctx-');
  const dfDir = fs.mkdtempSync('/tmp/berth-ic-df-');
  try {
    fs.writeFileSync(path.join(ctx, 'f.txt'), 'from-context\n');
    fs.writeFileSync(path.join(dfDir, 'Dockerfile'), 'FROM busybox\nCOPY f.txt /f.txt\n');
    await d.ok(['build', '-q', '-f', path.join(dfDir, 'Dockerfile'), '-t', 'outside-df', ctx], 120_000);
    assert.equal((await d.ok(['run', '--rm', 'outside-df', 'cat', '/f.txt'])).trim(), 'from-context');
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
    fs.rmSync(dfDir, { recursive: true, force: true });
  }
});

// ---- issue 10 item 13: create checks ---------------------------------------------------

const CREATE_REFUSALS: Array<[string, unknown, string]> = [
  ['ExposedPorts abc/tcp', { ExposedPorts: { 'abc/tcp': {} } }, 'invalid port specification: "abc"'],
  ['Healthcheck Interval 1 ns', { Healthcheck: { Test: ['CMD', 'true'], Interval: 1 } }, 'Interval in Healthcheck cannot be less than 1ms'],
  ['Healthcheck Retries -1', { Healthcheck: { Test: ['CMD', 'true'], Retries: -1 } }, 'Retries in Healthcheck cannot be negative'],
  ['ShmSize -1', { HostConfig: { ShmSize: -1 } }, 'SHM size can not be less than 0'],
  ['LogConfig.Type bogus', { HostConfig: { LogConfig: { Type: 'bogus', Config: {} } } }, "logger: no log driver named 'bogus' is registered"],
  ['IpcMode bogus', { HostConfig: { IpcMode: 'bogus' } }, 'invalid IPC mode: bogus'],
  ['DeviceCgroupRules ["x"]', { HostConfig: { DeviceCgroupRules: ['x'] } }, "invalid device cgroup rule format: 'x'"],
  ['VolumeOptions on a bind mount', { HostConfig: { Mounts: [{ Type: 'bind', Source: '/tmp', Target: '/x', VolumeOptions: { NoCopy: true } }] } },
    'invalid mount config for type "bind": field VolumeOptions must not be specified'],
  ['Binds [":/x"]', { HostConfig: { Binds: [':/x'] } }, "invalid volume specification: ':/x'"],
  ['SecurityOpt bogus (at create, not only at start)', { HostConfig: { SecurityOpt: ['bogus'] } }, 'invalid --security-opt 1: "bogus"'],
  ['SecurityOpt bogus=1', { HostConfig: { SecurityOpt: ['bogus=1'] } }, 'invalid --security-opt 2: "bogus=1"'],
];

for (const [what, extra, message] of CREATE_REFUSALS) {
  test(`create refuses ${what} with 400`, async () => {
    await refused({ Image: 'busybox', ...(extra as object) }, 400, message);
  });
}

test('Content-Type text/plain on a JSON endpoint is a 400', async () => {
  const r = await api('POST', '/v1.43/containers/create', JSON.stringify({ Image: 'busybox' }), { 'Content-Type': 'text/plain' });
  assert.deepEqual({ status: r.status, message: r.json?.message }, { status: 400, message: "Content-Type specified (text/plain) must be 'application/json'" });
});

test('__proto__ and constructor keys in HostConfig are unknown fields (201), not 500s', async () => {
  const a = await api('POST', '/v1.43/containers/create', '{"Image":"busybox","HostConfig":{"__proto__":{"x":1}}}');
  const b = await api('POST', '/v1.43/containers/create', '{"Image":"busybox","HostConfig":{"constructor":{"x":1}}}');
  assert.deepEqual([a.status, b.status], [201, 201], `${a.text} ${b.text}`);
});

test('100k-deep JSON nesting is a 400, not a 500', async () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const r = await api('POST', '/v1.43/containers/create', `{"Image":"busybox","Labels":${deep}}`);
  assert.deepEqual({ status: r.status, message: r.json?.message }, { status: 400, message: 'exceeded max depth' });
});

test('?all=yes and ?all=on are true (Docker\'s BoolValue)', async () => {
  const id = (await d.ok(['create', 'busybox', 'true'])).trim();
  const yes = (await api('GET', '/v1.43/containers/json?all=yes')).json.map((c: any) => c.Id);
  const on = (await api('GET', '/v1.43/containers/json?all=on')).json.map((c: any) => c.Id);
  assert.deepEqual([yes.includes(id), on.includes(id)], [true, true]);
});

test('/v1/version is 400 "client version 1 is too old"', async () => {
  const r = await api('GET', '/v1/version');
  assert.deepEqual({ status: r.status, message: r.json?.message },
    { status: 400, message: 'client version 1 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version' });
});

test('a subnet overlapping another network is 403', async () => {
  await d.ok(['network', 'create', '--subnet', '10.231.0.0/24', 'ic-net-a']);
  const r = await api('POST', '/v1.43/networks/create', { Name: 'ic-net-b', IPAM: { Config: [{ Subnet: '10.231.0.128/25' }] } });
  assert.deepEqual({ status: r.status, message: r.json?.message }, { status: 403, message: 'Pool overlaps with other one on this address space' });
});

// ---- issue 12 item 5: swarm endpoints on a non-swarm node -------------------------------

test('POST /swarm/leave?force=1 is 503 "This node is not part of a swarm" (docker swarm leave -f too)', async () => {
  const r = await api('POST', '/v1.43/swarm/leave?force=1');
  assert.deepEqual({ status: r.status, message: r.json?.message }, { status: 503, message: 'This node is not part of a swarm' });
  const cli = await d.docker(['swarm', 'leave', '--force']);
  assert.match(cli.stderr, /This node is not part of a swarm/);
});

test('manager endpoints (swarm, nodes, services, tasks, secrets, configs) are 503 with dockerd\'s text; a bad init is refused', async () => {
  const manager = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
  const seen: Record<string, string> = {};
  for (const [m, p] of [['GET', '/swarm'], ['GET', '/nodes'], ['GET', '/services'], ['GET', '/services/x/logs?stdout=1'], ['GET', '/tasks'],
    ['GET', '/secrets'], ['POST', '/secrets/create'], ['DELETE', '/configs/x'], ['GET', '/swarm/unlockkey']]) {
    const r = await api(m, `/v1.43${p}`);
    seen[`${m} ${p}`] = `${r.status} ${r.json?.message}`;
  }
  // init works since issue 14 (test/swarm-single.test.ts); a bad listen address is refused and leaves no swarm
  const init = await api('POST', '/v1.43/swarm/init', { ListenAddr: 'nosuchiface0:2377' });
  seen['POST /swarm/init'] = `${init.status}`;
  const want = Object.fromEntries(Object.keys(seen).map((k) => [k, `503 ${manager}`]));
  want['POST /swarm/init'] = '400';
  assert.deepEqual(seen, want);
});

// ---- issue 12 item 8: create checks ------------------------------------------------------

test('--device-cgroup-rule reaches the devices cgroup', async () => {
  // 42 is a reserved major with no driver: the cgroup refuses the open (EPERM) unless a rule allows it (then ENXIO).
  const script = 'mknod /n c 42 0 && cat /n';
  const denied = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', script]);
  const allowed = await d.docker(['run', '--rm', '--device-cgroup-rule', 'c 42:* rmw', 'busybox', 'sh', '-c', script]);
  assert.deepEqual(
    [/Operation not permitted/.test(denied.stderr), /No such device or address/.test(allowed.stderr)],
    [true, true],
    `without: ${denied.stderr} with: ${allowed.stderr}`,
  );
});

test('restart policy always with MaximumRetryCount > 0 is refused with Docker\'s text', async () => {
  await refused({ Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } } }, 400,
    "maximum retry count cannot be used with restart policy 'always'");
});

test('commit stores Config.Image and ContainerConfig.Image as dockerd does (the container\'s Config.Image)', async () => {
  await d.ok(['create', '--name', 'commit-src', 'busybox', 'true']);
  await d.ok(['commit', 'commit-src', 'ic-committed:1']);
  const img = (await api('GET', '/v1.43/images/ic-committed:1/json')).json;
  assert.deepEqual([img.Config.Image, img.ContainerConfig.Image], ['busybox', 'busybox']);
});
