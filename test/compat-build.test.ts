// Images and builds as SDKs and the docker CLI see them: a broken tar to
// /images/load (a 200 stream with an error line → ImageLoadError), history
// texts of the classic builder, a failing RUN's stderr in the build stream,
// --cache-from with images loaded from a tar, --add-host in builds, and the
// build error's shape.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { pyOk } from './helpers/python';

let d: TestDaemon;

function ctxDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(d.root, 'ctx-'));
  for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), body);
  return dir;
}

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});
after(async () => {
  await d?.stop();
});

test('a broken tar to /images/load: a 200 JSON stream with an error line (ImageLoadError, docker load fails)', async () => {
  const bad = path.join(d.root, 'broken.tar');
  fs.writeFileSync(bad, Buffer.alloc(3000, 'x'));
  const out = await pyOk(d, `
import docker, sys
c = docker.from_env()
r = c.api._post(c.api._url('/images/load'), data=open(${JSON.stringify(bad)}, 'rb'), stream=True)
print(r.status_code)
try:
    c.images.load(open(${JSON.stringify(bad)}, 'rb').read())
except docker.errors.ImageLoadError as e:
    print('ImageLoadError', type(e.args[0]).__name__)
`);
  assert.equal(out, '200\nImageLoadError str\n');
  const r = await d.docker(['load', '-i', bad]);
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stderr, /Error response from daemon/);
  assert.notEqual(r.stderr.trim(), '');
});

test('docker history shows the classic builder texts: EXPOSE 9000, CMD ["a" "b"], VOLUME [/v], HEALTHCHECK &{...}', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nEXPOSE 9000\nEXPOSE 53/udp 80\nVOLUME ["/v"]\nHEALTHCHECK --interval=5s --retries=3 CMD ["true"]\nCMD ["sh", "-c", "echo hi"]\n' });
  await d.ok(['build', '-t', 'hist:1', dir], 120_000);
  const h = (await d.ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'hist:1'])).split('\n');
  assert.equal(h[0], '/bin/sh -c #(nop)  CMD ["sh" "-c" "echo hi"]');
  assert.equal(h[1], '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD" "true"] "5s" "0s" "0s" \'\\x03\'}');
  assert.equal(h[2], '/bin/sh -c #(nop)  VOLUME [/v]');
  assert.equal(h[3], '/bin/sh -c #(nop)  EXPOSE 53/udp 80');
  assert.equal(h[4], '/bin/sh -c #(nop)  EXPOSE 9000');
  const cfg = JSON.parse(await d.ok(['image', 'inspect', '--format', '{{json .Config.ExposedPorts}}', 'hist:1']));
  assert.deepEqual(Object.keys(cfg).sort(), ['53/udp', '80/tcp', '9000/tcp']);
});

test('a failing RUN: its stderr in the stream as the classic builder sends it; BuildError with string messages', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nRUN echo to-out; echo to-err >&2; exit 3\n' });
  const out = await pyOk(d, `
import docker, json
c = docker.from_env()
chunks = list(c.api.build(path=${JSON.stringify(dir)}, decode=True))
print(json.dumps(chunks))
try:
    c.images.build(path=${JSON.stringify(dir)})
except docker.errors.BuildError as e:
    print(type(e.msg).__name__, e.msg)
`, 120_000);
  const [first, second] = out.split('\n');
  const chunks = JSON.parse(first);
  const streams = chunks.filter((c: any) => c.stream).map((c: any) => c.stream).join('');
  assert.match(streams, /to-out\n/);
  // eslint-disable-next-line no-control-regex -- the ANSI colour escapes are the point
  assert.match(streams, /\x1b\[91mto-err\n\x1b\[0m/);
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last, {
    errorDetail: { code: 3, message: "The command '/bin/sh -c echo to-out; echo to-err >&2; exit 3' returned a non-zero code: 3" },
    error: "The command '/bin/sh -c echo to-out; echo to-err >&2; exit 3' returned a non-zero code: 3",
  });
  assert.equal(second, "str The command '/bin/sh -c echo to-out; echo to-err >&2; exit 3' returned a non-zero code: 3");
});

test('cache_from: an image loaded from a tar (no local cache records) stands in for the steps', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nRUN echo built > /stamp\nENV A=1\nRUN cat /stamp > /copy\n' });
  await d.ok(['build', '-t', 'cached:1', dir], 120_000);
  const id = (await d.ok(['image', 'inspect', '--format', '{{.Id}}', 'cached:1'])).trim();
  const tarFile = path.join(d.root, 'cached.tar');
  await d.ok(['save', '-o', tarFile, 'cached:1']);
  await d.ok(['rmi', 'cached:1']);
  await d.ok(['load', '-i', tarFile]);
  const out = await pyOk(d, `
import docker, json
c = docker.from_env()
logs = [x.get('stream', '') for x in c.api.build(path=${JSON.stringify(dir)}, cache_from=['cached:1'], tag='again:1', decode=True)]
print(json.dumps(''.join(logs)))
print(c.images.get('again:1').id)
`, 120_000);
  const [logJson, again] = out.trim().split('\n');
  const log = JSON.parse(logJson);
  assert.doesNotMatch(log, /Running in/);
  assert.equal((log.match(/Using cache/g) ?? []).length, 3, log);
  assert.equal(again, id);
  // without it, the steps run again
  const plain = await d.ok(['build', '-t', 'again:2', dir], 120_000);
  assert.match(plain, /Running in/);
});

test('extra_hosts / --add-host reach the RUN steps (every value, as moby reads them)', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nRUN grep -E "10.9.8.7\\s+one" /etc/hosts && grep -E "10.9.8.6\\s+two" /etc/hosts\n' });
  await pyOk(d, `
import docker
c = docker.from_env()
c.images.build(path=${JSON.stringify(dir)}, extra_hosts={'one': '10.9.8.7', 'two': '10.9.8.6'}, nocache=True)
`, 120_000);
  const r = await d.docker(['build', '--no-cache', '--add-host', 'one:10.9.8.7', '--add-host', 'two:10.9.8.6', dir], { timeout: 120_000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
});
