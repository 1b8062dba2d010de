// berth compose against Docker's own engine, unchanged: a private dockerd
// (the benchmark's DockerEngine: own socket, data root, bridge) runs the
// same scenario as on berthd. Opt-in (BERTH_TEST_DOCKER=1) because dockerd
// adds its own iptables chains on the shared host while other files run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { run, ROOT_DIR } from './helpers/daemon';
import { busyboxArchive } from './fixtures/busybox';
import { DockerEngine } from '../bench/lib/docker-engine';

const WANT = process.env.BERTH_TEST_DOCKER === '1';
const HAVE = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].some((p) => fs.existsSync(p));
const SKIP = !WANT ? 'set BERTH_TEST_DOCKER=1 to run berth compose against a private dockerd' : !HAVE ? 'dockerd is not installed' : false;
let e: DockerEngine | undefined;
let root: string;

before(async () => {
  if (SKIP) return;
  root = fs.mkdtempSync('/tmp/berth-compose-docker-');
  e = new DockerEngine(path.join(root, 'engine'), path.join(root, 'dockerd.log'), randomBytes(2).toString('hex'));
  await e.start();
  const l = await e.docker(['load', '-i', await busyboxArchive()]);
  assert.equal(l.code, 0, l.stderr);
});

after(async () => {
  await e?.stop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('berth compose on Docker: up -d with a healthy dependency, no-op, env change, exec, down -v', { skip: SKIP }, async () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'compose-dk-')), 'onDocker');
  fs.mkdirSync(dir);
  const file = (v: string) => [
    'services:',
    '  db:',
    '    image: busybox',
    '    command: sh -c "touch /ready; sleep 600"',
    '    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 1s, retries: 30}',
    '    volumes: ["data:/data"]',
    '  web:',
    '    image: busybox',
    '    command: sleep 600',
    `    environment: [V=${v}]`,
    '    depends_on: {db: {condition: service_healthy}}',
    'volumes: {data: {}}',
  ].join('\n') + '\n';
  fs.writeFileSync(path.join(dir, 'compose.yaml'), file('1'));
  const compose = (args: string[]) => run(process.execPath, ['--', path.join(ROOT_DIR, 'bin', 'berth'), 'compose', ...args], { cwd: dir, env: e!.env, timeout: 120_000 });
  const must = async (args: string[]) => {
    const r = await compose(args);
    assert.equal(r.code, 0, `compose ${args.join(' ')}: ${r.stderr}\n${e!.logTail()}`);
    return r;
  };
  const up = await must(['up', '-d']);
  assert.match(up.stderr, / Container ondocker-db-1 {2}Healthy\n/);
  assert.match(up.stderr, / Container ondocker-web-1 {2}Started\n/);
  const ids = async () => (await e!.must(['ps', '-aq', '--no-trunc', '--filter', 'label=com.docker.compose.project=ondocker'])).stdout.split('\n').filter(Boolean).sort();
  const before = await ids();
  assert.equal(before.length, 2);
  const noop = await must(['up', '-d']);
  assert.doesNotMatch(noop.stderr, /Recreate|Creat/);
  assert.deepEqual(await ids(), before);
  fs.writeFileSync(path.join(dir, 'compose.yaml'), file('2'));
  const changed = await must(['up', '-d']);
  assert.match(changed.stderr, / Container ondocker-web-1 {2}Recreated\n/);
  assert.doesNotMatch(changed.stderr, /ondocker-db-1 {2}Recreate/);
  assert.equal((await must(['exec', '-T', 'web', 'sh', '-c', 'echo $V'])).stdout, '2\n');
  const ps = await must(['ps', '--format', 'json']);
  assert.deepEqual(ps.stdout.trim().split('\n').map((l) => JSON.parse(l).Name).sort(), ['ondocker-db-1', 'ondocker-web-1']);
  const down = await must(['down', '-v', '-t', '1']);
  assert.match(down.stderr, / Network ondocker_default {2}Removed\n/);
  assert.match(down.stderr, / Volume ondocker_data {2}Removed\n/);
  assert.deepEqual(await ids(), []);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});
