// tar-split: a layer extracted with a SplitRecorder makes the same tar again,
// byte for byte, from its files — for tars of every shape an extraction
// meets (PAX and GNU long names, hard links, entries that replace or white
// out earlier ones, bytes after the end blocks), and streamed in odd chunks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { applyTar } from '../src/host/storage/tar-apply';
import { regenerateTar, SplitRecorder, SPLIT_FILE, ASIDE_DIR } from '../src/host/storage/tar-split';

import { makeTar } from './helpers/tar';

let root: string;
let n = 0;

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tarsplit-'));
});

after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) out.push(c);
  return Buffer.concat(out);
}

/** Splits a buffer into chunks of the given sizes (cycled), as a stream. */
function chunked(b: Buffer, sizes: number[]): Readable {
  const parts: Buffer[] = [];
  for (let off = 0, i = 0; off < b.length; i++) {
    const k = sizes[i % sizes.length];
    parts.push(Buffer.from(b.subarray(off, off + k)));
    off += k;
  }
  return Readable.from(parts);
}

/** Extracts `t` with a recorder into a fresh layer dir; returns the dir, and whether a split was saved. */
async function extract(t: Buffer | string, sizes?: number[]): Promise<{ dir: string; saved: boolean }> {
  const dir = path.join(root, `layer-${n++}`);
  fs.mkdirSync(path.join(dir, 'diff'), { recursive: true });
  const rec = new SplitRecorder(dir);
  const input = typeof t === 'string' ? t : chunked(t, sizes ?? [65536]);
  await applyTar(input, path.join(dir, 'diff'), undefined, rec);
  return { dir, saved: await rec.save() };
}

async function roundTrip(t: Buffer, what: string, sizes?: number[]): Promise<string> {
  const { dir, saved } = await extract(t, sizes);
  assert.ok(saved, `${what}: split saved`);
  const again = await collect(regenerateTar(dir));
  assert.equal(again.length, t.length, `${what}: length`);
  assert.ok(again.equals(t), `${what}: same bytes`);
  return dir;
}

test('plain files, directories, symlinks, hard links and empty files come back byte for byte', async () => {
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  const t = await makeTar([
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/hostname', body: 'box\n' },
    { name: 'etc/empty', body: '' },
    { name: 'usr/lib/big.bin', body: big },
    { name: 'usr/lib/link', type: 'symlink', linkname: 'big.bin' },
    { name: 'usr/lib/hard', type: 'link', linkname: 'usr/lib/big.bin' },
    { name: 'odd-size', body: 'x'.repeat(513) },
  ]);
  for (const sizes of [[65536], [1], [511, 1, 512, 7], [1 << 20]]) await roundTrip(t, `chunks ${sizes}`, sizes);
});

test('PAX records (long names, xattrs) and GNU long names are kept verbatim', async () => {
  const long = 'd/' + 'n'.repeat(180) + '/' + 'f'.repeat(120);
  const t = await makeTar([
    { name: long, body: 'long name\n' },
    { name: 'cap', body: 'x', pax: { 'SCHILY.xattr.user.a': 'v' } },
  ]);
  await roundTrip(t, 'pax');
  // GNU tar's own format (././@LongLink records), made by tar itself.
  const src = path.join(root, 'gnu-src');
  fs.mkdirSync(path.join(src, 'a'.repeat(120)), { recursive: true });
  fs.writeFileSync(path.join(src, 'a'.repeat(120), 'b'.repeat(120)), 'gnu\n');
  const gnu = execFileSync('tar', ['--format=gnu', '-C', src, '-cf', '-', '.']);
  await roundTrip(gnu, 'gnu');
  const posix = execFileSync('tar', ['--format=posix', '-C', src, '-cf', '-', '.']);
  await roundTrip(posix, 'posix');
});

test('a file removed by a later entry of the same tar is kept aside', async () => {
  const t = await makeTar([
    { name: 'dup', body: 'first version\n' },
    { name: 'dup', body: 'second, longer version\n' },
    { name: 'gone', body: 'whited out later\n' },
    { name: '.wh.gone', body: '' },
    { name: 'dir/inner', body: 'inside a dir replaced by a symlink\n' },
    { name: 'dir', type: 'symlink', linkname: 'elsewhere' },
    { name: 'f2d', body: 'a file replaced by a directory\n' },
    { name: 'f2d/', type: 'directory' },
    { name: 'keep', body: 'stays\n' },
  ]);
  const dir = await roundTrip(t, 'replaced');
  assert.equal(fs.readFileSync(path.join(dir, 'diff', 'dup'), 'utf8'), 'second, longer version\n');
  assert.equal(fs.readdirSync(path.join(dir, ASIDE_DIR)).length, 4);
});

test('bytes after the end blocks, and a whiteout with content, stay raw', async () => {
  const base = await makeTar([{ name: 'a', body: 'a\n' }]);
  await roundTrip(Buffer.concat([base, Buffer.alloc(10240)]), 'extra zero blocks');
  const wh = await makeTar([{ name: '.wh.x', body: 'content of a whiteout' }, { name: 'b', body: 'b\n' }]);
  await roundTrip(wh, 'whiteout with content');
});

test('a real rootfs tar comes back byte for byte', async () => {
  // A tree with the shapes of a rootfs, packed by GNU tar.
  const src = path.join(root, 'rootfs');
  for (let d = 0; d < 20; d++) {
    fs.mkdirSync(path.join(src, 'usr', `d${d}`), { recursive: true });
    for (let f = 0; f < 10; f++) fs.writeFileSync(path.join(src, 'usr', `d${d}`, `f${f}`), Buffer.alloc(d * 1000 + f * 37, d + f));
    fs.symlinkSync(`d${d}/f0`, path.join(src, 'usr', `l${d}`));
  }
  fs.linkSync(path.join(src, 'usr', 'd3', 'f3'), path.join(src, 'usr', 'hard'));
  const t = execFileSync('tar', ['-C', src, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
  await roundTrip(t, 'rootfs', [4096, 100000, 3]);
  // From a file, as a load extracts.
  const file = path.join(root, 'rootfs.tar');
  fs.writeFileSync(file, t);
  const { dir, saved } = await extract(file);
  assert.ok(saved);
  assert.ok((await collect(regenerateTar(dir))).equals(t));
});

test('a changed file makes a different tar, and a damaged split is an error', async () => {
  const t = await makeTar([{ name: 'f', body: 'original\n' }]);
  const dir = await roundTrip(t, 'base');
  fs.writeFileSync(path.join(dir, 'diff', 'f'), 'changed!!\n');
  const again = await collect(regenerateTar(dir));
  assert.notEqual(createHash('sha256').update(again).digest('hex'), createHash('sha256').update(t).digest('hex'));
  fs.writeFileSync(path.join(dir, 'diff', 'f'), 'short');
  await assert.rejects(collect(regenerateTar(dir)), /shorter than the tar says/);
  fs.writeFileSync(path.join(dir, SPLIT_FILE), 'not gzip');
  await assert.rejects(collect(regenerateTar(dir)));
});
