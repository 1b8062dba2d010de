// A full data root must be recoverable through the API: the data root here
// is a 64 MB tmpfs. A container that fills it exits normally (no hang, no
// unhandled rejection), `rm -f` and `container prune` free it, a volume
// create that failed leaves nothing that breaks the next one, and a failed
// load rolls back. Removal may use the data root's space reserve.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TestDaemon, waitFor } from './helpers/daemon';
import { writeBigImageArchive } from './fixtures/big-image';

let d: TestDaemon;

before(async () => {
  d = new TestDaemon();
  fs.mkdirSync(d.dataRoot, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0711', 'tmpfs', d.dataRoot]);
  await d.start();
  await d.loadBusybox();
});
after(async () => {
  await d?.stop();
});

const ok = (args: string[], timeout?: number): Promise<string> => d.ok(args, timeout).then((s) => s.trim());

function freeBytes(): number {
  const s = fs.statfsSync(d.dataRoot);
  return s.bavail * s.bsize;
}

const MB = 1024 * 1024;

/** Nothing half-made in the data root: no staging files, temp layers, temp or trash volume dirs. */
function assertNoLeftovers(where: string): void {
  const left = [
    ...fs.readdirSync(path.join(d.dataRoot, 'blobs', 'tmp')).map((n) => `blobs/tmp/${n}`),
    ...fs.readdirSync(path.join(d.dataRoot, 'layers')).filter((n) => n.startsWith('tmp-')).map((n) => `layers/${n}`),
    ...fs.readdirSync(path.join(d.dataRoot, 'volumes')).filter((n) => n.startsWith('.')).map((n) => `volumes/${n}`),
  ];
  assert.deepEqual(left, [], where);
}

test('a container that fills the data root exits; rm -f frees it; the reserve comes back', async () => {
  // The run ends (it hung for minutes before: the exit could not be recorded). Its
  // output may be lost: conmon cannot write the log on a full disk.
  const r = await d.docker(['run', '--name', 'filler', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/fill bs=1M count=200; exit 3'], { timeout: 30_000 });
  assert.equal(r.code, 3, r.stderr);
  assert.doesNotMatch(d.logs(), /unhandled rejection|UnhandledPromiseRejection/i);
  assert.ok(freeBytes() < 2 * MB, `data root full: ${freeBytes()} bytes free`);
  assert.equal(await ok(['inspect', '-f', '{{.State.Status}}', 'filler']), 'exited');
  assert.match(d.logs(), /released the space reserve/, 'the exit record needed the reserve');
  await ok(['rm', '-f', 'filler']);
  assert.equal(await ok(['ps', '-aq']), '');
  assert.ok(freeBytes() > 30 * MB, `space back: ${freeBytes()}`);
  assert.ok(fs.existsSync(path.join(d.dataRoot, 'space-reserve')), 'reserve refilled after the removal');
  assert.doesNotMatch(d.logs(), /unhandled rejection|UnhandledPromiseRejection/i);
});

test('on a full disk a running container is removed with rm -f, stopped ones with container prune', async () => {
  await ok(['run', '--name', 'stopped1', 'busybox', 'true']);
  await ok(['run', '-d', '--name', 'hog', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/fill bs=1M count=200; sleep 300']);
  await waitFor(async () => freeBytes() < 2 * MB, 30_000, 'disk full');
  // Something that needs a record fails now, and the reserve is still there for removals.
  await ok(['run', '--name', 'stopped2', 'busybox', 'true']).catch(() => {});
  await ok(['rm', '-f', 'hog']);
  await ok(['container', 'prune', '-f']);
  assert.equal(await ok(['ps', '-aq']), '');
  const statuses = await ok(['ps', '-a', '--format', '{{.Status}}']);
  assert.doesNotMatch(statuses, /Removal In Progress|Dead/);
  assert.doesNotMatch(d.logs(), /unhandled rejection|UnhandledPromiseRejection/i);
});

/**
 * Removed containers' rw layers are deleted off the removal's path (trash/);
 * a test that measures free space waits until the last test's are gone, or
 * they free space under it (seen on a loaded CI machine).
 */
async function trashEmptied(): Promise<void> {
  await waitFor(async () => fs.readdirSync(path.join(d.dataRoot, 'trash')).length === 0, 30_000, 'trash emptied');
}

test('a volume create that fails on a full disk leaves nothing; the retry works once there is room', async () => {
  await trashEmptied();
  await ok(['run', '-d', '--name', 'hog2', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/fill bs=1M count=200; sleep 300']);
  await waitFor(async () => freeBytes() < 2 * MB, 30_000, 'disk full');
  // Fill what little is left, so a volume's record cannot be written: the
  // database's WAL may still have room for a few (or many) records, so
  // create until one fails (bounded).
  let made = 0;
  let failed = false;
  while (!failed && made < 300) {
    if ((await d.docker(['volume', 'create', `v${made}`])).code !== 0) failed = true;
    else made++;
  }
  assert.ok(failed, `a create failed for want of space (${made} fitted)`);
  await ok(['rm', '-f', 'hog2']);
  for (let i = 0; i <= made; i++) await ok(['volume', 'create', `v${i}`]);
  const vols = (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();
  assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'volumes')).sort(), vols);
  await ok(['volume', 'rm', ...vols]);
  assertNoLeftovers('after volumes');
});

test('a load that does not fit rolls back; one that fits succeeds', async () => {
  // An image with an 8 MB incompressible layer.
  const size = 8 * MB;
  const archive = path.join(d.root, 'big.tar');
  await writeBigImageArchive(archive, size / MB);
  // Leave too little room for it (its own size).
  await trashEmptied();
  const archiveSize = fs.statSync(archive).size;
  await ok(['run', '-d', '--name', 'hog3', 'busybox', 'sh', '-c', `dd if=/dev/zero of=/fill bs=1M count=${Math.floor((freeBytes() - archiveSize) / MB)}; sleep 300`]);
  await waitFor(async () => freeBytes() < archiveSize + 2 * MB, 20_000, 'hog3 filled the disk');
  const r = await d.docker(['load', '-i', archive]);
  assert.notEqual(r.code, 0, 'the load did not fit');
  assert.notEqual((await d.docker(['image', 'inspect', 'bigimg'])).code, 0, 'no partial image');
  assertNoLeftovers('after a failed load');
  await ok(['rm', '-f', 'hog3']);
  // hog3's layer leaves through the trash off the removal's path: the load that fits needs its space
  await trashEmptied();
  // The space a load needs at its peak and keeps, sampled from the filesystem.
  const base = freeBytes();
  let lowest = base;
  const sampler = setInterval(() => (lowest = Math.min(lowest, freeBytes())), 2);
  try {
    await ok(['load', '-i', archive]);
  } finally {
    clearInterval(sampler);
  }
  lowest = Math.min(lowest, freeBytes());
  const peak = (base - lowest) / archiveSize;
  const kept = (base - freeBytes()) / archiveSize;
  console.log(`load of a ${(archiveSize / MB).toFixed(1)} MB archive: peak ${peak.toFixed(2)}x its size, keeps ${kept.toFixed(2)}x`);
  assert.equal(await ok(['run', '--rm', 'bigimg', 'sh', '-c', 'wc -c < /big']), String(size));
  await ok(['rmi', 'bigimg']);
  assertNoLeftovers('after load');
});
