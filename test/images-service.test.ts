// ImageService directly on a real data root (SQLite, overlay layers): the
// API other services use — createImage (commit/builder), chainIds, resolve,
// usage checker conflicts, parent/child rules, restart persistence.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { openDb, type Db } from '../src/store/db';
import { EventBus } from '../src/events/bus';
import { Overlay2 } from '../src/host/storage/overlay2';
import { ImageService } from '../src/image/service';
import { Conflict, NotFound } from '../src/util/errors';

let root: string;
let db: Db;
let storage: Overlay2;
let svc: ImageService;
const events = new EventBus();

function tarOf(files: Record<string, string>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
    for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, body);
    pack.finalize();
  });
}

async function open(): Promise<void> {
  db = openDb(path.join(root, 'berth.db'));
  storage = new Overlay2(root);
  await storage.init();
  svc = new ImageService({ db, events, storage, dataRoot: root });
  await svc.init();
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-imgsvc-'));
  await open();
});

after(async () => {
  for (const c of fs.readdirSync(path.join(root, 'containers'))) await storage.removeRw(c).catch(() => {});
  db.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test('createImage builds on a parent; commit of a container diff; history and chain ids', async () => {
  const base = await svc.createImage({
    layerTar: Readable.from([await tarOf({ 'etc/os': 'base' })]),
    config: { Cmd: ['sh'] },
    history: { created_by: 'ADD base' },
    tags: ['base:1'],
  });
  assert.deepEqual(base.repoTags, ['docker.io/library/base:1']);
  assert.equal(svc.chainIds(base).length, 1);
  assert.equal(svc.resolve('base:1').id, base.id);

  const meta = await svc.createImage({ parent: base, config: { Cmd: ['sh'], Env: ['A=1'] }, history: { created_by: 'ENV A=1' }, tags: ['meta:1'] });
  assert.equal(meta.parent, base.id);
  assert.deepEqual(svc.chainIds(meta), svc.chainIds(base), 'metadata step adds no layer');
  assert.equal(meta.config.history!.at(-1)!.empty_layer, true);

  // A container on it changes files; the diff becomes a new image layer.
  await storage.createRw('ctr1', svc.chainIds(meta));
  const m = await storage.mount('ctr1');
  fs.writeFileSync(path.join(m, 'new'), 'n');
  fs.rmSync(path.join(m, 'etc/os'));
  const committed = await svc.createImage({
    parent: meta, layerTar: storage.diffTar('ctr1'), config: { Cmd: ['sh'] }, history: { created_by: 'commit', comment: 'c' },
    container: 'ctr1', author: 'me', tags: ['committed:1'],
  });
  await storage.removeRw('ctr1');
  assert.equal(svc.chainIds(committed).length, 2);
  await storage.createRw('ctr2', svc.chainIds(committed));
  const m2 = await storage.mount('ctr2');
  assert.equal(fs.readFileSync(path.join(m2, 'new'), 'utf8'), 'n');
  assert.equal(fs.existsSync(path.join(m2, 'etc/os')), false, 'whiteout carried through commit');
  await storage.removeRw('ctr2');

  const hist = svc.history('committed:1') as any[];
  assert.equal(hist.length, 3);
  assert.equal(hist[0].Id, committed.id);
  assert.deepEqual(hist[0].Tags, ['committed:1']);
  assert.equal(hist[1].Id, meta.id, 'ancestor ids label their history entries');
  assert.equal(hist[2].Id, base.id);
  const insp = svc.inspect('committed:1') as any;
  assert.equal(insp.Author, 'me');
  assert.equal(insp.Container, 'ctr1');
  assert.equal(insp.Parent, meta.id);
  assert.equal(insp.GraphDriver.Data.LowerDir, storage.layerPath(svc.chainIds(committed)[0]));

  // Parent with a child cannot be deleted even with force.
  await assert.rejects(svc.remove(meta.id.slice(7, 19), true), (e: unknown) =>
    e instanceof Conflict && e.message === `conflict: unable to delete ${meta.id.slice(7, 19)} (cannot be forced) - image has dependent child images`);
});

test('usage checker drives the 409s of rmi', async () => {
  const img = await svc.createImage({ layerTar: Readable.from([await tarOf({ u: 'u' })]), config: {}, history: {}, tags: ['used:1'] });
  const cid = 'c'.repeat(64);
  let running = false;
  svc.setUsageChecker((id) => (id === img.id ? [{ id: cid, running }] : []));
  await assert.rejects(svc.remove('used:1'), (e: unknown) =>
    e instanceof Conflict && e.message === `conflict: unable to remove repository reference "used:1" (must force) - container ${cid.slice(0, 12)} is using its referenced image ${img.id.slice(7, 19)}`);
  await assert.rejects(svc.remove(img.id), (e: unknown) =>
    e instanceof Conflict && e.message === `conflict: unable to delete ${img.id.slice(7, 19)} (must be forced) - image is being used by stopped container ${cid.slice(0, 12)}`);
  running = true;
  await assert.rejects(svc.remove(img.id, true), (e: unknown) =>
    e instanceof Conflict && e.message === `conflict: unable to delete ${img.id.slice(7, 19)} (cannot be forced) - image is being used by running container ${cid.slice(0, 12)}`);
  // With another tag, untagging by name is fine even while in use.
  svc.tag('used:1', 'used:2');
  assert.deepEqual(await svc.remove('used:1'), [{ Untagged: 'used:1' }]);
  // prune never removes an image in use.
  running = false;
  const pr = await svc.prune({ dangling: ['false'] });
  assert.ok(svc.tryResolve(img.id), 'in-use image survives prune -a');
  assert.ok(!(pr.ImagesDeleted ?? []).some((x) => x.Deleted === img.id));
  // Forced removal of a stopped-container image works; its layer stays while a container layer uses it.
  await storage.createRw('holder', svc.chainIds(img));
  const recs = await svc.remove('used:2', true);
  assert.deepEqual(recs.slice(0, 2), [{ Untagged: 'used:2' }, { Deleted: img.id }]);
  assert.ok(storage.layers.exists(svc.chainIds({ ...img })[0]), 'layer kept for the container');
  await storage.removeRw('holder');
  assert.deepEqual(await svc.pruneLayers(), svc.chainIds({ ...img }), 'layers go once the container layer is gone');
  assert.equal(storage.layers.exists(svc.chainIds({ ...img })[0]), false);
  svc.setUsageChecker(() => []);
  assert.throws(() => svc.resolve(img.id), NotFound);
});

test('records survive a restart', async () => {
  const img = await svc.createImage({ layerTar: Readable.from([await tarOf({ r: 'r' })]), config: {}, history: {}, tags: ['restart:1', 'restart:2'] });
  const before = svc.all().map((i) => [i.id, i.repoTags.slice().sort()]).sort();
  db.close();
  await open();
  const again = svc.all().map((i) => [i.id, i.repoTags.slice().sort()]).sort();
  assert.deepEqual(again, before);
  assert.equal(svc.resolve('restart:2').id, img.id);
  assert.ok(storage.layers.exists(svc.chainIds(svc.resolve('restart:1'))[0]));
});

test('unrecorded layer dirs (a crash mid-apply) are cleaned at start', async () => {
  const orphan = path.join(root, 'layers', 'f'.repeat(64));
  fs.mkdirSync(path.join(orphan, 'diff'), { recursive: true });
  fs.mkdirSync(path.join(root, 'layers', 'tmp-dead', 'diff'), { recursive: true });
  db.close();
  await open();
  assert.equal(fs.existsSync(orphan), false);
  assert.equal(fs.existsSync(path.join(root, 'layers', 'tmp-dead')), false);
});

test('a layer made here is kept as files and a tar-split; a data root with kept tars still reads them', async () => {
  const bytes = await tarOf({ 'etc/a': 'a'.repeat(5000), 'etc/b': 'b\n' });
  const img = await svc.createImage({ layerTar: Readable.from([bytes]), config: {}, history: { created_by: 'ADD' }, tags: ['split:1'] });
  const [chainId] = svc.chainIds(img);
  const diffId = img.config.rootfs!.diff_ids[0];
  const layerDir = path.join(root, 'layers', chainId.slice(7));
  assert.ok(fs.existsSync(path.join(layerDir, 'tar-split')));
  assert.equal(svc.content.has(diffId), false, 'no copy of the tar');
  const read = async (): Promise<Buffer> => {
    const out: Buffer[] = [];
    for await (const c of svc.layerTarStream(chainId) as AsyncIterable<Buffer>) out.push(c);
    return Buffer.concat(out);
  };
  assert.ok((await read()).equals(bytes), 'the tar made again is the tar');
  // A file changed under the layer: save and push fail loudly, nothing is kept.
  const f = path.join(layerDir, 'diff', 'etc', 'b');
  fs.writeFileSync(f, 'B\n');
  await assert.rejects(read(), /the tar made again from its files is not the layer/);
  await assert.rejects(svc.compressedBlob(chainId), /not the layer/);
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM layer_blobs WHERE diff_id = ?').get(diffId) as any).n, 0);
  fs.writeFileSync(f, 'b\n');
  // The form a data root from before tar-split has: the tar kept under its diffID.
  fs.rmSync(path.join(layerDir, 'tar-split'));
  await svc.content.put(bytes, diffId);
  db.prepare('INSERT OR IGNORE INTO layer_blobs (diff_id, blob_digest) VALUES (?, ?)').run(diffId, diffId);
  fs.writeFileSync(f, 'changed, but the kept tar is read\n');
  assert.ok((await read()).equals(bytes), 'the kept tar is read');
  const gz = await svc.compressedBlob(chainId);
  assert.ok((await import('node:zlib')).gunzipSync(svc.content.readBytes(gz.digest)).equals(bytes));
  await svc.remove('split:1');
  assert.equal(fs.existsSync(layerDir), false);
  assert.equal(svc.content.has(diffId), false, 'the kept tar goes with its layer');
  assert.equal(svc.content.has(gz.digest), false);
});
