// Legacy links as the docker CLI and python3-docker use them: the linked
// container's environment as <ALIAS>_ENV_<VAR>, a link alias resolvable
// through the embedded DNS on a user-defined network (only from the linking
// container), and `docker rm --link` removing the link.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { pyOk } from './helpers/python';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});
after(async () => {
  await d?.stop();
});

test("links: the linked container's environment arrives as <ALIAS>_ENV_<VAR> (not HOME/PATH)", async () => {
  await d.ok(['run', '-d', '--name', 'db', '-e', 'SECRET=s3', '-e', 'MODE=a=b', 'busybox', 'sleep', '300']);
  const env = (await d.ok(['run', '--rm', '--link', 'db:my-db', 'busybox', 'env'])).split('\n');
  assert.ok(env.includes('MY_DB_ENV_SECRET=s3'), env.join('\n'));
  assert.ok(env.includes('MY_DB_ENV_MODE=a=b'), env.join('\n'));
  assert.ok(!env.some((l) => l.startsWith('MY_DB_ENV_PATH=')), 'PATH is left out as moby does');
  assert.ok(env.some((l) => /^MY_DB_NAME=\/[a-z_]+\/my-db$/.test(l)), env.join('\n'));
});

test('links on a user-defined network: the alias resolves through the embedded DNS, only for the linking container', async () => {
  await d.ok(['network', 'create', 'linknet']);
  await d.ok(['run', '-d', '--name', 'srv', '--network', 'linknet', 'busybox', 'sleep', '300']);
  const ip = (await d.ok(['inspect', '--format', '{{(index .NetworkSettings.Networks "linknet").IPAddress}}', 'srv'])).trim();
  const r = await d.ok(['run', '--rm', '--network', 'linknet', '--link', 'srv:backend', 'busybox', 'nslookup', 'backend']);
  assert.match(r, new RegExp(`Address: ${ip.replace(/\./g, '\\.')}\\b`));
  const other = await d.docker(['run', '--rm', '--network', 'linknet', 'busybox', 'nslookup', 'backend']);
  assert.doesNotMatch(other.stdout, new RegExp(`Address: ${ip.replace(/\./g, '\\.')}\\b`));
});

test('docker rm --link and the SDK remove_container(link=True) remove the link, not the container', async () => {
  await d.ok(['run', '-d', '--name', 'web', '--link', 'db:dbalias', 'busybox', 'sleep', '300']);
  assert.deepEqual(JSON.parse(await d.ok(['inspect', '--format', '{{json .HostConfig.Links}}', 'web'])), ['/db:/web/dbalias']);
  const r = await d.ok(['rm', '--link', '/web/dbalias']);
  assert.equal(r, '/web/dbalias\n');
  assert.equal((await d.ok(['inspect', '--format', '{{json .HostConfig.Links}}', 'web'])).trim(), 'null');
  assert.equal((await d.ok(['inspect', '--format', '{{.State.Running}}', 'db'])).trim(), 'true');
  await d.ok(['run', '-d', '--name', 'web2', '--link', 'db:other', 'busybox', 'sleep', '300']);
  const out = await pyOk(d, `
import docker, json
c = docker.from_env()
c.api.remove_container('web2/other', link=True)
print(json.dumps(c.api.inspect_container('web2')['HostConfig']['Links']))
try:
    c.api.remove_container('/web2/nolink', link=True)
except docker.errors.NotFound as e:
    print('notfound')
`);
  assert.equal(out, 'null\nnotfound\n');
  const bad = await d.docker(['rm', '--link', 'db']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Conflict, cannot remove the default link name of the container/);
  await d.ok(['rm', '-f', 'web', 'web2', 'db', 'srv']);
});
