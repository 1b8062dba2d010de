// The image service: image records, tags and repo digests in SQLite, config
// JSON in the content store, layers through the overlay2 layer store.
//
// Lifecycle of an image: layers are staged (hashed to a diffID), verified,
// extracted once per chain ID; a layer made here is kept once, as its files
// plus a tar-split that makes its tar again for save and push (a pulled one
// keeps its gzip blob); then the config blob is written and one transaction
// records the image and its tags. Deleting an
// image untags it, drops its record and config, and removes layers no other
// image or container layer still stands on.
import { duringBulk } from '../util/bulk-memory';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { PassThrough, type Readable } from 'node:stream';
import { digestCounter } from '../util/digest';
import type { Db } from '../store/db';
import { critical, ensureSchema, refillReserve } from '../store/db';
import type { EventBus } from '../events/bus';
import type { Overlay2 } from '../host/storage/overlay2';
import { chainIdsOf, stageTar, type PreparedLayer, type StagedTar } from '../host/storage/layers';
import { Conflict, InvalidParameter, NotFound } from '../util/errors';
import { log } from '../util/log';
import { Filters } from '../common/filters';
import { timestampMs } from '../common/time';
import { ContentStore } from './content';
import {
  parseNormalized, parseTagged, fullString, familiarOf, familiarString, repoName, type Reference,
} from './reference';
import type { HistoryEntry, ImageConfig, ImageConfigJSON, ImageRecord } from './types';
import { BERTH_VERSION } from '../version';

export interface ImageServiceDeps {
  db: Db;
  events: EventBus;
  storage: Overlay2;
  dataRoot: string;
}

/** A layer as recorded: chain + diff IDs and its gzip blob. */
export interface LayerRecord {
  chainId: string;
  diffId: string;
  parent: string;
  blobDigest: string;
  blobSize: number;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
  /** Bytes of file content in the layer. */
  size: number;
}

export interface DeleteItem { Untagged?: string; Deleted?: string }

export type UsageChecker = (imageId: string) => Array<string | { id: string; running: boolean }>;

export interface CreateImageOptions {
  parent?: ImageRecord;
  layerTar?: NodeJS.ReadableStream;
  /**
   * The container upper dir `layerTar` packs (docker commit): its layer is
   * then made from the dir (LayerStore.prepareUpper) when the addon can,
   * `layerTar` left unread.
   */
  layerUpper?: string;
  config: ImageConfig;
  history: HistoryEntry;
  tags?: string[];
  parentId?: string;
  author?: string;
  comment?: string;
  /** Container id and config (docker commit). */
  container?: string;
  containerConfig?: ImageConfig;
  created?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS images (
  id TEXT PRIMARY KEY,
  parent TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  created TEXT NOT NULL,
  last_tag_time TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS image_refs (
  ref TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  canonical INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS layers (
  chain_id TEXT PRIMARY KEY,
  diff_id TEXT NOT NULL,
  parent TEXT NOT NULL DEFAULT '',
  blob_digest TEXT NOT NULL,
  blob_size INTEGER NOT NULL,
  tar_size INTEGER NOT NULL,
  size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layer_blobs (
  diff_id TEXT NOT NULL,
  blob_digest TEXT NOT NULL,
  PRIMARY KEY (diff_id, blob_digest)
);
`;

export function hostArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const PIN_MS = 30 * 60_000;

export class ImageService {
  readonly content: ContentStore;
  private readonly images = new Map<string, ImageRecord>();
  private usage: UsageChecker = () => [];
  /**
   * Layers committed by operations that have not registered their image yet.
   * A failing operation's rollback must not remove a layer another
   * operation is about to use. Released by registerImage or the rollback;
   * expire after PIN_MS in case an operation forgets.
   */
  private readonly pins = new Map<string, Set<symbol>>();
  /** Gzip blobs being made for push, by diffID. */
  private readonly compressing = new Map<string, Promise<{ digest: string; size: number }>>();

  constructor(readonly deps: ImageServiceDeps) {
    this.content = new ContentStore(deps.dataRoot);
  }

  private get db(): Db { return this.deps.db; }

  async init(): Promise<void> {
    ensureSchema(this.db, SCHEMA);
    this.content.init();
    const rows = this.db.prepare('SELECT id, parent, size, created, last_tag_time FROM images').all() as any[];
    for (const r of rows) {
      let config: ImageConfigJSON;
      try {
        config = JSON.parse(this.content.readBytes(r.id).toString('utf8'));
      } catch (e) {
        log.warn('image config missing, dropping image record', { id: r.id, err: (e as Error).message });
        this.db.prepare('DELETE FROM images WHERE id = ?').run(r.id);
        continue;
      }
      this.images.set(r.id, { id: r.id, config, repoTags: [], repoDigests: [], parent: r.parent, size: r.size, created: r.created, lastTagTime: r.last_tag_time });
    }
    for (const r of this.db.prepare('SELECT ref, image_id, canonical FROM image_refs').all() as any[]) {
      const img = this.images.get(r.image_id);
      if (!img) continue;
      (r.canonical ? img.repoDigests : img.repoTags).push(r.ref);
    }
    // Layer directories without a record are left-overs of a crash.
    const known = new Set((this.db.prepare('SELECT chain_id FROM layers').all() as any[]).map((r) => r.chain_id.slice(7)));
    const dir = this.deps.storage.layers.dir;
    for (const n of fs.readdirSync(dir)) {
      if (/^[a-f0-9]{64}$/.test(n) && !known.has(n)) {
        log.info('removing unrecorded layer', { chainId: n });
        await this.deps.storage.layers.remove(`sha256:${n}`);
      }
    }
    const dropped = await this.pruneLayers();
    if (dropped.length) log.info('removed layers no image or container uses', { count: dropped.length });
  }

  setUsageChecker(fn: UsageChecker): void { this.usage = fn; }

  /**
   * Removes layers no image and no container layer stands on any more (an
   * image force-deleted while a container used it leaves its layers until
   * that container is gone). Run at start, by image prune, and callable
   * after a container is removed.
   */
  async pruneLayers(): Promise<string[]> {
    const removed: string[] = [];
    const used = this.layersInUse();
    const rows = this.db.prepare('SELECT chain_id FROM layers').all() as any[];
    for (const r of rows) {
      if (used.has(r.chain_id) || this.pins.has(r.chain_id)) continue;
      if (await this.removeLayerIfUnused(r.chain_id)) removed.push(r.chain_id);
    }
    return removed;
  }

  count(): number { return this.images.size; }

  all(): ImageRecord[] { return [...this.images.values()]; }

  get(id: string): ImageRecord | undefined { return this.images.get(id); }

  // ---- lookup -------------------------------------------------------------

  /** Finds an image by name, name@digest, full or short id. */
  resolve(ref: string): ImageRecord {
    const img = this.tryResolve(ref);
    if (img) return img;
    let shown = ref;
    if (/^[a-f0-9]{64}$/.test(ref)) shown = `sha256:${ref}`;
    else if (!/^sha256:/.test(ref)) {
      try { shown = familiarString(parseTagged(ref)); } catch { /* show as given */ }
    }
    throw new NotFound(`No such image: ${shown}`);
  }

  tryResolve(ref: string): ImageRecord | undefined {
    if (/^sha256:[a-f0-9]{64}$/.test(ref)) return this.images.get(ref);
    if (/^[a-f0-9]{64}$/.test(ref)) return this.images.get(`sha256:${ref}`);
    let parsed: Reference | undefined;
    try { parsed = parseNormalized(ref); } catch { /* maybe an id prefix */ }
    if (parsed) {
      const full = fullString(parsed.tag === undefined && parsed.digest === undefined ? { ...parsed, tag: 'latest' } : parsed);
      const row = this.db.prepare('SELECT image_id FROM image_refs WHERE ref = ?').get(full) as any;
      if (row) return this.images.get(row.image_id);
      if (parsed.digest) {
        // name@digest where the digest is the image id itself.
        const byId = this.images.get(parsed.digest);
        if (byId && byId.repoTags.concat(byId.repoDigests).some((r) => r.startsWith(repoName(parsed!) + ':') || r.startsWith(repoName(parsed!) + '@'))) return byId;
      }
    }
    const m = /^(?:sha256:)?([a-f0-9]{1,63})$/.exec(ref);
    if (m) {
      const hits = [...this.images.keys()].filter((id) => id.startsWith(`sha256:${m[1]}`));
      if (hits.length === 1) return this.images.get(hits[0]);
    }
    return undefined;
  }

  chainIds(img: ImageRecord): string[] {
    return chainIdsOf(img.config.rootfs?.diff_ids ?? []);
  }

  /** /system/df's LayersSize: every layer an image stands on, counted once (moby's LayerDiskUsage). */
  layersSize(): number {
    const seen = new Set<string>();
    let total = 0;
    for (const img of this.images.values()) {
      for (const c of this.chainIds(img)) {
        if (seen.has(c)) continue;
        seen.add(c);
        total += this.layer(c)?.size ?? 0;
      }
    }
    return total;
  }

  layer(chainId: string): LayerRecord | undefined {
    const r = this.db.prepare('SELECT * FROM layers WHERE chain_id = ?').get(chainId) as any;
    if (!r) return undefined;
    return { chainId: r.chain_id, diffId: r.diff_id, parent: r.parent, blobDigest: r.blob_digest, blobSize: r.blob_size, tarSize: r.tar_size, size: r.size };
  }

  /** Children: images whose parent is `id`. */
  children(id: string): ImageRecord[] {
    return this.all().filter((i) => i.parent === id);
  }

  // ---- layers --------------------------------------------------------------

  /**
   * Hashes a layer stream (diffID). Without `extract`, copies it to a
   * staging file (commitLayer extracts that). With `extract`, the bytes are
   * extracted as they pass (into a layer dir commitLayer names once the
   * diffID is known) with a tar-split, and written nowhere else: the layer
   * is kept once, as files (Docker keeps tar-split metadata the same way).
   */
  stageLayer(input: NodeJS.ReadableStream, opts: { extract?: boolean } = {}): Promise<StagedTar> {
    return duringBulk(() => this.stageLayerNow(input, opts));
  }

  private async stageLayerNow(input: NodeJS.ReadableStream, opts: { extract?: boolean }): Promise<StagedTar> {
    if (!opts.extract) return stageTar(input, this.content.tempPath('.tar'));
    const layers = this.deps.storage.layers;
    const tap = new PassThrough({ highWaterMark: 1 << 20 });
    // Patient: an upload may pause; its end or failure ends the tap.
    const preparing = layers.prepare(tap, { split: true, patient: true });
    preparing.catch(() => {});
    let staged: StagedTar;
    try {
      staged = await stageTar(input, undefined, tap);
    } catch (e) {
      // A failed extraction closes the tap, which fails the copy ("Premature
      // close"): the extraction's error is the one that says what is wrong.
      const failed = await preparing.then((p) => layers.discard(p).then(() => undefined), (x: unknown) => x);
      throw failed !== undefined && !(e instanceof InvalidParameter) ? failed : e;
    }
    staged.prepared = await preparing;
    return staged;
  }

  /**
   * Extracts a staged layer on top of `parentChain` (once per chain ID),
   * keeps it as a gzip blob and records it. `created` tells the caller to
   * roll it back with dropLayerIfUnused() if its operation fails later.
   */
  async commitLayer(parentChain: string | undefined, staged: StagedTar): Promise<{ layer: LayerRecord; created: boolean }> {
    const layers = this.deps.storage.layers;
    const prepared = staged.prepared;
    staged.prepared = undefined;
    let placed = false;
    try {
      return await this.recordLayer(parentChain, staged.diffId, staged.tarSize, (chainId) => {
        if (!prepared) {
          if (!staged.file) throw new Error('commitLayer: a staged layer with neither a file nor an extraction');
          return layers.apply(chainId, staged.file, { split: true });
        }
        placed = true;
        return layers.place(chainId, prepared);
      }, staged.file);
    } finally {
      if (prepared && !placed) await layers.discard(prepared);
    }
  }

  /**
   * commitLayer for a pulled layer extracted while it downloaded
   * (LayerStore.prepare) and verified against its diffID; its blob is
   * recorded already (recordLayerBlob). The prepared dir is used or removed.
   */
  async commitPrepared(parentChain: string | undefined, diffId: string, tarSize: number, prepared: PreparedLayer): Promise<{ layer: LayerRecord; created: boolean }> {
    const layers = this.deps.storage.layers;
    let placed = false;
    try {
      return await this.recordLayer(parentChain, diffId, tarSize, (chainId) => { placed = true; return layers.place(chainId, prepared); });
    } finally {
      if (!placed) await layers.discard(prepared);
    }
  }

  private async recordLayer(
    parentChain: string | undefined,
    diffId: string,
    tarSize: number,
    extract: (chainId: string) => Promise<{ size: number; created: boolean }>,
    tarFile?: string,
  ): Promise<{ layer: LayerRecord; created: boolean }> {
    const chainId = parentChain ? chainIdsOf([parentChain, diffId])[1] : diffId;
    this.pin(chainId);
    const existing = this.layer(chainId);
    if (existing && this.deps.storage.layers.exists(chainId)) return { layer: existing, created: false };
    let created = false;
    try {
      const r = await extract(chainId);
      created = r.created;
      const blob = this.db.prepare('SELECT blob_digest FROM layer_blobs WHERE diff_id = ? LIMIT 1').get(diffId) as any;
      let blobDigest: string;
      let blobSize: number | undefined;
      if (blob && this.content.has(blob.blob_digest)) {
        blobDigest = blob.blob_digest;
      } else if (this.deps.storage.layers.hasSplit(chainId)) {
        // Kept once, as its files: save and push make the tar again
        // (layerTarStream). The record's blob is the tar itself, by its diffID.
        blobDigest = diffId;
        blobSize = tarSize;
      } else if (tarFile) {
        // Kept uncompressed, under its own digest (the diffID), as Docker
        // keeps layers: gzip runs at ~10 MB/s here and is only needed to
        // push, which compresses once (compressedBlob).
        await this.content.adopt(tarFile, diffId);
        blobDigest = diffId;
      } else {
        throw new NotFound(`layer ${diffId} has no stored blob`);
      }
      const layer: LayerRecord = {
        chainId, diffId, parent: parentChain ?? '', blobDigest, blobSize: blobSize ?? this.content.size(blobDigest), tarSize, size: r.size,
      };
      this.db.transaction(() => {
        if (blobSize === undefined) this.db.prepare('INSERT OR IGNORE INTO layer_blobs (diff_id, blob_digest) VALUES (?, ?)').run(layer.diffId, blobDigest);
        this.db.prepare('INSERT OR REPLACE INTO layers (chain_id, diff_id, parent, blob_digest, blob_size, tar_size, size) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(chainId, layer.diffId, layer.parent, blobDigest, layer.blobSize, layer.tarSize, r.size);
      })();
      return { layer, created: created || !existing };
    } catch (e) {
      this.unpin(chainId);
      if (created && !this.pins.has(chainId)) await this.deps.storage.layers.remove(chainId);
      throw e;
    }
  }

  private pin(chainId: string): void {
    const token = Symbol(chainId);
    const set = this.pins.get(chainId) ?? new Set<symbol>();
    set.add(token);
    this.pins.set(chainId, set);
    setTimeout(() => {
      set.delete(token);
      if (set.size === 0 && this.pins.get(chainId) === set) this.pins.delete(chainId);
    }, PIN_MS).unref();
  }

  private unpin(chainId: string): void {
    const set = this.pins.get(chainId);
    if (!set) return;
    const first = set.values().next();
    if (!first.done) set.delete(first.value);
    if (set.size === 0) this.pins.delete(chainId);
  }

  /** Records a compressed blob as holding `diffId` (distribution uses this after a pull). */
  recordLayerBlob(diffId: string, blobDigest: string): void {
    this.db.prepare('INSERT OR IGNORE INTO layer_blobs (diff_id, blob_digest) VALUES (?, ?)').run(diffId, blobDigest);
  }

  /**
   * Rollback of a failed operation: releases its hold on a layer it
   * committed and removes the layer (and blob) if nothing else uses it.
   */
  async dropLayerIfUnused(chainId: string): Promise<boolean> {
    this.unpin(chainId);
    return this.removeLayerIfUnused(chainId);
  }

  /** Removes a layer (and its blob) when no image, container layer or operation in flight stands on it. */
  private layersInUse(): Set<string> {
    const used = new Set<string>();
    for (const img of this.images.values()) for (const c of this.chainIds(img)) used.add(c);
    for (const c of this.deps.storage.chainIdsInUse()) used.add(c);
    return used;
  }

  private async removeLayerIfUnused(chainId: string): Promise<boolean> {
    if (this.pins.has(chainId)) return false;
    if (this.layersInUse().has(chainId)) return false;
    const rec = this.layer(chainId);
    await this.deps.storage.layers.remove(chainId);
    this.db.prepare('DELETE FROM layers WHERE chain_id = ?').run(chainId);
    if (rec) {
      const still = this.db.prepare('SELECT 1 FROM layers WHERE diff_id = ? LIMIT 1').get(rec.diffId);
      if (!still) {
        const blobs = this.db.prepare('SELECT blob_digest FROM layer_blobs WHERE diff_id = ?').all(rec.diffId) as any[];
        this.db.prepare('DELETE FROM layer_blobs WHERE diff_id = ?').run(rec.diffId);
        for (const b of blobs) this.content.delete(b.blob_digest);
      }
    }
    return true;
  }

  /**
   * A readable uncompressed tar of a layer (for save): the kept tar of a
   * data root from before tar-split, the tar made again from the layer's
   * files (checked against the diffID: a mismatch fails the stream), or the
   * pulled gzip blob unpacked.
   */
  layerTarStream(chainId: string): NodeJS.ReadableStream {
    const rec = this.layer(chainId);
    if (!rec) throw new NotFound(`layer ${chainId} not found`);
    if (this.content.has(rec.diffId)) return this.content.createReadStream(rec.diffId);
    if (this.deps.storage.layers.hasSplit(chainId)) return this.regeneratedTar(rec);
    const gunzip = zlib.createGunzip();
    pipeline(this.content.createReadStream(rec.blobDigest), gunzip).catch((e) => gunzip.destroy(e));
    return gunzip;
  }

  /**
   * The gzip blob of a layer (for push): the one it was pulled as, one made
   * by an earlier push, or made now from the uncompressed tar — once, also
   * across concurrent pushes — and kept, so the same layer is always pushed
   * as the same bytes and digest.
   */
  async compressedBlob(chainId: string): Promise<{ digest: string; size: number }> {
    const rec = this.layer(chainId);
    if (!rec) throw new NotFound(`layer ${chainId} not found`);
    const rows = this.db.prepare('SELECT blob_digest FROM layer_blobs WHERE diff_id = ? ORDER BY blob_digest = ? DESC').all(rec.diffId, rec.blobDigest) as any[];
    for (const r of rows) {
      if (r.blob_digest !== rec.diffId && this.content.has(r.blob_digest)) return { digest: r.blob_digest, size: this.content.size(r.blob_digest) };
    }
    const kept = this.content.has(rec.diffId);
    if (!kept && !this.deps.storage.layers.hasSplit(chainId)) throw new NotFound(`layer ${rec.diffId} has no stored blob`);
    let p = this.compressing.get(rec.diffId);
    if (!p) {
      p = (async () => {
        const gzip = zlib.createGzip({ chunkSize: 1 << 20 });
        const raw = (kept ? this.content.createReadStream(rec.diffId) : this.regeneratedTar(rec)).on('error', (e: Error) => gzip.destroy(e));
        const info = await this.content.put(raw.pipe(gzip));
        this.db.prepare('INSERT OR IGNORE INTO layer_blobs (diff_id, blob_digest) VALUES (?, ?)').run(rec.diffId, info.digest);
        return info;
      })().finally(() => this.compressing.delete(rec.diffId));
      this.compressing.set(rec.diffId, p);
    }
    return p;
  }

  /**
   * The layer's tar made again from its files and tar-split, hashed as it
   * goes: ends with an error, never quietly, when it is not the diffID's.
   */
  private regeneratedTar(rec: LayerRecord): Readable {
    const src = this.deps.storage.layers.tarStream(rec.chainId);
    const { stream: check } = digestCounter((got, size) => {
      if (got === rec.diffId && size === rec.tarSize) return undefined;
      log.error('layer tar does not match its diffID', { chainId: rec.chainId, diffId: rec.diffId, got, size });
      return new Error(`layer ${rec.diffId}: the tar made again from its files is not the layer (got ${got}, ${size} bytes); its files changed`);
    });
    src.on('error', (e) => check.destroy(e));
    return src.pipe(check);
  }

  // ---- images ----------------------------------------------------------------

  /**
   * Records an image from its config bytes (layers must already be
   * committed). Idempotent for an existing id. Tags are applied after.
   */
  async registerImage(configBytes: Buffer, opts: { parent?: string } = {}): Promise<ImageRecord> {
    const config = JSON.parse(configBytes.toString('utf8')) as ImageConfigJSON;
    const { digest: id } = await this.content.put(configBytes);
    const existing = this.images.get(id);
    if (existing) {
      for (const c of chainIdsOf(config.rootfs?.diff_ids ?? [])) this.unpin(c);
      return existing;
    }
    let size = 0;
    for (const c of chainIdsOf(config.rootfs?.diff_ids ?? [])) {
      const l = this.layer(c);
      if (!l) throw new InvalidParameter(`layer ${c} of image ${id} is missing`);
      size += l.size;
    }
    for (const c of chainIdsOf(config.rootfs?.diff_ids ?? [])) this.unpin(c);
    const created = config.created ?? new Date().toISOString();
    const img: ImageRecord = { id, config, repoTags: [], repoDigests: [], parent: opts.parent ?? '', size, created, lastTagTime: '' };
    this.db.prepare('INSERT OR IGNORE INTO images (id, parent, size, created, last_tag_time) VALUES (?, ?, ?, ?, ?)').run(id, img.parent, size, created, '');
    this.images.set(id, img);
    return img;
  }

  /** Rollback of a just-registered, untagged image (a failed multi-image load). */
  discardImage(id: string): void {
    const img = this.images.get(id);
    if (!img || this.refsOf(img).length > 0 || this.children(id).length > 0) return;
    this.db.prepare('DELETE FROM images WHERE id = ?').run(id);
    this.images.delete(id);
    this.content.delete(id);
  }

  /** docker commit and the builder: parent image + optional layer + config. */
  async createImage(opts: CreateImageOptions): Promise<ImageRecord> {
    const parent = opts.parent;
    const diffIds = [...(parent?.config.rootfs?.diff_ids ?? [])];
    const history = [...(parent?.config.history ?? [])];
    let created: { chainId: string; created: boolean } | undefined;
    try {
      if (opts.layerTar) {
        const cloned = opts.layerUpper ? await this.deps.storage.layers.prepareUpper(opts.layerUpper) : undefined;
        if (cloned) (opts.layerTar as Readable).destroy?.();
        const staged: StagedTar = cloned
          ? { diffId: cloned.diffId, tarSize: cloned.tarSize, prepared: cloned.prepared }
          : await this.stageLayer(opts.layerTar, { extract: true });
        try {
          const parentChain = diffIds.length ? chainIdsOf(diffIds)[diffIds.length - 1] : undefined;
          const r = await this.commitLayer(parentChain, staged);
          created = { chainId: r.layer.chainId, created: r.created };
          diffIds.push(staged.diffId);
        } finally {
          if (staged.file) await fsp.rm(staged.file, { force: true });
        }
      }
      const now = opts.created ?? opts.history.created ?? new Date().toISOString();
      const entry: HistoryEntry = { ...opts.history, created: opts.history.created ?? now };
      if (!opts.layerTar) entry.empty_layer = true;
      else delete entry.empty_layer;
      history.push(entry);
      const cfg: ImageConfigJSON = {
        architecture: parent?.config.architecture ?? hostArch(),
        ...(parent?.config.variant ? { variant: parent.config.variant } : {}),
        os: parent?.config.os ?? 'linux',
        ...(opts.author ? { author: opts.author } : {}),
        ...(opts.comment ? { comment: opts.comment } : {}),
        config: opts.config,
        ...(opts.container ? { container: opts.container } : {}),
        ...(opts.containerConfig ? { container_config: opts.containerConfig } : {}),
        created: now,
        docker_version: BERTH_VERSION,
        history,
        rootfs: { type: 'layers', diff_ids: diffIds },
      };
      const img = await this.registerImage(Buffer.from(JSON.stringify(cfg)), { parent: opts.parentId ?? parent?.id });
      for (const t of opts.tags ?? []) this.tagImage(img, parseTagged(t));
      return img;
    } catch (e) {
      if (created?.created) await this.dropLayerIfUnused(created.chainId).catch(() => {});
      throw e;
    }
  }

  /**
   * moby's restoreCachedImage (build --cache-from): `parent` extended by the
   * source's history entry at `index` and, unless it is an empty layer, the
   * source's layer for it (already stored, as the source is local).
   */
  async restoreCached(parent: ImageRecord | undefined, source: ImageRecord, index: number, config: ImageConfigJSON['config']): Promise<ImageRecord> {
    const sh = source.config.history ?? [];
    const entry = sh[index];
    const diffIds = [...(parent?.config.rootfs?.diff_ids ?? [])];
    if (!entry.empty_layer) diffIds.push((source.config.rootfs?.diff_ids ?? [])[sh.slice(0, index).filter((h) => !h.empty_layer).length]);
    const cfg: ImageConfigJSON = {
      architecture: source.config.architecture,
      os: source.config.os ?? 'linux',
      ...(source.config.author ? { author: source.config.author } : {}),
      config,
      created: entry.created,
      docker_version: BERTH_VERSION,
      history: [...(parent?.config.history ?? []), entry],
      rootfs: { type: 'layers', diff_ids: diffIds },
    };
    return this.registerImage(Buffer.from(JSON.stringify(cfg)), { parent: parent?.id });
  }

  // ---- tags ---------------------------------------------------------------------

  /** `docker tag source target`. */
  tag(source: string, target: string): void {
    const img = this.resolve(source);
    const ref = parseNormalized(target);
    if (ref.digest) throw new InvalidParameter('refusing to create a tag with a digest reference');
    this.tagImage(img, { ...ref, tag: ref.tag ?? 'latest' });
  }

  /** Points a tag (or, with a digest, a repo digest) at an image; a moved tag leaves the old image dangling. */
  tagImage(img: ImageRecord, ref: Reference): void {
    const full = fullString(ref);
    const canonical = ref.digest !== undefined && ref.tag === undefined;
    const now = new Date().toISOString();
    const prev = this.db.prepare('SELECT image_id FROM image_refs WHERE ref = ?').get(full) as any;
    this.db.transaction(() => {
      this.db.prepare('INSERT OR REPLACE INTO image_refs (ref, image_id, canonical) VALUES (?, ?, ?)').run(full, img.id, canonical ? 1 : 0);
      if (!canonical) this.db.prepare('UPDATE images SET last_tag_time = ? WHERE id = ?').run(now, img.id);
    })();
    if (prev && prev.image_id !== img.id) {
      const old = this.images.get(prev.image_id);
      if (old) {
        old.repoTags = old.repoTags.filter((r) => r !== full);
        old.repoDigests = old.repoDigests.filter((r) => r !== full);
      }
    }
    const list = canonical ? img.repoDigests : img.repoTags;
    if (!list.includes(full)) list.push(full);
    if (!canonical) {
      img.lastTagTime = now;
      this.logEvent('tag', img, familiarString(ref));
    }
  }

  private removeRef(full: string): void {
    const row = this.db.prepare('SELECT image_id FROM image_refs WHERE ref = ?').get(full) as any;
    critical(this.db, () => this.db.prepare('DELETE FROM image_refs WHERE ref = ?').run(full));
    const img: ImageRecord | undefined = row ? this.images.get(row.image_id) : undefined;
    if (img) {
      img.repoTags = img.repoTags.filter((r) => r !== full);
      img.repoDigests = img.repoDigests.filter((r) => r !== full);
    }
  }

  private refsOf(img: ImageRecord): string[] {
    return [...img.repoTags, ...img.repoDigests];
  }

  // ---- delete -------------------------------------------------------------------

  private usersOf(id: string): Array<{ id: string; running: boolean }> {
    return this.usage(id).map((u) => (typeof u === 'string' ? { id: u, running: false } : u));
  }

  /** `docker rmi`: Docker's untag-vs-delete rules and conflict messages. */
  async remove(ref: string, force = false, prune = true): Promise<DeleteItem[]> {
    const img = this.resolve(ref);
    const records: DeleteItem[] = [];
    const short = img.id.slice(7, 19);
    const isIdRef = img.id.startsWith(ref) || img.id.slice(7).startsWith(ref);
    let removedRepoRef = false;
    if (!isIdRef) {
      if (!force && isSingleReference(this.refsOf(img))) {
        const u = this.usersOf(img.id)[0];
        if (u) throw new Conflict(`conflict: unable to remove repository reference "${ref}" (must force) - container ${u.id.slice(0, 12)} is using its referenced image ${short}`);
      }
      const parsed = parseTagged(ref);
      const full = fullString(parsed);
      this.removeRef(full);
      this.logEvent('untag', img);
      records.push({ Untagged: familiarString(parsed) });
      // A removed tag takes along the digests of the same repository when no other tag of it remains.
      if (!parsed.digest) {
        const name = repoName(parsed);
        if (!img.repoTags.some((t) => t.startsWith(name + ':'))) {
          for (const d of img.repoDigests.filter((x) => x.startsWith(name + '@'))) {
            this.removeRef(d);
            records.push({ Untagged: familiarOf(d) });
          }
        }
      }
      if (this.refsOf(img).length > 0) return records;
      removedRepoRef = true;
    } else if (isSingleReference(this.refsOf(img))) {
      this.checkConflict(img, force ? 'hard' : 'hard+stopped');
      for (const r of this.refsOf(img)) {
        this.removeRef(r);
        this.logEvent('untag', img);
        records.push({ Untagged: familiarOf(r) });
      }
    }
    await this.deleteHelper(img, records, force, prune, removedRepoRef);
    refillReserve(this.db);
    return records;
  }

  private conflictOf(img: ImageRecord, mask: 'hard' | 'hard+stopped' | 'all'): { message: string; hard: boolean; used: boolean } | undefined {
    if (this.children(img.id).length > 0) return { hard: true, used: false, message: 'image has dependent child images' };
    const users = this.usersOf(img.id);
    const running = users.find((u) => u.running);
    if (running) return { hard: true, used: true, message: `image is being used by running container ${running.id.slice(0, 12)}` };
    if (mask === 'all' && this.refsOf(img).length > 0) return { hard: false, used: false, message: 'image is referenced in multiple repositories' };
    if (mask !== 'hard') {
      const stopped = users.find((u) => !u.running);
      if (stopped) return { hard: false, used: true, message: `image is being used by stopped container ${stopped.id.slice(0, 12)}` };
    }
    return undefined;
  }

  private checkConflict(img: ImageRecord, mask: 'hard' | 'hard+stopped' | 'all'): void {
    const c = this.conflictOf(img, mask);
    if (c) throw new Conflict(`conflict: unable to delete ${img.id.slice(7, 19)} (${c.hard ? 'cannot be forced' : 'must be forced'}) - ${c.message}`);
  }

  private async deleteHelper(img: ImageRecord, records: DeleteItem[], force: boolean, prune: boolean, quiet: boolean): Promise<void> {
    const c = this.conflictOf(img, force ? 'hard' : 'all');
    if (c) {
      const dangling = this.refsOf(img).length === 0 && this.children(img.id).length === 0;
      if (quiet && (!dangling || c.used)) return;
      throw new Conflict(`conflict: unable to delete ${img.id.slice(7, 19)} (${c.hard ? 'cannot be forced' : 'must be forced'}) - ${c.message}`);
    }
    for (const r of this.refsOf(img)) {
      this.removeRef(r);
      this.logEvent('untag', img);
      records.push({ Untagged: familiarOf(r) });
    }
    const chains = this.chainIds(img);
    // rmi must work on a full disk (it is how space is got back).
    critical(this.db, () => this.db.prepare('DELETE FROM images WHERE id = ?').run(img.id));
    this.images.delete(img.id);
    this.content.delete(img.id);
    this.logEvent('delete', img);
    records.push({ Deleted: img.id });
    for (const chainId of chains.reverse()) {
      if (await this.removeLayerIfUnused(chainId)) records.push({ Deleted: chainId });
    }
    const parent = img.parent && this.images.get(img.parent);
    if (prune && parent) await this.deleteHelper(parent, records, false, true, true);
  }

  /** `docker image prune`: dangling images (or all unused with dangling=false). */
  async prune(filters: Record<string, string[]>): Promise<{ ImagesDeleted: DeleteItem[] | null; SpaceReclaimed: number }> {
    const pf = new Filters(filters).validate(['dangling', 'until', 'label', 'label!']);
    const danglingOnly = pf.bool('dangling', true);
    const until = pf.get('until').length ? timestampMs(pf.get('until')[0]) : undefined;
    const deleted: DeleteItem[] = [];
    let reclaimed = 0;
    const candidates = this.all().filter((img) => {
      if (danglingOnly && this.refsOf(img).length > 0) return false;
      if (this.usersOf(img.id).length > 0) return false;
      if (until !== undefined && Date.parse(img.created) >= until) return false;
      return pf.matchLabels(img.config.config?.Labels);
    });
    // Children first so parents become prunable.
    candidates.sort((a, b) => this.depth(b) - this.depth(a));
    for (const img of candidates) {
      if (!this.images.has(img.id)) continue;
      if (danglingOnly && this.children(img.id).length > 0) continue;
      const size = img.size;
      try {
        const recs: DeleteItem[] = [];
        for (const r of this.refsOf(img)) {
          this.removeRef(r);
          this.logEvent('untag', img);
          recs.push({ Untagged: familiarOf(r) });
        }
        await this.deleteHelper(img, recs, false, false, false);
        deleted.push(...recs);
        if (recs.some((r) => r.Deleted === img.id)) reclaimed += size;
      } catch (e) {
        if (!(e instanceof Conflict)) throw e;
      }
    }
    await this.pruneLayers();
    this.deps.events.publish('image', 'prune', '', { reclaimed: String(reclaimed) });
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  private depth(img: ImageRecord): number {
    let d = 0;
    let p = img.parent;
    while (p && d < 1000) { d++; p = this.images.get(p)?.parent ?? ''; }
    return d;
  }

  // ---- views for the API ---------------------------------------------------------

  isDangling(img: ImageRecord): boolean {
    return img.repoTags.length === 0 && img.repoDigests.length === 0;
  }

  /** GET /images/json entries. */
  list(opts: { all?: boolean; digests?: boolean; filters?: Record<string, string[]>; sharedSize?: boolean }): object[] {
    const f = opts.filters ?? {};
    const lf = new Filters(f).validate(['dangling', 'label', 'label!', 'reference', 'before', 'since', 'until']);
    const dangling = lf.contains('dangling') ? lf.bool('dangling', false) : undefined;
    const before = f.before?.length ? this.resolve(f.before[0]) : undefined;
    const since = f.since?.length ? this.resolve(f.since[0]) : undefined;
    const until = f.until?.length ? timestampMs(f.until[0]) : undefined;
    const layerUse = new Map<string, number>();
    if (opts.sharedSize) {
      for (const img of this.images.values()) for (const c of this.chainIds(img)) layerUse.set(c, (layerUse.get(c) ?? 0) + 1);
    }
    const out: Array<{ created: number; v: object }> = [];
    for (const img of this.images.values()) {
      const createdMs = Date.parse(img.created);
      if (before && !(createdMs < Date.parse(before.created))) continue;
      if (since && !(createdMs > Date.parse(since.created))) continue;
      if (until !== undefined && !(createdMs < until)) continue;
      const labels = img.config.config?.Labels ?? null;
      if (!lf.matchLabels(labels)) continue;
      let tags = img.repoTags.map(familiarOf);
      let digests = img.repoDigests.map(familiarOf);
      if (f.reference?.length) {
        tags = tags.filter((t) => f.reference!.some((p) => refMatches(p, t)));
        digests = digests.filter((t) => f.reference!.some((p) => refMatches(p, t)));
        if (tags.length === 0 && digests.length === 0) continue;
      }
      const isDangling = this.isDangling(img);
      if (dangling === true && !isDangling) continue;
      if (dangling === false && isDangling) continue;
      if (isDangling) {
        // Intermediate images (with children) only show with all=true.
        if (!opts.all && this.children(img.id).length > 0) continue;
        tags = ['<none>:<none>'];
        digests = ['<none>@<none>'];
      }
      let shared = -1;
      if (opts.sharedSize) {
        shared = 0;
        for (const c of this.chainIds(img)) if ((layerUse.get(c) ?? 0) > 1) shared += this.layer(c)?.size ?? 0;
      }
      out.push({
        created: createdMs,
        v: {
          Containers: opts.sharedSize ? this.usersOf(img.id).length : -1,
          Created: Math.floor(createdMs / 1000),
          Id: img.id,
          Labels: labels,
          ParentId: img.parent,
          RepoDigests: digests,
          RepoTags: tags,
          SharedSize: shared,
          Size: img.size,
          VirtualSize: img.size,
        },
      });
    }
    out.sort((a, b) => b.created - a.created);
    return out.map((x) => x.v);
  }

  /** GET /images/{name}/json. */
  inspect(ref: string): object {
    const img = this.resolve(ref);
    const c = img.config;
    const chains = this.chainIds(img);
    const lp = (x: string) => this.deps.storage.layerPath(x);
    const top = chains[chains.length - 1];
    const graphData: Record<string, string> = top
      ? {
          ...(chains.length > 1 ? { LowerDir: chains.slice(0, -1).reverse().map(lp).join(':') } : {}),
          MergedDir: path.join(path.dirname(lp(top)), 'merged'),
          UpperDir: lp(top),
          WorkDir: path.join(path.dirname(lp(top)), 'work'),
        }
      : {};
    return {
      Id: img.id,
      RepoTags: img.repoTags.map(familiarOf),
      RepoDigests: img.repoDigests.map(familiarOf),
      Parent: img.parent,
      Comment: c.comment ?? '',
      Created: c.created ?? img.created,
      Container: c.container ?? '',
      ContainerConfig: c.container_config ?? emptyContainerConfig(),
      DockerVersion: c.docker_version ?? '',
      Author: c.author ?? '',
      Config: c.config ?? null,
      Architecture: c.architecture ?? '',
      ...(c.variant ? { Variant: c.variant } : {}),
      Os: c.os ?? 'linux',
      Size: img.size,
      VirtualSize: img.size,
      GraphDriver: { Data: graphData, Name: 'overlay2' },
      RootFS: { Type: 'layers', Layers: c.rootfs?.diff_ids ?? [] },
      Metadata: { LastTagTime: img.lastTagTime || ZERO_TIME },
    };
  }

  /** GET /images/{name}/history, newest first. */
  history(ref: string): object[] {
    const img = this.resolve(ref);
    const hist = img.config.history ?? [];
    const chains = this.chainIds(img);
    // Ancestors own the prefix of the history: their ids label those entries.
    const owners = new Map<number, ImageRecord>();
    owners.set(hist.length - 1, img);
    for (let p = this.images.get(img.parent), n = 0; p && n < 1000; p = this.images.get(p.parent), n++) {
      const len = p.config.history?.length ?? 0;
      if (len > 0 && !owners.has(len - 1)) owners.set(len - 1, p);
    }
    let layerIdx = 0;
    const out: object[] = [];
    hist.forEach((h, i) => {
      let size = 0;
      if (!h.empty_layer) {
        const chain = chains[layerIdx++];
        size = chain ? this.layer(chain)?.size ?? 0 : 0;
      }
      const owner = owners.get(i);
      out.push({
        Comment: h.comment ?? '',
        Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
        CreatedBy: h.created_by ?? '',
        Id: owner ? owner.id : '<missing>',
        Size: size,
        Tags: owner && owner.repoTags.length ? owner.repoTags.map(familiarOf) : null,
      });
    });
    return out.reverse();
  }

  /** Event helper for other image operations (pull/push/save/load/import). */
  logEvent(action: string, img: ImageRecord, name = img.id): void {
    // Docker puts the image's labels into the event attributes too.
    this.deps.events.publish('image', action, img.id, { ...(img.config.config?.Labels ?? {}), name });
  }
}

function emptyContainerConfig(): ImageConfig {
  return {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null,
    WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null,
  };
}

/** All refs are of one repository and there is at most one tag. */
function isSingleReference(refs: string[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  let single: string | undefined;
  const canonicalNames = new Set<string>();
  for (const r of refs) {
    const at = r.indexOf('@');
    if (at >= 0) canonicalNames.add(r.slice(0, at));
    else if (single === undefined) single = r;
    else return false;
  }
  const name = (single ?? refs[0]).replace(/@.*$/, '').replace(/:[^:/]*$/, '');
  return canonicalNames.size === 1 && canonicalNames.has(name);
}

/** `reference` filter: glob over the familiar name (with and without tag). */
function refMatches(pattern: string, familiar: string): boolean {
  const re = new RegExp('^' + pattern.split('').map((ch) => (ch === '*' ? '[^/]*' : ch === '?' ? '[^/]' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('') + '$');
  const name = familiar.replace(/[:@].*$/, '').replace(/^(.*?\/.*?):.*$/, '$1');
  const bare = familiar.includes('@') ? familiar.slice(0, familiar.indexOf('@')) : familiar.replace(/:[^:/]*$/, '');
  return re.test(familiar) || re.test(bare) || re.test(name);
}

