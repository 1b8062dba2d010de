// The native layer sink a pull feeds (layer-sink.ts / layer-sink.c): the
// blob file holds exactly the bytes written and its digest is theirs; the
// tar is what zlib's gunzip makes (several members, trailing bytes
// ignored), or the bytes themselves when they are not gzip; a corrupt or
// truncated stream fails the tar but not the blob; a small stream that
// inflates to much more comes out in bounded jobs to a slow reader.
// Then the races: one-byte writes (a lone first byte once made the sink
// re-run its job without end), readers that pause, pipe slowly, start late
// or leave; a download that ends long before the tar is read, or is cut
// while the reader waits; an extraction fed by the sink (its 5 s watchdog).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { layerSinkAvailable, openLayerSink, type LayerSink } from '../src/host/storage/layer-sink';
import { LayerStore, extractSink } from '../src/host/storage/layers';
import { InvalidParameter } from '../src/util/errors';

let root: string;

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-layersink-'));
});

after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

// BERTH_LAYER_SINK_SPLIT=0: one job does all (and checks gzip's CRC); the
// last test runs this file again that way.
const ONE_JOB = process.env.BERTH_LAYER_SINK_SPLIT === '0';

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
    const data = randomBytes(400_000);
    const gz = zlib.gzipSync(data);
    for (const at of [6, 1]) { // the CRC, the length
      const bad = Buffer.from(gz);
      bad[bad.length - at] ^= 0xff;
      const r = await run(bad);
      assert.equal(r.blob, sha(bad));
      assert.ok(r.file.equals(bad));
      if (!ONE_JOB) {
        // Not checked: the blob's digest (sha(bad), not the manifest's) and the diffID cover these bytes.
        assert.equal(r.tarErr, undefined);
        assert.equal(r.diffId, sha(data));
        continue;
      }
      assert.ok(r.tarErr instanceof InvalidParameter, String(r.tarErr));
      assert.match(r.tarErr!.message, /invalid gzip layer/);
      assert.equal(r.diffId, undefined);
    }
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

/** Fails when `p` takes longer than `ms` (a lost wake-up is a hang, not an error). */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no end after ${ms} ms (a lost wake-up?)`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `input` in `chunk`-byte pieces with backpressure, then ends it. */
async function feed(sink: LayerSink, input: Buffer, chunk: number): Promise<void> {
  for (let off = 0; off < input.length; off += chunk) {
    if (!sink.input.write(Buffer.from(input.subarray(off, off + chunk)))) await new Promise((r) => sink.input.once('drain', r));
  }
  await new Promise<void>((resolve, reject) => sink.input.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

/** A reader like the extraction's: tar.pipe() into a small-buffered writer that is slow now and then. */
function slowPipe(tar: Readable, everyMs: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  return new Promise<Buffer>((resolve, reject) => {
    const w = new Writable({
      highWaterMark: 16 * 1024,
      write(c: Buffer, _e, cb) {
        parts.push(c);
        if (++n % 4 === 0) setTimeout(cb, everyMs);
        else setImmediate(cb);
      },
    });
    w.on('finish', () => resolve(Buffer.concat(parts)));
    tar.on('error', reject);
    tar.pipe(w);
  });
}

function openSink(): { sink: LayerSink; file: string; fd: number } {
  const file = path.join(root, randomBytes(6).toString('hex'));
  const fd = fs.openSync(file, 'a', 0o600);
  return { sink: openLayerSink(fd), file, fd };
}

test('layer sink: readers, writers and their races', { skip: !layerSinkAvailable() && 'the addon has no layer sink' }, async (t) => {
  await t.test('one byte at a time, gzip and plain', async () => {
    const tar = randomBytes(30_000);
    const gz = zlib.gzipSync(tar);
    const r = await within(30_000, 'gzip in 1-byte writes', run(gz, 1));
    assert.ok(r.tar.equals(tar));
    assert.equal(r.diffId, sha(tar));
    assert.equal(r.blob, sha(gz));
    const p = await within(30_000, 'plain in 1-byte writes', run(tar.subarray(0, 5000), 1));
    assert.ok(p.tar.equals(tar.subarray(0, 5000)));
  });

  await t.test('a lone first byte waits for the next without spinning', async () => {
    const tar = randomBytes(200_000);
    const gz = zlib.gzipSync(tar);
    const { sink, fd } = openSink();
    const reading = slowPipe(sink.tar, 0);
    sink.input.write(Buffer.from(gz.subarray(0, 1)));
    await sleep(50);
    const cpu0 = process.cpuUsage();
    await sleep(500);
    const cpu = process.cpuUsage(cpu0);
    const ms = (cpu.user + cpu.system) / 1000;
    // Idle is a few ms; a job re-run as long as one byte is held takes a core.
    if (ms >= 150) {
      sink.input.destroy();
      sink.tar.destroy();
      assert.fail(`${ms.toFixed(0)} ms of CPU in 500 ms of waiting for input`);
    }
    await feed(sink, gz.subarray(1), 4096);
    const out = await within(10_000, 'the tar', reading);
    assert.ok(out.equals(tar));
    assert.equal((await sink.tarDone).diffId, sha(tar));
    await sink.settle();
    fs.closeSync(fd);
  });

  await t.test('a reader that pauses and resumes, through a pipe that is slow now and then', async () => {
    const tar = Buffer.concat([randomBytes(6 << 20), Buffer.alloc(12 << 20)]);
    const gz = zlib.gzipSync(tar, { level: 1 });
    const { sink, fd } = openSink();
    const reading = slowPipe(sink.tar, 2);
    let paused = 0;
    let mine = false;
    const flip = setInterval(() => {
      if (mine) sink.tar.resume();
      else {
        sink.tar.pause();
        paused++;
      }
      mine = !mine;
    }, 7);
    try {
      await within(30_000, 'the download', feed(sink, gz, 64 * 1024));
      const out = await within(30_000, 'the tar', reading);
      assert.ok(out.equals(tar));
    } finally {
      clearInterval(flip);
    }
    assert.ok(paused > 0);
    assert.equal((await sink.tarDone).diffId, sha(tar));
    await sink.settle();
    fs.closeSync(fd);
  });

  await t.test('the download ends long before the extraction reads', async () => {
    // Less than the sink holds back: the download is done (file closed)
    // before a byte of the tar is read, then a slow reader gets it all.
    const tar = Buffer.concat([randomBytes(5 << 20), Buffer.alloc(40 << 20)]);
    const gz = zlib.gzipSync(tar, { level: 1 });
    assert.ok(gz.length < 7 << 20);
    const { sink, file, fd } = openSink();
    await within(10_000, 'the download', feed(sink, gz, 256 * 1024));
    assert.equal(sink.blobDigest(), sha(gz));
    await sink.settle();
    fs.closeSync(fd);
    assert.ok(fs.readFileSync(file).equals(gz));
    await sleep(300);
    const parts: Buffer[] = [];
    await within(30_000, 'the tar', (async () => {
      for await (const b of sink.tar as AsyncIterable<Buffer>) {
        parts.push(b);
        await sleep(1);
      }
    })());
    assert.ok(Buffer.concat(parts).equals(tar));
    assert.deepEqual(await sink.tarDone, { diffId: sha(tar), tarSize: tar.length });
  });

  await t.test('more than the sink holds back, and a reader that starts late', async () => {
    const tar = randomBytes(20 << 20);
    const gz = zlib.gzipSync(tar, { level: 1 });
    const { sink, fd } = openSink();
    const feeding = feed(sink, gz, 64 * 1024);
    await sleep(500);
    // Held back: the download cannot end while nobody reads.
    assert.equal(sink.blobDigest(), undefined);
    const reading = slowPipe(sink.tar, 1);
    await within(30_000, 'the download', feeding);
    assert.ok((await within(30_000, 'the tar', reading)).equals(tar));
    assert.equal(sink.blobDigest(), sha(gz));
    await sink.settle();
    fs.closeSync(fd);
  });

  await t.test('three sinks side by side, as a pull of three layers', async () => {
    const tars = [8, 4, 2].map((mb) => Buffer.concat([randomBytes(mb << 20), Buffer.alloc(mb << 19)]));
    const gzs = tars.map((x) => zlib.gzipSync(x, { level: 1 }));
    await within(60_000, 'three layers', Promise.all(gzs.map(async (gz, i) => {
      const { sink, fd } = openSink();
      const reading = slowPipe(sink.tar, i);
      await feed(sink, gz, 64 * 1024);
      assert.ok((await reading).equals(tars[i]));
      assert.equal((await sink.tarDone).diffId, sha(tars[i]));
      await sink.settle();
      fs.closeSync(fd);
    })));
  });

  await t.test('a gzip stream cut in its header or its trailer, garbage after the header', async () => {
    const gz = zlib.gzipSync(randomBytes(300_000));
    for (const [what, bytes] of [['cut header', gz.subarray(0, 5)], ['cut trailer', gz.subarray(0, gz.length - 3)], ['not deflate', Buffer.concat([gz.subarray(0, 10), Buffer.alloc(1000, 0xff)])]] as const) {
      const r = await within(10_000, what, run(bytes, 1000));
      assert.ok(r.tarErr instanceof InvalidParameter, `${what}: ${String(r.tarErr)}`);
      assert.equal(r.blob, sha(bytes), what);
      assert.ok(r.file.equals(bytes), what);
    }
  });

  await t.test('a download cut while the reader waits: the reader hears at once', async () => {
    const tar = randomBytes(3 << 20);
    const gz = zlib.gzipSync(tar, { level: 1 });
    const { sink, file, fd } = openSink();
    sink.input.on('error', () => {});
    let readErr: Error | undefined;
    const reading = (async () => {
      try {
        for await (const _ of sink.tar as AsyncIterable<Buffer>) void _;
      } catch (e) {
        readErr = e as Error;
      }
    })();
    sink.input.write(Buffer.from(gz.subarray(0, 1 << 20)));
    await sleep(200);
    sink.input.destroy(new Error('connection reset'));
    await within(3_000, 'the reader', reading);
    assert.match(String(readErr), /connection reset/);
    await assert.rejects(sink.tarDone, /connection reset/);
    await within(3_000, 'settle', sink.settle());
    fs.closeSync(fd);
    assert.ok(gz.subarray(0, 1 << 20).equals(fs.readFileSync(file)));
  });

  await t.test('the reader leaves mid-way: the blob is still written and hashed whole', async () => {
    const tar = randomBytes(12 << 20);
    const gz = zlib.gzipSync(tar, { level: 1 });
    const { sink, file, fd } = openSink();
    let got = 0;
    sink.tar.on('data', (b: Buffer) => {
      got += b.length;
      if (got > 2 << 20) sink.tar.destroy(new Error('extraction failed'));
    });
    await within(20_000, 'the download', feed(sink, gz, 64 * 1024));
    assert.equal(sink.blobDigest(), sha(gz));
    await assert.rejects(sink.tarDone, /extraction failed/);
    await sink.settle();
    fs.closeSync(fd);
    assert.ok(fs.readFileSync(file).equals(gz));
  });

  await t.test('destroyed after the end: nothing changes', async () => {
    const tar = randomBytes(100_000);
    const { sink, fd } = openSink();
    const reading = slowPipe(sink.tar, 0);
    await feed(sink, zlib.gzipSync(tar), 10_000);
    assert.ok((await reading).equals(tar));
    sink.tar.destroy(new Error('late'));
    sink.input.destroy(new Error('late'));
    await sleep(20);
    assert.equal((await sink.tarDone).diffId, sha(tar));
    await sink.settle();
    fs.closeSync(fd);
  });

  await t.test('an extraction fed by the sink ends without a stall', async () => {
    // Many small files, a big one and the zero blocks that end a tar: the
    // extraction's watchdog (5 s without progress) must never fire.
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
    const ended = new Promise<void>((r) => pack.on('end', () => r()));
    for (let i = 0; i < 300; i++) pack.entry({ name: `d/f${i}`, size: 100 + i, mode: 0o644, mtime: new Date(0) }, randomBytes(100 + i));
    pack.entry({ name: 'big', size: 6 << 20, mode: 0o644, mtime: new Date(0) }, randomBytes(6 << 20));
    pack.finalize();
    await ended;
    const tarBytes = Buffer.concat([...chunks, Buffer.alloc(10240)]);
    const gz = zlib.gzipSync(tarBytes, { level: 1 });
    const store = new LayerStore(path.join(root, 'layers'));
    await store.init();
    const { sink, fd } = openSink();
    const t0 = Date.now();
    const extracting = extractSink(sink, store);
    await feed(sink, gz, 64 * 1024);
    await sink.settle();
    fs.closeSync(fd);
    const x = await within(20_000, 'the extraction', extracting);
    assert.ok(Date.now() - t0 < 4_000, `took ${Date.now() - t0} ms`);
    assert.equal(x.diffId, sha(tarBytes));
    assert.equal(fs.statSync(path.join(x.prepared.dir, 'diff', 'big')).size, 6 << 20);
    await store.discard(x.prepared);
  });
});

test('layer sink in one job per batch (BERTH_LAYER_SINK_SPLIT=0)', { skip: (ONE_JOB || !layerSinkAvailable()) && 'this is that run' }, () => {
  const r = spawnSync(process.execPath, [__filename], { env: { ...process.env, BERTH_LAYER_SINK_SPLIT: '0' }, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /not ok|error|Error/.test(l)).slice(0, 40).join('\n'));
});
