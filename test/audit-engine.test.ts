// Audit of issue 2 against Docker's behaviour: each test pins a gap that was
// found by trying the docker CLI and berth side by side against berthd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startDaemon, run, ROOT_DIR, type TestDaemon } from './helpers/daemon';
import { privateCliSocket } from './helpers/cli-server';

// ./bin/berth as a program: its CLI server (if one starts) is this file's, stopped at the end.
privateCliSocket(after);

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
});

async function ok(cli: 'docker' | 'berth', args: string[]): Promise<string> {
  const r = cli === 'docker' ? await d.docker(args) : await d.berth(args);
  assert.equal(r.code, 0, `${cli} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('diff shows only what the process changed: runtime mount points live in an init layer', async () => {
  await ok('docker', ['run', '--name', 'au-diff', 'busybox', 'sh', '-c', 'echo x > /new; test -e /.dockerenv && readlink /etc/mtab']);
  for (const cli of ['docker', 'berth'] as const) {
    assert.equal((await ok(cli, ['diff', 'au-diff'])).trim(), 'A /new');
  }
  assert.equal((await ok('docker', ['logs', 'au-diff'])).trim(), '/proc/mounts');
  // inspect names the init layer as the top lower dir, as Docker's <id>-init
  const lower = (await ok('berth', ['inspect', '-f', '{{.GraphDriver.Data.LowerDir}}', 'au-diff'])).trim().split(':');
  assert.ok(lower.length >= 2 && lower[0].endsWith('/init'), lower.join(':'));
  // a commit carries the change only, not /etc/hosts or /etc/resolv.conf
  await ok('docker', ['commit', 'au-diff', 'au-diff:1']);
  await ok('docker', ['run', '--name', 'au-diff2', 'au-diff:1', 'cat', '/new']);
  assert.equal((await ok('berth', ['diff', 'au-diff2'])).trim(), '');
});

test('ps filters as moby: exited needs -a, name matches with or without the slash, bad values are errors', async () => {
  await ok('docker', ['run', '--name', 'au-ex0', 'busybox', 'true']);
  assert.equal((await d.docker(['run', '--name', 'au-ex3', 'busybox', 'sh', '-c', 'exit 3'])).code, 3);
  await ok('docker', ['create', '--name', 'au-cr', 'busybox']);
  for (const cli of ['docker', 'berth'] as const) {
    // without -a, a stopped container is not listed even when its exit code matches
    assert.equal((await ok(cli, ['ps', '--filter', 'exited=0', '-q'])).trim(), '');
    // a never-started container has exit code 0 but is not "exited=0"
    assert.equal((await ok(cli, ['ps', '-a', '--filter', 'exited=0', '--filter', 'name=au-', '--format', '{{.Names}}'])).trim().split('\n').sort().join(','), 'au-diff,au-diff2,au-ex0');
    assert.equal((await ok(cli, ['ps', '-a', '--filter', 'name=^/au-ex', '--format', '{{.Names}}'])).trim().split('\n').sort().join(','), 'au-ex0,au-ex3');
    assert.equal((await ok(cli, ['ps', '-a', '--filter', 'name=^au-cr$', '--format', '{{.Names}}'])).trim(), 'au-cr');
    assert.equal((await ok(cli, ['ps', '-a', '--filter', 'name=(', '-q'])).trim(), '');
    assert.equal((await ok(cli, ['ps', '-a', '--filter', 'health=none', '--filter', 'name=au-cr', '-q'])).trim().length, 12);
    const bad = cli === 'docker' ? await d.docker(['ps', '--filter', 'exited=x']) : await d.berth(['ps', '--filter', 'exited=x']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Error response from daemon: strconv.Atoi: parsing "x": invalid syntax/);
    const badH = cli === 'docker' ? await d.docker(['ps', '--filter', 'health=x']) : await d.berth(['ps', '--filter', 'health=x']);
    assert.equal(badH.code, 1);
    assert.match(badH.stderr, /Unrecognised filter value for health: x/);
  }
  // an id filter is a pattern over the whole id, not only a prefix
  const id = (await ok('docker', ['inspect', '-f', '{{.Id}}', 'au-ex3'])).trim();
  assert.equal((await ok('berth', ['ps', '-a', '--filter', `id=${id.slice(5, 20)}`, '--format', '{{.Names}}'])).trim(), 'au-ex3');
});

test('logs/events --since/--until are checked and converted on the client, as docker does', async () => {
  await ok('docker', ['run', '--name', 'au-logs', 'busybox', 'echo', 'hello']);
  for (const cli of ['docker', 'berth'] as const) {
    const run = (args: string[]) => (cli === 'docker' ? d.docker(args) : d.berth(args));
    const bad = await run(['logs', '--since', 'bogus', 'au-logs']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim(), 'invalid value for "since": failed to parse value as time or duration: "bogus"');
    const badE = await run(['events', '--since', 'bogus']);
    assert.equal(badE.code, 1);
    assert.equal(badE.stderr.trim(), 'failed to parse value as time or duration: "bogus"');
    // relative and local-time values select the same lines through both clients
    assert.equal((await ok(cli, ['logs', '--since', '1h', '--until', '-1m', 'au-logs'])).trim(), 'hello');
    assert.equal((await ok(cli, ['logs', '--until', '2000-01-01T00:00:00', 'au-logs'])).trim(), '');
    const ev = await ok(cli, ['events', '--since', '1h', '--until', '-1s', '--filter', 'container=au-logs', '--filter', 'event=die', '--format', '{{.Action}} {{.Actor.Attributes.exitCode}}']);
    assert.equal(ev.trim(), 'die 0');
  }
});

test('container prune --filter until= takes Go durations and reports a bad value as docker', async () => {
  await ok('docker', ['run', '--name', 'au-prune-old', 'busybox', 'true']);
  // Wide margins: on a loaded host `run` and the CLI's start can take seconds.
  await new Promise((r) => setTimeout(r, 12_000));
  await ok('docker', ['run', '--name', 'au-prune-new', 'busybox', 'true']);
  const out = await ok('berth', ['container', 'prune', '-f', '--filter', 'until=0h0m8s', '--filter', 'label!=keep']);
  assert.match(out, /Deleted Containers:/);
  const names = (await ok('docker', ['ps', '-a', '--format', '{{.Names}}'])).split('\n');
  assert.ok(!names.includes('au-prune-old'));
  assert.ok(names.includes('au-prune-new'));
  const bad = await d.berth(['container', 'prune', '-f', '--filter', 'until=bogus']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Error response from daemon: failed to parse value as time or duration: "bogus"/);
  await ok('docker', ['container', 'prune', '-f', '--filter', 'until=1h1m']); // older than an hour: none
  assert.ok((await ok('docker', ['ps', '-a', '--format', '{{.Names}}'])).split('\n').includes('au-prune-new'));
});

test('bad image references are rejected by the client before any request, with docker\'s texts and exit codes', async () => {
  const cases: Array<[string[], number, string]> = [
    [['run', 'Busybox', 'true'], 125, '{p}: invalid reference format: repository name (library/Busybox) must be lowercase\n\nRun \'{p} run --help\' for more information'],
    [['create', 'busybox@sha256:abc'], 1, 'invalid reference format'],
    [['tag', 'busybox', 'UP:1'], 1, 'Error parsing reference: "UP:1" is not a valid repository/tag: invalid reference format: repository name (library/UP) must be lowercase'],
    [['import', '-', 'Bad'], 1, 'invalid reference format: repository name (library/Bad) must be lowercase'],
  ];
  for (const [args, code, text] of cases) {
    for (const p of ['docker', 'berth'] as const) {
      const r = p === 'docker' ? await d.docker(args) : await d.berth(args);
      assert.equal(r.code, code, `${p} ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), text.replaceAll('{p}', p), `${p} ${args.join(' ')}`);
    }
  }
  // a full image id is a valid reference for run
  const id = (await ok('docker', ['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim();
  assert.equal((await ok('berth', ['run', '--rm', id.slice(7), 'echo', 'ok'])).trim(), 'ok');
});

test('events --format sees Go field names (.ID .Status .From .TimeNano) and {{json .}} prints docker\'s message', async () => {
  await ok('docker', ['run', '--rm', '--label', 'au-ev=1', '--label', 'a-first=1', 'busybox', 'true']);
  const fmt = '{{.ID}}|{{.Status}}|{{.From}}|{{.Scope}}|{{.Time}}|{{.TimeNano}}|{{json .}}';
  const args = ['events', '--since', '1h', '--until', '-1s', '--filter', 'event=start', '--filter', 'label=au-ev=1', '--format', fmt];
  const a = await ok('docker', args);
  const b = await ok('berth', args);
  assert.equal(b, a);
  const [id, status, from, scope, time, nano, json] = b.trim().split('|');
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.deepEqual([status, from, scope], ['start', 'busybox', 'local']);
  assert.ok(nano.startsWith(time) && nano.length === time.length + 9, nano);
  assert.ok(json.endsWith(`"timeNano":${nano}}`), json);
  assert.match(json, /"Attributes":\{"a-first":"1","au-ev":"1","image":"busybox"/);
});

test('run/create option errors print as docker: texts, forms and exit codes', async () => {
  const cases: Array<string[]> = [
    ['--restart', 'bogus'],
    ['--restart', 'always:3'],
    ['--restart', 'always', '--rm'],
    ['--env-file', '/nonexistent-env-file'],
    ['--label-file', '/nonexistent-label-file'],
    ['-e', '=x'],
    ['-w', 'rel'],
    ['--stop-signal', 'BOGUS'],
  ];
  for (const opts of cases) {
    for (const verb of ['run', 'create']) {
      const args = [verb, ...opts, 'busybox', 'true'];
      const a = await d.docker(args);
      // ./bin/berth itself: its shebang keeps node from taking --env-file as its own option
      const b = await run(path.join(ROOT_DIR, 'bin', 'berth'), args, { env: d.env });
      assert.equal(b.code, a.code, `${args.join(' ')}: docker ${a.code} ${a.stderr} / berth ${b.code} ${b.stderr}`);
      assert.equal(b.stderr.replaceAll('berth', 'docker'), a.stderr, args.join(' '));
      assert.notEqual(a.code, 0);
    }
  }
  // -d prints the id even when start then fails, and exits as docker (127: command not found)
  for (const cli of ['docker', 'berth'] as const) {
    const r = cli === 'docker' ? await d.docker(['run', '-d', 'busybox', 'nosuch']) : await d.berth(['run', '-d', 'busybox', 'nosuch']);
    assert.equal(r.code, 127);
    assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    await ok('docker', ['rm', r.stdout.trim()]);
  }
});

test('a create/update body with a field of the wrong JSON type is a 400 and stores nothing', async () => {
  const http = await import('node:http');
  const post = (p: string, body: string) => new Promise<{ status: number; json: any }>((resolve, reject) => {
    const req = http.request({ socketPath: d.socket, path: p, method: 'POST', headers: { 'Content-Type': 'application/json' }, timeout: 10_000 }, (res) => {
      let t = '';
      res.on('data', (c) => { t += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: t ? JSON.parse(t) : null }));
    });
    req.on('error', reject);
    req.end(body);
  });
  const before = (await ok('docker', ['ps', '-aq'])).trim();
  const bad: Array<[object, RegExp]> = [
    [{ Image: 'busybox', Env: 'A=1' }, /cannot unmarshal string into Go struct field ContainerConfigWrapper.Env of type \[\]string/],
    [{ Image: 'busybox', Labels: { a: 1 } }, /cannot unmarshal number 1 into Go struct field ContainerConfigWrapper.Labels of type string/],
    [{ Image: 'busybox', User: 0 }, /ContainerConfigWrapper.User of type string/],
    [{ Image: 'busybox', ExposedPorts: ['80/tcp'] }, /ContainerConfigWrapper.ExposedPorts of type nat.PortSet/],
    [{ Image: 'busybox', HostConfig: { Memory: '1g' } }, /ContainerConfigWrapper.HostConfig.Memory of type int64/],
    [{ Image: 'busybox', HostConfig: { PortBindings: { '80/tcp': '8080' } } }, /HostConfig.PortBindings of type \[\]nat.PortBinding/],
    [{ Image: 'busybox', HostConfig: 'x' }, /ContainerConfigWrapper.HostConfig of type container.HostConfig/],
  ];
  for (const [body, msg] of bad) {
    const r = await post('/containers/create', JSON.stringify(body));
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.json.message, msg);
  }
  // nothing was stored, and listing still works for both clients
  assert.equal((await ok('docker', ['ps', '-aq'])).trim(), before);
  await ok('berth', ['ps', '-a']);
  // Cmd and Entrypoint take a plain string (strslice), as Docker's
  const good = await post('/containers/create?name=au-strslice', JSON.stringify({ Image: 'busybox', Cmd: 'true' }));
  assert.equal(good.status, 201);
  const up = await post('/containers/au-strslice/update', JSON.stringify({ Memory: 'x' }));
  assert.equal(up.status, 400);
  assert.match(up.json.message, /UpdateConfig.Memory of type int64/);
  await ok('docker', ['rm', 'au-strslice']);
});

test('info reports the runc commit as docker info\'s "runc version"', async () => {
  const want = /^commit:\s*(\S+)/m.exec((await run('runc', ['--version'])).stdout)?.[1];
  assert.ok(want);
  for (const cli of ['docker', 'berth'] as const) {
    assert.equal((await ok(cli, ['info', '--format', '{{.RuncCommit.ID}}'])).trim(), want);
  }
  assert.match(await ok('docker', ['info']), new RegExp(`runc version: ${want!.replace(/[.+]/g, '\\$&')}`));
});

test('a --filter without "=" is refused as pflag does, naming the flag as the command spells it', async () => {
  for (const args of [['ps', '--filter', 'bogus'], ['images', '-f', 'x'], ['container', 'prune', '-f', '--filter', 'x'], ['events', '--filter', 'x']]) {
    const a = await d.docker(args);
    const b = await d.berth(args);
    assert.equal(a.code, 125);
    assert.equal(b.code, 125, args.join(' '));
    assert.equal(b.stderr.replaceAll('berth', 'docker'), a.stderr, args.join(' '));
  }
});

test('import/commit --change accepts exactly moby\'s validCommitCommands', async () => {
  const tar = await run('tar', ['-C', path.join(ROOT_DIR, 'test', 'fixtures'), '-cf', path.join(d.root, 'au-change.tar'), '.']);
  assert.equal(tar.code, 0, tar.stderr);
  for (const cli of ['docker', 'berth'] as const) {
    const r = cli === 'docker' ? await d.docker(['import', '-c', 'SHELL ["/bin/bash", "-c"]', path.join(d.root, 'au-change.tar')]) : await d.berth(['import', '-c', 'SHELL ["/bin/bash", "-c"]', path.join(d.root, 'au-change.tar')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'Error response from daemon: shell is not a valid change command');
  }
  await ok('berth', ['import', '-c', 'HEALTHCHECK --interval=5s CMD true', '-c', 'STOPSIGNAL SIGINT', '-c', 'ONBUILD RUN x', path.join(d.root, 'au-change.tar'), 'au-change:1']);
  const cfg = JSON.parse(await ok('docker', ['image', 'inspect', '-f', '{{json .Config}}', 'au-change:1']));
  assert.deepEqual(cfg.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9 });
  assert.equal(cfg.StopSignal, 'SIGINT');
  assert.deepEqual(cfg.OnBuild, ['RUN x']);
});

test('a malformed %-escape in the path is a 400 JSON error, not a request left hanging', async () => {
  const http = await import('node:http');
  const get = (p: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ socketPath: d.socket, path: p, method: 'GET', timeout: 5000 }, (res) => {
      let t = '';
      res.on('data', (c) => { t += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: t }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer for ${p}`)));
    req.on('error', reject);
    req.end();
  });
  for (const p of ['/containers/%ZZ/json', '/v1.43/images/a%2/json']) {
    const r = await get(p);
    assert.equal(r.status, 400, p);
    assert.match(JSON.parse(r.body).message, /^invalid URL escape "%/);
  }
  assert.equal((await get('/_ping')).body, 'OK');
});
