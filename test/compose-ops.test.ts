// `berth compose` against a private berthd with busybox (the second half,
// so the two files run side by side): convergence, scale, orphans, run,
// exec, secrets/configs, attached up, model errors, and `docker compose`
// through the installed CLI plugin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ROOT_DIR, type TestDaemon } from './helpers/daemon';
import { composeHarness } from './helpers/compose';

let d: TestDaemon;
const h = composeHarness((daemon) => (d = daemon));
const { project, compose, ok, inspect, names, roots } = h;

test('convergence: no-op up, changed environment recreates only that service, scale, orphans', async () => {
  // b restarts (same container) when a is recreated: depends_on.restart
  // stop_grace_period 1s: sleep as PID 1 ignores SIGTERM, recreate/scale-down/orphan stops would each wait 10 s
  const file = (env: string, extra = '') => `services:\n  a:\n    image: busybox\n    command: sleep 600\n    stop_grace_period: 1s\n    environment: [V=${env}]\n  b:\n    image: busybox\n    command: sleep 600\n    stop_grace_period: 1s\n    depends_on: {a: {condition: service_started, restart: true}}\n${extra}`;
  const c = '  c:\n    image: busybox\n    command: sleep 600\n    stop_grace_period: 1s\n';
  const dir = project('conv', { 'compose.yaml': file('1', c) });
  await ok(dir, ['up', '-d']);
  const ids = async () => Object.fromEntries(await Promise.all(['conv-a-1', 'conv-b-1'].map(async (n) => [n, (await inspect(n)).Id])));
  const first = await ids();
  const again = await ok(dir, ['up', '-d']);
  assert.doesNotMatch(again.stderr, /Recreate|Creat|Start/, again.stderr);
  assert.deepEqual(await ids(), first);
  fs.writeFileSync(path.join(dir, 'compose.yaml'), file('2', c));
  const changed = await ok(dir, ['up', '-d']);
  assert.match(changed.stderr, / Container conv-a-1 {2}Recreated/);
  assert.match(changed.stderr, / Container conv-b-1 {2}Restarted/);
  const second = await ids();
  assert.notEqual(second['conv-a-1'], first['conv-a-1']);
  assert.equal(second['conv-b-1'], first['conv-b-1']);
  // scale up by container number, then down (the highest numbers go)
  await ok(dir, ['up', '-d', '--scale', 'b=3']);
  assert.deepEqual(await names('conv'), ['conv-a-1', 'conv-b-1', 'conv-b-2', 'conv-b-3', 'conv-c-1']);
  assert.equal((await inspect('conv-b-3')).Config.Labels['com.docker.compose.container-number'], '3');
  await ok(dir, ['up', '-d', '--scale', 'b=1']);
  assert.deepEqual(await names('conv'), ['conv-a-1', 'conv-b-1', 'conv-c-1']);
  assert.equal((await inspect('conv-b-1')).Id, first['conv-b-1']);
  // c removed from the file: reported, then removed with --remove-orphans
  fs.writeFileSync(path.join(dir, 'compose.yaml'), file('2'));
  const orphan = await ok(dir, ['up', '-d']);
  assert.match(orphan.stderr, /Found orphan containers \(\[conv-c-1\]\) for this project\. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up\./);
  assert.ok((await names('conv')).includes('conv-c-1'));
  await ok(dir, ['up', '-d', '--remove-orphans']);
  assert.deepEqual(await names('conv'), ['conv-a-1', 'conv-b-1']);
  const ps = await ok(dir, ['ps']);
  assert.match(ps.stdout, /^NAME +IMAGE +COMMAND +SERVICE +CREATED +STATUS +PORTS\n/);
  assert.match(ps.stdout, /\nconv-a-1 +busybox +"sleep 600" +a +.* ago +Up /);
  assert.equal((await ok(dir, ['ps', '--services'])).stdout, 'a\nb\n');
  const ls = await ok(dir, ['ls']);
  assert.match(ls.stdout, /\nconv +running\(2\) +\S+compose\.yaml\n/);
  await ok(dir, ['down', '-t', '1']);
});

test('run --rm and exec: output, exit codes, one-off labels', async () => {
  const dir = project('oneoff', {
    'compose.yaml': 'services:\n  app:\n    image: busybox\n    command: sleep 600\n    environment: [X=from-file]\n    secrets: [tok, f]\n    configs: [{source: c, target: /etc/app.conf}]\nsecrets:\n  tok: {environment: TOKEN}\n  f: {file: ./f.txt}\nconfigs:\n  c: {content: "k=v"}\n',
    'f.txt': 'from-a-file',
  });
  // secrets and configs: a file is bound, environment/content are copied in before the start
  const r = await ok(dir, ['run', '--rm', '-T', 'app', 'sh', '-c', 'echo $X; echo $(cat /run/secrets/tok) $(cat /run/secrets/f) $(cat /etc/app.conf); echo err >&2'], { TOKEN: 't0k' });
  assert.equal(r.stdout, 'from-file\nt0k from-a-file k=v\n');
  assert.match(r.stderr, /err/);
  const code = await compose(dir, ['run', '--rm', '-T', '-e', 'X=over', 'app', 'sh', '-c', 'echo $X; exit 7'], { TOKEN: 't' });
  assert.equal(code.code, 7);
  assert.equal(code.stdout, 'over\n');
  assert.deepEqual(await names('oneoff'), [], 'run --rm left a container');
  const kept = await ok(dir, ['run', '-d', '--name', 'oneoff-keep', 'app'], { TOKEN: 't' });
  assert.equal(kept.stdout, 'oneoff-keep\n');
  assert.equal((await inspect('oneoff-keep')).Config.Labels['com.docker.compose.oneoff'], 'True');
  await ok(dir, ['up', '-d'], { TOKEN: 't' });
  assert.equal((await ok(dir, ['exec', '-T', '-e', 'Y=1', '-w', '/tmp', 'app', 'sh', '-c', 'echo $Y $(pwd)'])).stdout, '1 /tmp\n');
  assert.equal((await compose(dir, ['exec', '-T', 'app', 'sh', '-c', 'exit 4'])).code, 4);
  const missing = await compose(dir, ['exec', '-T', 'nope', 'true']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no such service: nope/);
  await ok(dir, ['down', '-t', '1'], { TOKEN: 't' });
  assert.deepEqual(await names('oneoff'), [], 'down left the one-off container');
});

test('attached up streams prefixed logs and returns the exit code', async () => {
  // fail exits first; --exit-code-from stops the others (-t 1) and returns its status
  const dir = project('att', { 'compose.yaml': 'services:\n  hello:\n    image: busybox\n    command: sh -c "echo hi from hello; sleep 60"\n  fail:\n    image: busybox\n    command: sh -c "sleep 1; echo failing; exit 5"\n' });
  const r = await compose(dir, ['up', '--exit-code-from', 'fail', '-t', '1']);
  assert.equal(r.code, 5, r.stdout + r.stderr);
  assert.match(r.stdout, /^Attaching to (fail-1, hello-1|hello-1, fail-1)\n/);
  // names padded to the longest plus one, then "| ", as Compose v2
  assert.match(r.stdout, /\nhello-1 \| hi from hello\n/);
  assert.match(r.stdout, /\nfail-1 {2}\| failing\n/);
  assert.match(r.stdout, /\nfail-1 exited with code 5\n/);
  assert.match(r.stdout, /\nAborting on container exit\.\.\.\n/);
  assert.match(r.stderr, / Container att-hello-1 {2}Stopped\n/);
  const logs = await ok(dir, ['logs', '--no-color', 'hello']);
  assert.equal(logs.stdout, 'hello-1 | hi from hello\n');
  await ok(dir, ['down']);
});

test('model errors: Compose messages, exit 1, nothing made', async () => {
  const cases: Array<[string, RegExp]> = [
    ['services:\n  web:\n    image: busybox\n    ports: "80:80"\n', /validating .*compose\.yaml: services\.web\.ports must be a list/],
    ['services:\n  web:\n    image: busybox\n    depends_on: [db]\n', /service "web" depends on undefined service "db": invalid compose project/],
    ['services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n', /dependency cycle detected: a -> b -> a/],
    ['services:\n  web:\n    image: ${IMG:?set IMG}\n', /required variable IMG is missing a value: set IMG/],
    ['services:\n  web:\n    image: busybox\n    volumes: ["data:/d"]\n', /service "web" refers to undefined volume data/],
  ];
  for (const [i, [yaml, re]] of cases.entries()) {
    const dir = project(`err${i}`, { 'compose.yaml': yaml });
    const r = await compose(dir, ['up', '-d']);
    assert.equal(r.code, 1, `${yaml}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.deepEqual(await names(`err${i}`), []);
    assert.notEqual((await d.docker(['network', 'inspect', `err${i}_default`])).code, 0, 'a network was made');
  }
  const none = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-none-'));
  roots.push(none);
  const r = await compose(none, ['ps']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no configuration file provided: not found/);
});

test('docker compose through the installed CLI plugin, never overwriting', async () => {
  const dir = project('plug', { 'compose.yaml': 'services:\n  app:\n    image: busybox\n    command: sleep 600\n' });
  const pluginDir = path.join(d.env.DOCKER_CONFIG!, 'cli-plugins');
  await ok(dir, ['install-plugin']);
  assert.ok(fs.statSync(path.join(pluginDir, 'docker-compose')).mode & 0o100);
  const again = await compose(dir, ['install-plugin']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists; not replacing it/);
  const v = await d.docker(['compose', 'version'], { cwd: dir });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^Docker Compose version v2\.\d+\.\d+/);
  const up = await d.docker(['compose', 'up', '-d'], { cwd: dir });
  assert.equal(up.code, 0, up.stderr);
  assert.deepEqual(await names('plug'), ['plug-app-1']);
  assert.equal((await d.docker(['compose', 'down', '-t', '1'], { cwd: dir })).code, 0);
  assert.deepEqual(await names('plug'), []);
});

test('attached up: Ctrl-C stops the project gracefully (exit 130); up --wait returns once healthy', async () => {
  const dir = project('sig', { 'compose.yaml': 'services:\n  app:\n    image: busybox\n    command: sh -c "trap \'echo got TERM; exit 0\' TERM; echo ready; while true; do sleep 0.2; done"\n    healthcheck: {test: ["CMD", "true"], interval: 300ms}\n' });
  const child = spawn(process.execPath, ['--', path.join(ROOT_DIR, 'bin', 'berth'), 'compose', 'up'], { cwd: dir, env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  try {
    const end = Date.now() + 60_000;
    while (!/app-1 +\| ready\n/.test(out) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /app-1 +\| ready\n/, `never saw the container's output:\n${out}\n${err}`);
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, `${out}\n${err}`);
    assert.match(err, /Gracefully stopping\.\.\. \(press Ctrl\+C again to force\)/);
    assert.match(err, / Container sig-app-1 {2}Stopped\n/);
    assert.match(out, /app-1 +\| got TERM\n/);
    assert.match(out, /app-1 exited with code 0\n/);
  } finally {
    clearTimeout(killer);
  }
  assert.equal((await inspect('sig-app-1')).State.Status, 'exited');
  const w = await ok(dir, ['up', '-d', '--wait']);
  assert.match(w.stderr, / Container sig-app-1 {2}Healthy\n/);
  assert.equal((await inspect('sig-app-1')).State.Health.Status, 'healthy');
  await ok(dir, ['down', '-t', '1']);
});
