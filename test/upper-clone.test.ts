// The commit path that makes a layer from a container's upper dir without
// its tar (upper-clone.ts) must make what extracting packDir's tar makes:
// the same diffID and size, the same files (content, mode, owner, mtime,
// xattrs, links, whiteouts, opaque dirs), and a tar-split that makes that
// same tar again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { LayerStore, stageTar } from '../src/host/storage/layers';
import { packDir } from '../src/host/storage/tar-pack';
import { regenerateTar } from '../src/host/storage/tar-split';
import { cloneAvailable } from '../src/host/storage/upper-clone';
import { PassThrough } from 'node:stream';

let root: string;
let store: LayerStore;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-upperclone-'));
  store = new LayerStore(path.join(root, 'layers'));
  await store.init();
});

after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** An upper dir with one of everything a container leaves. */
function makeUpper(dir: string): void {
  fs.mkdirSync(path.join(dir, 'etc/app'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'etc/app/conf'), 'key=value\n');
  fs.writeFileSync(path.join(dir, 'empty'), '');
  fs.writeFileSync(path.join(dir, 'big.bin'), randomBytes(3 * 1024 * 1024 + 17));
  fs.chmodSync(path.join(dir, 'big.bin'), 0o4755);
  fs.chownSync(path.join(dir, 'etc/app/conf'), 1234, 5678);
  fs.symlinkSync('etc/app/conf', path.join(dir, 'link-to-conf'));
  fs.linkSync(path.join(dir, 'etc/app/conf'), path.join(dir, 'hard'));
  execFileSync('mknod', ['-m', '0', path.join(dir, 'gone'), 'c', '0', '0']); // an overlay whiteout
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  fs.mkdirSync(path.join(dir, 'opaque'));
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(dir, 'opaque')]);
  fs.writeFileSync(path.join(dir, 'opaque/inside'), 'x');
  execFileSync('setfattr', ['-n', 'user.note', '-v', 'hello', path.join(dir, 'big.bin')]);
  const long = path.join(dir, 'd'.repeat(90), 'e'.repeat(90));
  fs.mkdirSync(long, { recursive: true });
  fs.writeFileSync(path.join(long, 'f'.repeat(60)), 'long name');
  fs.utimesSync(path.join(dir, 'etc'), 1_600_000_000, 1_600_000_000);
}

/** Everything about a tree that a layer keeps, as text. */
function describe(dir: string): string {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      let extra = '';
      if (st.isFile()) extra = createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16) + ` n${st.nlink}`;
      if (st.isSymbolicLink()) extra = fs.readlinkSync(p);
      if (st.isCharacterDevice()) extra = `rdev ${st.rdev}`;
      let xattrs = '';
      try {
        xattrs = execFileSync('getfattr', ['-h', '-d', '-m', '-', '--absolute-names', p], { encoding: 'utf8' }).split('\n').filter((l) => l && !l.startsWith('#')).join(',');
      } catch { /* none */ }
      // A whiteout's time is when it was made, by either path.
      const mtime = st.isCharacterDevice() && st.rdev === 0 ? '-' : Math.floor(st.mtimeMs / 1000);
      out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${mtime} ${extra} ${xattrs}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out.join('\n');
}

async function sha256Of(s: NodeJS.ReadableStream): Promise<string> {
  const h = createHash('sha256');
  for await (const c of s as AsyncIterable<Buffer>) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

test('a layer cloned from an upper dir is the one its tar extracts to, tar-split included', { skip: !cloneAvailable() && 'the addon has no copy ops' }, async () => {
  const upper = path.join(root, 'upper');
  fs.mkdirSync(upper);
  makeUpper(upper);

  const tap = new PassThrough({ highWaterMark: 1 << 20 });
  const preparing = store.prepare(tap, { split: true, patient: true });
  const staged = await stageTar(packDir(upper, { overlay: true }), undefined, tap);
  const viaTar = await preparing;

  const cloned = await store.prepareUpper(upper);
  assert.ok(cloned, 'the clone ran');
  assert.equal(cloned.diffId, staged.diffId);
  assert.equal(cloned.tarSize, staged.tarSize);
  assert.equal(cloned.prepared.size, viaTar.size);
  assert.ok(cloned.entries > 0);
  assert.equal(describe(path.join(cloned.prepared.dir, 'diff')), describe(path.join(viaTar.dir, 'diff')));
  // The tar made again from the clone's files is the layer's.
  assert.equal(await sha256Of(regenerateTar(cloned.prepared.dir)), staged.diffId);
  await store.discard(viaTar);
  await store.discard(cloned.prepared);
});

test('an empty upper dir clones to a tar of only its end blocks', { skip: !cloneAvailable() && 'the addon has no copy ops' }, async () => {
  const upper = path.join(root, 'empty-upper');
  fs.mkdirSync(upper);
  const cloned = await store.prepareUpper(upper);
  assert.ok(cloned);
  assert.equal(cloned.entries, 0);
  assert.equal(cloned.tarSize, 1024);
  assert.equal(cloned.diffId, `sha256:${createHash('sha256').update(Buffer.alloc(1024)).digest('hex')}`);
  await store.discard(cloned.prepared);
});

test('an entry the clone cannot make exactly falls back to the tar, leaving no temp layer dir', { skip: !cloneAvailable() && 'the addon has no copy ops' }, async () => {
  const upper = path.join(root, 'old-upper');
  fs.mkdirSync(upper);
  fs.writeFileSync(path.join(upper, 'a'), 'a');
  fs.writeFileSync(path.join(upper, 'old'), 'from before 1970');
  execFileSync('touch', ['-h', '-d', '1960-01-01', path.join(upper, 'old')]); // a header carries it in a PAX record only
  const before = fs.readdirSync(store.dir).filter((n) => n.startsWith('tmp-'));
  assert.equal(await store.prepareUpper(upper), undefined);
  assert.deepEqual(fs.readdirSync(store.dir).filter((n) => n.startsWith('tmp-')), before);
});
