// Image archives: `docker import` (a rootfs tar → one-layer image),
// `docker load` (docker-archive with manifest.json, or an OCI layout) and
// `docker save` (docker-archive: manifest.json, repositories, <id>.json,
// <layer>/layer.tar).
//
// Load is all-or-nothing: every file is read into a private temp dir, every
// layer hashed and checked against its config's diff_ids before anything is
// extracted; if extraction or recording fails, the layers this load made
// are removed again and no image or tag is left.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { InvalidParameter } from '../util/errors';
import { download } from '../util/download';
import { chainIdsOf, hexOf, stageInPlace, type StagedTar } from '../host/storage/layers';
import { cleanEntryName } from '../host/storage/tar-apply';
import { applyChanges } from './changes';
import { familiarString, fullString, parseNormalized, parseTagged, type Reference } from './reference';
import { hostArch, type ImageService } from './service';
import type { ImageConfigJSON, ImageRecord } from './types';
import { BERTH_VERSION } from '../version';

export interface ImportOptions {
  repo?: string;
  tag?: string;
  changes?: string[];
  message?: string;
  /** "-" or the URL the tar came from (for the history comment). */
  source: string;
  platform?: string;
}

/** `docker import` from its source: "-" is `body` (the request's), anything else a URL to download. */
export async function importFrom(svc: ImageService, body: NodeJS.ReadableStream, opts: ImportOptions): Promise<ImageRecord> {
  return importImage(svc, opts.source === '-' ? body : await download(opts.source), opts);
}

/** `docker import`: one layer from a rootfs tar, config from --change. */
export async function importImage(svc: ImageService, input: NodeJS.ReadableStream, opts: ImportOptions): Promise<ImageRecord> {
  let ref: Reference | undefined;
  if (opts.repo) {
    ref = parseNormalized(opts.repo);
    if (opts.tag) {
      if (ref.digest) throw new InvalidParameter('refusing to create a tag with a digest reference');
      ref = { ...ref, tag: opts.tag };
    }
    if (ref.digest) throw new InvalidParameter('refusing to create a tag with a digest reference');
    ref = { ...ref, tag: ref.tag ?? 'latest' };
    // Validates the tag.
    parseTagged(fullString(ref));
  }
  const config = applyChanges({}, opts.changes ?? []);
  const staged = await svc.stageLayer(input, { extract: true });
  let made: { chainId: string; created: boolean } | undefined;
  try {
    const r = await svc.commitLayer(undefined, staged);
    made = { chainId: r.layer.chainId, created: r.created };
    const created = new Date().toISOString();
    const msg = opts.message || `Imported from ${opts.source}`;
    const cfg: ImageConfigJSON = {
      architecture: hostArch(),
      comment: msg,
      config,
      created,
      docker_version: BERTH_VERSION,
      history: [{ created, comment: msg }],
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [staged.diffId] },
    };
    const img = await svc.registerImage(Buffer.from(JSON.stringify(cfg)));
    svc.logEvent('import', img);
    if (ref) svc.tagImage(img, ref);
    return img;
  } catch (e) {
    if (made?.created) await svc.dropLayerIfUnused(made.chainId).catch(() => {});
    throw e;
  } finally {
    if (staged.file) await fsp.rm(staged.file, { force: true });
  }
}

/** The files of an uploaded archive, kept in a private temp dir. */
class ArchiveFiles {
  private readonly files = new Map<string, string>();
  private readonly links = new Map<string, string>();
  constructor(readonly dir: string) {}

  static async read(input: NodeJS.ReadableStream, dir: string): Promise<ArchiveFiles> {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const a = new ArchiveFiles(dir);
    const extract = tar.extract();
    const failed = new Promise<never>((_r, reject) => extract.once('error', reject));
    failed.catch(() => {});
    (input as Readable).on('error', (e) => extract.destroy(e));
    (input as Readable).pipe(extract);
    let n = 0;
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = cleanEntryName(h.name).join('/');
        if (h.type === 'file' || h.type === 'contiguous-file') {
          const p = path.join(dir, `f${n++}`);
          await Promise.race([pipeline(entry, fs.createWriteStream(p, { mode: 0o600 })), failed]);
          a.files.set(name, p);
        } else {
          if (h.type === 'symlink' || h.type === 'link') {
            // Legacy archives link duplicate layers: resolve against the archive root.
            const target = h.type === 'symlink' && !h.linkname!.startsWith('/')
              ? path.posix.join(path.posix.dirname(name), h.linkname!)
              : h.linkname!;
            a.links.set(name, cleanEntryName(target).join('/'));
          }
          entry.resume();
        }
      }
    } catch (e) {
      if (e instanceof InvalidParameter) throw e;
      throw new InvalidParameter(`invalid archive: ${(e as Error).message}`);
    }
    return a;
  }

  path(name: string): string {
    let n = cleanEntryName(name).join('/');
    for (let i = 0; i < 10 && !this.files.has(n) && this.links.has(n); i++) n = this.links.get(n)!;
    const p = this.files.get(n);
    if (!p) throw new InvalidParameter(`invalid archive: file ${JSON.stringify(name)} not found in the archive`);
    return p;
  }

  has(name: string): boolean {
    try { this.path(name); return true; } catch { return false; }
  }

  json<T>(name: string): T {
    try {
      return JSON.parse(fs.readFileSync(this.path(name), 'utf8')) as T;
    } catch (e) {
      if (e instanceof InvalidParameter) throw e;
      throw new InvalidParameter(`invalid archive: ${name}: ${(e as Error).message}`);
    }
  }

  /** An OCI blob by digest, with its content verified. */
  blob(digest: string): string {
    const p = this.path(`blobs/sha256/${hexOf(digest)}`);
    const h = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    if (`sha256:${h}` !== digest) throw new InvalidParameter(`invalid archive: blob ${digest} does not match its digest`);
    return p;
  }
}

interface PlannedImage {
  configBytes: Buffer;
  config: ImageConfigJSON;
  layerFiles: string[];
  tags: Reference[];
}

/** `docker load`. Returns the lines Docker prints ("Loaded image: ..."). */
export async function loadArchive(svc: ImageService, input: NodeJS.ReadableStream, tmpRoot: string): Promise<string[]> {
  const dir = path.join(tmpRoot, `load-${randomBytes(8).toString('hex')}`);
  const staged: StagedTar[] = [];
  const createdLayers: string[] = [];
  const newImages: string[] = [];
  try {
    const files = await ArchiveFiles.read(input, dir);
    const plan: PlannedImage[] = files.has('manifest.json') ? planDockerArchive(files) : files.has('index.json') ? planOci(files) : [];
    if (plan.length === 0) {
      throw new InvalidParameter('invalid archive: no manifest.json or index.json found (not a docker-archive or OCI layout)');
    }
    // Hash every layer and check it against the config before extracting anything.
    const stagedFor = new Map<string, StagedTar>();
    const perImage: StagedTar[][] = [];
    for (const p of plan) {
      const diffIds = p.config.rootfs?.diff_ids;
      if (!Array.isArray(diffIds)) throw new InvalidParameter('invalid archive: image config has no rootfs.diff_ids');
      if (diffIds.length !== p.layerFiles.length) {
        throw new InvalidParameter(`invalid archive: config lists ${diffIds.length} layers, manifest ${p.layerFiles.length}`);
      }
      const list: StagedTar[] = [];
      for (let i = 0; i < p.layerFiles.length; i++) {
        let s = stagedFor.get(p.layerFiles[i]);
        if (!s) {
          // A plain tar member is hashed where it lies; a compressed one is
          // unpacked to a staging file and the member dropped at once.
          s = await stageInPlace(p.layerFiles[i]);
          if (!s) {
            s = await svc.stageLayer(fs.createReadStream(p.layerFiles[i]));
            await fsp.rm(p.layerFiles[i], { force: true });
          }
          staged.push(s);
          stagedFor.set(p.layerFiles[i], s);
        }
        if (s.diffId !== diffIds[i]) {
          throw new InvalidParameter(`invalid diffID for layer ${i}: calculated "${s.diffId}" but the image config says "${diffIds[i]}"`);
        }
        list.push(s);
      }
      perImage.push(list);
    }
    const out: string[] = [];
    const images: Array<[ImageRecord, Reference[]]> = [];
    // Each staged tar goes as soon as its last layer is extracted, to keep the free space a load needs low.
    const usesLeft = new Map<StagedTar, number>();
    for (const list of perImage) for (const s of list) usesLeft.set(s, (usesLeft.get(s) ?? 0) + 1);
    for (let i = 0; i < plan.length; i++) {
      let parent: string | undefined;
      for (const s of perImage[i]) {
        const r = await svc.commitLayer(parent, s);
        if (r.created) createdLayers.push(r.layer.chainId);
        parent = r.layer.chainId;
        const left = usesLeft.get(s)! - 1;
        usesLeft.set(s, left);
        if (left === 0 && s.file) await fsp.rm(s.file, { force: true });
      }
      const existed = !!svc.get(`sha256:${createHash('sha256').update(plan[i].configBytes).digest('hex')}`);
      const img = await svc.registerImage(plan[i].configBytes);
      if (!existed) newImages.push(img.id);
      images.push([img, plan[i].tags]);
    }
    // Everything is in place: now point the tags.
    for (const [img, tags] of images) {
      svc.logEvent('load', img);
      for (const t of tags) {
        const old = svc.tryResolve(fullString(t));
        if (old && old.id !== img.id) {
          out.push(`The image ${familiarString(t)} already exists, renaming the old one with ID ${old.id} to empty string`);
        }
        svc.tagImage(img, t);
        out.push(`Loaded image: ${familiarString(t)}`);
      }
      if (tags.length === 0) out.push(`Loaded image ID: ${img.id}`);
    }
    return out;
  } catch (e) {
    for (const id of newImages) svc.discardImage(id);
    for (const c of createdLayers.reverse()) await svc.dropLayerIfUnused(c).catch(() => {});
    throw e;
  } finally {
    for (const s of staged) if (s.file) await fsp.rm(s.file, { force: true });
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

function readConfig(files: ArchiveFiles, p: string): { bytes: Buffer; config: ImageConfigJSON } {
  const bytes = fs.readFileSync(p);
  let config: ImageConfigJSON;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new InvalidParameter(`invalid archive: image config is not JSON: ${(e as Error).message}`);
  }
  if (!config || typeof config !== 'object' || !config.rootfs) throw new InvalidParameter('invalid archive: image config has no rootfs');
  void files;
  return { bytes, config };
}

function planDockerArchive(files: ArchiveFiles): PlannedImage[] {
  const manifest = files.json<Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>>('manifest.json');
  if (!Array.isArray(manifest)) throw new InvalidParameter('invalid archive: manifest.json is not a list');
  return manifest.map((m) => {
    if (typeof m?.Config !== 'string' || !Array.isArray(m.Layers)) throw new InvalidParameter('invalid archive: bad manifest.json entry');
    const { bytes, config } = readConfig(files, files.path(m.Config));
    return {
      configBytes: bytes,
      config,
      layerFiles: m.Layers.map((l) => files.path(l)),
      tags: (m.RepoTags ?? []).map((t) => parseTagged(t)),
    };
  });
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

function planOci(files: ArchiveFiles): PlannedImage[] {
  const index = files.json<{ manifests?: any[] }>('index.json');
  if (!Array.isArray(index.manifests)) throw new InvalidParameter('invalid archive: index.json has no manifests');
  const plans: PlannedImage[] = [];
  const visit = (desc: any, name: string | undefined, depth: number): void => {
    if (depth > 4) throw new InvalidParameter('invalid archive: index nesting too deep');
    const p = files.blob(desc.digest);
    const doc = JSON.parse(fs.readFileSync(p, 'utf8'));
    const annName: string | undefined = desc.annotations?.['io.containerd.image.name'] ?? name;
    if (INDEX_TYPES.has(desc.mediaType) || Array.isArray(doc.manifests)) {
      // Pick this host's platform from a multi-platform index.
      const want = doc.manifests.find((m: any) => m.platform?.os === 'linux' && m.platform?.architecture === hostArch()) ?? doc.manifests[0];
      if (want) visit(want, annName, depth + 1);
      return;
    }
    if (!doc.config?.digest || !Array.isArray(doc.layers)) throw new InvalidParameter('invalid archive: bad image manifest');
    const { bytes, config } = readConfig(files, files.blob(doc.config.digest));
    const tags: Reference[] = [];
    if (annName) {
      try { tags.push(parseTagged(annName)); } catch { /* not a full name: load untagged */ }
    }
    plans.push({ configBytes: bytes, config, layerFiles: doc.layers.map((l: any) => files.blob(l.digest)), tags });
  };
  for (const m of index.manifests) {
    const refName: string | undefined = m.annotations?.['org.opencontainers.image.ref.name'];
    visit(m, refName && /[/:]/.test(refName) ? refName : undefined, 0);
  }
  return plans;
}

/** `docker save`: a docker-archive of the named images. */
export function saveArchive(svc: ImageService, names: string[]): NodeJS.ReadableStream {
  // Resolve everything first so a bad name fails before any byte is sent.
  const entries = names.map((n) => {
    const img = svc.resolve(n);
    let tag: Reference | undefined;
    if (!img.id.startsWith(n) && !img.id.slice(7).startsWith(n)) {
      try {
        const r = parseTagged(n);
        if (!r.digest) tag = r;
      } catch { /* an id */ }
    }
    return { img, tag };
  });
  const byId = new Map<string, { img: ImageRecord; tags: Reference[] }>();
  for (const e of entries) {
    const cur = byId.get(e.img.id) ?? { img: e.img, tags: [] };
    if (e.tag && !cur.tags.some((t) => fullString(t) === fullString(e.tag!))) cur.tags.push(e.tag);
    byId.set(e.img.id, cur);
  }
  const pack = tar.pack();
  const mtime = new Date(0);
  const add = (name: string, body: Buffer | string) =>
    new Promise<void>((res, rej) => pack.entry({ name, mtime, mode: 0o644 }, body, (e) => (e ? rej(e) : res())));
  void (async () => {
    const manifest: object[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const written = new Set<string>();
    for (const { img, tags } of byId.values()) {
      const idHex = img.id.slice(7);
      await add(`${idHex}.json`, svc.content.readBytes(img.id));
      const chains = svc.chainIds(img);
      const layers: string[] = [];
      for (const chainId of chains) {
        const rec = svc.layer(chainId);
        if (!rec) throw new Error(`layer ${chainId} missing`);
        const dirName = rec.diffId.slice(7);
        layers.push(`${dirName}/layer.tar`);
        if (written.has(dirName)) continue;
        written.add(dirName);
        await new Promise<void>((res, rej) => pack.entry({ name: `${dirName}/`, type: 'directory', mtime, mode: 0o755 }, (e) => (e ? rej(e) : res())));
        await add(`${dirName}/VERSION`, '1.0');
        await add(`${dirName}/json`, JSON.stringify({ id: dirName }));
        await new Promise<void>((res, rej) => {
          const w = pack.entry({ name: `${dirName}/layer.tar`, size: rec.tarSize, mtime, mode: 0o644 }, (e) => (e ? rej(e) : res()));
          pipeline(svc.layerTarStream(chainId), w).catch(rej);
        });
      }
      manifest.push({ Config: `${idHex}.json`, RepoTags: tags.length ? tags.map(familiarString) : null, Layers: layers });
      const top = chains.length ? svc.layer(chains[chains.length - 1])!.diffId.slice(7) : idHex;
      for (const t of tags) {
        const name = familiarString({ ...t, tag: undefined });
        (repositories[name] ??= {})[t.tag!] = top;
      }
      // moby's tarexporter names the image by its id in the save event
      svc.logEvent('save', img, img.id);
    }
    await add('manifest.json', JSON.stringify(manifest));
    if (Object.keys(repositories).length) await add('repositories', JSON.stringify(repositories));
    pack.finalize();
  })().catch((e) => pack.destroy(e));
  void chainIdsOf;
  return pack as unknown as NodeJS.ReadableStream;
}
