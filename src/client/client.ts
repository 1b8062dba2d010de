// A typed Docker Engine API (v1.43) client. The CLI and compose reach the
// daemon only through this. Methods are thin: one endpoint each, named after
// the docker SDK's (ContainerList, ImagePull, ...), in camelCase.
import type { Duplex, Readable } from 'node:stream';
import type http from 'node:http';
import { parseEndpoint, type HostOptions } from './host';
import { Transport, type QueryValue } from './transport';
import { jsonLines } from './stream';
import type * as T from './types';
import type * as S from './swarm-types';

export const CLIENT_API_VERSION = '1.43';

function cmp(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

export interface ClientOptions extends HostOptions {
  /** Pin an API version (DOCKER_API_VERSION); skips negotiation. */
  version?: string;
}

export interface PingResult {
  apiVersion?: string;
  osType?: string;
  experimental: boolean;
  builderVersion?: string;
}

export interface Hijack {
  socket: Duplex;
  /** Bytes read past the HTTP answer (start of the stream). */
  head: Buffer;
}

export interface AttachOptions {
  stream?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  logs?: boolean;
  detachKeys?: string;
}

export interface LogsOptions {
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  since?: string;
  until?: string;
  timestamps?: boolean;
  tail?: string;
  details?: boolean;
}

export class EngineClient {
  readonly transport: Transport;
  private negotiated = false;

  constructor(opts: ClientOptions = {}) {
    this.transport = new Transport(parseEndpoint(opts));
    const pinned = opts.version ?? (opts.env ?? process.env).DOCKER_API_VERSION;
    if (pinned) {
      this.transport.version = pinned;
      this.negotiated = true;
    }
  }

  get host(): string {
    return this.transport.endpoint.raw;
  }

  get apiVersion(): string {
    return this.transport.version;
  }

  /** Use min(ours, the server's) API version, learnt from /_ping. Idempotent. */
  async negotiate(): Promise<void> {
    if (this.negotiated) return;
    const p = await this.ping();
    this.negotiated = true;
    const server = p.apiVersion;
    this.transport.version = server && cmp(server, CLIENT_API_VERSION) < 0 ? server : CLIENT_API_VERSION;
  }

  private async call<R = any>(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown, headers?: Record<string, string>): Promise<R> {
    await this.negotiate();
    return this.transport.json<R>({ method, path, query, body, headers });
  }

  private async raw(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown, headers?: Record<string, string>): Promise<http.IncomingMessage> {
    await this.negotiate();
    return this.transport.request({ method, path, query, body, headers });
  }

  private async progress(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown, headers?: Record<string, string>): Promise<AsyncGenerator<T.ProgressMessage>> {
    const res = await this.raw(method, path, query, body, headers);
    return jsonLines<T.ProgressMessage>(res);
  }

  private async hijack(path: string, query: Record<string, QueryValue>, body?: unknown): Promise<Hijack> {
    await this.negotiate();
    const { socket, head } = await this.transport.hijack({ method: 'POST', path, query, body });
    return { socket, head };
  }

  // ---- system ----

  async ping(): Promise<PingResult> {
    const h = (await this.transport.fetch({ method: 'GET', path: '/_ping', unversioned: true })).headers;
    return {
      apiVersion: h['api-version'] as string | undefined,
      osType: h['ostype'] as string | undefined,
      experimental: h['docker-experimental'] === 'true',
      builderVersion: h['builder-version'] as string | undefined,
    };
  }
  version(): Promise<any> { return this.call('GET', '/version'); }
  info(): Promise<any> { return this.call('GET', '/info'); }
  diskUsage(): Promise<any> { return this.call('GET', '/system/df'); }
  buildPrune(filters?: T.Filters, all?: boolean): Promise<{ CachesDeleted?: string[] | null; SpaceReclaimed?: number }> {
    return this.call('POST', '/build/prune', { filters: filters && Object.keys(filters).length ? filters : undefined, all: all || undefined });
  }
  /** The event stream; ends when `until` passes or the caller destroys it. */
  async events(opts: { since?: string; until?: string; filters?: T.Filters } = {}): Promise<{ stream: AsyncGenerator<T.EngineEvent>; close: () => void }> {
    const res = await this.raw('GET', '/events', { since: opts.since, until: opts.until, filters: opts.filters && Object.keys(opts.filters).length ? opts.filters : undefined });
    return { stream: jsonLines<T.EngineEvent>(res, ['timeNano']), close: () => res.destroy() };
  }
  auth(body: { username?: string; password?: string; serveraddress?: string; identitytoken?: string }): Promise<any> {
    return this.call('POST', '/auth', undefined, body);
  }

  // ---- containers ----

  /** `fields`: only these keys of each entry, from berthd (Berth's `berth-fields`; another engine sends them all). */
  containerList(opts: { all?: boolean; limit?: number; size?: boolean; filters?: T.Filters; fields?: string[] } = {}): Promise<T.ContainerSummary[]> {
    return this.call('GET', '/containers/json', {
      all: opts.all || undefined,
      limit: opts.limit !== undefined && opts.limit > 0 ? opts.limit : undefined,
      size: opts.size || undefined,
      filters: opts.filters && Object.keys(opts.filters).length ? opts.filters : undefined,
      'berth-fields': opts.fields?.join(','),
    });
  }
  containerCreate(body: T.ContainerCreateBody, opts: { name?: string; platform?: string } = {}): Promise<T.CreateResponse> {
    return this.call('POST', '/containers/create', { name: opts.name || undefined, platform: opts.platform || undefined }, body);
  }
  containerInspect(id: string, opts: { size?: boolean } = {}): Promise<any> {
    return this.call('GET', `/containers/${encodeURIComponent(id)}/json`, { size: opts.size || undefined });
  }
  containerStart(id: string, opts: { detachKeys?: string } = {}): Promise<void> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/start`, { detachKeys: opts.detachKeys });
  }
  containerStop(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/stop`, { t: opts.timeout, signal: opts.signal });
  }
  containerRestart(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/restart`, { t: opts.timeout, signal: opts.signal });
  }
  containerKill(id: string, signal?: string): Promise<void> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/kill`, { signal });
  }
  containerRemove(id: string, opts: { force?: boolean; volumes?: boolean; link?: boolean } = {}): Promise<void> {
    return this.call('DELETE', `/containers/${encodeURIComponent(id)}`, { force: opts.force || undefined, v: opts.volumes || undefined, link: opts.link || undefined });
  }
  containerRename(id: string, name: string): Promise<void> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/rename`, { name });
  }
  containerPause(id: string): Promise<void> { return this.call('POST', `/containers/${encodeURIComponent(id)}/pause`); }
  containerUnpause(id: string): Promise<void> { return this.call('POST', `/containers/${encodeURIComponent(id)}/unpause`); }
  containerTop(id: string, psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    return this.call('GET', `/containers/${encodeURIComponent(id)}/top`, { ps_args: psArgs });
  }
  containerChanges(id: string): Promise<T.FilesystemChange[] | null> {
    return this.call('GET', `/containers/${encodeURIComponent(id)}/changes`);
  }
  containerUpdate(id: string, body: Record<string, unknown>): Promise<{ Warnings: string[] | null }> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/update`, undefined, body);
  }
  containerResize(id: string, h: number, w: number): Promise<void> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/resize`, { h, w });
  }
  /** Wait for a condition (not-running, next-exit, removed); resolves with the exit status. */
  async containerWait(id: string, condition?: 'not-running' | 'next-exit' | 'removed'): Promise<T.WaitResponse> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/wait`, { condition });
  }
  containerPrune(filters?: T.Filters): Promise<T.PruneReport> {
    return this.call('POST', '/containers/prune', { filters: filters && Object.keys(filters).length ? filters : undefined });
  }
  containerExport(id: string): Promise<http.IncomingMessage> {
    return this.raw('GET', `/containers/${encodeURIComponent(id)}/export`);
  }
  containerLogs(id: string, o: LogsOptions = {}): Promise<http.IncomingMessage> {
    return this.raw('GET', `/containers/${encodeURIComponent(id)}/logs`, {
      follow: o.follow || undefined,
      stdout: o.stdout ?? true,
      stderr: o.stderr ?? true,
      since: o.since || undefined,
      until: o.until || undefined,
      timestamps: o.timestamps || undefined,
      tail: o.tail || undefined,
      details: o.details || undefined,
    });
  }
  containerAttach(id: string, o: AttachOptions = {}): Promise<Hijack> {
    return this.hijack(`/containers/${encodeURIComponent(id)}/attach`, {
      stream: o.stream ?? true,
      stdin: o.stdin || undefined,
      stdout: o.stdout ?? true,
      stderr: o.stderr ?? true,
      logs: o.logs || undefined,
      detachKeys: o.detachKeys,
    });
  }
  containerCommit(id: string, o: { repo?: string; tag?: string; comment?: string; author?: string; pause?: boolean; changes?: string[]; config?: Record<string, unknown> } = {}): Promise<{ Id: string }> {
    return this.call('POST', '/commit', {
      container: id,
      repo: o.repo || undefined,
      tag: o.tag || undefined,
      comment: o.comment || undefined,
      author: o.author || undefined,
      pause: o.pause,
      changes: o.changes && o.changes.length ? o.changes : undefined,
    }, o.config ?? {});
  }
  /** HEAD: only the X-Docker-Container-Path-Stat header (cp uses it to stat the destination). */
  containerArchiveHead(id: string, path: string): Promise<http.IncomingMessage> {
    return this.raw('HEAD', `/containers/${encodeURIComponent(id)}/archive`, { path });
  }
  containerArchiveGet(id: string, path: string): Promise<http.IncomingMessage> {
    return this.raw('GET', `/containers/${encodeURIComponent(id)}/archive`, { path });
  }
  containerArchivePut(id: string, path: string, tar: Readable | Buffer, o: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    return this.call('PUT', `/containers/${encodeURIComponent(id)}/archive`, { path, noOverwriteDirNonDir: o.noOverwriteDirNonDir, copyUIDGID: o.copyUIDGID }, tar, { 'Content-Type': 'application/x-tar' });
  }
  containerStats(id: string, stream = false): Promise<http.IncomingMessage> {
    return this.raw('GET', `/containers/${encodeURIComponent(id)}/stats`, { stream });
  }

  // ---- exec ----

  execCreate(id: string, body: Record<string, unknown>): Promise<{ Id: string }> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/exec`, undefined, body);
  }
  execStart(execId: string, body: { Detach?: boolean; Tty?: boolean }): Promise<Hijack> {
    return this.hijack(`/exec/${encodeURIComponent(execId)}/start`, {}, body);
  }
  execStartDetached(execId: string, body: { Tty?: boolean } = {}): Promise<void> {
    return this.call('POST', `/exec/${encodeURIComponent(execId)}/start`, undefined, { Detach: true, ...body });
  }
  execInspect(execId: string): Promise<any> { return this.call('GET', `/exec/${encodeURIComponent(execId)}/json`); }
  execResize(execId: string, h: number, w: number): Promise<void> {
    return this.call('POST', `/exec/${encodeURIComponent(execId)}/resize`, { h, w });
  }

  // ---- images ----

  imageList(opts: { all?: boolean; digests?: boolean; filters?: T.Filters; sharedSize?: boolean } = {}): Promise<T.ImageSummary[]> {
    return this.call('GET', '/images/json', {
      all: opts.all || undefined,
      digests: opts.digests || undefined,
      'shared-size': opts.sharedSize || undefined,
      filters: opts.filters && Object.keys(opts.filters).length ? opts.filters : undefined,
    });
  }
  imageInspect(name: string): Promise<any> { return this.call('GET', `/images/${encodeImageName(name)}/json`); }
  imageHistory(name: string): Promise<T.HistoryItem[]> { return this.call('GET', `/images/${encodeImageName(name)}/history`); }
  imageTag(name: string, repo: string, tag?: string): Promise<void> {
    return this.call('POST', `/images/${encodeImageName(name)}/tag`, { repo, tag: tag || undefined });
  }
  imageRemove(name: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<Array<{ Untagged?: string; Deleted?: string }>> {
    return this.call('DELETE', `/images/${encodeImageName(name)}`, { force: opts.force || undefined, noprune: opts.noprune || undefined });
  }
  imagePrune(filters?: T.Filters): Promise<T.PruneReport> {
    return this.call('POST', '/images/prune', { filters: filters && Object.keys(filters).length ? filters : undefined });
  }
  /** POST /images/create?fromSrc=... : import a tarball (stream or `-` body) as an image. */
  imageImport(source: Readable | Buffer | string, o: { repo?: string; tag?: string; message?: string; changes?: string[]; platform?: string } = {}): Promise<AsyncGenerator<T.ProgressMessage>> {
    const fromUrl = typeof source === 'string';
    return this.progress('POST', '/images/create', {
      fromSrc: fromUrl ? source : '-',
      repo: o.repo || undefined,
      tag: o.tag || undefined,
      message: o.message || undefined,
      changes: o.changes && o.changes.length ? o.changes : undefined,
      platform: o.platform || undefined,
    }, fromUrl ? undefined : source);
  }
  imagePull(image: string, o: { tag?: string; platform?: string; auth?: string } = {}): Promise<AsyncGenerator<T.ProgressMessage>> {
    return this.progress('POST', '/images/create', { fromImage: image, tag: o.tag || undefined, platform: o.platform || undefined }, undefined, authHeader(o.auth));
  }
  imagePush(name: string, o: { tag?: string; auth?: string } = {}): Promise<AsyncGenerator<T.ProgressMessage>> {
    return this.progress('POST', `/images/${encodeImageName(name)}/push`, { tag: o.tag || undefined }, undefined, authHeader(o.auth));
  }
  imageLoad(tar: Readable | Buffer, o: { quiet?: boolean } = {}): Promise<AsyncGenerator<T.ProgressMessage>> {
    return this.progress('POST', '/images/load', { quiet: o.quiet ?? false }, tar);
  }
  imageSave(names: string[]): Promise<http.IncomingMessage> {
    return this.raw('GET', '/images/get', { names });
  }
  imageSearch(term: string, o: { limit?: number; filters?: T.Filters } = {}): Promise<any[]> {
    return this.call('GET', '/images/search', { term, limit: o.limit, filters: o.filters });
  }
  /** POST /build with a tar context; yields the JSON progress lines. */
  imageBuild(context: Readable | Buffer, query: Record<string, QueryValue>, headers: Record<string, string> = {}): Promise<AsyncGenerator<T.ProgressMessage>> {
    return this.progress('POST', '/build', query, context, headers);
  }

  // ---- networks ----

  networkList(filters?: T.Filters): Promise<any[]> {
    return this.call('GET', '/networks', { filters: filters && Object.keys(filters).length ? filters : undefined });
  }
  networkInspect(id: string, o: { verbose?: boolean; scope?: string } = {}): Promise<any> {
    return this.call('GET', `/networks/${encodeURIComponent(id)}`, { verbose: o.verbose || undefined, scope: o.scope });
  }
  networkCreate(body: Record<string, unknown>): Promise<{ Id: string; Warning?: string }> {
    return this.call('POST', '/networks/create', undefined, body);
  }
  networkRemove(id: string): Promise<void> { return this.call('DELETE', `/networks/${encodeURIComponent(id)}`); }
  networkConnect(id: string, body: Record<string, unknown>): Promise<void> {
    return this.call('POST', `/networks/${encodeURIComponent(id)}/connect`, undefined, body);
  }
  networkDisconnect(id: string, body: Record<string, unknown>): Promise<void> {
    return this.call('POST', `/networks/${encodeURIComponent(id)}/disconnect`, undefined, body);
  }
  networkPrune(filters?: T.Filters): Promise<T.PruneReport> {
    return this.call('POST', '/networks/prune', { filters: filters && Object.keys(filters).length ? filters : undefined });
  }

  // ---- volumes ----

  volumeList(filters?: T.Filters): Promise<{ Volumes: any[] | null; Warnings: string[] | null }> {
    return this.call('GET', '/volumes', { filters: filters && Object.keys(filters).length ? filters : undefined });
  }
  volumeInspect(name: string): Promise<any> { return this.call('GET', `/volumes/${encodeURIComponent(name)}`); }
  volumeCreate(body: Record<string, unknown>): Promise<any> { return this.call('POST', '/volumes/create', undefined, body); }
  volumeRemove(name: string, force = false): Promise<void> {
    return this.call('DELETE', `/volumes/${encodeURIComponent(name)}`, { force: force || undefined });
  }
  volumePrune(filters?: T.Filters): Promise<T.PruneReport> {
    return this.call('POST', '/volumes/prune', { filters: filters && Object.keys(filters).length ? filters : undefined });
  }

  // ---- swarm ----

  swarmInspect(): Promise<S.Swarm> { return this.call('GET', '/swarm'); }
  /** The new node's ID. */
  swarmInit(body: S.SwarmInitRequest): Promise<string> { return this.call('POST', '/swarm/init', undefined, body); }
  swarmJoin(body: S.SwarmJoinRequest): Promise<void> { return this.call('POST', '/swarm/join', undefined, body); }
  swarmLeave(force = false): Promise<void> { return this.call('POST', '/swarm/leave', { force: force || undefined }); }
  swarmUpdate(version: number, spec: S.SwarmSpec, o: { rotateWorkerToken?: boolean; rotateManagerToken?: boolean; rotateManagerUnlockKey?: boolean } = {}): Promise<void> {
    return this.call('POST', '/swarm/update', {
      version,
      rotateWorkerToken: !!o.rotateWorkerToken,
      rotateManagerToken: !!o.rotateManagerToken,
      rotateManagerUnlockKey: !!o.rotateManagerUnlockKey,
    }, spec);
  }
  swarmUnlockKey(): Promise<{ UnlockKey: string }> { return this.call('GET', '/swarm/unlockkey'); }
  nodeList(filters?: T.Filters): Promise<S.SwarmNode[]> {
    return this.call('GET', '/nodes', { filters: filters && Object.keys(filters).length ? filters : undefined });
  }
  nodeInspect(id: string): Promise<S.SwarmNode> { return this.call('GET', `/nodes/${encodeURIComponent(id)}`); }
  nodeUpdate(id: string, version: number, spec: S.NodeSpec): Promise<void> {
    return this.call('POST', `/nodes/${encodeURIComponent(id)}/update`, { version }, spec);
  }
  nodeRemove(id: string, force = false): Promise<void> {
    return this.call('DELETE', `/nodes/${encodeURIComponent(id)}`, { force: force || undefined });
  }
  taskList(filters?: T.Filters): Promise<S.SwarmTask[]> {
    return this.call('GET', '/tasks', { filters: filters && Object.keys(filters).length ? filters : undefined });
  }
  taskInspect(id: string): Promise<S.SwarmTask> { return this.call('GET', `/tasks/${encodeURIComponent(id)}`); }
  /** GET /services/{id}/logs or /tasks/{id}/logs (a stream, multiplexed unless the task has a TTY). */
  swarmLogs(kind: 'services' | 'tasks', id: string, o: LogsOptions = {}): Promise<http.IncomingMessage> {
    return this.raw('GET', `/${kind}/${encodeURIComponent(id)}/logs`, {
      follow: o.follow || undefined,
      stdout: true,
      stderr: true,
      since: o.since || undefined,
      timestamps: o.timestamps || undefined,
      tail: o.tail || undefined,
      details: o.details || undefined,
    });
  }
  serviceInspect(id: string): Promise<{ ID: string; Spec?: { Name?: string } }> { return this.call('GET', `/services/${encodeURIComponent(id)}`); }
  serviceList(filters?: T.Filters, status = true): Promise<S.SwarmService[]> {
    return this.call('GET', '/services', { filters: filters && Object.keys(filters).length ? filters : undefined, status: status || undefined });
  }
  serviceGet(id: string, insertDefaults = false): Promise<S.SwarmService> { return this.call('GET', `/services/${encodeURIComponent(id)}${insertDefaults ? '?insertDefaults=true' : ''}`); }
  serviceCreate(spec: Record<string, unknown>): Promise<{ ID: string; Warnings?: string[] | null }> { return this.call('POST', '/services/create', undefined, spec); }
  serviceUpdate(id: string, version: number, spec: Record<string, unknown>, rollback?: 'previous'): Promise<{ Warnings?: string[] | null }> {
    return this.call('POST', `/services/${encodeURIComponent(id)}/update`, { version, rollback }, spec);
  }
  serviceRemove(id: string): Promise<void> { return this.call('DELETE', `/services/${encodeURIComponent(id)}`); }
  /** kind: 'secrets' or 'configs'. */
  fileList(kind: 'secrets' | 'configs', filters?: T.Filters): Promise<S.SwarmFile[]> {
    return this.call('GET', `/${kind}`, { filters: filters && Object.keys(filters).length ? filters : undefined });
  }
  fileCreate(kind: 'secrets' | 'configs', spec: S.SwarmFile['Spec']): Promise<{ ID: string }> { return this.call('POST', `/${kind}/create`, undefined, spec); }
  fileInspect(kind: 'secrets' | 'configs', id: string): Promise<S.SwarmFile> { return this.call('GET', `/${kind}/${encodeURIComponent(id)}`); }
  fileRemove(kind: 'secrets' | 'configs', id: string): Promise<void> { return this.call('DELETE', `/${kind}/${encodeURIComponent(id)}`); }
}

/** Image references keep their `/` and `:` in the path, as the docker client sends them. */
function encodeImageName(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/').replace(/%3A/gi, ':').replace(/%40/gi, '@');
}

function authHeader(auth?: string): Record<string, string> {
  // The daemon expects the header even when empty (anonymous pulls).
  return { 'X-Registry-Auth': auth ?? Buffer.from('{}').toString('base64url') };
}
