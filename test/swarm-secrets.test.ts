// Secrets and configs (issue 15) on a single-node swarm: the API through the
// docker CLI and the berth CLI side by side (same daemon, same output), the
// files in a service's task, refusals with dockerd's texts.
import { test, before, after } from 'node:test';
/* eslint-disable @typescript-eslint/no-explicit-any -- Docker JSON read loosely in assertions */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, waitFor, sameOnBothClis, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
const PORT = 20000 + 4 * Math.floor(Math.random() * 4000);

// times move between the two runs: "N seconds ago" and the column widths it makes
const timeless = (t: string) => t.replace(/(Less than a second|About a minute|\d+ (?:seconds?|minutes?)) ago/g, 'T ago').replace(/ {2,}/g, '  ');
/** Both CLIs, same arguments: same exit code, stdout and stderr (program names aside). */
const same = (args: string[], input?: string) => sameOnBothClis(d, args, { input, stdout: timeless });

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  await d.ok(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', `127.0.0.1:${PORT}`]);
});

after(async () => {
  await d?.docker(['swarm', 'leave', '--force']).catch(() => {});
  await d?.stop();
});

test('secret create from a file and stdin; ls and inspect show no Data; a name clash is refused', async () => {
  const file = path.join(d.root, 'pw.txt');
  fs.writeFileSync(file, 'hunter2');
  const id1 = (await d.ok(['secret', 'create', '--label', 'env=test', 'pw', file])).trim();
  assert.match(id1, /^[0-9a-z]{25}$/);
  const id2 = (await d.berth(['secret', 'create', 'token', '-'], { input: 'tok-from-stdin' })).stdout.trim();
  assert.match(id2, /^[0-9a-z]{25}$/);
  const clash = await d.docker(['secret', 'create', 'pw', file]);
  assert.equal(clash.code, 1);
  assert.equal(clash.stderr.trim(), 'Error response from daemon: rpc error: code = AlreadyExists desc = secret pw already exists');
  const bclash = await d.berth(['secret', 'create', 'pw', file]);
  assert.deepEqual([bclash.code, bclash.stderr.trim()], [1, clash.stderr.trim()]);

  const ls = await same(['secret', 'ls']);
  assert.match(ls.stdout, /^ID +NAME +DRIVER +CREATED +UPDATED\n/);
  assert.match(ls.stdout, new RegExp(`^${id1} +pw +\\S.* ago +.* ago$`, 'm'));
  await same(['secret', 'ls', '-q']);
  await same(['secret', 'ls', '--format', 'json']);
  await same(['secret', 'ls', '-f', 'label=env=test', '--format', '{{.ID}} {{.Name}} {{.Labels}}']);
  await same(['secret', 'ls', '-f', 'name=to', '--format', '{{.Name}}']);
  await same(['secret', 'ls', '-f', 'bogus=1']);

  const insp = await same(['secret', 'inspect', 'pw', 'token']);
  const objs = JSON.parse(insp.stdout);
  assert.deepEqual(objs.map((o: any) => o.Spec), [{ Name: 'pw', Labels: { env: 'test' } }, { Name: 'token', Labels: {} }]);
  assert.ok(!insp.stdout.includes(Buffer.from('hunter2').toString('base64')) && !insp.stdout.includes('hunter2'), 'no secret data in inspect');
  await same(['secret', 'inspect', '--pretty', 'pw']);
  await same(['secret', 'inspect', 'nope']);

  // client-side refusals
  await same(['secret', 'create', 'x', path.join(d.root, 'missing')]);
  fs.writeFileSync(path.join(d.root, 'empty'), '');
  await same(['secret', 'create', 'x', path.join(d.root, 'empty')]);
  await same(['secret', 'create', 'bad name!', file]);
});

test('config create/ls/inspect (with Data), --pretty, rm', async () => {
  const cfg = path.join(d.root, 'app.conf');
  fs.writeFileSync(cfg, 'listen 8080\n');
  const id = (await d.ok(['config', 'create', 'app', cfg])).trim();
  await d.berth(['config', 'create', 'other', '-'], { input: 'x=1' });
  const ls = await same(['config', 'ls']);
  assert.match(ls.stdout, /^ID +NAME +CREATED +UPDATED\n/);
  const insp = JSON.parse((await same(['config', 'inspect', 'app'])).stdout);
  assert.equal(insp[0].ID, id);
  assert.equal(Buffer.from(insp[0].Spec.Data, 'base64').toString(), 'listen 8080\n');
  await same(['config', 'inspect', '--pretty', 'app']);
  const rmd = await d.docker(['config', 'rm', 'other', 'nope']);
  await d.berth(['config', 'create', 'other', '-'], { input: 'x=1' });
  const rmb = await d.berth(['config', 'rm', 'other', 'nope']);
  assert.deepEqual([rmb.code, rmb.stdout, rmb.stderr], [rmd.code, rmd.stdout, rmd.stderr]);
  assert.deepEqual([rmd.code, rmd.stdout, rmd.stderr.trim()], [1, 'other\n', 'Error response from daemon: config nope not found']);
});

test('a service reads its secret and config as files; inspect never shows the value; rm in use refused', async () => {
  await d.ok(['service', 'create', '-d', '--no-resolve-image', '--name', 'reader',
    '--secret', 'pw', '--secret', 'source=token,target=tok,mode=0400',
    '--config', 'source=app,target=/etc/app.conf', 'busybox', 'sleep', '100000']);
  let cid = '';
  await waitFor(async () => {
    cid = (await d.ok(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=reader'])).trim();
    return !!cid;
  }, 60_000, 'the task container runs');
  const files = await d.ok(['exec', cid, 'sh', '-c', 'cat /run/secrets/pw; echo; cat /run/secrets/tok; echo; cat /etc/app.conf; stat -c %a /run/secrets/tok']);
  assert.equal(files, 'hunter2\ntok-from-stdin\nlisten 8080\n400\n');

  const svc = await d.ok(['service', 'inspect', 'reader']);
  assert.ok(!svc.includes('hunter2') && !svc.includes(Buffer.from('hunter2').toString('base64')), 'no secret value in service inspect');
  const refs = JSON.parse(svc)[0].Spec.TaskTemplate.ContainerSpec.Secrets;
  // the docker CLI gathers --secret flags in a Go map, so their order is not kept
  assert.deepEqual(refs.map((r: any) => [r.SecretName, r.File.Name]).sort(), [['pw', 'pw'], ['token', 'tok']]);

  const rm = await same(['secret', 'rm', 'pw']);
  assert.equal(rm.code, 1);
  assert.equal(rm.stderr.trim(), "Error response from daemon: rpc error: code = InvalidArgument desc = secret 'pw' is in use by the following service: reader");
  const crm = await d.docker(['config', 'rm', 'app']);
  assert.equal(crm.stderr.trim(), "Error response from daemon: rpc error: code = InvalidArgument desc = config 'app' is in use by the following service: reader");

  // unknown references: the docker CLI refuses them itself; the API as swarmkit does
  const unknown = await d.docker(['service', 'create', '-d', '--name', 'x', '--secret', 'nope', 'busybox', 'true']);
  assert.deepEqual([unknown.code, unknown.stderr.trim()], [1, 'secret not found: nope']);

  await d.ok(['service', 'rm', 'reader']);
  assert.equal(await d.ok(['secret', 'rm', 'pw']), 'pw\n');
  const brm = await d.berth(['secret', 'rm', 'token']);
  assert.deepEqual([brm.code, brm.stdout], [0, 'token\n']);
  assert.equal((await d.ok(['secret', 'ls', '-q'])).trim(), '');
});

test('berth service create/ls/ps/scale/update/rollback/rm: the same specs and tables as the docker CLI', async () => {
  const flags = ['--replicas', '2', '--env', 'A=1', '--label', 'l=v', '--container-label', 'c=1', '--limit-cpu', '0.5', '--limit-memory', '64m',
    '--restart-condition', 'on-failure', '--restart-delay', '1s', '--update-parallelism', '2', '--update-delay', '1s', '--update-order', 'start-first',
    '--rollback-parallelism', '1', '--constraint', 'node.role==manager', '--placement-pref', 'spread=node.id', '--endpoint-mode', 'vip'];
  await d.ok(['service', 'create', '-d', '--no-resolve-image', '--name', 'dk', ...flags, 'busybox', 'sleep', '100000']);
  const b = await d.berth(['service', 'create', '--no-resolve-image', '--name', 'bt', ...flags, 'busybox', 'sleep', '100000'], { timeout: 120_000 });
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /^[0-9a-z]{25}\noverall progress: /);
  assert.match(b.stdout, /overall progress: 2 out of 2 tasks\n(.*\n)*verify: Service converged\n$/);
  const spec = async (name: string) => {
    const s = JSON.parse(await d.ok(['service', 'inspect', name, '--format', '{{json .Spec}}']));
    delete s.Name;
    // the docker CLI's --env-add goes through a Go map: its order is not kept
    s.TaskTemplate?.ContainerSpec?.Env?.sort();
    return s;
  };
  assert.deepEqual(await spec('bt'), await spec('dk'));
  await waitFor(async () => /2\/2.*\n.*2\/2/.test(await d.ok(['service', 'ls'])), 60_000, 'both services 2/2');
  const ls = await same(['service', 'ls']);
  assert.match(ls.stdout, /^ID +NAME +MODE +REPLICAS +IMAGE +PORTS\n\w{12} +bt +replicated +2\/2 +busybox:latest +\n/);
  await same(['service', 'ls', '-q']);
  await same(['service', 'ls', '--format', '{{.Name}} {{.Mode}} {{.Replicas}}']);
  await same(['service', 'ps', 'bt', 'dk', '--format', '{{.Name}} {{.Image}} {{.DesiredState}}']);
  await same(['service', 'ps', '-q', 'bt']);
  await same(['service', 'inspect', 'bt', '--format', '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}}']);
  await same(['service', 'inspect', 'nope']);

  // scale, update, rollback through each CLI: the specs stay equal
  assert.equal((await d.berth(['service', 'scale', '-d', 'bt=3'])).stdout, 'bt scaled to 3\n');
  await d.ok(['service', 'scale', '-d', 'dk=3']);
  assert.deepEqual(await spec('bt'), await spec('dk'));
  const up = ['--limit-cpu', '0.25', '--env-add', 'B=2', '--label-add', 'x=y', '--image', 'busybox:latest', '--force'];
  assert.equal((await d.berth(['service', 'update', '-d', ...up, 'bt'])).stdout, 'bt\n');
  await d.ok(['service', 'update', '-d', ...up, 'dk']);
  assert.deepEqual(await spec('bt'), await spec('dk'));
  assert.equal((await d.berth(['service', 'rollback', '-d', 'bt'])).stdout, 'bt\n');
  await d.ok(['service', 'rollback', '-d', 'dk']);
  assert.deepEqual(await spec('bt'), await spec('dk'));
  assert.equal((await spec('bt')).Mode.Replicated.Replicas, 3);

  const rm = await d.berth(['service', 'rm', 'bt', 'nope']);
  assert.deepEqual([rm.code, rm.stdout, rm.stderr.trim()], [1, 'bt\n', 'Error response from daemon: service nope not found']);
  await d.ok(['service', 'rm', 'dk']);
});
