// overlay2 driver and secure layer extraction, on real overlay mounts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import * as tar from 'tar-stream';
import { Overlay2 } from '../src/host/storage/overlay2';
import { stageTar, chainIdsOf } from '../src/host/storage/layers';
import { InvalidParameter } from '../src/util/errors';
import { applyTar } from '../src/host/storage/tar-apply';
import { TarStall } from '../src/host/storage/stall-watch';
import { PoolCreates } from '../src/host/storage/pool-creates';
import crypto from 'node:crypto';

import { makeTar } from './helpers/tar';

let root: string;
let ov: Overlay2;
let n = 0;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-storage-'));
  ov = new Overlay2(root);
  await ov.init();
});

after(async () => {
  for (const c of fs.readdirSync(path.join(root, 'containers'))) await ov.removeRw(c).catch(() => {});
  fs.rmSync(root, { recursive: true, force: true });
});

/** Stages and applies layers on top of each other; returns chain ids. */
async function applyLayers(tars: Buffer[]): Promise<string[]> {
  const diffIds: string[] = [];
  const staged: string[] = [];
  for (const t of tars) {
    const s = await stageTar(Readable.from([t]), path.join(root, `stage-${n++}.tar`));
    diffIds.push(s.diffId);
    staged.push(s.file);
  }
  const chains = chainIdsOf(diffIds);
  for (let i = 0; i < chains.length; i++) {
    await ov.layers.apply(chains[i], staged[i]);
    fs.rmSync(staged[i]);
  }
  return chains;
}

function layerDirs(): string[] {
  return fs.readdirSync(path.join(root, 'layers')).filter((x) => x !== 'l' && x !== 'empty').sort();
}

test('whiteouts and opaque dirs in an upper layer hide lower content once mounted', async () => {
  const lower = await makeTar([
    { name: 'a/', type: 'directory', mode: 0o755 },
    { name: 'a/keep', body: 'keep' },
    { name: 'a/gone', body: 'gone' },
    { name: 'b/', type: 'directory', mode: 0o755 },
    { name: 'b/x', body: 'x' },
    { name: 'link', type: 'symlink', linkname: '/a/keep' },
    { name: 'suid', body: 's', mode: 0o4755, uid: 1234, gid: 99 },
  ]);
  const upper = zlib.gzipSync(await makeTar([
    { name: 'a/', type: 'directory', mode: 0o755 },
    { name: 'a/.wh.gone' },
    { name: 'b/', type: 'directory', mode: 0o755 },
    { name: 'b/.wh..wh..opq' },
    { name: 'b/y', body: 'y' },
  ]));
  const chains = await applyLayers([lower, upper]);
  const ud = ov.layerPath(chains[1]);
  const wh = fs.lstatSync(path.join(ud, 'a/gone'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'OCI whiteout became an overlay whiteout');
  const st = fs.statSync(path.join(ov.layerPath(chains[0]), 'suid'));
  assert.equal(st.mode & 0o7777, 0o4755);
  assert.equal(st.uid, 1234);
  assert.equal(st.gid, 99);

  await ov.createRw('c1', chains);
  const m = await ov.mount('c1');
  assert.equal(await ov.mount('c1'), m, 'mount is idempotent');
  assert.equal(fs.readFileSync(path.join(m, 'a/keep'), 'utf8'), 'keep');
  assert.equal(fs.existsSync(path.join(m, 'a/gone')), false);
  assert.equal(fs.existsSync(path.join(m, 'b/x')), false, 'opaque dir hides lower entries');
  assert.equal(fs.readFileSync(path.join(m, 'b/y'), 'utf8'), 'y');
  assert.equal(fs.readlinkSync(path.join(m, 'link')), '/a/keep');

  // Change things in the container and read them back as diff and tar.
  fs.rmSync(path.join(m, 'a/keep'));
  fs.writeFileSync(path.join(m, 'a/new'), 'new');
  fs.writeFileSync(path.join(m, 'suid'), 'changed');
  const ch = await ov.changes('c1');
  assert.deepEqual(ch, [
    { Path: '/a', Kind: 0 },
    { Path: '/a/keep', Kind: 2 },
    { Path: '/a/new', Kind: 1 },
    { Path: '/suid', Kind: 0 },
  ]);
  const names: string[] = [];
  const ex = tar.extract();
  const diff = ov.diffTar('c1');
  (diff as any).pipe(ex);
  for await (const e of ex) { names.push(e.header.name); e.resume(); }
  assert.deepEqual(names, ['a', 'a/.wh.keep', 'a/new', 'suid']);

  // The diff applies as a layer on top and reproduces the view.
  const exported = ov.diffTar('c1');
  const chunks: Buffer[] = [];
  for await (const c of exported as any) chunks.push(c);
  const chains2 = await applyLayers([lower, upper, Buffer.concat(chunks)]);
  assert.equal(chains2[1], chains[1]);
  await ov.createRw('c2', chains2);
  const m2 = await ov.mount('c2');
  assert.equal(fs.existsSync(path.join(m2, 'a/keep')), false);
  assert.equal(fs.readFileSync(path.join(m2, 'a/new'), 'utf8'), 'new');
  await ov.removeRw('c2');

  const exp = await ov.exportTar('c1');
  const expNames: string[] = [];
  const ex2 = tar.extract();
  (exp as any).pipe(ex2);
  for await (const e of ex2) { expNames.push(e.header.name); e.resume(); }
  assert.ok(expNames.includes('a/new') && expNames.includes('b/y') && !expNames.includes('b/x') && !expNames.includes('a/keep'));

  await ov.unmount('c1');
  await ov.unmount('c1'); // tolerates not mounted
  await ov.removeRw('c1');
  assert.equal(fs.existsSync(path.join(root, 'containers/c1/upper')), false);
});

test('120 layers mount fine', async () => {
  const tars: Buffer[] = [];
  for (let i = 0; i < 120; i++) tars.push(await makeTar([{ name: `f${i}`, body: String(i) }]));
  const chains = await applyLayers(tars);
  await ov.createRw('many', chains);
  const m = await ov.mount('many');
  for (let i = 0; i < 120; i++) assert.equal(fs.readFileSync(path.join(m, `f${i}`), 'utf8'), String(i));
  await ov.removeRw('many');
});

test('a zero-layer container still gets a rootfs', async () => {
  await ov.createRw('none', []);
  const m = await ov.mount('none');
  fs.writeFileSync(path.join(m, 'hello'), 'hi');
  assert.deepEqual(await ov.changes('none'), [{ Path: '/hello', Kind: 1 }]);
  await ov.removeRw('none');
});

test('concurrent applies of the same chain extract once', async () => {
  const t = await makeTar([{ name: 'same', body: 'x'.repeat(100000) }]);
  const s1 = await stageTar(Readable.from([t]), path.join(root, 's1.tar'));
  const s2 = await stageTar(Readable.from([t]), path.join(root, 's2.tar'));
  const [a, b] = await Promise.all([ov.layers.apply(s1.diffId, s1.file), ov.layers.apply(s2.diffId, s2.file)]);
  assert.equal([a.created, b.created].filter(Boolean).length, 1);
  assert.equal(a.size, 100000);
  assert.equal(b.size, 100000);
});

test('hostile layer tars are refused and leave nothing behind', async () => {
  const outside = path.join(root, 'outside');
  fs.mkdirSync(outside, { recursive: true });
  const cases: Array<[string, Buffer]> = [
    ['dotdot', await makeTar([{ name: '../../escape', body: 'x' }])],
    ['absolute', await makeTar([{ name: '/etc/evil', body: 'x' }])],
    ['symlink escape', await makeTar([
      { name: 'evil', type: 'symlink', linkname: '../../../../../../../' + outside },
      { name: 'evil/pwned', body: 'x' },
    ])],
    ['symlink chain escape', await makeTar([
      { name: 'd/', type: 'directory' },
      { name: 'd/up', type: 'symlink', linkname: '..' },
      { name: 'd/up2', type: 'symlink', linkname: 'up/..' },
      { name: 'd/up2/pwned', body: 'x' },
    ])],
    ['hardlink out', await makeTar([{ name: 'h', type: 'link', linkname: '../../../../etc/passwd' }])],
    ['hardlink missing', await makeTar([{ name: 'h', type: 'link', linkname: 'nope' }])],
    // Device nodes are accepted now, as Docker does (test/layer-roundtrip.test.ts); odd whiteouts are not.
    ['whiteout of ..', await makeTar([{ name: 'd/.wh...', body: '' }])],
    ['whiteout of nothing', await makeTar([{ name: '.wh.', body: '' }])],
    ['truncated', await makeTar([{ name: 'big', body: 'y'.repeat(5000) }], { truncate: 2048 })],
  ];
  const before = layerDirs();
  for (const [what, t] of cases) {
    const s = await stageTar(Readable.from([t]), path.join(root, `h-${n++}.tar`));
    await assert.rejects(ov.layers.apply(s.diffId, s.file), (e: unknown) => {
      assert.ok(e instanceof InvalidParameter, `${what}: ${(e as Error).stack}`);
      return true;
    }, what);
    assert.equal(ov.layers.exists(s.diffId), false, what);
    fs.rmSync(s.file);
  }
  assert.deepEqual(layerDirs(), before, 'no layer or temp dir left');
  assert.deepEqual(fs.readdirSync(outside), []);
  assert.equal(fs.existsSync(path.join(root, 'escape')), false);
});

test('xattrs from pax headers are kept and written back into diffs', async () => {
  const chains = await applyLayers([await makeTar([
    { name: 'd/', type: 'directory', mode: 0o755 },
    { name: 'd/.wh..wh..opq' },
    { name: 'x', body: 'x', pax: { 'SCHILY.xattr.user.greeting': 'hello' } } as any,
    { name: 'bad', body: 'b', pax: { 'SCHILY.xattr.security.capability': 'garbage', 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } } as any,
  ])]);
  const opq = execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', path.join(ov.layerPath(chains[0]), 'd')]).toString();
  assert.equal(opq, 'y', 'opaque marker kept even when another attribute is refused');
  const bad = execFileSync('getfattr', ['-d', '-m', '-', path.join(ov.layerPath(chains[0]), 'bad')]).toString();
  assert.doesNotMatch(bad, /trusted\.overlay\.redirect/, 'overlay attributes never come from a tar');
  const r = execFileSync('getfattr', ['--only-values', '-n', 'user.greeting', path.join(ov.layerPath(chains[0]), 'x')]).toString();
  assert.equal(r, 'hello');
  await ov.createRw('xa', chains);
  const m = await ov.mount('xa');
  fs.writeFileSync(path.join(m, 'y'), 'y');
  execFileSync('setfattr', ['-n', 'user.mark', '-v', 'yes', path.join(m, 'y')]);
  const ex = tar.extract();
  (ov.diffTar('xa') as any).pipe(ex);
  const seen: Record<string, unknown> = {};
  for await (const e of ex) { seen[e.header.name] = (e.header as any).pax; e.resume(); }
  assert.equal((seen.y as any)?.['SCHILY.xattr.user.mark'], 'yes');
  await ov.removeRw('xa');
});

test('a symlink followed inside the layer is fine', async () => {
  const chains = await applyLayers([await makeTar([
    { name: 'usr/', type: 'directory', mode: 0o755 },
    { name: 'usr/lib/', type: 'directory', mode: 0o755 },
    { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
    { name: 'lib/x', body: 'x' },
    { name: 'abs', type: 'symlink', linkname: '/usr' },
    { name: 'abs/y', body: 'y' },
    { name: 'hl', type: 'link', linkname: 'usr/lib/x' },
  ])]);
  const d = ov.layerPath(chains[0]);
  assert.equal(fs.readFileSync(path.join(d, 'usr/lib/x'), 'utf8'), 'x');
  assert.equal(fs.readFileSync(path.join(d, 'usr/y'), 'utf8'), 'y');
  assert.equal(fs.statSync(path.join(d, 'hl')).ino, fs.statSync(path.join(d, 'usr/lib/x')).ino);
});

test('a stream that is slow to send (an upload) is waited for, not taken for a stall', async () => {
  const t = await makeTar([{ name: 'slow', body: 'late\n' }]);
  const input = new PassThrough();
  const dest = fs.mkdtempSync(path.join(root, 'slow-'));
  const applying = applyTar(input, dest, 200, undefined, true);
  await new Promise((r) => setTimeout(r, 700)); // three watchdog periods with nothing sent
  input.write(t.subarray(0, 512));
  await new Promise((r) => setTimeout(r, 700));
  input.end(t.subarray(512));
  await applying;
  assert.equal(fs.readFileSync(path.join(dest, 'slow'), 'utf8'), 'late\n');
  // The same extractor with everything sent and nothing read would be a stall (below).
});

test('an extraction that stops making progress is an error (TarStall), never a hang', async () => {
  // A fifo whose writer never writes: the extractor gets no input at all.
  const fifo = path.join(root, 'stalled.tar');
  execFileSync('mkfifo', [fifo]);
  const writer = fs.openSync(fifo, fs.constants.O_RDWR);
  const dest = fs.mkdtempSync(path.join(root, 'stall-'));
  try {
    const t0 = Date.now();
    await assert.rejects(applyTar(fifo, dest, 300), (e: unknown) => e instanceof TarStall);
    assert.ok(Date.now() - t0 < 5000, 'noticed within two watchdog periods');
  } finally {
    fs.closeSync(writer);
  }
});

test('entries that depend on a file or symlink still being created on the pool see it made', async () => {
  assert.ok(PoolCreates.open(), 'the addon creates files on the pool (else this test would test nothing)');
  // Enough files before each dependent entry to keep the pool's creates in flight.
  const filler = (p: string) => Array.from({ length: 40 }, (_, i) => ({ name: `${p}${i}`, body: `${p}${i}`.repeat(100) }));
  const mtime = new Date('2020-02-02T02:02:02Z');
  const entries = [
    { name: 'd/', type: 'directory' as const, mode: 0o755 },
    ...filler('a'),
    { name: 'dup', body: 'one' },
    { name: 'dup', body: 'two' },
    { name: 'l', type: 'symlink' as const, linkname: 'd' },
    { name: 'l/x', body: 'through the link' },
    ...filler('b'),
    { name: 'f', body: 'linked', mode: 0o4755, uid: 1234, gid: 4321, mtime },
    { name: 'h', type: 'link' as const, linkname: 'f' },
    { name: 'gone', body: 'gone' },
    { name: '.wh.gone', body: '' },
    { name: 't', body: 'a file first' },
    { name: 't/', type: 'directory' as const, mode: 0o700 },
    { name: 't/in', body: 'inside' },
    ...filler('c'),
  ];
  const dest = fs.mkdtempSync(path.join(root, 'pool-'));
  await applyTar(Readable.from([await makeTar(entries)]), dest);
  const read = (p: string) => fs.readFileSync(path.join(dest, p), 'utf8');
  assert.equal(read('dup'), 'two');
  assert.equal(read('d/x'), 'through the link');
  assert.equal(fs.readlinkSync(path.join(dest, 'l')), 'd');
  const f = fs.statSync(path.join(dest, 'f'));
  assert.equal(fs.statSync(path.join(dest, 'h')).ino, f.ino);
  assert.equal(read('h'), 'linked');
  assert.deepEqual([f.mode & 0o7777, f.uid, f.gid, f.mtime.getTime()], [0o4755, 1234, 4321, mtime.getTime()]);
  const gone = fs.lstatSync(path.join(dest, 'gone'));
  assert.ok(gone.isCharacterDevice() && gone.rdev === 0, 'the file became an overlay whiteout');
  assert.equal(read('t/in'), 'inside');
  for (const p of ['a', 'b', 'c']) for (let i = 0; i < 40; i++) assert.equal(read(`${p}${i}`), `${p}${i}`.repeat(100));

  // A file in flight as a parent is refused as before, and nothing is still being written after the error.
  const bad = fs.mkdtempSync(path.join(root, 'pool-bad-'));
  await assert.rejects(applyTar(Readable.from([await makeTar([...filler('a'), { name: 'p', body: 'p' }, { name: 'p/c', body: 'c' }])]), bad),
    (e: unknown) => e instanceof InvalidParameter && /"p\/c".*not a directory/.test((e as Error).message));
  const after = fs.readdirSync(bad).sort();
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(fs.readdirSync(bad).sort(), after, 'no create finished after the error');
});

/** Every path under `dir` with what it is (kind, mode, owner, link target or content), for comparing extractions. */
function treeListing(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, n);
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const what = st.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : st.isFile() ? `= ${fs.readFileSync(p, 'utf8')}` : st.isDirectory() ? 'dir' : `dev ${st.rdev}`;
      out.push(`${r} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.nlink} ${what}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

test('an empty root is extracted from what the extraction made (no lstat), the same as asking the disk', async () => {
  // Paths replaced mid-tar, in every direction, with entries made through
  // them before and after: the in-memory tree must follow each change.
  const entries = [
    { name: 'a/', type: 'directory' as const, mode: 0o755 },
    { name: 'b/', type: 'directory' as const, mode: 0o755 },
    { name: 'l', type: 'symlink' as const, linkname: 'a' },
    { name: 'l/x', body: 'x' },
    // l becomes a directory: l/y lands in it, not in a/.
    { name: 'l/', type: 'directory' as const, mode: 0o750 },
    { name: 'l/y', body: 'y' },
    // b becomes a symlink to a: b/z follows it.
    { name: 'b/w', body: 'w' },
    { name: 'b', type: 'symlink' as const, linkname: 'a' },
    { name: 'b/z', body: 'z' },
    // A whiteout of a directory, then a symlink in its place, then through it.
    { name: 'c/d/', type: 'directory' as const, mode: 0o755 },
    { name: 'c/d/e/', type: 'directory' as const, mode: 0o755 },
    { name: 'c/d/e/f', body: 'deep' },
    { name: 'c/.wh.d' },
    { name: 'c/d', type: 'symlink' as const, linkname: '../a' },
    { name: 'c/d/f', body: 'f' },
    // An absolute symlink resolves inside the root; ".." at the root stays in it.
    { name: 'abs', type: 'symlink' as const, linkname: '/a' },
    { name: 'abs/g', body: 'g' },
    // A directory replaced by a file, then a file replaced by a directory again.
    { name: 'm/n/', type: 'directory' as const, mode: 0o755 },
    { name: 'm/n/o', body: 'o' },
    { name: 'm', body: 'now a file' },
    { name: 'm/', type: 'directory' as const, mode: 0o711 },
    { name: 'm/p', body: 'p' },
    // What was under the old m/ is gone: m/n is made again on the way.
    { name: 'm/n/o2', body: 'o2' },
    // Hard links: to a file, to a symlink (the link itself), over an existing name.
    { name: 'hl', type: 'link' as const, linkname: 'a/x' },
    { name: 'hs', type: 'link' as const, linkname: 'b' },
    { name: 'hs/q', body: 'q through a hard-linked symlink' },
    { name: 'a/x2', body: 'old' },
    { name: 'a/x2', type: 'link' as const, linkname: 'a/z' },
    // Modes given at open (the umask leaves them whole) and after it (special bits, bits the umask takes).
    ...[0o644, 0o755, 0o400, 0o777, 0o666, 0o4755, 0o2711, 0o1777].map((mode) => ({ name: `modes/${mode.toString(8)}`, body: 'm', mode })),
    // Missing parents made on the way, then given by a later directory entry.
    { name: 'u/v/w', body: 'w' },
    { name: 'u/v/', type: 'directory' as const, mode: 0o700 },
  ];
  const tarBuf = await makeTar(entries);
  const known = fs.mkdtempSync(path.join(root, 'tree-'));
  const disk = fs.mkdtempSync(path.join(root, 'disk-'));
  await applyTar(Readable.from([tarBuf]), known);
  process.env.BERTH_EXTRACT_TREE = '0';
  try {
    await applyTar(Readable.from([tarBuf]), disk);
  } finally {
    delete process.env.BERTH_EXTRACT_TREE;
  }
  const listing = treeListing(known);
  assert.deepEqual(listing, treeListing(disk));
  const read = (p: string) => fs.readFileSync(path.join(known, p), 'utf8');
  assert.equal(read('a/x'), 'x');
  assert.equal(read('l/y'), 'y');
  assert.ok(!fs.existsSync(path.join(known, 'a/y')));
  assert.equal(read('a/z'), 'z');
  assert.equal(read('a/f'), 'f');
  assert.equal(read('a/g'), 'g');
  assert.equal(read('a/q'), 'q through a hard-linked symlink');
  assert.equal(read('m/p'), 'p');
  assert.ok(!fs.existsSync(path.join(known, 'm/n/o')));
  assert.equal(read('m/n/o2'), 'o2');
  assert.equal(fs.statSync(path.join(known, 'a/x2')).ino, fs.statSync(path.join(known, 'a/z')).ino);
  assert.equal(fs.statSync(path.join(known, 'u/v')).mode & 0o7777, 0o700);
  assert.ok(fs.lstatSync(path.join(known, 'c/d')).isSymbolicLink());
  for (const m of fs.readdirSync(path.join(known, 'modes'))) assert.equal((fs.statSync(path.join(known, 'modes', m)).mode & 0o7777).toString(8), m);

  // Escapes through names made earlier in the same tar are refused as before.
  for (const bad of [
    [{ name: 'up', type: 'symlink' as const, linkname: '..' }, { name: 'up/x', body: 'x' }],
    [{ name: 's/', type: 'directory' as const, mode: 0o755 }, { name: 's/t', type: 'symlink' as const, linkname: '../../..' }, { name: 's/t/x', body: 'x' }],
    [{ name: 'f', body: 'f' }, { name: 'f/x', body: 'x' }],
  ]) {
    const dest = fs.mkdtempSync(path.join(root, 'tree-bad-'));
    await assert.rejects(applyTar(Readable.from([await makeTar(bad)]), dest), InvalidParameter);
  }
});

test('the pool hash of a layer is sha256 of its bytes, however they are cut', async () => {
  const bytes = crypto.randomBytes(5 << 20);
  const want = `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
  for (const cut of [777, 64 << 10, 3 << 20]) {
    const chunks: Buffer[] = [];
    for (let o = 0; o < bytes.length; o += cut) chunks.push(bytes.subarray(o, o + cut));
    const s = await stageTar(Readable.from(chunks), path.join(root, `hash-${cut}.tar`));
    assert.equal(s.diffId, want, `cut ${cut}`);
    assert.equal(s.tarSize, bytes.length);
    fs.rmSync(s.file);
  }
});
