// A container's directories and files in one pool job (fs-batch.c's
// fsBatchAsync, used by the storage driver's createRw): the same tree as
// Node's calls make, failures with the errno name and the op's index,
// bad input refused before anything is done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fsrootNative } from '../src/host/native/addon';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fsb-'));
}

/** Every entry under dir: relative path → type, mode, size, link target, content. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, n);
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        walk(r);
      } else if (st.isSymbolicLink()) out[r] = `link ${fs.readlinkSync(p)}`;
      else out[r] = `file ${mode} ${JSON.stringify(fs.readFileSync(p, 'utf8'))}`;
    }
  };
  walk('');
  return out;
}

test('fsBatchAsync makes dirs, files and links in order; fails with code and index; leaves no temp file', async () => {
  const n = fsrootNative();
  assert.ok(n.fsBatchAsync, 'native/fsroot lacks fsBatchAsync: rebuild it (npm run build:native)');
  const dir = tmp();
  try {
    const d = path.join(dir, 'c');
    await n.fsBatchAsync([
      [0, d, 0o710, false],
      [0, d, 0o710, true], // an existing directory is fine when asked
      [1, path.join(d, 'a'), 'hello\n', 0o644],
      [1, path.join(d, 'b'), Buffer.from([0, 1, 2]), 0o600],
      [2, path.join(d, 'lower'), 'x\ny\n', 0o644],
      [2, path.join(d, 'lower'), 'z\n', 0o644], // renamed over the first
      [3, path.join(d, 'mtab'), '/proc/mounts'],
    ]);
    const umask = process.umask();
    assert.deepEqual(tree(dir), {
      c: `dir ${(0o710 & ~umask).toString(8)}`,
      'c/a': `file ${(0o644 & ~umask).toString(8)} "hello\\n"`,
      'c/b': `file ${(0o600 & ~umask).toString(8)} "\\u0000\\u0001\\u0002"`,
      'c/lower': `file ${(0o644 & ~umask).toString(8)} "z\\n"`,
      'c/mtab': 'link /proc/mounts',
    });
    // a new file never replaces one (O_EXCL), nor follows a symlink; the batch stops at the failure
    await assert.rejects(n.fsBatchAsync([
      [0, path.join(d, 'x'), 0o755, false],
      [1, path.join(d, 'a'), 'again', 0o644],
      [0, path.join(d, 'never'), 0o755, false],
    ]), (e: NodeJS.ErrnoException & { index?: number }) => e.code === 'EEXIST' && e.index === 1 && e.message.includes(path.join(d, 'a')));
    assert.equal(fs.readFileSync(path.join(d, 'a'), 'utf8'), 'hello\n');
    assert.ok(fs.existsSync(path.join(d, 'x')) && !fs.existsSync(path.join(d, 'never')));
    await assert.rejects(n.fsBatchAsync([[1, path.join(d, 'mtab'), 'x', 0o644]]), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
    // mkdir over a file is EEXIST even with existOk; a missing parent is ENOENT
    await assert.rejects(n.fsBatchAsync([[0, path.join(d, 'a'), 0o755, true]]), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
    await assert.rejects(n.fsBatchAsync([[0, path.join(d, 'no/such'), 0o755, false]]), (e: NodeJS.ErrnoException & { index?: number }) => e.code === 'ENOENT' && e.index === 0);
    // a rename's temp file does not outlive a failed rename (target is a non-empty directory)
    fs.mkdirSync(path.join(d, 'full'));
    fs.writeFileSync(path.join(d, 'full', 'f'), '');
    await assert.rejects(n.fsBatchAsync([[2, path.join(d, 'full'), 'x', 0o644]]), (e: NodeJS.ErrnoException) => e.code === 'EISDIR');
    assert.ok(!fs.existsSync(path.join(d, 'full.tmp')));
    // bad input: thrown at once, nothing done
    for (const bad of [
      [[0, path.join(d, 'bad1'), 0o755]],
      [[9, path.join(d, 'bad2'), 0o755, false]],
      [[1, '', 'x', 0o644]],
      [[1, `${d}/nul\0x`, 'x', 0o644]],
      [[3, path.join(d, 'bad3'), '']],
      [[0, path.join(d, 'bad4'), 0o755, false], 'not an op'],
    ]) {
      assert.throws(() => n.fsBatchAsync!(bad as never), TypeError, JSON.stringify(bad));
    }
    assert.throws(() => n.fsBatchAsync!(new Array(257).fill([0, path.join(d, 'y'), 0o755, true]) as never), TypeError);
    assert.ok(!fs.existsSync(path.join(d, 'bad1')) && !fs.existsSync(path.join(d, 'bad4')));
    await n.fsBatchAsync([]);
    // [4] a bind mount on a new file (gone again when the mount fails), [5] a lazy unmount and unlink
    fs.writeFileSync(path.join(d, 'src'), 'bound');
    await n.fsBatchAsync([[4, path.join(d, 'dst'), path.join(d, 'src')]]);
    assert.equal(fs.readFileSync(path.join(d, 'dst'), 'utf8'), 'bound');
    await n.fsBatchAsync([[5, path.join(d, 'dst')]]);
    assert.ok(!fs.existsSync(path.join(d, 'dst')));
    await assert.rejects(n.fsBatchAsync([[4, path.join(d, 'dst2'), path.join(d, 'no-such')]]), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.ok(!fs.existsSync(path.join(d, 'dst2')));
    await assert.rejects(n.fsBatchAsync([[5, path.join(d, 'dst2')]]), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('createRw makes the same tree with the addon as with Node calls (BERTH_FS_BATCH=0), and cleans up a failure', () => {
  const dir = tmp();
  try {
    const script = `
      const { Overlay2 } = require(${JSON.stringify(path.join(__dirname, '../src/host/storage/overlay2'))});
      (async () => {
        const ov = new Overlay2(process.argv[1]);
        await ov.init();
        const d = ov.containersDir + '/c1';
        await ov.createRw('c1', [], [{ path: d + '/hostname', data: 'h\\n' }, { path: d + '/hosts', data: '127.0.0.1 localhost\\n' }]);
        // a file that exists already: the whole layer goes again, the directory stays
        const d2 = ov.containersDir + '/c2';
        require('fs').mkdirSync(d2, { recursive: true });
        require('fs').writeFileSync(d2 + '/hosts', 'mine');
        const err = await ov.createRw('c2', [], [{ path: d2 + '/hosts', data: 'x' }]).then(() => 'none', (e) => e.code);
        console.log(err, require('fs').readFileSync(d2 + '/hosts', 'utf8'));
        // a file outside the container's directory is refused
        console.log(await ov.createRw('c3', [], [{ path: ov.containersDir + '/x', data: 'x' }]).then(() => 'none', (e) => e.message));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const run = (root: string, env: Record<string, string>) => {
      const r = spawnSync(process.execPath, ['-e', script, root], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split('\n');
    };
    const a = path.join(dir, 'native');
    const b = path.join(dir, 'node');
    const outA = run(a, {});
    const outB = run(b, { BERTH_FS_BATCH: '0' });
    assert.equal(outA[0], 'EEXIST mine');
    assert.equal(outB[0], 'EEXIST mine');
    assert.match(outA[1], /not in the container's directory/);
    const ta = tree(path.join(a, 'containers'));
    assert.deepEqual(ta, tree(path.join(b, 'containers')));
    assert.equal(ta['c1/init/etc/mtab'], 'link /proc/mounts');
    assert.equal(ta['c1/hostname'].endsWith('"h\\n"'), true);
    assert.equal(ta['c1/lower'].endsWith('"\\n"'), true);
    // the failed one left only what was there before
    assert.deepEqual(Object.keys(ta).filter((k) => k.startsWith('c2')).sort(), ['c2', 'c2/hosts']);
    assert.ok(!('c3' in ta));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
