// Image manifest formats both sides of the wire understand: Docker schema 2
// (manifest and manifest list) and OCI (image manifest and index). Parsing
// checks shape and media type so neither the client nor the registry server
// ever stores a manifest it could not read back.

export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  schema1: 'application/vnd.docker.distribution.manifest.v1+json',
} as const;

/** Media types a registry and a client accept for manifests, most wanted first. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest];

/** Largest manifest either side accepts (the OCI spec's suggested 4 MiB). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface ImageManifest {
  kind: 'image';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
}

export interface IndexManifest {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
  subject?: Descriptor;
}

export type Manifest = ImageManifest | IndexManifest;

export class ManifestError extends Error {}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

function descriptor(v: unknown, where: string): Descriptor {
  if (!v || typeof v !== 'object') throw new ManifestError(`${where}: not a descriptor`);
  const d = v as Record<string, unknown>;
  if (typeof d.digest !== 'string' || !DIGEST_RE.test(d.digest)) throw new ManifestError(`${where}: invalid digest ${JSON.stringify(d.digest)}`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw new ManifestError(`${where}: invalid size`);
  if (d.mediaType !== undefined && typeof d.mediaType !== 'string') throw new ManifestError(`${where}: invalid mediaType`);
  return d as unknown as Descriptor;
}

/** Strips parameters ("; charset=utf-8") from a Content-Type. */
export function bareType(ct: string | undefined | null): string {
  return (ct ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * Parses a manifest. `contentType` is the HTTP Content-Type it came with;
 * generic types (none, application/json, octet-stream) defer to the body.
 */
export function parseManifest(data: Buffer, contentType?: string): Manifest {
  if (data.length > MAX_MANIFEST_SIZE) throw new ManifestError(`manifest too large: ${data.length} bytes (limit ${MAX_MANIFEST_SIZE})`);
  let j: any;
  try {
    j = JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new ManifestError(`malformed manifest JSON: ${(e as Error).message}`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw new ManifestError('manifest is not a JSON object');
  let ct = bareType(contentType);
  if (ct === '' || ct === 'application/json' || ct === 'application/octet-stream' || ct === 'text/plain') ct = '';
  const field = typeof j.mediaType === 'string' ? j.mediaType : '';
  if (ct && field && ct !== field) throw new ManifestError(`manifest mediaType ${field} does not match Content-Type ${ct}`);
  let mt = ct || field;
  if (mt === MT.schema1 || mt === MT.schema1Signed || j.schemaVersion === 1) {
    throw new ManifestError('Docker Image manifest version 2, schema 1 is not supported');
  }
  if (j.schemaVersion !== 2) throw new ManifestError(`unsupported manifest schemaVersion ${JSON.stringify(j.schemaVersion)}`);
  if (!mt) mt = Array.isArray(j.manifests) ? MT.ociIndex : MT.ociManifest; // OCI allows omitting mediaType
  const subject = j.subject !== undefined ? descriptor(j.subject, 'subject') : undefined;
  if (mt === MT.dockerManifest || mt === MT.ociManifest) {
    const config = descriptor(j.config, 'config');
    if (!Array.isArray(j.layers)) throw new ManifestError('manifest has no layers array');
    const layers = j.layers.map((l: unknown, i: number) => descriptor(l, `layers[${i}]`));
    return { kind: 'image', mediaType: mt, config, layers, subject, artifactType: j.artifactType };
  }
  if (mt === MT.dockerList || mt === MT.ociIndex) {
    if (!Array.isArray(j.manifests)) throw new ManifestError('index has no manifests array');
    const manifests = j.manifests.map((m: unknown, i: number) => descriptor(m, `manifests[${i}]`));
    return { kind: 'index', mediaType: mt, manifests, subject };
  }
  throw new ManifestError(`unsupported manifest media type: ${mt}`);
}
