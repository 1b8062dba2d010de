// `berth compose` against a private berthd with busybox: ordering by
// depends_on conditions, volumes, relative binds, interpolation and .env,
// -f overrides, config output, profiles (compose-ops.test.ts has the rest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { type TestDaemon } from './helpers/daemon';
import { composeHarness } from './helpers/compose';

let d: TestDaemon;
const h = composeHarness((daemon) => (d = daemon));
const { project, compose, ok, inspect, names } = h;

test('depends_on: service_healthy and service_completed_successfully order the starts', async () => {
  const dir = project('order', {
    'compose.yaml': [
      'services:',
      '  db:',
      '    image: busybox',
      '    command: sh -c "sleep 1; touch /ready; sleep 600"',
      '    stop_grace_period: 1s',
      '    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 300ms, retries: 30}',
      '  init:',
      '    image: busybox',
      '    command: sh -c "sleep 1; echo seeded"',
      '  web:',
      '    image: busybox',
      '    command: sleep 600',
      '    depends_on:',
      '      db: {condition: service_healthy}',
      '      init: {condition: service_completed_successfully}',
    ].join('\n'),
  });
  const r = await ok(dir, ['up', '-d']);
  assert.match(r.stderr, / Container order-db-1 {2}Healthy\n/);
  assert.match(r.stderr, / Container order-init-1 {2}Exited\n/);
  const db = await inspect('order-db-1');
  const init = await inspect('order-init-1');
  const web = await inspect('order-web-1');
  const healthyAt = Date.parse(db.State.Health.Log.find((l: any) => l.ExitCode === 0).End);
  const webStart = Date.parse(web.State.StartedAt);
  assert.ok(webStart >= healthyAt, `web started ${web.State.StartedAt} before db was healthy ${new Date(healthyAt).toISOString()}`);
  assert.ok(webStart >= Date.parse(init.State.FinishedAt), `web started ${web.State.StartedAt} before init finished ${init.State.FinishedAt}`);
  assert.equal(init.State.ExitCode, 0);
  // a failing one-shot dependency stops the dependent with Compose's message
  fs.writeFileSync(path.join(dir, 'compose.yaml'), 'services:\n  init:\n    image: busybox\n    command: sh -c "exit 3"\n  web:\n    image: busybox\n    command: sleep 600\n    depends_on: {init: {condition: service_completed_successfully}}\n');
  const bad = await compose(dir, ['up', '-d', '--remove-orphans']);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /service "init" didn't complete successfully: exit 3/);
  await ok(dir, ['down', '-t', '1']);
  assert.deepEqual(await names('order'), []);
});

test('named volume survives down/up, down -v removes it; relative bind mounts', async () => {
  const dir = project('vols', {
    'compose.yaml': 'services:\n  app:\n    image: busybox\n    command: sleep 600\n    volumes: ["data:/data", "./conf:/conf:ro"]\nvolumes:\n  data: {}\n',
    'conf/app.conf': 'from-the-host\n',
  });
  await ok(dir, ['up', '-d']);
  assert.equal((await ok(dir, ['exec', '-T', 'app', 'cat', '/conf/app.conf'])).stdout, 'from-the-host\n');
  const ro = await compose(dir, ['exec', '-T', 'app', 'touch', '/conf/x']);
  assert.notEqual(ro.code, 0, 'the :ro bind is writable');
  await ok(dir, ['exec', '-T', 'app', 'sh', '-c', 'echo kept > /data/f']);
  // compose cp: SERVICE:PATH to the host (from the rootfs: berthd's archive API does not look into volume mounts)
  await ok(dir, ['exec', '-T', 'app', 'sh', '-c', 'echo in-rootfs > /root/f']);
  await ok(dir, ['cp', 'app:/root/f', path.join(dir, 'copied')]);
  assert.equal(fs.readFileSync(path.join(dir, 'copied'), 'utf8'), 'in-rootfs\n');
  const vol = JSON.parse(await d.ok(['volume', 'inspect', 'vols_data']))[0];
  assert.equal(vol.Labels['com.docker.compose.project'], 'vols');
  assert.equal(vol.Labels['com.docker.compose.volume'], 'data');
  await ok(dir, ['down', '-t', '1']);
  await d.ok(['volume', 'inspect', 'vols_data']);
  await ok(dir, ['up', '-d']);
  assert.equal((await ok(dir, ['exec', '-T', 'app', 'cat', '/data/f'])).stdout, 'kept\n');
  const down = await ok(dir, ['down', '-v', '-t', '1']);
  assert.match(down.stderr, / Volume vols_data {2}Removed/);
  assert.notEqual((await d.docker(['volume', 'inspect', 'vols_data'])).code, 0, 'down -v left the volume');
  assert.notEqual((await d.docker(['network', 'inspect', 'vols_default'])).code, 0, 'down left the network');
});

test('interpolation from .env and the environment, -f overrides, config output', async () => {
  const dir = project('interp', {
    'compose.yaml': 'services:\n  app:\n    image: busybox\n    command: sleep 600\n    stop_grace_period: 1s\n    environment:\n      WHO: ${WHO:?who is needed}\n      MODE: ${MODE:-dev}\n      PRICE: $$5\n',
    'prod.yaml': 'services:\n  app:\n    environment:\n      MODE: prod\n    labels: [tier=prod]\n',
    '.env': 'WHO=dotenv\n',
  });
  await ok(dir, ['up', '-d']);
  assert.equal((await ok(dir, ['exec', '-T', 'app', 'sh', '-c', 'echo $WHO $MODE $PRICE'])).stdout, 'dotenv dev $5\n');
  // the OS environment wins over .env; a second file merges over the first
  await ok(dir, ['-f', 'compose.yaml', '-f', 'prod.yaml', 'up', '-d'], { WHO: 'os' });
  assert.equal((await ok(dir, ['exec', '-T', 'app', 'sh', '-c', 'echo $WHO $MODE'])).stdout, 'os prod\n');
  assert.equal((await inspect('interp-app-1')).Config.Labels.tier, 'prod');
  const cfg = await ok(dir, ['-f', 'compose.yaml', '-f', 'prod.yaml', 'config'], { WHO: 'os' });
  assert.match(cfg.stdout, /^name: interp\nservices:\n {2}app:\n/);
  assert.match(cfg.stdout, / {6}WHO: os\n/);
  assert.match(cfg.stdout, / {6}MODE: prod\n/);
  assert.match(cfg.stdout, /networks:\n {2}default:\n {4}name: interp_default\n/);
  assert.equal((await ok(dir, ['config', '--services'])).stdout, 'app\n');
  const hash = (await ok(dir, ['config', '--hash', 'app'])).stdout;
  const label = (await inspect('interp-app-1')).Config.Labels['com.docker.compose.config-hash'];
  assert.notEqual(hash, `app ${label}\n`, 'hash without the override equals the override one');
  assert.equal((await ok(dir, ['-f', 'compose.yaml', '-f', 'prod.yaml', 'config', '--hash', 'app'], { WHO: 'os' })).stdout, `app ${label}\n`);
  const json = JSON.parse((await ok(dir, ['config', '--format', 'json'])).stdout);
  assert.equal(json.services.app.environment.WHO, 'dotenv');
  const missing = await compose(dir, ['--env-file', 'nope.env', 'config']);
  assert.equal(missing.code, 1);
  const req = await compose(dir, ['config'], { WHO: '' });
  assert.equal(req.code, 1);
  assert.match(req.stderr, /error while interpolating services\.app\.environment\.WHO: required variable WHO is missing a value: who is needed/);
  await ok(dir, ['down', '-t', '1']);
});

test('profiles: off by default, on with --profile or when named', async () => {
  const dir = project('prof', { 'compose.yaml': 'services:\n  app:\n    image: busybox\n    command: sleep 600\n  debug:\n    image: busybox\n    command: sleep 600\n    profiles: [dev]\n' });
  await ok(dir, ['up', '-d']);
  assert.deepEqual(await names('prof'), ['prof-app-1']);
  await ok(dir, ['--profile', 'dev', 'up', '-d']);
  assert.deepEqual(await names('prof'), ['prof-app-1', 'prof-debug-1']);
  // without the profile, the debug container is not an orphan and down still removes it
  const down = await ok(dir, ['down', '-t', '1']);
  assert.doesNotMatch(down.stderr, /orphan/);
  assert.deepEqual(await names('prof'), []);
});

test('build: <project>-<service> image with args and target; --build rebuilds and recreates', async () => {
  const dir = project('bld', {
    'compose.yaml': 'services:\n  app:\n    build:\n      context: ./app\n      args:\n        - MSG=${MSG:-first}\n      target: final\n    command: sh -c "cat /msg; sleep 600"\n    stop_grace_period: 1s\n',
    'app/Dockerfile': 'FROM busybox AS base\nRUN echo never > /msg\nFROM busybox AS final\nARG MSG\nRUN echo "$MSG" > /msg\n',
  });
  await ok(dir, ['up', '-d']);
  assert.equal((await ok(dir, ['exec', '-T', 'app', 'cat', '/msg'])).stdout, 'first\n');
  const img = JSON.parse(await d.ok(['image', 'inspect', 'bld-app']))[0];
  const c1 = await inspect('bld-app-1');
  assert.equal(c1.Config.Image, 'bld-app');
  assert.equal(c1.Config.Labels['com.docker.compose.image'], img.Id);
  // an unchanged file does not rebuild; --build does, and the new image recreates the container
  const again = await ok(dir, ['up', '-d'], { MSG: 'second' });
  assert.doesNotMatch(again.stderr, /Built|Recreate/);
  const rebuilt = await ok(dir, ['up', '-d', '--build'], { MSG: 'second' });
  assert.match(rebuilt.stderr, / app {2}Built\n/);
  assert.match(rebuilt.stderr, / Container bld-app-1 {2}Recreated\n/);
  assert.equal((await ok(dir, ['exec', '-T', 'app', 'cat', '/msg'])).stdout, 'second\n');
  await ok(dir, ['down', '-t', '1', '--rmi', 'local']);
  assert.notEqual((await d.docker(['image', 'inspect', 'bld-app'])).code, 0, 'down --rmi local left the built image');
});
