// The native layer sink a pull feeds (layer-sink.ts / layer-sink.c): the
// blob file holds exactly the bytes written and its digest is theirs; the
// tar is what zlib's gunzip makes (several members, trailing bytes
// ignored), or the bytes themselves when they are not gzip; a corrupt or
// truncated stream fails the tar but not the blob; a small stream that
// inflates to much more comes out in bounded jobs to a slow reader.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { layerSinkAvailable, openLayerSink } from '../src/host/storage/layer-sink';
import { InvalidParameter } from '../src/util/errors';

let root: string;

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-layersink-'));
});

after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Feeds `input` in `chunk`-byte writes; reads the tar (slowly when `slowMs`). */
async function run(input: Buffer, chunk = 64 * 1024, slowMs = 0): Promise<{ file: Buffer; blob?: string; tar: Buffer; tarErr?: Error; diffId?: string; tarSize?: number; maxRead: number }> {
  const file = path.join(root, randomBytes(6).toString('hex'));
  const fd = fs.openSync(file, 'a', 0o600);
  const sink = openLayerSink(fd);
  const parts: Buffer[] = [];
  let maxRead = 0;
  let tarErr: Error | undefined;
  const reading = (async () => {
    try {
      for await (const b of sink.tar as AsyncIterable<Buffer>) {
        parts.push(b);
        maxRead = Math.max(maxRead, sink.tar.readableLength);
        if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
      }
    } catch (e) {
      tarErr = e as Error;
    }
  })();
  for (let off = 0; off < input.length; off += chunk) {
    const b = Buffer.from(input.subarray(off, off + chunk));
    if (!sink.input.write(b)) await new Promise((r) => sink.input.once('drain', r));
  }
  await new Promise<void>((resolve, reject) => sink.input.end((e?: Error | null) => (e ? reject(e) : resolve())));
  const blob = sink.blobDigest();
  await reading;
  let done: { diffId: string; tarSize: number } | undefined;
  try {
    done = await sink.tarDone;
  } catch (e) {
    tarErr ??= e as Error;
  }
  await sink.settle();
  fs.closeSync(fd);
  return { file: fs.readFileSync(file), blob, tar: Buffer.concat(parts), tarErr, diffId: done?.diffId, tarSize: done?.tarSize, maxRead };
}

test('layer sink', { skip: !layerSinkAvailable() && 'the addon has no layer sink' }, async (t) => {
  await t.test('gzip: blob file and digest, tar and diffID as zlib makes them', async () => {
    const tar = Buffer.concat([randomBytes(3 * 1024 * 1024 + 5), Buffer.alloc(2 * 1024 * 1024)]);
    const gz = zlib.gzipSync(tar, { level: 1 });
    const r = await run(gz);
    assert.ok(r.file.equals(gz));
    assert.equal(r.blob, sha(gz));
    assert.equal(r.tarErr, undefined);
    assert.ok(r.tar.equals(tar));
    assert.equal(r.diffId, sha(tar));
    assert.equal(r.tarSize, tar.length);
  });

  await t.test('several gzip members, then trailing bytes that are not one', async () => {
    const a = randomBytes(100_000);
    const b = Buffer.from('second member');
    const input = Buffer.concat([zlib.gzipSync(a), zlib.gzipSync(b), Buffer.from('trailing\n')]);
    const r = await run(input, 777);
    assert.equal(r.blob, sha(input));
    assert.ok(r.tar.equals(Buffer.concat([a, b])));
    assert.equal(r.diffId, sha(Buffer.concat([a, b])));
  });

  await t.test('not gzip: the bytes are the tar; empty input is an empty tar', async () => {
    const plain = randomBytes(1_500_000);
    const r = await run(plain);
    assert.ok(r.tar.equals(plain));
    assert.equal(r.diffId, sha(plain));
    assert.equal(r.blob, sha(plain));
    const e = await run(Buffer.alloc(0));
    assert.equal(e.tar.length, 0);
    assert.equal(e.diffId, sha(Buffer.alloc(0)));
    assert.equal(e.blob, sha(Buffer.alloc(0)));
  });

  await t.test('corrupt or truncated gzip fails the tar, never the blob', async () => {
    const gz = zlib.gzipSync(randomBytes(400_000));
    const bad = Buffer.from(gz);
    bad[bad.length - 6] ^= 0xff; // the CRC
    const r = await run(bad);
    assert.ok(r.tarErr instanceof InvalidParameter, String(r.tarErr));
    assert.match(r.tarErr!.message, /invalid gzip layer/);
    assert.equal(r.diffId, undefined);
    assert.equal(r.blob, sha(bad));
    assert.ok(r.file.equals(bad));
    const cut = gz.subarray(0, gz.length - 100);
    const c = await run(cut);
    assert.ok(c.tarErr instanceof InvalidParameter, String(c.tarErr));
    assert.match(c.tarErr!.message, /unexpected end of file/);
    assert.equal(c.blob, sha(cut));
  });

  await t.test('a small stream that inflates to 64 MiB reaches a slow reader in bounded pieces', async () => {
    const big = Buffer.alloc(64 * 1024 * 1024);
    const gz = zlib.gzipSync(big, { level: 9 });
    assert.ok(gz.length < 1024 * 1024);
    const r = await run(gz, 64 * 1024, 1);
    assert.equal(r.diffId, sha(big));
    assert.equal(r.tar.length, big.length);
    // What waits in the readable stays near one job's output (4 MiB + a chunk), not the whole tar.
    assert.ok(r.maxRead <= 6 * 1024 * 1024, `buffered ${r.maxRead}`);
  });

  await t.test('a download cut mid-way: the tar fails, the file holds what was written', async () => {
    const gz = zlib.gzipSync(randomBytes(2_000_000), { level: 1 });
    const file = path.join(root, 'cut');
    const fd = fs.openSync(file, 'a', 0o600);
    const sink = openLayerSink(fd);
    sink.tar.resume();
    sink.input.on('error', () => {}); // as pipeline listens
    const half = gz.subarray(0, 1_000_000);
    sink.input.write(Buffer.from(half));
    sink.input.destroy(new Error('connection reset'));
    await assert.rejects(sink.tarDone);
    await sink.settle();
    fs.closeSync(fd);
    const onDisk = fs.readFileSync(file);
    assert.ok(half.subarray(0, onDisk.length).equals(onDisk));
  });
});
