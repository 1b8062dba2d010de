// etcd v3 through its JSON gRPC gateway over HTTPS with a client certificate:
// no gRPC dependency. Keys and values travel base64, 64-bit numbers as strings.
import https from 'node:https';
import type { ClientRequest } from 'node:http';
import type { SecureContext } from 'node:tls';
import { secureContextFor } from './tls-context';
import { EtcdError, jsonObjects } from './etcd-wire';
import { KeepAliveStream } from './etcd-keepalive';

export { EtcdError, jsonObjects };

export interface KV {
  key: string;
  value: string;
  modRevision: number;
  createRevision: number;
  lease: string;
}

export interface TlsFiles { ca: string; cert: string; key: string }

/** A call that only reads (a range, or a transaction of ranges only): safe to send again. */
function onlyReads(path: string, body: unknown): boolean {
  if (path === '/v3/kv/range') return true;
  if (path !== '/v3/kv/txn') return false;
  const t = body as { success?: Array<Record<string, unknown>>; failure?: Array<Record<string, unknown>> };
  return [...(t.success ?? []), ...(t.failure ?? [])].every((o) => 'request_range' in o);
}
const RETRY_DELAY_MS = 50;
/** Sends of one call, the first included (see sendRetrying). */
const MAX_SENDS = 3;
const UNAVAILABLE = 14;

/**
 * Unavailable from the gateway; its own connection to the member broken
 * whatever code it gives (a member stopping answers "OK: HTTP status code
 * 200; transport: missing content-type field" as Unknown); or a kept-alive
 * socket reset before an answer.
 */
function isTransient(e: unknown): boolean {
  if (!(e instanceof EtcdError)) return false;
  return e.code === UNAVAILABLE || /\b(ECONNRESET|EPIPE|socket hang up)\b|transport: missing content-type field|transport is closing/.test(e.message);
}

/** The connection was refused: the call never reached etcd, so even a write is safe to send again. */
function isRefused(e: unknown): boolean {
  return e instanceof EtcdError && /\bECONNREFUSED\b/.test(e.message);
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString();

/** The end of a prefix range: the prefix with its last byte incremented. */
function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  b[b.length - 1]++;
  return b.toString('base64');
}

interface RawKV { key: string; value?: string; mod_revision?: string; create_revision?: string; lease?: string }
const toKV = (r: RawKV): KV => ({
  key: unb64(r.key), value: unb64(r.value), modRevision: Number(r.mod_revision ?? 0), createRevision: Number(r.create_revision ?? 0), lease: r.lease ?? '0',
});

export type Compare = { key: string; target: 'MOD' | 'CREATE' | 'VALUE'; result?: 'EQUAL' | 'NOT_EQUAL'; mod_revision?: number; create_revision?: number; value?: string };
export type Op =
  | { put: { key: string; value: string; lease?: string } }
  | { del: { key: string } }
  /** One key, or with `prefix` every key under it. */
  | { range: { key: string; prefix?: boolean } };

/** A range read for readTogether(), with what makes its result. */
export interface Read<T> { op: Op; parse(kvs: KV[]): T }

export class EtcdClient {
  private readonly agent: https.Agent;
  private readonly watches = new Set<ClientRequest>();
  private closed = false;
  private gate?: Promise<void>;
  /** Lease keepalives on one HTTP/2 stream (etcd-keepalive.ts); undefined: each one a call (BERTH_ETCD_KEEPALIVE_STREAM=0). */
  private readonly keepalives?: KeepAliveStream;

  constructor(readonly endpoint: string, private readonly tls: TlsFiles, private readonly timeoutMs = 5000) {
    // one TLS context for every connection the agent and the keepalive stream open (not one per connection)
    const secureContext = secureContextFor(tls);
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 8, ca: tls.ca, cert: tls.cert, key: tls.key, secureContext, checkServerIdentity: () => undefined });
    if (process.env.BERTH_ETCD_KEEPALIVE_STREAM !== '0') this.keepalives = new KeepAliveStream(endpoint, secureContext);
  }

  /** close() was called: no call or watch will work again. */
  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    this.agent.destroy();
    this.keepalives?.close();
    for (const w of this.watches) w.destroy();
    this.watches.clear();
  }

  /**
   * Watches every key under `prefix` from now, on a connection of its own:
   * `onRevision` gets the store's revision once the watch is in place and
   * again after each batch of changes (with the changed keys); `onEnd` runs
   * once when the stream ends (stopped, closed, etcd gone). Returns stop().
   */
  watchPrefix(prefix: string, onRevision: (revision: number, keys: string[]) => void, onEnd: (err: Error) => void): () => void {
    let ended = false;
    const end = (err: Error) => {
      if (ended) return;
      ended = true;
      this.watches.delete(req);
      req.destroy();
      onEnd(err);
    };
    const data = JSON.stringify({ create_request: { key: b64(prefix), range_end: prefixEnd(prefix) } });
    const opts: https.RequestOptions & { secureContext: SecureContext } = {
      method: 'POST', agent: false, ca: this.tls.ca, cert: this.tls.cert, key: this.tls.key, secureContext: secureContextFor(this.tls),
      checkServerIdentity: () => undefined, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    };
    const req = https.request(new URL('/v3/watch', this.endpoint), opts, (res) => {
      if ((res.statusCode ?? 500) >= 400) return end(new EtcdError(`etcd: watch refused (${res.statusCode})`));
      const split = jsonObjects((m) => {
        const j = (m.result ?? m) as { header?: { revision?: string }; created?: boolean; canceled?: boolean; events?: Array<{ kv?: RawKV }>; error?: unknown };
        if (m.error || j.canceled) return end(new EtcdError(`etcd: watch ended: ${JSON.stringify(m.error ?? j)}`.slice(0, 300)));
        const rev = Number(j.header?.revision ?? 0);
        if (rev > 0) onRevision(rev, (j.events ?? []).map((e) => unb64(e.kv?.key)));
      });
      res.on('data', (c: Buffer) => { if (!ended) split(c); });
      res.on('end', () => end(new EtcdError('etcd: watch stream ended')));
      res.on('error', (e) => end(e));
    });
    req.on('error', (e) => end(e instanceof EtcdError ? e : new EtcdError(`etcd: ${e.message}`)));
    if (this.closed) {
      process.nextTick(() => end(new EtcdError('etcd: client closed')));
    } else {
      this.watches.add(req);
      req.end(data);
    }
    return () => end(new EtcdError('etcd: watch stopped'));
  }

  /**
   * Holds every call made until `until` settles (the member restarting, see
   * election-settle.ts): they wait instead of failing on a closed port.
   */
  hold(until: Promise<unknown>): void {
    const g: Promise<void> = until.then(() => {}, () => {});
    this.gate = g;
    void g.then(() => { if (this.gate === g) this.gate = undefined; });
  }

  /** One gateway call (after a hold, if any); gateway errors ({error, code}) become EtcdError. */
  call<T>(path: string, body: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    const gate = this.gate;
    const once = () => this.sendRetrying<T>(path, body, timeoutMs);
    return gate ? gate.then(once) : once();
  }

  /**
   * A read that failed as Unavailable (gRPC code 14: the 3.4 gateway's
   * connection to its member broke mid-call, seen under load as "missing
   * content-type field", or leadership moving) or on a reused socket the
   * server had closed is sent again, as etcd's own client does for reads.
   * Writes are not: they may have been applied. A refused connection never
   * reached etcd, so any call is sent again. Before each new send a hold is
   * waited for, also one that began during the short pause: a call already
   * on its way when the member restarts (election-settle.ts) meets the
   * closed port, and is sent again once the member serves. At most
   * MAX_SENDS sends.
   */
  private async sendRetrying<T>(path: string, body: unknown, timeoutMs: number): Promise<T> {
    for (let sends = 1; ; sends++) {
      try {
        return await this.send<T>(path, body, timeoutMs);
      } catch (e) {
        if (this.closed || sends >= MAX_SENDS || !(isRefused(e) || (onlyReads(path, body) && isTransient(e)))) throw e;
        if (!this.gate) await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
        if (this.gate) await this.gate;
        if (this.closed) throw e;
      }
    }
  }

  /** Whether the member serves and knows a leader, asked now, past any hold (the hold may be waiting on it). */
  async serving(): Promise<boolean> {
    return this.status({ pastHold: true, timeoutMs: 1000 }).then((s) => s.leader !== '0', () => false);
  }

  private send<T>(path: string, body: unknown, timeoutMs: number): Promise<T> {
    const data = JSON.stringify(body);
    const url = new URL(path, this.endpoint);
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method: 'POST', agent: this.agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let j: Record<string, unknown>;
          try {
            j = JSON.parse(text);
          } catch {
            return reject(new EtcdError(`etcd: bad answer (${res.statusCode}): ${text.slice(0, 200)}`));
          }
          // streaming calls (keepalive) wrap the answer in {result}
          if (j.result && typeof j.result === 'object') j = j.result as Record<string, unknown>;
          if (j.error || (res.statusCode ?? 500) >= 400) {
            const msg = String(j.message ?? j.error ?? `status ${res.statusCode}`);
            return reject(new EtcdError(`etcd: ${msg}`, Number(j.code ?? 0)));
          }
          resolve(j as T);
        });
      });
      req.on('timeout', () => req.destroy(new EtcdError(`etcd: no answer from ${this.endpoint} within ${timeoutMs} ms`)));
      req.on('error', (e) => reject(e instanceof EtcdError ? e : new EtcdError(`etcd: ${e.message}`)));
      req.end(data);
    });
  }

  async get(key: string, opts: { serializable?: boolean } = {}): Promise<KV | undefined> {
    const r = await this.call<{ kvs?: RawKV[] }>('/v3/kv/range', { key: b64(key), serializable: opts.serializable ?? false });
    return r.kvs?.length ? toKV(r.kvs[0]) : undefined;
  }

  async getPrefix(prefix: string, opts: { serializable?: boolean } = {}): Promise<KV[]> {
    const r = await this.call<{ kvs?: RawKV[] }>('/v3/kv/range', { key: b64(prefix), range_end: prefixEnd(prefix), serializable: opts.serializable ?? false });
    return (r.kvs ?? []).map(toKV);
  }

  async put(key: string, value: string, lease?: string): Promise<number> {
    const r = await this.call<{ header: { revision: string } }>('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
    return Number(r.header.revision);
  }

  /**
   * compare-and-swap: true when the compares held and `success` ran. `kvs`
   * are the range reads' keys, all together; `ranges` the same, one list per
   * operation (empty for a put or delete).
   */
  async txn(compare: Compare[], success: Op[], failure: Op[] = []): Promise<{ succeeded: boolean; revision: number; kvs: KV[]; ranges: KV[][] }> {
    const cmp = compare.map((c) => ({
      key: b64(c.key), target: c.target, result: c.result ?? 'EQUAL',
      ...(c.mod_revision !== undefined ? { mod_revision: String(c.mod_revision) } : {}),
      ...(c.create_revision !== undefined ? { create_revision: String(c.create_revision) } : {}),
      ...(c.value !== undefined ? { value: b64(c.value) } : {}),
    }));
    const op = (o: Op) => 'put' in o
      ? { request_put: { key: b64(o.put.key), value: b64(o.put.value), ...(o.put.lease ? { lease: o.put.lease } : {}) } }
      : 'del' in o ? { request_delete_range: { key: b64(o.del.key) } }
        : { request_range: { key: b64(o.range.key), ...(o.range.prefix ? { range_end: prefixEnd(o.range.key) } : {}) } };
    const r = await this.call<{ succeeded?: boolean; header: { revision: string }; responses?: Array<{ response_range?: { kvs?: RawKV[] } }> }>(
      '/v3/kv/txn', { compare: cmp, success: success.map(op), failure: failure.map(op) });
    const ranges = (r.responses ?? []).map((x) => (x.response_range?.kvs ?? []).map(toKV));
    return { succeeded: !!r.succeeded, revision: Number(r.header.revision), kvs: ranges.flat(), ranges };
  }

  /**
   * Several reads in one round trip (one transaction, one revision), each
   * parsed by its own `parse`; `writes` (puts, deletes) go first in the same
   * transaction, so the reads see them.
   */
  async readTogether<T extends unknown[]>(reads: { [I in keyof T]: Read<T[I]> }, writes: Op[] = []): Promise<{ revision: number; values: T }> {
    const r = await this.txn([], [...writes, ...reads.map((x) => x.op)]);
    const ranges = r.ranges.slice(writes.length);
    return { revision: r.revision, values: reads.map((x, i) => x.parse(ranges[i] ?? [])) as T };
  }

  async del(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) });
  }

  async leaseGrant(ttlSeconds: number): Promise<string> {
    const r = await this.call<{ ID: string }>('/v3/lease/grant', { TTL: String(ttlSeconds) });
    return r.ID;
  }

  /** Renews a lease: its remaining TTL, 0 when it has expired. */
  async leaseKeepAlive(id: string): Promise<number> {
    const ka = this.keepalives;
    if (ka) {
      const gate = this.gate;
      if (gate) await gate;
      return ka.keepAlive(id, this.timeoutMs);
    }
    const r = await this.call<{ TTL?: string }>('/v3/lease/keepalive', { ID: id });
    return Number(r.TTL ?? 0);
  }

  async leaseRevoke(id: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id });
  }

  async memberList(): Promise<Member[]> {
    const r = await this.call<{ members?: RawMember[] }>('/v3/cluster/member/list', {});
    return (r.members ?? []).map(member);
  }

  /** Adds a member; a learner (`learner`) gets the log but is no voter until promoted (memberPromote). */
  async memberAdd(peerURL: string, learner = false): Promise<{ id: string; members: Member[] }> {
    const r = await this.call<{ member: RawMember; members?: RawMember[] }>('/v3/cluster/member/add', { peerURLs: [peerURL], isLearner: learner }, 10_000);
    return { id: r.member.ID, members: (r.members ?? []).map(member) };
  }

  /** Makes learner `id` a voter; etcd refuses while its log is behind the leader's. */
  async memberPromote(id: string): Promise<void> {
    await this.call('/v3/cluster/member/promote', { ID: id }, 5000);
  }

  async memberRemove(id: string): Promise<void> {
    await this.call('/v3/cluster/member/remove', { ID: id }, 10_000);
  }

  /** Hands raft leadership to member `targetId` (asked of the leader; answers once it moved). */
  async moveLeader(targetId: string): Promise<void> {
    await this.call('/v3/maintenance/transfer-leadership', { targetID: targetId }, 5000);
  }

  /** The member's status (answers without quorum): its raft leader and term. */
  async status(opts: { pastHold?: boolean; timeoutMs?: number } = {}): Promise<{ leader: string; memberId: string }> {
    const ask = opts.pastHold ? this.send.bind(this) : this.call.bind(this);
    const r = await ask<{ leader?: string; header: { member_id: string } }>('/v3/maintenance/status', {}, opts.timeoutMs ?? 2000);
    return { leader: r.leader || '0', memberId: r.header.member_id };
  }
}

interface RawMember { ID: string; name?: string; peerURLs?: string[]; clientURLs?: string[]; isLearner?: boolean }

function member(m: RawMember): Member {
  return { id: m.ID, name: m.name ?? '', peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [], isLearner: !!m.isLearner };
}
export interface Member { id: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }
