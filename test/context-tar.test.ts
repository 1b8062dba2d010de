// The build context's tar (src/client/context-tar.ts, packDir): what tar
// and tar-stream read back is the directory as it is, long and non-ASCII
// names and link targets included, small and large files alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import tar from 'tar-stream';
import { packDir } from '../src/client/build-context';
import { tarOf } from '../src/client/context-tar';

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function entries(buf: Buffer): Promise<Map<string, { type: string; mode: number; data: Buffer; linkname?: string }>> {
  const out = new Map<string, { type: string; mode: number; data: Buffer; linkname?: string }>();
  const ex = tar.extract();
  ex.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      out.set(h.name, { type: h.type ?? '', mode: h.mode ?? 0, data: Buffer.concat(chunks), linkname: h.linkname ?? undefined });
      next();
    });
  });
  const done = new Promise<void>((res, rej) => { ex.on('finish', () => res()); ex.on('error', rej); });
  ex.end(buf);
  await done;
  return out;
}

test('packDir: every kind of entry and name reads back as it was', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctx-tar-'));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctx-untar-'));
  try {
    const longDir = 'd'.repeat(90) + '/' + 'e'.repeat(90);
    const longName = `${longDir}/${'f'.repeat(60)}.txt`; // > 100: ustar prefix
    const paxName = 'p'.repeat(120) + '.txt'; // one component > 100: PAX path
    const longTarget = 't'.repeat(130);
    fs.mkdirSync(path.join(dir, longDir), { recursive: true });
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\n');
    fs.writeFileSync(path.join(dir, longName), 'long\n');
    fs.writeFileSync(path.join(dir, paxName), 'pax\n');
    fs.writeFileSync(path.join(dir, 'naïve-日本.txt'), 'utf8\n');
    fs.writeFileSync(path.join(dir, 'empty'), '');
    fs.writeFileSync(path.join(dir, 'exec.sh'), '#!/bin/sh\n', { mode: 0o750 });
    fs.chmodSync(path.join(dir, 'exec.sh'), 0o750);
    const big = Buffer.alloc((1 << 20) * 2 + 123, 7);
    fs.writeFileSync(path.join(dir, 'big.bin'), big);
    fs.symlinkSync(longTarget, path.join(dir, 'link'));
    fs.symlinkSync('Dockerfile', path.join(dir, 'short-link'));
    fs.writeFileSync(path.join(dir, '.dockerignore'), 'ignored\n');
    fs.writeFileSync(path.join(dir, 'ignored'), 'x');
    const { stream, size } = packDir(dir, 'Dockerfile');
    const buf = await collect(stream);
    assert.equal(buf.length % 512, 0);
    const got = await entries(buf);
    assert.equal(got.get('Dockerfile')?.data.toString(), 'FROM busybox\n');
    assert.equal(got.get(longName)?.data.toString(), 'long\n');
    assert.equal(got.get(paxName)?.data.toString(), 'pax\n');
    assert.equal(got.get('naïve-日本.txt')?.data.toString(), 'utf8\n');
    assert.equal(got.get('empty')?.data.length, 0);
    assert.equal(got.get('exec.sh')?.mode, 0o750);
    assert.ok(got.get('big.bin')?.data.equals(big), 'a file above the small-file size streams whole');
    assert.deepEqual([got.get('link')?.type, got.get('link')?.linkname], ['symlink', longTarget]);
    assert.deepEqual([got.get('short-link')?.type, got.get('short-link')?.linkname], ['symlink', 'Dockerfile']);
    assert.equal(got.get(`${longDir}/`)?.type ?? got.get(longDir)?.type, 'directory');
    assert.equal(got.has('ignored'), false);
    assert.equal(size, 13 + 5 + 4 + 5 + 0 + 10 + big.length + 8 + longTarget.length + 'Dockerfile'.length); // files, .dockerignore, link targets
    // GNU tar reads it the same
    execFileSync('tar', ['-x', '-C', out], { input: buf });
    assert.equal(fs.readFileSync(path.join(out, paxName), 'utf8'), 'pax\n');
    assert.equal(fs.readFileSync(path.join(out, 'naïve-日本.txt'), 'utf8'), 'utf8\n');
    assert.equal(fs.readlinkSync(path.join(out, 'link')), longTarget);
    assert.ok(fs.readFileSync(path.join(out, 'big.bin')).equals(big));
    // and a Dockerfile from stdin as a one-file tar
    const one = await entries(tarOf([{ name: 'Dockerfile', data: Buffer.from('FROM scratch\n') }]));
    assert.equal(one.get('Dockerfile')?.data.toString(), 'FROM scratch\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('packDir: a file that changes while it is sent fails the stream', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctx-tar-'));
  try {
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\n');
    fs.writeFileSync(path.join(dir, 'grows'), 'a');
    const { stream } = packDir(dir, 'Dockerfile');
    fs.writeFileSync(path.join(dir, 'grows'), 'ab'); // after the walk, before the read
    await assert.rejects(collect(stream), /grows changed while the build context was being read/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
