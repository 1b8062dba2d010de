// `berth node` / `berth swarm` output from recorded Engine API answers: a
// small server replays what a Docker 20.10 swarm (3 nodes, recorded with
// test/helpers/cluster.ts) answered, and berth must print what the docker
// CLI printed for the same answers (test/fixtures/swarm/docker-output.json).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { ROOT_DIR, run } from './helpers/daemon';

const FIX = path.join(ROOT_DIR, 'test', 'fixtures', 'swarm');
const api = JSON.parse(fs.readFileSync(path.join(FIX, 'api.json'), 'utf8')) as {
  nodes: Array<{ ID: string; Description: { Hostname: string } }>;
  info: unknown;
  swarm: unknown;
};
const docker = JSON.parse(fs.readFileSync(path.join(FIX, 'docker-output.json'), 'utf8')) as Record<string, string>;

let dir: string;
let server: http.Server;
const seen: string[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-swarm-cli-'));
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname.replace(/^\/v1\.\d+/, '');
    seen.push(`${req.method} ${p}${url.search}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Api-Version': '1.41' });
      res.end(JSON.stringify(body));
    };
    if (p === '/_ping') return send(200, 'OK');
    if (p === '/info') return send(200, api.info);
    if (p === '/swarm') return send(200, api.swarm);
    if (p === '/nodes') return send(200, api.nodes);
    const m = /^\/nodes\/([^/]+)$/.exec(p);
    if (m) {
      const n = api.nodes.find((x) => x.ID === m[1] || x.Description.Hostname === m[1]);
      return n ? send(200, n) : send(404, { message: `node ${m[1]} not found` });
    }
    send(404, { message: 'page not found' });
  });
  await new Promise<void>((r) => server.listen(path.join(dir, 'api.sock'), r));
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function berth(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [path.join(ROOT_DIR, 'bin', 'berth'), ...args], { env: { ...process.env, DOCKER_HOST: `unix://${path.join(dir, 'api.sock')}`, BERTH_HOST: '' }, timeout: 30_000 });
}

test('node ls: docker\'s table, the self marker, natural order by hostname', async () => {
  const r = await berth(['node', 'ls']);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, docker.ls);
  // node-1, node-9, node-10: numbers in names compare as numbers.
  assert.deepEqual(r.stdout.split('\n').slice(1, 4).map((l) => l.split(/\s+/).find((w) => w.startsWith('node-'))), ['node-1', 'node-9', 'node-10']);
  assert.equal((await berth(['node', 'ls', '-q'])).stdout, docker.lsq);
  assert.equal((await berth(['node', 'ls', '--format', 'json'])).stdout, docker.lsjson);
});

test('node inspect --pretty: docker\'s page for a manager and a labelled, drained worker', async () => {
  assert.equal((await berth(['node', 'inspect', '--pretty', 'self'])).stdout, docker.prettySelf);
  assert.equal((await berth(['node', 'inspect', '--pretty', 'node-1'])).stdout, docker.prettyWorker);
  const bad = await berth(['node', 'inspect', '--format', 'pretty{{.ID}}', 'self']);
  assert.deepEqual([bad.code, bad.stderr], [1, 'cannot supply extra formatting options to the pretty template\n']);
  const missing = await berth(['node', 'inspect', '--pretty', 'nope']);
  assert.deepEqual([missing.code, missing.stderr], [1, 'Error response from daemon: node nope not found\n']);
});

test('swarm join-token and ca print what docker printed', async () => {
  assert.equal((await berth(['swarm', 'join-token', 'worker'])).stdout, docker.joinWorker);
  assert.equal((await berth(['swarm', 'ca'])).stdout, docker.ca);
  const role = await berth(['swarm', 'join-token', 'boss']);
  assert.deepEqual([role.code, role.stdout, role.stderr], [1, '', 'unknown role boss\n']);
  const rot = await berth(['swarm', 'ca', '--cert-expiry', '1h']);
  assert.deepEqual([rot.code, rot.stderr], [1, '`--cert-expiry` flag requires the `--rotate` flag to update the CA\n']);
});

test('flags are checked before a request: availability, listen address', async () => {
  const n = seen.length;
  const a = await berth(['swarm', 'init', '--availability', 'sometimes']);
  assert.deepEqual([a.code, a.stderr], [1, 'invalid availability "sometimes", only active, pause and drain are supported\n']);
  const j = await berth(['swarm', 'join', '--token', 'x', '--listen-addr', 'udp://1.2.3.4', '1.2.3.4:2377']);
  assert.equal(j.code, 125);
  assert.match(j.stderr, /invalid argument "udp:\/\/1\.2\.3\.4" for "--listen-addr" flag/);
  assert.ok(!seen.slice(n).some((s) => s.startsWith('POST')), `no request was made: ${seen.slice(n).join(', ')}`);
  const u = await berth(['swarm', 'update']);
  assert.equal(u.code, 0);
  assert.match(u.stdout, /Usage:\s+berth swarm update \[OPTIONS\]/);
  assert.match(u.stdout, /--dispatcher-heartbeat duration +Dispatcher heartbeat period \(ns\|us\|ms\|s\|m\|h\) \(default 5s\)/);
});
