// The addon's overlay mount and unmount on libuv's pool (mountOverlayAsync,
// umountAsync), which the storage driver and the namespace teardown use so
// the JS thread does not wait on the kernel's mount lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fsrootNative } from '../src/host/native/addon';

function mounted(p: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);
}

test('an overlay mounts and unmounts off the JS thread; failures carry the errno name', async () => {
  const n = fsrootNative();
  assert.ok(n.mountOverlayAsync && n.umountAsync, 'native/fsroot lacks the async mount calls: rebuild it (npm run build:native)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-mount-'));
  try {
    for (const d of ['l', 'u', 'w', 'm']) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, 'l', 'f'), 'lower');
    const m = path.join(dir, 'm');
    await n.mountOverlayAsync(`lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w`, m);
    assert.ok(mounted(m));
    assert.equal(fs.readFileSync(path.join(m, 'f'), 'utf8'), 'lower');
    // busy while a file is open in it; a lazy detach still works
    const fd = fs.openSync(path.join(m, 'f'), 'r');
    await assert.rejects(n.umountAsync(m, false), (e: NodeJS.ErrnoException) => e.code === 'EBUSY');
    await n.umountAsync(m, true);
    fs.closeSync(fd);
    assert.equal(mounted(m), false);
    await assert.rejects(n.umountAsync(m, false), (e: NodeJS.ErrnoException) => e.code === 'EINVAL' && e.message.includes(m));
    await assert.rejects(n.mountOverlayAsync(`lowerdir=${dir}/nonexistent,upperdir=${dir}/u,workdir=${dir}/w`, m), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.equal(mounted(m), false);
    assert.throws(() => n.umountAsync!('', false), /target path/);
  } finally {
    try { fsrootNative().umount(path.join(dir, 'm'), true); } catch { /* not mounted */ }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
