// docker cp both ways through the archive API, on running and stopped
// containers, with Docker's semantics; symlinks never reach the host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, run, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
let tmp: string;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cp-'));
  await ok(['run', '-d', '--name', 'cp1', 'busybox', 'sh', '-c',
    'mkdir -p /data/sub && echo one > /data/a.txt && echo two > /data/sub/b.txt && ln -s /data/a.txt /data/link && mkdir /esc && ln -s /etc/shadow-host-probe /esc/out && ln -s ../../../../../../etc /esc/up && chown 1234:5678 /data/a.txt && exec sleep 600']);
  await new Promise((r) => setTimeout(r, 500));
});

after(async () => {
  await d?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ok = (args: string[], timeout?: number): Promise<string> => d.ok(args, timeout);

test('cp a file and a directory out of a running container', async () => {
  await ok(['cp', 'cp1:/data/a.txt', path.join(tmp, 'a.txt')]);
  assert.equal(fs.readFileSync(path.join(tmp, 'a.txt'), 'utf8'), 'one\n');
  await ok(['cp', 'cp1:/data', path.join(tmp, 'datacopy')]);
  assert.equal(fs.readFileSync(path.join(tmp, 'datacopy', 'sub', 'b.txt'), 'utf8'), 'two\n');
  assert.ok(fs.lstatSync(path.join(tmp, 'datacopy', 'link')).isSymbolicLink());
  // src/. copies the contents into an existing directory.
  fs.mkdirSync(path.join(tmp, 'contents'));
  await ok(['cp', 'cp1:/data/.', path.join(tmp, 'contents')]);
  assert.ok(fs.existsSync(path.join(tmp, 'contents', 'a.txt')));
  assert.ok(fs.existsSync(path.join(tmp, 'contents', 'sub', 'b.txt')));
  // -L follows the link: a regular file with the target's content.
  await ok(['cp', '-L', 'cp1:/data/link', path.join(tmp, 'followed')]);
  assert.ok(fs.lstatSync(path.join(tmp, 'followed')).isFile());
  assert.equal(fs.readFileSync(path.join(tmp, 'followed'), 'utf8'), 'one\n');
  // To stdout as a tar.
  const r = await d.docker(['cp', 'cp1:/data/a.txt', '-']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /a\.txt/);
});

test('cp into a running container: file, directory, -a keeps ownership', async () => {
  fs.writeFileSync(path.join(tmp, 'in.txt'), 'hello in\n');
  fs.chownSync(path.join(tmp, 'in.txt'), 4321, 8765);
  await ok(['cp', path.join(tmp, 'in.txt'), 'cp1:/tmp/']);
  assert.equal(await ok(['exec', 'cp1', 'cat', '/tmp/in.txt']), 'hello in\n');
  assert.equal((await ok(['exec', 'cp1', 'stat', '-c', '%u:%g', '/tmp/in.txt'])).trim(), '0:0');
  await ok(['cp', '-a', path.join(tmp, 'in.txt'), 'cp1:/tmp/kept.txt']);
  assert.equal((await ok(['exec', 'cp1', 'stat', '-c', '%u:%g', '/tmp/kept.txt'])).trim(), '4321:8765');
  fs.mkdirSync(path.join(tmp, 'tree', 'deep'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'tree', 'deep', 'f'), 'deep\n');
  await ok(['cp', path.join(tmp, 'tree'), 'cp1:/tmp/tree']);
  assert.equal(await ok(['exec', 'cp1', 'cat', '/tmp/tree/deep/f']), 'deep\n');
  // A file onto an existing directory path's name conflict: Docker's error.
  const r = await d.docker(['cp', path.join(tmp, 'in.txt'), 'cp1:/data/sub/']);
  assert.equal(r.code, 0, r.stderr);
  const bad = await d.docker(['cp', path.join(tmp, 'tree'), 'cp1:/data/a.txt']);
  assert.notEqual(bad.code, 0);
});

test('cp on a stopped container both ways', async () => {
  await ok(['create', '--name', 'cp2', 'busybox', 'cat', '/hello.txt']);
  fs.writeFileSync(path.join(tmp, 'hello.txt'), 'from the host\n');
  await ok(['cp', path.join(tmp, 'hello.txt'), 'cp2:/hello.txt']);
  assert.equal((await ok(['start', '-a', 'cp2'])), 'from the host\n');
  await ok(['cp', 'cp2:/hello.txt', path.join(tmp, 'back.txt')]);
  assert.equal(fs.readFileSync(path.join(tmp, 'back.txt'), 'utf8'), 'from the host\n');
  // The stopped container's filesystem is not left mounted.
  const id = (await ok(['inspect', '-f', '{{.Id}}', 'cp2'])).trim();
  const end = Date.now() + 5000;
  while (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(`${id}/merged`) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(`${id}/merged`), 'merged dir left mounted');
});

test('missing paths and bad targets get Docker\'s errors', async () => {
  const r = await d.docker(['cp', 'cp1:/nope', path.join(tmp, 'x')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Could not find the file \/nope in container cp1/);
  const r2 = await d.docker(['cp', path.join(tmp, 'in.txt'), 'cp1:/nodir/sub/']);
  assert.notEqual(r2.code, 0);
  const r3 = await d.docker(['cp', 'nosuch:/x', tmp]);
  assert.match(r3.stderr, /No such container: nosuch/);
});

test('symlinks pointing outside the rootfs stay inside the container', async () => {
  // A host file the link names: it must not be read.
  fs.writeFileSync('/etc/shadow-host-probe', 'HOST SECRET\n');
  try {
    const r = await d.docker(['cp', '-L', 'cp1:/esc/out', path.join(tmp, 'probe')]);
    if (r.code === 0) assert.ok(!fs.readFileSync(path.join(tmp, 'probe'), 'utf8').includes('HOST SECRET'));
    // Writing through a link that climbs out lands in the container's /etc.
    fs.writeFileSync(path.join(tmp, 'evil.txt'), 'evil\n');
    await ok(['cp', path.join(tmp, 'evil.txt'), 'cp1:/esc/up/']);
    assert.ok(!fs.existsSync('/etc/evil.txt'), 'wrote to the host /etc');
    assert.equal(await ok(['exec', 'cp1', 'cat', '/etc/evil.txt']), 'evil\n');
    // A tar with ../ entries is refused.
    const r2 = await run('sh', ['-c', `cd ${tmp} && mkdir -p t && echo x > t/f && tar -cf bad.tar -C t --transform 's,^f,../../../../../tmp/berth-escape-probe,' f && curl -s -o /dev/null -w '%{http_code}' --unix-socket ${d.socket} -X PUT -H 'Content-Type: application/x-tar' --data-binary @bad.tar 'http://x/v1.43/containers/cp1/archive?path=/tmp'`]);
    assert.notEqual(r2.stdout.trim(), '200');
    assert.ok(!fs.existsSync('/tmp/berth-escape-probe'), 'tar escaped');
  } finally {
    fs.rmSync('/etc/shadow-host-probe', { force: true });
    fs.rmSync('/etc/evil.txt', { force: true });
  }
});

test('berth cp both ways', async () => {
  const r = await d.berth(['cp', 'cp1:/data/a.txt', path.join(tmp, 'b-a.txt')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(path.join(tmp, 'b-a.txt'), 'utf8'), 'one\n');
  const r2 = await d.berth(['cp', 'cp1:/data', path.join(tmp, 'b-data')]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(fs.readFileSync(path.join(tmp, 'b-data', 'sub', 'b.txt'), 'utf8'), 'two\n');
  fs.writeFileSync(path.join(tmp, 'b-in.txt'), 'berth in\n');
  const r3 = await d.berth(['cp', path.join(tmp, 'b-in.txt'), 'cp1:/tmp/b-renamed.txt']);
  assert.equal(r3.code, 0, r3.stderr);
  assert.equal(await ok(['exec', 'cp1', 'cat', '/tmp/b-renamed.txt']), 'berth in\n');
  fs.mkdirSync(path.join(tmp, 'btree', 'deep'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'btree', 'deep', 'f'), 'deep\n');
  const r4 = await d.berth(['cp', path.join(tmp, 'btree'), 'cp1:/tmp/']);
  assert.equal(r4.code, 0, r4.stderr + d.logs().split('\n').filter((l) => /archive|error|warn/.test(l)).slice(-8).join('\n'));
  assert.equal(await ok(['exec', 'cp1', 'cat', '/tmp/btree/deep/f']), 'deep\n');
  const r5 = await d.berth(['cp', 'cp1:/nope', tmp]);
  assert.notEqual(r5.code, 0);
  assert.match(r5.stderr, /Could not find the file \/nope/);
});
