// docker cp sees a container's volumes and bind mounts (issue 12 item 4): a
// running container's as it sees them, a stopped container's mounted for the
// copy as Docker does; nothing lands in the container layer under a mount.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
let tmp: string;
let bindDir: string;

const ok = (args: string[]): Promise<string> => d.ok(args);
const mountpoint = async (vol: string): Promise<string> => (await ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', vol])).trim();

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  tmp = fs.mkdtempSync('/tmp/berth-cpvol-');
  bindDir = path.join(tmp, 'bind');
  fs.mkdirSync(bindDir);
  fs.writeFileSync(path.join(bindDir, 'hostfile'), 'from the bind source\n');
  fs.writeFileSync(path.join(tmp, 'f.txt'), 'into the volume\n');
});

after(async () => {
  await d?.docker(['rm', '-f', 'rv', 'sv', 'rov']).catch(() => {});
  await d?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('running container: cp into and out of a volume and a bind mount', async () => {
  await ok(['run', '-d', '--name', 'rv', '-v', 'v1:/vol1', '-v', `${bindDir}:/bind`, '-v', 'v3:/ro:ro', 'busybox', 'sleep', '600']);
  await ok(['cp', path.join(tmp, 'f.txt'), 'rv:/vol1/f.txt']);
  // The container and the volume see it (it did not go under the mount, into the container layer).
  assert.equal(await ok(['exec', 'rv', 'cat', '/vol1/f.txt']), 'into the volume\n');
  assert.equal(fs.readFileSync(path.join(await mountpoint('v1'), 'f.txt'), 'utf8'), 'into the volume\n');
  // HEAD/GET of the mount point itself and of files under it.
  await ok(['cp', 'rv:/vol1', path.join(tmp, 'vol1-out')]);
  assert.equal(fs.readFileSync(path.join(tmp, 'vol1-out', 'f.txt'), 'utf8'), 'into the volume\n');
  await ok(['cp', 'rv:/bind/hostfile', path.join(tmp, 'hostfile-out')]);
  assert.equal(fs.readFileSync(path.join(tmp, 'hostfile-out'), 'utf8'), 'from the bind source\n');
  await ok(['cp', path.join(tmp, 'f.txt'), 'rv:/bind/']);
  assert.equal(fs.readFileSync(path.join(bindDir, 'f.txt'), 'utf8'), 'into the volume\n');
  // A read-only volume refuses as Docker does.
  const ro = await d.docker(['cp', path.join(tmp, 'f.txt'), 'rv:/ro/']);
  assert.notEqual(ro.code, 0);
  assert.match(ro.stderr, /mounted volume is marked read-only/);
});

test('stopped container: its volumes are mounted for the copy, and released after', async () => {
  await ok(['create', '--name', 'sv', '-v', 'v2:/vol2', '-v', `${bindDir}:/bind:ro`, 'busybox', 'true']);
  await ok(['cp', path.join(tmp, 'f.txt'), 'sv:/vol2/f.txt']);
  assert.equal(fs.readFileSync(path.join(await mountpoint('v2'), 'f.txt'), 'utf8'), 'into the volume\n');
  assert.equal(await ok(['run', '--rm', '-v', 'v2:/x', 'busybox', 'cat', '/x/f.txt']), 'into the volume\n');
  await ok(['cp', 'sv:/vol2/f.txt', path.join(tmp, 'stopped-out')]);
  assert.equal(fs.readFileSync(path.join(tmp, 'stopped-out'), 'utf8'), 'into the volume\n');
  await ok(['cp', 'sv:/bind/hostfile', path.join(tmp, 'stopped-bind-out')]);
  assert.equal(fs.readFileSync(path.join(tmp, 'stopped-bind-out'), 'utf8'), 'from the bind source\n');
  const ro = await d.docker(['cp', path.join(tmp, 'f.txt'), 'sv:/bind/']);
  assert.match(ro.stderr, /mounted volume is marked read-only/);
  // The volume mounts lived in the helper's private mount namespace only; the rootfs is unmounted again.
  const id = (await ok(['inspect', '-f', '{{.Id}}', 'sv'])).trim();
  const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  assert.ok(!mountinfo.includes(`${id}/merged`), 'merged dir left mounted');
  assert.ok(!mountinfo.includes(bindDir), 'a bind mount leaked into the host namespace');
});

test('read-only rootfs: cp into a volume works, into the rootfs is refused', async () => {
  await ok(['run', '-d', '--read-only', '--name', 'rov', '-v', 'v4:/data', 'busybox', 'sleep', '600']);
  await ok(['cp', path.join(tmp, 'f.txt'), 'rov:/data/']);
  assert.equal(await ok(['exec', 'rov', 'cat', '/data/f.txt']), 'into the volume\n');
  const r = await d.docker(['cp', path.join(tmp, 'f.txt'), 'rov:/']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /container rootfs is marked read-only/);
  // Reading from a read-only rootfs works.
  await ok(['cp', 'rov:/etc/passwd', path.join(tmp, 'passwd')]);
  assert.match(fs.readFileSync(path.join(tmp, 'passwd'), 'utf8'), /^root:/);
});
