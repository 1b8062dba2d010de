// Push: layers (their gzip blobs: pulled ones as they came, layers made here
// compressed once on their first push and kept) are checked
// with HEAD, mounted from another repository of the same registry when we
// know one that has them, or uploaded (POST, PATCH with the stream, PUT with
// the digest) — several at once; then the config, then the manifest. When
// the image came from a registry, its original manifest is sent again so the
// digest stays the same.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { ImageService } from '../image/service';
import type { ImageRecord } from '../image/types';
import { InvalidParameter, NotFound, SystemError } from '../util/errors';
import { limiter } from '../util/limiter';
import { MT, parseManifest, type Descriptor } from './manifest';
import { LayerProgress, shortId, type ProgressSink } from './progress';
import { RegistrySession, failure, withRetry } from './transport';
import type { DistributionMetadata } from './metadata';

export interface PushDeps {
  images: ImageService;
  meta: DistributionMetadata;
  maxConcurrentUploads: number;
}

interface PushBlob {
  desc: Descriptor;
  diffId?: string;
}

/** The manifest to push for an image: the one it was pulled with if every blob is here, else a new schema 2 manifest. */
export async function manifestFor(deps: PushDeps, img: ImageRecord): Promise<{ bytes: Buffer; mediaType: string; layers: PushBlob[]; config: Descriptor }> {
  const { images, meta } = deps;
  const diffIds = img.config.rootfs?.diff_ids ?? [];
  for (const m of meta.manifestsFor(img.id)) {
    if (!images.content.has(m.digest)) continue;
    const bytes = images.content.readBytes(m.digest);
    let man;
    try {
      man = parseManifest(bytes, m.mediaType);
    } catch {
      continue;
    }
    if (man.kind !== 'image' || man.config.digest !== img.id || man.layers.length !== diffIds.length) continue;
    if (!man.layers.every((l) => images.content.has(l.digest))) continue;
    return { bytes, mediaType: man.mediaType, config: man.config, layers: man.layers.map((l, i) => ({ desc: l, diffId: diffIds[i] })) };
  }
  const configBytes = images.content.readBytes(img.id);
  const config: Descriptor = { mediaType: MT.dockerConfig, size: configBytes.length, digest: img.id };
  // Layers made here are kept uncompressed: each is gzipped once, here, and the blob kept for later pushes.
  const layers: PushBlob[] = await Promise.all(images.chainIds(img).map(async (c, i) => {
    let blob: { digest: string; size: number };
    try {
      blob = await images.compressedBlob(c);
    } catch (e) {
      if (e instanceof NotFound) throw new SystemError(`layer ${diffIds[i]} of ${img.id} has no stored blob to push`);
      throw e;
    }
    return { desc: { mediaType: MT.dockerLayer, size: blob.size, digest: blob.digest }, diffId: diffIds[i] };
  }));
  const bytes = Buffer.from(
    JSON.stringify(
      { schemaVersion: 2, mediaType: MT.dockerManifest, config, layers: layers.map((l) => l.desc) },
      null,
      3,
    ),
  );
  return { bytes, mediaType: MT.dockerManifest, config, layers };
}

async function blobExists(s: RegistrySession, digest: string): Promise<boolean> {
  return withRetry(async () => {
    const res = await s.request('HEAD', `/v2/${s.repo}/blobs/${digest}`);
    res.body.resume();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await failure(res, `checking blob ${digest}`);
  });
}

function uploadUrl(base: string, location: string | string[] | undefined, digest?: string): string {
  if (typeof location !== 'string' || !location) throw new SystemError('registry did not return an upload location');
  const u = new URL(location, base);
  if (digest) u.searchParams.set('digest', digest);
  return u.href;
}

/** Uploads one blob from the content store; returns how it got there. */
async function uploadBlob(
  s: RegistrySession,
  deps: PushDeps,
  d: Descriptor,
  registry: string,
  sink: ProgressSink,
  id: string,
): Promise<'exists' | 'mounted' | 'pushed'> {
  if (await blobExists(s, d.digest)) return 'exists';
  const base = await s.base();
  // Cross-repository mount from a repository of this registry known to hold the blob.
  const sources = deps.meta
    .blobsByDigest(d.digest)
    .filter((b) => b.registry === registry && b.repo !== s.repo);
  let location: string | string[] | undefined;
  for (const src of sources.slice(0, 3)) {
    const res = await s.request('POST', `/v2/${s.repo}/blobs/uploads/?mount=${encodeURIComponent(d.digest)}&from=${encodeURIComponent(src.repo)}`);
    res.body.resume();
    if (res.status === 201) {
      sink.write({ status: `Mounted from ${src.repo}`, progressDetail: {}, id });
      return 'mounted';
    }
    if (res.status === 202) {
      location = res.headers.location; // the registry started an ordinary upload instead
      break;
    }
  }
  await withRetry(async (attempt) => {
    let loc = attempt === 0 ? location : undefined;
    if (!loc) {
      const res = await s.request('POST', `/v2/${s.repo}/blobs/uploads/`);
      res.body.resume();
      if (res.status !== 202) throw await failure(res, `starting upload of ${d.digest}`);
      loc = res.headers.location;
    }
    const prog = new LayerProgress(sink, id, 'Pushing', d.size);
    let sent = 0;
    const hash = createHash('sha256');
    const patch = await s.request('PATCH', uploadUrl(base, loc), {
      headers: { 'Content-Type': 'application/octet-stream' },
      contentLength: d.size,
      idleTimeoutMs: 120000,
      body: () => {
        sent = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _e, cb) {
            sent += chunk.length;
            hash.update(chunk);
            prog.update(sent);
            cb(null, chunk);
          },
        });
        const rs = deps.images.content.createReadStream(d.digest);
        rs.on('error', (e) => counter.destroy(e));
        return rs.pipe(counter);
      },
    });
    patch.body.resume();
    if (patch.status !== 202 && patch.status !== 204) throw await failure(patch, `uploading ${d.digest}`);
    prog.update(sent, true);
    const put = await s.request('PUT', uploadUrl(base, patch.headers.location ?? loc, d.digest));
    put.body.resume();
    if (put.status !== 201 && put.status !== 204) throw await failure(put, `finishing upload of ${d.digest}`);
  });
  return 'pushed';
}

/** Pushes one tag of an image; returns the manifest digest and size. */
export async function pushTag(
  deps: PushDeps,
  s: RegistrySession,
  registry: string,
  img: ImageRecord,
  tag: string,
  sink: ProgressSink,
): Promise<{ digest: string; size: number }> {
  const plan = await manifestFor(deps, img);
  for (const l of plan.layers) sink.write({ status: 'Preparing', progressDetail: {}, id: shortId(l.desc.digest) });
  const limit = limiter(deps.maxConcurrentUploads);
  const results = await Promise.allSettled(
    plan.layers.map((l) => {
      const id = shortId(l.desc.digest);
      return limit(
        async () => {
          const how = await uploadBlob(s, deps, l.desc, registry, sink, id);
          if (how === 'exists') sink.write({ status: 'Layer already exists', progressDetail: {}, id });
          else if (how === 'pushed') sink.write({ status: 'Pushed', progressDetail: {}, id });
          if (l.diffId) deps.meta.recordLayer(l.diffId, { digest: l.desc.digest, mediaType: l.desc.mediaType, size: l.desc.size, registry, repo: s.repo });
        },
        () => sink.write({ status: 'Waiting', progressDetail: {}, id }),
      );
    }),
  );
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason;
  await uploadBlob(s, deps, plan.config, registry, { write: () => {} }, shortId(plan.config.digest));
  const digest = 'sha256:' + createHash('sha256').update(plan.bytes).digest('hex');
  await withRetry(async () => {
    const res = await s.request('PUT', `/v2/${s.repo}/manifests/${tag}`, { headers: { 'Content-Type': plan.mediaType }, body: plan.bytes });
    res.body.resume();
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await failure(res, `pushing manifest for ${tag}`);
    const got = res.headers['docker-content-digest'];
    if (typeof got === 'string' && got && got !== digest) {
      throw new InvalidParameter(`registry stored manifest with digest ${got}, expected ${digest}`);
    }
  });
  await deps.images.content.put(plan.bytes, digest);
  deps.meta.recordManifest(img.id, digest, plan.mediaType);
  return { digest, size: plan.bytes.length };
}
