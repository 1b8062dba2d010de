// `berth registry serve`: an OCI distribution spec v1.1 registry over the
// RegistryStore. One request handler, routed by path shape; every error is an
// OCI error body; every response carries Docker-Distribution-API-Version.
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { RegistryStore } from './store';
import { RegistryError } from './errors';
import { checkDigest, checkName, isDigest, isTag } from './names';
import { Htpasswd } from './htpasswd';
import { MAX_MANIFEST_SIZE, ManifestError, parseManifest } from '../distribution/manifest';

export interface RegistryServerOptions {
  root: string;
  /** host:port to listen on; port 0 picks a free one. */
  addr: string;
  htpasswd?: string;
  realm?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Log one line per request to stderr. */
  verbose?: boolean;
}

type Req = http.IncomingMessage;
type Res = http.ServerResponse;

const API_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' };
const MAX_PAGE = 10000;

export class RegistryServer {
  readonly store: RegistryStore;
  private server?: http.Server;
  private readonly auth?: Htpasswd;

  constructor(readonly opts: RegistryServerOptions) {
    this.store = new RegistryStore(opts.root);
    if (opts.htpasswd) this.auth = new Htpasswd(opts.htpasswd);
  }

  /** Starts listening; resolves to the bound address (host:port). */
  async start(): Promise<string> {
    await this.store.init();
    const handler = (req: Req, res: Res) => void this.handle(req, res);
    const srv =
      this.opts.tlsCert && this.opts.tlsKey
        ? https.createServer({ cert: fs.readFileSync(this.opts.tlsCert), key: fs.readFileSync(this.opts.tlsKey) }, handler)
        : http.createServer(handler);
    srv.requestTimeout = 0; // large blobs take as long as they take
    srv.keepAliveTimeout = 65_000; // clients reuse connections between slow steps
    this.server = srv;
    const { host, port } = splitAddr(this.opts.addr);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => resolve());
    });
    const a = srv.address() as AddressInfo;
    return `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    await new Promise<void>((resolve) => {
      srv.close(() => resolve());
      srv.closeAllConnections();
    });
  }

  private async handle(req: Req, res: Res): Promise<void> {
    const started = Date.now();
    for (const [k, v] of Object.entries(API_HEADER)) res.setHeader(k, v);
    try {
      const url = new URL(req.url ?? '/', 'http://registry');
      if (!(await this.authorized(req))) {
        res.setHeader('WWW-Authenticate', `Basic realm="${this.opts.realm ?? 'Registry Realm'}"`);
        throw new RegistryError('UNAUTHORIZED');
      }
      await this.route(req, res, url);
    } catch (e) {
      this.fail(res, e);
      req.resume();
    } finally {
      if (this.opts.verbose) {
        process.stderr.write(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms\n`);
      }
    }
  }

  private fail(res: Res, e: unknown): void {
    const err =
      e instanceof RegistryError ? e : new RegistryError('UNSUPPORTED', `internal error: ${(e as Error)?.message ?? e}`, undefined, 500);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = Buffer.from(JSON.stringify(err.body()));
    res.writeHead(err.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(body.length) });
    res.end(body);
  }

  private async authorized(req: Req): Promise<boolean> {
    if (!this.auth) return true;
    const cred = Htpasswd.parseBasic(req.headers.authorization);
    return !!cred && (await this.auth.check(cred.user, cred.password));
  }

  private async route(req: Req, res: Res, url: URL): Promise<void> {
    const p = url.pathname;
    const m = req.method ?? 'GET';
    let r: RegExpExecArray | null;
    if (p === '/v2/' || p === '/v2') {
      return this.send(res, 200, {});
    }
    if (p === '/v2/_catalog') {
      if (m !== 'GET') throw unsupported();
      const page = paginate(await this.store.repositories(), url);
      if (page.next) res.setHeader('Link', `</v2/_catalog?last=${encodeURIComponent(page.next)}&n=${page.n}>; rel="next"`);
      return this.send(res, 200, { repositories: page.items });
    }
    if ((r = /^\/v2\/(.+)\/tags\/list$/.exec(p))) {
      const name = checkName(r[1]);
      if (m !== 'GET') throw unsupported();
      if (!(await this.store.repoExists(name))) throw new RegistryError('NAME_UNKNOWN', undefined, { name });
      const page = paginate(await this.store.tags(name), url);
      if (page.next) res.setHeader('Link', `</v2/${name}/tags/list?last=${encodeURIComponent(page.next)}&n=${page.n}>; rel="next"`);
      return this.send(res, 200, { name, tags: page.items });
    }
    if ((r = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(p))) {
      const name = checkName(r[1]);
      const ref = decodeURIComponent(r[2]);
      if (!isTag(ref) && !isDigest(ref)) checkDigest(ref);
      if (m === 'GET' || m === 'HEAD') return this.getManifest(res, name, ref, m === 'HEAD');
      if (m === 'PUT') return this.putManifest(req, res, name, ref);
      if (m === 'DELETE') return this.deleteManifest(res, name, ref);
      throw unsupported();
    }
    if ((r = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(p))) {
      const name = checkName(r[1]);
      if (m !== 'GET') throw unsupported();
      return this.referrers(res, name, checkDigest(decodeURIComponent(r[2])), url.searchParams.get('artifactType'));
    }
    if ((r = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(p))) {
      const name = checkName(r[1]);
      if (m !== 'POST') throw unsupported();
      return this.startUpload(req, res, name, url);
    }
    if ((r = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(p))) {
      const name = checkName(r[1]);
      const uuid = r[2];
      if (m === 'GET') return this.uploadStatus(res, name, uuid, 204);
      if (m === 'PATCH') return this.patchUpload(req, res, name, uuid);
      if (m === 'PUT') return this.putUpload(req, res, name, uuid, url);
      if (m === 'DELETE') {
        await this.store.uploadSize(name, uuid);
        await this.store.cancelUpload(name, uuid);
        return this.send(res, 204);
      }
      throw unsupported();
    }
    if ((r = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(p))) {
      const name = checkName(r[1]);
      const digest = checkDigest(decodeURIComponent(r[2]));
      if (m === 'GET' || m === 'HEAD') return this.getBlob(req, res, name, digest, m === 'HEAD');
      if (m === 'DELETE') {
        if (!(await this.store.unlinkBlob(name, digest))) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
        return this.send(res, 202, undefined, { 'Docker-Content-Digest': digest });
      }
      throw unsupported();
    }
    throw new RegistryError('NAME_UNKNOWN', 'page not found', undefined, 404);
  }

  private send(res: Res, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    if (body === undefined) {
      res.writeHead(status, { 'Content-Length': '0', ...headers });
      res.end();
      return;
    }
    const data = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(data.length), ...headers });
    res.end(data);
  }

  // ---- manifests ----

  private async resolve(name: string, ref: string): Promise<string> {
    const digest = isDigest(ref) ? ref : await this.store.resolveTag(name, ref);
    if (!digest || !(await this.store.hasManifest(name, digest))) {
      throw new RegistryError('MANIFEST_UNKNOWN', undefined, isDigest(ref) ? { digest: ref } : { tag: ref });
    }
    return digest;
  }

  private async getManifest(res: Res, name: string, ref: string, head: boolean): Promise<void> {
    const digest = await this.resolve(name, ref);
    const man = await this.store.getManifest(name, digest);
    if (!man) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { digest });
    res.writeHead(200, {
      'Content-Type': man.mediaType,
      'Content-Length': String(man.data.length),
      'Docker-Content-Digest': digest,
      Etag: `"${digest}"`,
    });
    res.end(head ? undefined : man.data);
  }

  private async putManifest(req: Req, res: Res, name: string, ref: string): Promise<void> {
    const data = await readBody(req, MAX_MANIFEST_SIZE);
    const digest = 'sha256:' + createHash('sha256').update(data).digest('hex');
    if (isDigest(ref) && ref !== digest) {
      throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { digest: ref, actual: digest });
    }
    let man;
    try {
      man = parseManifest(data, req.headers['content-type']);
    } catch (e) {
      throw new RegistryError('MANIFEST_INVALID', (e as ManifestError).message);
    }
    // Everything a manifest points at must already be in this repository.
    if (man.kind === 'image') {
      for (const d of [man.config, ...man.layers]) {
        if (d.urls?.length) continue; // foreign layers live elsewhere
        const size = await this.store.repoBlobSize(name, d.digest);
        if (size === undefined) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry', { digest: d.digest });
        if (size !== d.size) throw new RegistryError('MANIFEST_INVALID', `size of blob ${d.digest} is ${size}, manifest says ${d.size}`);
      }
    } else {
      for (const d of man.manifests) {
        if (!(await this.store.hasManifest(name, d.digest))) {
          throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest unknown to registry: ${d.digest}`, { digest: d.digest });
        }
      }
    }
    await this.store.putManifest(name, digest, man.mediaType, data, isTag(ref) ? ref : undefined);
    const headers: Record<string, string> = {
      Location: `/v2/${name}/manifests/${digest}`,
      'Docker-Content-Digest': digest,
    };
    if (man.subject) headers['OCI-Subject'] = man.subject.digest;
    this.send(res, 201, undefined, headers);
  }

  private async deleteManifest(res: Res, name: string, ref: string): Promise<void> {
    const ok = isDigest(ref) ? await this.store.deleteManifest(name, ref) : await this.store.deleteTag(name, ref);
    if (!ok) throw new RegistryError('MANIFEST_UNKNOWN', undefined, isDigest(ref) ? { digest: ref } : { tag: ref });
    this.send(res, 202);
  }

  /** OCI 1.1 referrers: manifests in the repository whose subject is `digest`. */
  private async referrers(res: Res, name: string, digest: string, artifactType: string | null): Promise<void> {
    const manifests: unknown[] = [];
    for (const d of await this.store.manifestDigests(name)) {
      const man = await this.store.getManifest(name, d);
      if (!man) continue;
      let j: any;
      try {
        j = JSON.parse(man.data.toString('utf8'));
      } catch {
        continue;
      }
      if (j?.subject?.digest !== digest) continue;
      const at = j.artifactType ?? j.config?.mediaType;
      if (artifactType && at !== artifactType) continue;
      const desc: Record<string, unknown> = { mediaType: man.mediaType, digest: d, size: man.data.length };
      if (at) desc.artifactType = at;
      if (j.annotations) desc.annotations = j.annotations;
      manifests.push(desc);
    }
    const headers: Record<string, string> = { 'Content-Type': 'application/vnd.oci.image.index.v1+json' };
    if (artifactType) headers['OCI-Filters-Applied'] = 'artifactType';
    const data = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    res.writeHead(200, { ...headers, 'Content-Length': String(data.length) });
    res.end(data);
  }

  // ---- blobs ----

  private async getBlob(req: Req, res: Res, name: string, digest: string, head: boolean): Promise<void> {
    const size = await this.store.repoBlobSize(name, digest);
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    // A push that finds the blob here will reference it soon: keep gc off it.
    if (head) await this.store.touchBlobLink(name, digest);
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': digest,
      Etag: `"${digest}"`,
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'max-age=31536000',
    };
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range && !head) {
      const rm = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (!rm || (rm[1] === '' && rm[2] === '')) throw new RegistryError('RANGE_INVALID');
      if (rm[1] === '') {
        start = Math.max(0, size - Number(rm[2]));
      } else {
        start = Number(rm[1]);
        if (rm[2] !== '') end = Math.min(end, Number(rm[2]));
      }
      if (start > end || start >= size) {
        res.setHeader('Content-Range', `bytes */${size}`);
        throw new RegistryError('RANGE_INVALID');
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['Content-Length'] = String(size === 0 ? 0 : end - start + 1);
    res.writeHead(status, headers);
    if (head || size === 0) {
      res.end();
      return;
    }
    const rs = fs.createReadStream(this.store.blobPath(digest), { start, end, highWaterMark: 1 << 20 });
    rs.on('error', () => res.destroy());
    res.on('close', () => rs.destroy());
    rs.pipe(res);
  }

  private uploadHeaders(name: string, uuid: string, size: number): Record<string, string> {
    return {
      Location: `/v2/${name}/blobs/uploads/${uuid}`,
      Range: `0-${size > 0 ? size - 1 : 0}`,
      'Docker-Upload-UUID': uuid,
    };
  }

  private async uploadStatus(res: Res, name: string, uuid: string, status: number): Promise<void> {
    const size = await this.store.uploadSize(name, uuid);
    this.send(res, status, undefined, this.uploadHeaders(name, uuid, size));
  }

  private async startUpload(req: Req, res: Res, name: string, url: URL): Promise<void> {
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    if (mount && from) {
      const digest = checkDigest(mount);
      let fromName: string | undefined;
      try {
        fromName = checkName(from);
      } catch {
        fromName = undefined;
      }
      if (fromName && (await this.store.repoBlobSize(fromName, digest)) !== undefined) {
        await this.store.linkBlob(name, digest);
        req.resume();
        return this.send(res, 201, undefined, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      }
      // Not mountable: fall through to an ordinary upload, as the spec says.
    }
    const digestParam = url.searchParams.get('digest');
    const uuid = await this.store.startUpload(name);
    if (digestParam) {
      // Monolithic upload in a single POST.
      const digest = checkDigest(digestParam);
      try {
        await this.store.appendUpload(name, uuid, req);
        const size = await this.store.finishUpload(name, uuid, digest);
        checkLength(req, size);
      } catch (e) {
        await this.store.cancelUpload(name, uuid);
        throw e;
      }
      return this.send(res, 201, undefined, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
    }
    req.resume();
    this.send(res, 202, undefined, this.uploadHeaders(name, uuid, 0));
  }

  private async patchUpload(req: Req, res: Res, name: string, uuid: string): Promise<void> {
    let start: number | undefined;
    const cr = req.headers['content-range'];
    if (cr) {
      const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(cr.trim());
      if (!m) throw new RegistryError('RANGE_INVALID', `invalid Content-Range: ${cr}`, undefined, 416);
      start = Number(m[1]);
    }
    const size = await this.store.appendUpload(name, uuid, req, start);
    this.send(res, 202, undefined, this.uploadHeaders(name, uuid, size));
  }

  private async putUpload(req: Req, res: Res, name: string, uuid: string, url: URL): Promise<void> {
    const digest = checkDigest(url.searchParams.get('digest'));
    await this.store.appendUpload(name, uuid, req);
    await this.store.finishUpload(name, uuid, digest);
    this.send(res, 201, undefined, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
  }
}

function unsupported(): RegistryError {
  return new RegistryError('UNSUPPORTED', 'The operation is unsupported.', undefined, 405);
}

function checkLength(req: Req, size: number): void {
  const cl = req.headers['content-length'];
  if (cl !== undefined && Number(cl) !== size) throw new RegistryError('SIZE_INVALID');
}

async function readBody(req: Req, limit: number): Promise<Buffer> {
  const cl = Number(req.headers['content-length'] ?? 0);
  if (cl > limit) throw new RegistryError('SIZE_INVALID', `manifest too large: ${cl} bytes (limit ${limit})`, undefined, 413);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw new RegistryError('SIZE_INVALID', `manifest too large (limit ${limit} bytes)`, undefined, 413);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function paginate(all: string[], url: URL): { items: string[]; next?: string; n: number } {
  const nRaw = url.searchParams.get('n');
  const last = url.searchParams.get('last');
  let items = last ? all.filter((x) => x > last) : all;
  let n = items.length;
  if (nRaw !== null && nRaw !== '') {
    n = Number(nRaw);
    if (!Number.isInteger(n) || n < 0 || n > MAX_PAGE) {
      throw new RegistryError('PAGINATION_NUMBER_INVALID', undefined, { n: nRaw });
    }
    if (items.length > n) {
      items = items.slice(0, n);
      return { items, next: n > 0 ? items[items.length - 1] : undefined, n };
    }
  }
  return { items, n };
}

function splitAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) return { host: '0.0.0.0', port: Number(addr) || 5000 };
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}
