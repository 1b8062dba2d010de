// `berth registry gc`: mark and sweep. Roots are the manifests linked in each
// repository (or, with deleteUntagged, only those reachable from a tag); the
// mark follows index → manifest → config/layers. Blobs and links touched
// within the grace period are kept, so a push in flight (blobs uploaded,
// manifest not yet) is never broken by a concurrent gc.
import fsp from 'node:fs/promises';
import { RegistryStore } from './store';
import { parseManifest } from '../distribution/manifest';

export interface GcOptions {
  dryRun?: boolean;
  deleteUntagged?: boolean;
  /** Keep anything modified more recently than this (ms). Default one hour. */
  graceMs?: number;
  log?: (line: string) => void;
}

export interface GcResult {
  blobsDeleted: string[];
  bytesFreed: number;
  manifestsDeleted: string[];
  uploadsDeleted: number;
}

export async function garbageCollect(root: string, opts: GcOptions = {}): Promise<GcResult> {
  const store = new RegistryStore(root);
  await store.init(false);
  const grace = opts.graceMs ?? 3600_000;
  const cutoff = Date.now() - grace;
  const log = opts.log ?? (() => {});
  const marked = new Set<string>();
  const result: GcResult = { blobsDeleted: [], bytesFreed: 0, manifestsDeleted: [], uploadsDeleted: 0 };

  const markManifest = async (repo: string, digest: string, seen: Set<string>) => {
    if (seen.has(digest)) return;
    seen.add(digest);
    marked.add(digest);
    const man = await store.getManifest(repo, digest);
    if (!man) return;
    let parsed;
    try {
      parsed = parseManifest(man.data, man.mediaType);
    } catch {
      return; // unreadable: keep the manifest blob, follow nothing
    }
    if (parsed.kind === 'image') {
      for (const d of [parsed.config, ...parsed.layers]) marked.add(d.digest);
    } else {
      for (const d of parsed.manifests) await markManifest(repo, d.digest, seen);
    }
    if (parsed.subject) marked.add(parsed.subject.digest);
  };

  for (const repo of await store.repositories()) {
    const reachable = new Set<string>();
    for (const tag of await store.tags(repo)) {
      const d = await store.resolveTag(repo, tag);
      if (d) await markManifest(repo, d, reachable);
    }
    for (const d of await store.manifestDigests(repo)) {
      if (reachable.has(d)) continue;
      if (opts.deleteUntagged && (await store.manifestLinkMtime(repo, d)) < cutoff) {
        log(`${repo}: deleting untagged manifest ${d}`);
        result.manifestsDeleted.push(`${repo}@${d}`);
        if (!opts.dryRun) await store.deleteManifest(repo, d);
        continue;
      }
      await markManifest(repo, d, reachable);
    }
    // Recent links count as references (a push in progress).
    for (const l of await store.blobLinks(repo)) if (l.mtimeMs >= cutoff) marked.add(l.digest);
    for (const u of await store.uploads(repo)) {
      if (u.mtimeMs < cutoff) {
        result.uploadsDeleted++;
        if (!opts.dryRun) await store.cancelUpload(repo, u.uuid).catch(() => {});
      }
    }
  }

  for (const b of await store.allBlobs()) {
    if (marked.has(b.digest) || b.mtimeMs >= cutoff) continue;
    log(`deleting blob ${b.digest} (${b.size} bytes)`);
    result.blobsDeleted.push(b.digest);
    result.bytesFreed += b.size;
    if (!opts.dryRun) await fsp.rm(store.blobPath(b.digest), { force: true });
  }
  // Links to blobs that no longer exist would make HEAD lie: remove them.
  if (!opts.dryRun) {
    const gone = new Set(result.blobsDeleted);
    for (const repo of await store.repositories()) {
      for (const l of await store.blobLinks(repo)) if (gone.has(l.digest)) await fsp.rm(l.file, { force: true });
    }
  }
  return result;
}

