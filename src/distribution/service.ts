// The distribution service: pull, push, login and manifest inspection
// against registries, for the Engine API routes.
//
//   pull({fromImage, tag, platform, auth}, sink)   POST /images/create?fromImage=
//   push(name, tag, auth, sink)                     POST /images/{name}/push
//   login(authConfig)                               POST /auth
//   inspect(name, auth)                             GET /distribution/{name}/json
import type { ImageService } from '../image/service';
import type { EventBus } from '../events/bus';
import type { Db } from '../store/db';
import { fullString, familiarName, familiarString, parseNormalized, isValidTag, type Reference } from '../image/reference';
import { InvalidParameter, NotFound, SystemError, Unauthorized } from '../util/errors';
import { type AuthConfig, basicHeader, decodeRegistryAuth, parseChallenges } from './auth';
import { resolveEndpoint, registryFromServerAddress, DOCKER_HUB } from './endpoint';
import { DistributionMetadata } from './metadata';
import { fetchManifest, pullImageManifest, choosePlatform, type PullDeps } from './pull';
import { pushTag } from './push';
import { parsePlatform, hostPlatform, platformString } from './platform';
import type { Platform } from './manifest';
import type { ProgressSink } from './progress';
import { log } from '../util/log';
import { RegistrySession, rawRequest, readAll, registryMessage, failure } from './transport';

export interface DistributionDeps {
  db: Db;
  images: ImageService;
  events: EventBus;
  insecureRegistries: string[];
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
}

export interface PullRequest {
  /** `fromImage` as the client sent it (may carry a tag or digest). */
  fromImage: string;
  /** `tag` query parameter: a tag or a digest. */
  tag?: string;
  platform?: string;
  auth?: AuthConfig;
  /** The raw X-Registry-Auth header, when `auth` is not given. */
  registryAuth?: string | string[];
}

export class DistributionService {
  readonly meta: DistributionMetadata;
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(readonly deps: DistributionDeps) {
    this.meta = new DistributionMetadata(deps.db);
  }

  async init(): Promise<void> {
    this.meta.init();
    // Layers of pulls a crash interrupted: no image was recorded for them.
    for (const chainId of this.meta.journalTake()) {
      try {
        if (await this.deps.images.dropLayerIfUnused(chainId)) log.info('dropped layer of an interrupted pull', { chainId });
      } catch (e) {
        log.warn('could not drop layer of an interrupted pull', { chainId, err: (e as Error).message });
      }
    }
  }

  private session(ref: Reference, auth: AuthConfig | undefined, actions: string): RegistrySession {
    return new RegistrySession(resolveEndpoint(ref.domain, this.deps.insecureRegistries), ref.path, auth, actions);
  }

  private pullDeps(): PullDeps {
    return {
      images: this.deps.images,
      meta: this.meta,
      maxConcurrentDownloads: this.deps.maxConcurrentDownloads,
      inflight: this.inflight,
    };
  }

  /** Parses fromImage + tag the way the Engine API combines them. */
  static pullReference(fromImage: string, tag: string | undefined): Reference {
    let ref = parseNormalized(fromImage);
    if (tag) {
      if (/^sha256:/.test(tag)) {
        if (!/^sha256:[a-f0-9]{64}$/.test(tag)) throw new InvalidParameter(`invalid reference format: invalid digest ${tag}`);
        ref = { domain: ref.domain, path: ref.path, digest: tag };
      } else {
        if (!isValidTag(tag)) throw new InvalidParameter('invalid reference format');
        ref = { domain: ref.domain, path: ref.path, tag };
      }
    }
    return ref;
  }

  async pull(req: PullRequest, sink: ProgressSink): Promise<void> {
    const ref0 = DistributionService.pullReference(req.fromImage, req.tag);
    const platform = parsePlatform(req.platform);
    const auth = req.auth ?? decodeRegistryAuth(Array.isArray(req.registryAuth) ? req.registryAuth[0] : req.registryAuth);
    // A bare name (the CLI adds :latest unless -a) pulls every tag, as Docker does.
    if (ref0.tag === undefined && ref0.digest === undefined) {
      const s = this.session(ref0, auth, 'pull');
      const tags = await listTags(s, familiarName(ref0));
      if (tags.length === 0) throw new NotFound(`repository ${familiarName(ref0)} has no tags`);
      for (const tag of tags) await this.pullOne({ ...ref0, tag }, auth, platform, sink, true);
      sink.write({ status: `Status: Downloaded newer image for ${familiarName(ref0)}` });
      return;
    }
    await this.pullOne(ref0, auth, platform, sink, false);
  }

  private async pullOne(ref: Reference, auth: AuthConfig | undefined, platform: Platform | undefined, sink: ProgressSink, quietStatus: boolean): Promise<void> {
    const s = this.session(ref, auth, 'pull');
    const shown = familiarString(ref);
    const t0 = Date.now();
    const top = await fetchManifest(s, ref.digest ?? ref.tag!, shown, familiarName(ref));
    log.debug('pull: manifest', { ref: shown, ms: Date.now() - t0 });
    const tagOrDigest = ref.tag ?? ref.digest!;
    sink.write({ status: `Pulling from ${ref.path}`, id: tagOrDigest });
    let man = top;
    if (top.manifest.kind === 'index') {
      const pick = choosePlatform(top.manifest.manifests, platform, shown);
      man = await fetchManifest(s, pick.digest, `${familiarName(ref)}@${pick.digest}`, familiarName(ref));
      if (man.manifest.kind !== 'image') throw new InvalidParameter(`manifest ${pick.digest} of ${shown} is not an image manifest`);
      await this.deps.images.content.put(top.bytes, top.digest);
    }
    if (man.manifest.kind !== 'image') throw new InvalidParameter(`invalid manifest for ${shown}`);
    const { imageId, existed } = await pullImageManifest(this.pullDeps(), s, ref.domain, man.manifest, man.digest, man.bytes, sink);
    const img = this.deps.images.get(imageId)!;
    if (platform && top.manifest.kind === 'image') {
      const want = platform;
      if (img.config.os !== want.os || img.config.architecture !== want.architecture) {
        // Docker warns rather than fails for single-platform images.
        sink.write({
          status: `WARNING: image with reference ${shown} was found but does not match the specified platform: wanted ${platformString(want)}, actual: ${platformString({ os: img.config.os, architecture: img.config.architecture, variant: img.config.variant })}`,
        });
      }
    }
    const before = this.deps.images.tryResolve(fullString(ref));
    const upToDate = existed && before?.id === imageId;
    if (ref.tag && !ref.digest) this.deps.images.tagImage(img, { domain: ref.domain, path: ref.path, tag: ref.tag });
    this.deps.images.tagImage(img, { domain: ref.domain, path: ref.path, digest: top.digest });
    sink.write({ status: `Digest: ${top.digest}` });
    if (!quietStatus) {
      sink.write({ status: upToDate ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}` });
    }
    this.deps.events.publish('image', 'pull', shown, { name: shown });
  }

  async push(name: string, tag: string | undefined, auth: AuthConfig | undefined, sink: ProgressSink): Promise<void> {
    const ref0 = parseNormalized(name);
    if (ref0.digest) throw new InvalidParameter('cannot push a digest reference');
    const tags: string[] = [];
    if (tag) tags.push(tag);
    else if (ref0.tag) tags.push(ref0.tag);
    else {
      // No tag: every tag of this repository, as docker push --all-tags.
      const prefix = `${ref0.domain}/${ref0.path}:`;
      for (const img of this.deps.images.all()) for (const t of img.repoTags) if (t.startsWith(prefix)) tags.push(t.slice(prefix.length));
      tags.sort();
      if (tags.length === 0) throw new NotFound(`An image does not exist locally with the tag: ${familiarName(ref0)}`);
    }
    const imgs = tags.map((t) => {
      const r = { domain: ref0.domain, path: ref0.path, tag: t };
      const img = this.deps.images.tryResolve(fullString(r));
      if (!img) throw new NotFound(`An image does not exist locally with the tag: ${familiarName(ref0)}`);
      return { tag: t, img };
    });
    sink.write({ status: `The push refers to repository [${ref0.domain === DOCKER_HUB ? 'docker.io/' + ref0.path : `${ref0.domain}/${ref0.path}`}]` });
    const s = this.session(ref0, auth, 'pull,push');
    for (const { tag: t, img } of imgs) {
      const { digest, size } = await pushTag(
        { images: this.deps.images, meta: this.meta, maxConcurrentUploads: this.deps.maxConcurrentUploads },
        s,
        ref0.domain,
        img,
        t,
        sink,
      );
      this.deps.images.tagImage(img, { domain: ref0.domain, path: ref0.path, digest });
      sink.write({ status: `${t}: digest: ${digest} size: ${size}` });
      sink.write({ progressDetail: {}, aux: { Tag: t, Digest: digest, Size: size } });
      this.deps.events.publish('image', 'push', familiarString({ domain: ref0.domain, path: ref0.path, tag: t }), { name: familiarString({ domain: ref0.domain, path: ref0.path, tag: t }) });
    }
  }

  /** POST /auth: checks credentials against the registry's /v2/ (and its token server). */
  async login(a: AuthConfig): Promise<{ Status: string; IdentityToken: string }> {
    const registry = registryFromServerAddress(a.serveraddress);
    const ep = resolveEndpoint(registry, this.deps.insecureRegistries);
    const s = new RegistrySession(ep, '', a, '');
    const base = await s.base();
    const url = new URL(base + '/v2/');
    const res = await rawRequest('GET', url, {}, ep.insecureTls, 'berth/0.1 (login)');
    const body = await readAll(res.body, 1 << 16).catch(() => Buffer.alloc(0));
    if (res.status === 200) return { Status: 'Login Succeeded', IdentityToken: '' };
    if (res.status !== 401) throw new SystemError(`login attempt to ${url.href} failed with status: ${res.status} ${registryMessage(body)}`);
    const chs = parseChallenges(res.headers['www-authenticate']);
    const bearer = chs.find((c) => c.scheme === 'bearer');
    if (bearer) {
      await s.fetchToken(bearer, '').catch((e) => {
        throw new Unauthorized(`Get "${url.href}": ${(e as Error).message.replace(/^unauthorized: /, 'unauthorized: ')}`);
      });
      return { Status: 'Login Succeeded', IdentityToken: '' };
    }
    const b = basicHeader(a);
    if (!b) throw new Unauthorized(`Get "${url.href}": unauthorized: authentication required`);
    const res2 = await rawRequest('GET', url, { headers: { Authorization: b } }, ep.insecureTls, 'berth/0.1 (login)');
    res2.body.resume();
    if (res2.status === 200) return { Status: 'Login Succeeded', IdentityToken: '' };
    if (res2.status === 401) throw new Unauthorized(`login attempt to ${url.href} failed with status: 401 Unauthorized`);
    throw await failure(res2, `login attempt to ${url.href}`);
  }

  /** GET /distribution/{name}/json: the manifest descriptor and platforms. */
  async inspect(name: string, auth: AuthConfig | undefined): Promise<object> {
    const ref0 = parseNormalized(name);
    const ref = ref0.tag === undefined && ref0.digest === undefined ? { ...ref0, tag: 'latest' } : ref0;
    const s = this.session(ref, auth, 'pull');
    const m = await fetchManifest(s, ref.digest ?? ref.tag!, familiarString(ref), familiarName(ref));
    const platforms: Platform[] = [];
    if (m.manifest.kind === 'index') {
      for (const d of m.manifest.manifests) if (d.platform) platforms.push(d.platform);
    } else {
      try {
        const res = await s.request('GET', `/v2/${s.repo}/blobs/${m.manifest.config.digest}`);
        const cfg = JSON.parse((await readAll(res.body, 8 << 20)).toString());
        platforms.push({ architecture: cfg.architecture, os: cfg.os, ...(cfg.variant ? { variant: cfg.variant } : {}) });
      } catch {
        platforms.push(hostPlatform());
      }
    }
    return { Descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }, Platforms: platforms };
  }
}

async function listTags(s: RegistrySession, shown: string): Promise<string[]> {
  const out: string[] = [];
  let next: string | undefined = `/v2/${s.repo}/tags/list?n=1000`;
  for (let page = 0; next && page < 100; page++) {
    const res = await s.request('GET', next);
    if (res.status === 404) throw new NotFound(`repository ${shown} not found: ${registryMessage(await readAll(res.body, 1 << 16))}`);
    if (res.status !== 200) throw await failure(res, `listing tags of ${shown}`);
    const j = JSON.parse((await readAll(res.body, 16 << 20)).toString());
    for (const t of j.tags ?? []) out.push(String(t));
    const link = res.headers.link;
    const m = typeof link === 'string' ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
    next = m ? m[1] : undefined;
  }
  return out;
}
