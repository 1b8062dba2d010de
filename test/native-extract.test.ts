// The addon's extractor (native/fsroot/tar-extract.c) against the JS one
// (tar-apply.ts, BERTH_EXTRACT_TREE=0): the same files, modes, owners,
// times, xattrs and tar-split from the same tar, and the same errors for
// hostile ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { applyTar } from '../src/host/storage/tar-apply';
import { InvalidParameter } from '../src/util/errors';
import { SplitRecorder, regenerateTar } from '../src/host/storage/tar-split';
import { nativeExtractor } from '../src/host/storage/native-extract';
import { fsrootNative } from '../src/host/native/addon';
import { makeTar, type TarEntry } from './helpers/tar';

let root: string;
before(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-native-extract-')); });
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Extracts `t` into a new layer dir, by the addon (with its create thread if `thread`) or (js) by tar-apply.ts, cut into `cut`-byte chunks. */
async function extract(t: Buffer, js: boolean, cut = 777, thread = false): Promise<{ dir: string; size: number }> {
  const dir = fs.mkdtempSync(path.join(root, js ? 'js-' : 'native-'));
  fs.mkdirSync(path.join(dir, 'diff'));
  const chunks: Buffer[] = [];
  for (let i = 0; i < t.length; i += cut) chunks.push(t.subarray(i, i + cut));
  const rec = new SplitRecorder(dir);
  if (js) process.env.BERTH_EXTRACT_TREE = '0';
  if (thread) process.env.BERTH_EXTRACT_THREAD = '1';
  try {
    const { size } = await applyTar(Readable.from(chunks), path.join(dir, 'diff'), undefined, rec);
    assert.ok(await rec.save(), `tar-split saved (${rec.broken})`);
    return { dir, size };
  } finally {
    delete process.env.BERTH_EXTRACT_TREE;
    delete process.env.BERTH_EXTRACT_THREAD;
  }
}

/** Every path with kind, mode, owner, links, mtime, content or target, rdev and xattrs. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const n = fsrootNative();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const what = st.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : st.isFile() ? `= ${fs.readFileSync(p).toString('hex').slice(0, 64)}` : st.isDirectory() ? 'dir' : `dev ${st.rdev} ${st.mode >> 12}`;
      const xa = n.lxattrs(p).map(([k, v]) => `${k}=${v.toString('hex')}`).sort().join(',');
      // Directories' times follow the run; a whiteout's time is when it was made (neither extractor sets it).
      const whiteout = st.isCharacterDevice() && st.rdev === 0;
      out.push(`${r} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.nlink} ${st.isDirectory() || whiteout ? '' : st.mtimeMs} ${what} ${xa}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

async function sha(s: NodeJS.ReadableStream): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const c of s as AsyncIterable<Buffer>) h.update(c);
  return h.digest('hex');
}

test('the addon extracts a layer as the JS extractor does, tar-split included', async (t) => {
  if (!nativeExtractor()) { t.skip('addon without tarExtractNew'); return; }
  const mtime = new Date('2021-05-06T07:08:09Z');
  const entries: TarEntry[] = [
    { name: 'etc/', type: 'directory', mode: 0o755, mtime },
    { name: 'etc/passwd', body: 'root:x:0:0\n', mtime },
    { name: 'etc/owned', body: 'o', uid: 1234, gid: 4321 },
    { name: 'etc/big', body: crypto.randomBytes(300_000) },
    { name: 'etc/empty', body: '' },
    // A file replaced (its first content set aside for tar-split), then a whiteout over a file with content.
    { name: 'dup', body: 'first' },
    { name: 'dup', body: 'second' },
    { name: 'gone', body: 'soon gone' },
    { name: '.wh.gone', body: '' },
    // A directory with files replaced by a file: what was under it set aside.
    { name: 'tree/a/b', body: 'b' },
    { name: 'tree/c', body: 'c' },
    { name: 'tree', body: 'now a file' },
    // Opaque dir, aufs metadata, a 0:0 char device (a whiteout), devices and a fifo.
    { name: 'opq/', type: 'directory', mode: 0o755 },
    { name: 'opq/.wh..wh..opq', body: '' },
    { name: '.wh..wh.plnk', body: '' },
    { name: 'wdev', type: 'character-device', devmajor: 0, devminor: 0 },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660, uid: 0, gid: 6 },
    { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
    // Xattrs: applied, skipped (overlay's, unknown namespace), binary.
    { name: 'xa', body: 'x', pax: { 'SCHILY.xattr.user.one': 'v1', 'SCHILY.xattr.trusted.overlay.redirect': '/etc', 'SCHILY.xattr.other.ns': 'no' } },
    { name: 'xd/', type: 'directory', mode: 0o755, pax: { 'SCHILY.xattr.user.dir': 'yes' } },
    // Long names (PAX path), setgid parents (owner not implied), special modes.
    { name: 'long/' + 'n'.repeat(150) + '/' + 'f'.repeat(120), body: 'long' },
    { name: 'sg/', type: 'directory', mode: 0o2775, gid: 50 },
    { name: 'sg/in', body: 'in setgid' },
    { name: 'sg/sub/', type: 'directory', mode: 0o755 },
    ...[0o644, 0o755, 0o400, 0o4755, 0o2711, 0o1777, 0o666].map((mode) => ({ name: `modes/${mode.toString(8)}`, body: 'm', mode })),
    // Symlinks followed inside the root, hard links (to a file, over a name, to itself).
    { name: 'l', type: 'symlink', linkname: 'etc', mtime },
    { name: 'l/via', body: 'via link' },
    { name: 'abs', type: 'symlink', linkname: '/etc/../etc' },
    { name: 'abs/via2', body: 'via absolute link' },
    { name: 'hl', type: 'link', linkname: 'etc/passwd' },
    { name: 'etc/owned', type: 'link', linkname: 'etc/big' },
    { name: 'self', body: 's' },
    { name: 'self', type: 'link', linkname: 'self' },
    // The root itself, as a directory and as a file (skipped, its bytes raw in tar-split).
    { name: './', type: 'directory', mode: 0o700 },
    { name: 'late/', type: 'directory', mode: 0o711, mtime },
  ];
  const tarBuf = Buffer.concat([await makeTar(entries), Buffer.alloc(1024)]);
  const want = crypto.createHash('sha256').update(tarBuf).digest('hex');
  const js = await extract(tarBuf, true);
  const nat = await extract(tarBuf, false);
  const nat2 = await extract(tarBuf, false, 1 << 20);
  // With the second create thread (BERTH_EXTRACT_THREAD=1), in small and large batches.
  const thr = await extract(tarBuf, false, 777, true);
  const thr2 = await extract(tarBuf, false, 1 << 20, true);
  assert.equal(nat.size, js.size);
  assert.equal(thr.size, js.size);
  const l = listing(path.join(js.dir, 'diff'));
  for (const x of [nat, nat2, thr, thr2]) assert.deepEqual(listing(path.join(x.dir, 'diff')), l, path.basename(x.dir));
  assert.deepEqual(fs.readdirSync(path.join(nat.dir, 'split-files')).sort(), fs.readdirSync(path.join(js.dir, 'split-files')).sort());
  for (const d of [js.dir, nat.dir, nat2.dir, thr.dir, thr2.dir]) assert.equal(await sha(regenerateTar(d)), want, `${path.basename(d)} makes the same tar again`);
  const diff = path.join(nat.dir, 'diff');
  assert.equal(fs.readFileSync(path.join(diff, 'dup'), 'utf8'), 'second');
  assert.ok(fs.lstatSync(path.join(diff, 'gone')).isCharacterDevice());
  assert.equal(fs.statSync(path.join(diff, 'sg/in')).gid, 0, 'the tar says 0:0: set even in a setgid dir (where a create gives the dir\'s group)');
  assert.deepEqual(fsrootNative().lxattrs(path.join(diff, 'opq')).map(([k, v]) => [k, v.toString()]), [['trusted.overlay.opaque', 'y']]);
  assert.deepEqual(fsrootNative().lxattrs(path.join(diff, 'xa')).map(([k]) => k), ['user.one']);
});

test('hostile tars fail the same way through the addon as through the JS extractor', async (t) => {
  if (!nativeExtractor()) { t.skip('addon without tarExtractNew'); return; }
  const outside = fs.mkdtempSync(path.join(root, 'outside-'));
  const cases: Array<[string, Buffer]> = [
    ['dotdot', await makeTar([{ name: '../../escape', body: 'x' }])],
    ['absolute', await makeTar([{ name: '/etc/evil', body: 'x' }])],
    ['symlink escape', await makeTar([{ name: 'evil', type: 'symlink', linkname: '../../../../../../..' + outside }, { name: 'evil/pwned', body: 'x' }])],
    ['symlink chain escape', await makeTar([
      { name: 'd/', type: 'directory' }, { name: 'd/up', type: 'symlink', linkname: '..' },
      { name: 'd/up2', type: 'symlink', linkname: 'up/..' }, { name: 'd/up2/pwned', body: 'x' },
    ])],
    ['symlink loop', await makeTar([{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', body: 'x' }])],
    ['parent is a file', await makeTar([{ name: 'p', body: 'p' }, { name: 'p/c', body: 'c' }])],
    ['hardlink out', await makeTar([{ name: 'h', type: 'link', linkname: '../../../../etc/passwd' }])],
    ['hardlink missing', await makeTar([{ name: 'h', type: 'link', linkname: 'nope' }])],
    ['hardlink to a dir', await makeTar([{ name: 'd/', type: 'directory' }, { name: 'h', type: 'link', linkname: 'd' }])],
    ['hardlink to the root', await makeTar([{ name: 'h', type: 'link', linkname: './' }])],
    ['whiteout of ..', await makeTar([{ name: 'd/.wh...', body: '' }])],
    ['whiteout of nothing', await makeTar([{ name: '.wh.', body: '' }])],
    ['empty xattr name', await makeTar([{ name: 'f', body: 'x', pax: { 'SCHILY.xattr.': 'v' } }])],
    ['xattr name with a control character', await makeTar([{ name: 'f', body: 'x', pax: { 'SCHILY.xattr.user.a\u0001': 'v' } }])],
    ['xattr value too large', await makeTar([{ name: 'f', body: 'x', pax: { 'SCHILY.xattr.user.big': 'v'.repeat(70000) } }])],
    ['truncated', await makeTar([{ name: 'big', body: 'y'.repeat(5000) }], { truncate: 2048 })],
    ['half a header', (await makeTar([{ name: 'a', body: 'a' }])).subarray(0, 1024 + 100)],
    ['bad checksum', (() => { const b = Buffer.alloc(1024); b.write('name', 0); b.write('ustar\u000000', 257, 'latin1'); return b; })()],
  ];
  for (const [what, tarBuf] of cases) {
    const errs: string[] = [];
    for (const js of [true, false]) {
      const dir = fs.mkdtempSync(path.join(root, 'bad-'));
      fs.mkdirSync(path.join(dir, 'diff'));
      if (js) process.env.BERTH_EXTRACT_TREE = '0';
      try {
        await assert.rejects(applyTar(Readable.from([tarBuf]), path.join(dir, 'diff')), (e: unknown) => { errs.push(`${e instanceof InvalidParameter ? 'InvalidParameter' : 'Error'}: ${(e as Error).message}`); return true; }, what);
      } finally {
        delete process.env.BERTH_EXTRACT_TREE;
      }
    }
    assert.equal(errs[1], errs[0], what);
    assert.match(errs[1], /^InvalidParameter: invalid tar (entry|archive)/, what);
  }
  assert.deepEqual(fs.readdirSync(outside), []);
});
