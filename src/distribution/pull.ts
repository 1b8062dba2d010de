// Pull: resolve the manifest (choosing a platform from a list/index), fetch
// and verify the config, download layers concurrently straight into the
// content store (resuming with Range after a cut), then extract them in
// order and record the image. Nothing is tagged until every blob is verified
// and every layer extracted; layers this pull created are dropped on failure.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImageService } from '../image/service';
import type { ImageConfigJSON } from '../image/types';
import { familiarName, familiarString } from '../image/reference';
import { chainIdsOf, extractSink, extractStream, type PreparedLayer } from '../host/storage/layers';
import { layerSinkAvailable, openLayerSink, type LayerSink } from '../host/storage/layer-sink';
import { poolDigestCounter } from '../host/storage/pool-digest';
import type { DigestCounter } from '../util/digest';
import { log } from '../util/log';
import { InvalidParameter, NotFound, SystemError, BerthError } from '../util/errors';
import { limiter } from '../util/limiter';
import { MANIFEST_ACCEPT, MAX_MANIFEST_SIZE, MT, ManifestError, parseManifest, type Descriptor, type ImageManifest, type Manifest, type Platform } from './manifest';
import { hostPlatform, platformString, selectManifest } from './platform';
import { LayerProgress, shortId, type ProgressSink } from './progress';
import { RegistrySession, TransientError, failure, readAll, withRetry, type RegistryResponse } from './transport';
import type { DistributionMetadata } from './metadata';

const LAYER_TYPES = new Set<string>([MT.dockerLayer, MT.ociLayer, MT.ociLayerGzip, 'application/vnd.docker.image.rootfs.diff.tar']);
const CONFIG_TYPES = new Set<string>([MT.dockerConfig, MT.ociConfig]);
const MAX_CONFIG_SIZE = 8 * 1024 * 1024;

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  manifest: Manifest;
}

/** GETs a manifest by tag or digest and verifies it against the digest it must have. */
export async function fetchManifest(s: RegistrySession, reference: string, shown: string, repoShown: string): Promise<FetchedManifest> {
  return withRetry(async () => {
    const res = await s.request('GET', `/v2/${s.repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT.join(', ') } });
    if (res.status === 404) {
      const err = await failure(res, '');
      throw new NotFound(`manifest for ${shown} not found: ${err.message.replace(/^: /, '')}`);
    }
    if (res.status === 403) {
      // Docker: denied reads as "not found" (the repository may not exist).
      const err = await failure(res, '');
      throw new NotFound(`pull access denied for ${repoShown}, repository does not exist or may require 'docker login': ${err.message.replace(/^: /, '')}`);
    }
    if (res.status === 401) {
      const err = await failure(res, '');
      throw new SystemError(`Head "${(await s.base())}/v2/${s.repo}/manifests/${reference}": ${err.message.replace(/^: /, '')}`);
    }
    if (res.status !== 200) throw await failure(res, `fetching manifest for ${shown}`);
    const cl = Number(res.headers['content-length'] ?? 0);
    if (cl > MAX_MANIFEST_SIZE) {
      res.body.destroy();
      throw new InvalidParameter(`manifest for ${shown} is too large: ${cl} bytes (limit ${MAX_MANIFEST_SIZE})`);
    }
    let bytes: Buffer;
    try {
      bytes = await readAll(res.body, MAX_MANIFEST_SIZE);
    } catch (e) {
      if (e instanceof SystemError && /larger than/.test(e.message)) throw new InvalidParameter(`manifest for ${shown} is too large (limit ${MAX_MANIFEST_SIZE} bytes)`);
      throw new TransientError(`reading manifest for ${shown}: ${(e as Error).message}`);
    }
    const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new InvalidParameter(`manifest verification failed for digest ${reference}: got ${digest}`);
    }
    const header = res.headers['docker-content-digest'];
    if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
      throw new InvalidParameter(`manifest verification failed for ${shown}: registry says ${header}, content is ${digest}`);
    }
    let manifest: Manifest;
    try {
      manifest = parseManifest(bytes, res.headers['content-type']);
    } catch (e) {
      throw new InvalidParameter(`invalid manifest for ${shown}: ${(e as ManifestError).message}`);
    }
    return { digest, mediaType: manifest.mediaType, bytes, manifest };
  });
}

/** A layer extracted into a temp dir and hashed, waiting to be named by its chain ID. */
interface Extracted { prepared: PreparedLayer; diffId: string; tarSize: number }

export interface PullDeps {
  images: ImageService;
  meta: DistributionMetadata;
  maxConcurrentDownloads: number;
  /** Shared by all pulls: a blob being downloaded is downloaded once. */
  inflight: Map<string, Promise<void>>;
}

/** A small blob (config) fetched into memory and verified. */
async function fetchSmallBlob(s: RegistrySession, d: Descriptor, limit: number): Promise<Buffer> {
  return withRetry(async () => {
    const res = await getBlob(s, d.digest, {});
    if (res.status !== 200) throw await failure(res, `fetching blob ${d.digest}`);
    let bytes: Buffer;
    try {
      bytes = await readAll(res.body, limit);
    } catch (e) {
      throw new TransientError(`reading blob ${d.digest}: ${(e as Error).message}`);
    }
    const got = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
    if (got !== d.digest) throw new InvalidParameter(`filesystem layer verification failed for digest ${d.digest}`);
    return bytes;
  });
}

/** GET a blob, following redirects (Docker Hub sends layers to a CDN). */
async function getBlob(s: RegistrySession, digest: string, headers: Record<string, string>): Promise<RegistryResponse> {
  let res = await s.request('GET', `/v2/${s.repo}/blobs/${digest}`, { headers });
  for (let i = 0; i < 5 && [301, 302, 303, 307, 308].includes(res.status); i++) {
    const loc = res.headers.location;
    res.body.resume();
    if (!loc) break;
    const base = await s.base();
    const target = new URL(loc, base);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new InvalidParameter(`registry redirected to an unsupported URL: ${target.protocol}`);
    res = await s.request('GET', target.href, { headers });
  }
  return res;
}

/** What the download stages get at a time: about 1 MiB rather than the socket's 64 KiB. */
const COALESCE = 1 << 20;

/**
 * The extraction's input (the tap): the body's chunks joined into ~1 MiB
 * ones, `seen` told of each. Each chunk downstream is a job on libuv's pool
 * (gunzip, hash, file write) whose wake-up preempted the JS thread on a
 * loaded 2-core host: ~1,600 jobs per stage for 100 MB became ~100, for one
 * copy of the bytes. (Bytes held here when a download is cut are lost to
 * the extraction only, which a cut ends anyway.)
 */
function coalesce(seen: (n: number) => void): Transform {
  let parts: Buffer[] = [];
  let bytes = 0;
  return new Transform({
    highWaterMark: COALESCE,
    transform(chunk: Buffer, _e, cb) {
      seen(chunk.length);
      parts.push(chunk);
      bytes += chunk.length;
      if (bytes >= COALESCE) {
        const out = parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes);
        parts = [];
        bytes = 0;
        cb(null, out);
        return;
      }
      cb();
    },
    flush(cb) {
      cb(null, bytes ? Buffer.concat(parts, bytes) : undefined);
    },
  });
}

/** sha256 of a file (a resumed download, whole). */
async function hashFile(file: string): Promise<string> {
  const c = poolDigestCounter();
  c.stream.resume();
  await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), c.stream);
  return c.digest();
}

/**
 * Downloads a blob into the content store, verified. A cut connection is
 * resumed with a Range request; a mismatch leaves nothing behind.
 */
async function downloadBlob(s: RegistrySession, d: Descriptor, images: ImageService, progress: LayerProgress, to: { tap?: Writable; sink?: (fd: number) => LayerSink }, mark?: (k: string) => void): Promise<void> {
  const content = images.content;
  const tmp = content.tempPath('.download');
  const { tap } = to;
  // The native sink (layer-sink.ts) takes one attempt from byte 0: it
  // writes, hashes and gunzips in one pool job per batch. A resumed
  // download is written here and hashed from its file.
  let sinkFor = to.sink;
  let sinkDigest: string | undefined;
  // The blob's sha256 runs on libuv's pool as the bytes pass (pool-digest),
  // off the JS thread that also parses and extracts them. It covers one
  // attempt that started at byte 0; a resumed download is hashed from the
  // file once it is whole (the file is the truth).
  let hash: DigestCounter | undefined;
  let received = 0;
  try {
    await withRetry(async () => {
      // A cut can leave fewer bytes on disk than were counted (the file
      // stream was destroyed with writes pending): the file is the truth.
      const onDisk = fs.existsSync(tmp) ? fs.statSync(tmp).size : 0;
      if (onDisk > 0 && onDisk < received) {
        received = onDisk;
      } else if (onDisk !== received) {
        received = 0;
        await fsp.rm(tmp, { force: true });
      }
      // The tap (extraction as the bytes arrive) sees one unbroken stream or nothing: a resumed download ends it.
      if (received > 0 && tap && !tap.destroyed) tap.destroy(new TransientError('download resumed'));
      const headers: Record<string, string> = received > 0 ? { Range: `bytes=${received}-` } : {};
      const res = await getBlob(s, d.digest, headers);
      if (res.status === 200 && received > 0) {
        received = 0;
        await fsp.rm(tmp, { force: true });
      } else if (res.status !== 200 && res.status !== 206) {
        throw await failure(res, `fetching blob ${d.digest}`);
      }
      sinkDigest = undefined;
      const sink = received === 0 && sinkFor ? sinkFor : undefined;
      sinkFor = undefined;
      const h = received === 0 && !sink ? poolDigestCounter() : undefined;
      hash = h;
      const counter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          if (received + chunk.length > d.size) {
            cb(new InvalidParameter(`blob ${d.digest} is larger than the ${d.size} bytes its manifest says`));
            return;
          }
          received += chunk.length;
          progress.update(received);
          if (!tap || tap.destroyed || tap.writableEnded || tap.write(chunk)) { cb(null, chunk); return; }
          const go = () => { tap.off('drain', go); tap.off('close', go); cb(null, chunk); };
          tap.on('drain', go);
          tap.on('close', go);
        },
      });
      try {
        if (sink) {
          const fd = fs.openSync(tmp, 'a', 0o600);
          const sk = sink(fd);
          try {
            await pipeline(res.body, counter, sk.input);
            sinkDigest = sk.blobDigest();
          } finally {
            // Every job done before the file is looked at again (a resume stats it).
            await sk.settle();
            fs.closeSync(fd);
          }
        } else {
          // A high-water mark lets the file stream write what came during a write in one writev.
          await pipeline(res.body, counter, ...(h ? [h.stream] : []), fs.createWriteStream(tmp, { flags: 'a', mode: 0o600, highWaterMark: COALESCE }));
        }
      } catch (e) {
        sinkDigest = undefined;
        hash = undefined;
        if (tap && !tap.destroyed) tap.destroy(e as Error);
        if (e instanceof BerthError && !(e instanceof TransientError)) throw e;
        throw new TransientError(`downloading ${d.digest}: ${(e as Error).message}`);
      }
      if (received < d.size) {
        sinkDigest = undefined;
        throw new TransientError(`downloading ${d.digest}: connection closed after ${received} of ${d.size} bytes`);
      }
    }, 5);
    mark?.('received');
    progress.update(received, true);
    tap?.end();
    const got = hash ? hash.digest() : sinkDigest ?? await hashFile(tmp);
    if (got !== d.digest || received !== d.size) {
      throw new InvalidParameter(`filesystem layer verification failed for digest ${d.digest}`);
    }
    await content.commitFile(tmp, d.digest);
    mark?.('stored');
  } finally {
    if (tap && !tap.writableEnded && !tap.destroyed) tap.destroy(new Error('download failed'));
    await fsp.rm(tmp, { force: true });
  }
}

/**
 * Pulls one platform image given its manifest. `tagRef` is tagged and
 * `digestRef` recorded as a repo digest once all is in place.
 */
export async function pullImageManifest(
  deps: PullDeps,
  s: RegistrySession,
  registry: string,
  man: ImageManifest,
  manDigest: string,
  manBytes: Buffer,
  sink: ProgressSink,
): Promise<{ imageId: string; existed: boolean }> {
  const { images } = deps;
  const t0 = Date.now();
  const phases: Record<string, number> = {};
  const mark = (k: string) => (phases[k] = Date.now() - t0);
  if (!CONFIG_TYPES.has(man.config.mediaType) && man.config.mediaType !== undefined) {
    throw new InvalidParameter(`unsupported image config media type: ${man.config.mediaType} (not a container image)`);
  }
  for (const l of man.layers) {
    if (l.mediaType === MT.dockerForeignLayer) continue;
    if (l.mediaType === MT.ociLayerZstd) throw new InvalidParameter(`unsupported layer media type: ${l.mediaType} (zstd)`);
    if (l.mediaType !== undefined && !LAYER_TYPES.has(l.mediaType)) throw new InvalidParameter(`unsupported layer media type: ${l.mediaType}`);
  }
  const configBytes = await fetchSmallBlob(s, man.config, MAX_CONFIG_SIZE);
  mark('config');
  let config: ImageConfigJSON;
  try {
    config = JSON.parse(configBytes.toString('utf8'));
  } catch {
    throw new InvalidParameter(`invalid image config ${man.config.digest}: malformed JSON`);
  }
  const diffIds = config?.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== man.layers.length || !diffIds.every((d) => /^sha256:[a-f0-9]{64}$/.test(d))) {
    throw new InvalidParameter(`invalid image config ${man.config.digest}: rootfs.diff_ids do not match the ${man.layers.length} layers of the manifest`);
  }
  const imageId = man.config.digest;
  const existed = !!images.get(imageId);
  const chainIds = chainIdsOf(diffIds);
  const present = chainIds.map((c) => !!images.layer(c) && images.deps.storage.layers.exists(c));
  man.layers.forEach((l, i) => sink.write({ status: present[i] ? 'Already exists' : 'Pulling fs layer', progressDetail: {}, id: shortId(l.digest) }));

  // Each layer is downloaded and, as its bytes arrive, gunzipped, hashed
  // (diffID) and extracted into a temp layer dir — all layers at once, each
  // blob once (also across concurrent pulls). Layers are named and recorded
  // in order after every one is verified. A download that had to resume, or
  // a blob another pull fetched, is extracted from the stored blob instead.
  const limit = limiter(deps.maxConcurrentDownloads);
  const useSink = layerSinkAvailable();
  const layerStore = images.deps.storage.layers;
  const extractFromBlob = (l: Descriptor, prog: LayerProgress) => {
    let read = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        read += chunk.length;
        prog.update(read);
        cb(null, chunk);
      },
    });
    const src = fs.createReadStream(images.content.path(l.digest), { highWaterMark: 1 << 20 });
    src.on('error', (e) => counter.destroy(e));
    return extractStream(src.pipe(counter), layerStore);
  };
  const stages = man.layers.map((l, i): Promise<Extracted | undefined> => {
    if (present[i]) return Promise.resolve(undefined);
    const id = shortId(l.digest);
    const prog = new LayerProgress(sink, id, 'Extracting', l.size);
    const done = () => {
      sink.write({ status: 'Verifying Checksum', progressDetail: {}, id });
      sink.write({ status: 'Download complete', progressDetail: {}, id });
    };
    if (images.content.has(l.digest)) {
      sink.write({ status: 'Download complete', progressDetail: {}, id });
      return limit(() => extractFromBlob(l, prog));
    }
    const other = deps.inflight.get(l.digest);
    if (other) return other.then(() => { done(); return limit(() => extractFromBlob(l, prog)); });
    let extracting: Promise<Extracted> | undefined;
    const download = limit(
      async () => {
        mark(`dl${i}.start`);
        const dlProgress = new LayerProgress(sink, id, 'Downloading', l.size);
        const marks = (k: string) => mark(`dl${i}.${k}`);
        if (useSink) {
          // The extraction starts with the attempt that feeds the sink.
          const sinkFor = (fd: number) => {
            const sk = openLayerSink(fd, (n) => prog.update(n));
            extracting = extractSink(sk, layerStore);
            extracting.then(() => mark(`x${i}.done`), () => {});
            return sk;
          };
          await downloadBlob(s, l, images, dlProgress, { sink: sinkFor }, marks);
          return;
        }
        let read = 0;
        const tap = coalesce((n) => {
          read += n;
          prog.update(read);
        });
        extracting = extractStream(tap, layerStore);
        extracting.then(() => mark(`x${i}.done`), () => {});
        await downloadBlob(s, l, images, dlProgress, { tap }, marks);
      },
      () => sink.write({ status: 'Waiting', progressDetail: {}, id }),
    ).finally(() => deps.inflight.delete(l.digest));
    deps.inflight.set(l.digest, download);
    // The download resolves only once the blob's digest is verified: the
    // layer sink does not check gzip's CRC, the digest (and the diffID
    // below) stand for it, so nothing is recorded from an unverified blob.
    return download.then(async () => {
      done();
      try {
        if (!extracting) throw new Error('no extraction started');
        return await extracting;
      } catch (e) {
        log.info('layer extraction while downloading failed; extracting from the stored blob', { layer: l.digest, err: (e as Error).message });
        return limit(() => extractFromBlob(l, prog));
      }
    }, async (e) => {
      // The download failed: its extraction (if it finished) is not wanted.
      await extracting?.then((x) => layerStore.discard(x.prepared), () => {});
      throw e;
    });
  });
  // Keep rejections from being unhandled while earlier layers are recorded.
  stages.forEach((p) => p.catch(() => {}));

  const created: string[] = [];
  try {
    let parent: string | undefined;
    for (let i = 0; i < man.layers.length; i++) {
      const l = man.layers[i];
      const id = shortId(l.digest);
      if (present[i]) {
        parent = chainIds[i];
        continue;
      }
      const x = (await stages[i])!;
      if (x.diffId !== diffIds[i]) {
        throw new InvalidParameter(`layer ${l.digest} does not match its diff ID in the image config (got ${x.diffId}, want ${diffIds[i]})`);
      }
      mark(`l${i}.ready`);
      images.recordLayerBlob(x.diffId, l.digest);
      // Journal first: a crash while the layer is being committed (its
      // directory exists, its record may not) must still drop it at startup.
      deps.meta.journalAdd(chainIds[i]);
      let r: Awaited<ReturnType<typeof images.commitLayer>>;
      try {
        r = await images.commitPrepared(parent, x.diffId, x.tarSize, x.prepared);
      } catch (e) {
        deps.meta.journalRemove([chainIds[i]]);
        throw e;
      }
      if (r.created) created.push(r.layer.chainId);
      else deps.meta.journalRemove([chainIds[i]]);
      deps.meta.recordLayer(x.diffId, { digest: l.digest, mediaType: l.mediaType ?? MT.dockerLayer, size: l.size, registry, repo: s.repo });
      sink.write({ status: 'Pull complete', progressDetail: {}, id });
      mark(`l${i}.placed`);
      parent = chainIds[i];
    }
    await images.content.put(manBytes, manDigest);
    const img = await images.registerImage(configBytes);
    deps.meta.recordManifest(img.id, manDigest, man.mediaType);
    deps.meta.journalRemove(created);
    mark('registered');
    log.debug('image pulled', { image: img.id, ms: phases });
    return { imageId: img.id, existed };
  } catch (e) {
    // Extractions not yet placed are removed (discarding a placed one finds nothing).
    for (const r of await Promise.allSettled(stages)) {
      if (r.status === 'fulfilled' && r.value) await layerStore.discard(r.value.prepared);
    }
    for (const c of created.reverse()) await images.dropLayerIfUnused(c).catch(() => {});
    deps.meta.journalRemove(created);
    throw e;
  }
}

/** Picks the platform's manifest from a list/index, or explains what there is. */
export function choosePlatform(entries: Descriptor[], want: Platform | undefined, shown: string): Descriptor {
  const p = want ?? hostPlatform();
  const d = selectManifest(entries, p);
  if (!d) {
    const have = entries.map((e) => (e.platform ? platformString(e.platform) : '?')).join(', ');
    throw new NotFound(`no matching manifest for ${platformString(p)} in the manifest list entries (${shown} has: ${have || 'none'})`);
  }
  return d;
}

export { familiarName, familiarString };
