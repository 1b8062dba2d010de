// Volumes in containers through the docker CLI: named volumes that outlive
// their container, anonymous volumes (-v /path and the image's VOLUME),
// bind mounts, --mount, --tmpfs, --volumes-from, copy-up of image content,
// rm -v, in-use refusal, Mounts in inspect, local driver option volumes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});
after(async () => {
  await d?.stop();
});

async function ok(args: string[]): Promise<string> {
  const r = await d.docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}\n${d.logs().slice(-2000)}`);
  return r.stdout.trim();
}

test('a named volume keeps its data after its container is removed', async () => {
  await ok(['run', '--name', 'writer', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo persisted > /data/f']);
  const m = JSON.parse(await ok(['inspect', 'writer']))[0].Mounts;
  assert.deepEqual(m, [{ Type: 'volume', Name: 'keep', Source: path.join(d.dataRoot, 'volumes', 'keep', '_data'), Destination: '/data', Driver: 'local', Mode: '', RW: true, Propagation: '' }]);
  const inUse = await d.docker(['volume', 'rm', 'keep']);
  assert.notEqual(inUse.code, 0);
  assert.match(inUse.stderr, /volume is in use/);
  await ok(['rm', '-v', 'writer']);
  assert.equal(await ok(['run', '--rm', '-v', 'keep:/d:ro', 'busybox', 'cat', '/d/f']), 'persisted');
  const ro = await d.docker(['run', '--rm', '-v', 'keep:/d:ro', 'busybox', 'sh', '-c', 'echo x > /d/g']);
  assert.notEqual(ro.code, 0, 'read-only volume refuses writes');
  await ok(['volume', 'rm', 'keep']);
});

test('anonymous volumes from -v /path and the image VOLUME; rm -v removes only anonymous ones; copy-up keeps owners and modes', async () => {
  // An image with content owned by a user, and a VOLUME over it.
  await ok(['run', '--name', 'base', 'busybox', 'sh', '-c', 'mkdir -p /srv/app && echo seed > /srv/app/f && chown 1234:2345 /srv/app/f && chmod 640 /srv/app/f && chown 1234:2345 /srv/app && chmod 750 /srv/app']);
  await ok(['commit', '--change', 'VOLUME /srv/app', 'base', 'volimg']);
  await ok(['rm', 'base']);
  await ok(['create', '--name', 'anon', '-v', '/scratch', '-v', 'named1:/named', 'volimg', 'sh', '-c', 'stat -c "%u:%g %a" /srv/app /srv/app/f; cat /srv/app/f']);
  await ok(['start', '-a', 'anon']).then((out) => {
    assert.equal(out, '1234:2345 750\n1234:2345 640\nseed');
  });
  const mounts = JSON.parse(await ok(['inspect', 'anon']))[0].Mounts as any[];
  const byDest = Object.fromEntries(mounts.map((m) => [m.Destination, m]));
  assert.deepEqual(Object.keys(byDest).sort(), ['/named', '/scratch', '/srv/app']);
  assert.match(byDest['/scratch'].Name, /^[0-9a-f]{64}$/);
  assert.match(byDest['/srv/app'].Name, /^[0-9a-f]{64}$/);
  const dataFile = path.join(byDest['/srv/app'].Source, 'f');
  const st = fs.statSync(dataFile);
  assert.equal(st.uid, 1234);
  assert.equal(st.mode & 0o777, 0o640);
  await ok(['rm', '-v', 'anon']);
  const left = (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean);
  assert.deepEqual(left, ['named1'], 'anonymous volumes removed, the named one kept');
  await ok(['volume', 'rm', 'named1']);
});

test('bind mounts: -v creates a missing source, --mount type=bind refuses it; read-only binds', async () => {
  const src = path.join(d.root, 'bind-src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'hello'), 'from-host');
  assert.equal(await ok(['run', '--rm', '-v', `${src}:/h:ro`, 'busybox', 'cat', '/h/hello']), 'from-host');
  const roW = await d.docker(['run', '--rm', '-v', `${src}:/h:ro`, 'busybox', 'touch', '/h/x']);
  assert.notEqual(roW.code, 0);
  await ok(['run', '--rm', '--mount', `type=bind,source=${src},target=/m`, 'busybox', 'sh', '-c', 'echo back > /m/out']);
  assert.equal(fs.readFileSync(path.join(src, 'out'), 'utf8'), 'back\n');
  const missing = path.join(d.root, 'made-by-v');
  await ok(['run', '--rm', '-v', `${missing}:/x`, 'busybox', 'true']);
  assert.ok(fs.statSync(missing).isDirectory(), '-v created the missing source');
  const nope = path.join(d.root, 'not-there');
  const r = await d.docker(['run', '--rm', '--mount', `type=bind,source=${nope},target=/x`, 'busybox', 'true']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bind source path does not exist/);
  assert.ok(!fs.existsSync(nope));
  const ins = JSON.parse(await ok(['inspect', (await ok(['create', '-v', `${src}:/h:ro`, 'busybox', 'true']))]))[0].Mounts[0];
  assert.deepEqual(ins, { Type: 'bind', Source: src, Destination: '/h', Mode: 'ro', RW: false, Propagation: 'rprivate' });
});

test('--mount type=volume and tmpfs, --tmpfs, --volumes-from', async () => {
  await ok(['run', '-d', '--name', 'holder', '--mount', 'type=volume,source=shared,target=/shared', '--mount', 'type=tmpfs,target=/t,tmpfs-size=1m', '--tmpfs', '/run2:size=2m', 'busybox', 'sh', '-c', 'echo held > /shared/x; sleep 300']);
  const fsTypes = await ok(['exec', 'holder', 'sh', '-c', 'grep -E " /(t|run2) " /proc/mounts | cut -d" " -f1-3']);
  assert.match(fsTypes, /tmpfs \/t tmpfs/);
  assert.match(fsTypes, /tmpfs \/run2 tmpfs/);
  const out = await ok(['run', '--rm', '--volumes-from', 'holder:ro', 'busybox', 'sh', '-c', 'cat /shared/x; touch /shared/y 2>/dev/null && echo writable || echo readonly']);
  assert.equal(out, 'held\nreadonly');
  await ok(['rm', '-f', 'holder']);
  await ok(['volume', 'rm', 'shared']);
});

test('local driver option volumes (tmpfs) are mounted while used; bad specs are refused', async () => {
  await ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', 'tv']);
  const out = await ok(['run', '--rm', '-v', 'tv:/tv', 'busybox', 'sh', '-c', 'grep " /tv " /proc/mounts | cut -d" " -f3']);
  assert.equal(out, 'tmpfs');
  await ok(['volume', 'rm', 'tv']);
  const bad = await d.docker(['run', '--rm', '-v', 'x/y:/data', 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
  const rel = await d.docker(['run', '--rm', '--mount', 'type=volume,source=v1,target=relative', 'busybox', 'true']);
  assert.notEqual(rel.code, 0);
  assert.match(rel.stderr, /must be absolute/);
  assert.equal((await ok(['volume', 'ls', '-q'])), '', 'failed creates left no volumes');
});
