// Docker's JSON for the swarm objects (Engine API v1.43: Swarm, Node, Info.Swarm).
import { X509Certificate } from 'node:crypto';
import type { ClusterRecord, NodeRecord, Versioned } from './types';
import { goJsonTime } from '../util/go-json-time';

/** The spec `docker swarm init` gets when it sends none (swarmkit's defaults; our heartbeat period). */
export function defaultSpec(): Record<string, unknown> {
  return {
    Name: 'default',
    Labels: {},
    Orchestration: { TaskHistoryRetentionLimit: 5 },
    Raft: { SnapshotInterval: 10000, KeepOldSnapshots: 0, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1 },
    Dispatcher: { HeartbeatPeriod: 1_000_000_000 },
    CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
    TaskDefaults: {},
    EncryptionConfig: { AutoLockManagers: false },
  };
}

/** A spec from a client merged over the defaults, one section at a time (as swarmkit fills zero values). */
export function mergeSpec(base: Record<string, unknown>, given: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(given ?? {})) {
    if (v === null || v === undefined) continue;
    out[k] = typeof v === 'object' && !Array.isArray(v) && typeof base[k] === 'object' && base[k] !== null
      ? { ...(base[k] as object), ...dropZero(v as Record<string, unknown>) }
      : v;
  }
  if (!out.Name) out.Name = 'default';
  if (!out.Labels) out.Labels = {};
  return out;
}

function dropZero(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== 0 && v !== null && v !== undefined && v !== ''));
}

export function tlsInfo(caPem: string): Record<string, string> {
  const c = new X509Certificate(caPem);
  return {
    TrustRoot: caPem,
    CertIssuerSubject: subjectDer(c.raw).toString('base64'),
    CertIssuerPublicKey: c.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/** The raw DER subject of a certificate: tbsCertificate's 6th element (5th without a version). */
function subjectDer(der: Buffer): Buffer {
  const read = (buf: Buffer, off: number) => {
    let len = buf[off + 1];
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[off + 2 + i];
      hdr += n;
    }
    return { tag: buf[off], start: off + hdr, end: off + hdr + len, off };
  };
  try {
    const cert = read(der, 0);
    const tbs = read(der, cert.start);
    let p = tbs.start;
    const items = [];
    while (p < tbs.end && items.length < 7) {
      const e = read(der, p);
      items.push(e);
      p = e.end;
    }
    const s = items[items[0].tag === 0xa0 ? 5 : 4];
    return der.subarray(s.off, s.end);
  } catch {
    return Buffer.alloc(0);
  }
}

export function clusterInfo(c: Versioned<ClusterRecord>): Record<string, unknown> {
  const v = c.value;
  return {
    ID: v.id,
    Version: { Index: c.index },
    CreatedAt: goJsonTime(v.createdAt),
    UpdatedAt: goJsonTime(v.updatedAt),
    Spec: v.spec,
    TLSInfo: tlsInfo(v.rootCA.certPem),
    RootRotationInProgress: false,
    DefaultAddrPool: v.defaultAddrPool,
    SubnetSize: v.subnetSize,
    DataPathPort: v.dataPathPort,
  };
}

export function swarmJson(c: Versioned<ClusterRecord>): Record<string, unknown> {
  return { ...clusterInfo(c), JoinTokens: { Worker: c.value.tokens.worker, Manager: c.value.tokens.manager } };
}

export interface Liveness { alive: Set<string>; leader?: string }

export function nodeJson(n: Versioned<NodeRecord>, live: Liveness, caPem: string): Record<string, unknown> {
  const v = n.value;
  const up = live.alive.has(v.id);
  const spec: Record<string, unknown> = { Labels: v.spec.Labels ?? {}, Role: v.spec.Role, Availability: v.spec.Availability };
  if (v.spec.Name) spec.Name = v.spec.Name;
  const out: Record<string, unknown> = {
    ID: v.id,
    Version: { Index: n.index },
    CreatedAt: goJsonTime(v.createdAt),
    UpdatedAt: goJsonTime(v.updatedAt),
    Spec: spec,
    Description: {
      Hostname: v.hostname,
      Platform: v.platform,
      Resources: v.resources,
      Engine: {
        EngineVersion: v.engineVersion,
        Plugins: [
          { Type: 'Log', Name: 'json-file' }, { Type: 'Log', Name: 'local' },
          { Type: 'Network', Name: 'bridge' }, { Type: 'Network', Name: 'host' }, { Type: 'Network', Name: 'null' },
          { Type: 'Volume', Name: 'local' },
        ],
      },
      TLSInfo: tlsInfo(caPem),
    },
    Status: up ? { State: 'ready', Addr: v.addr } : { State: 'down', Message: 'heartbeat failure', Addr: v.addr },
  };
  if (v.spec.Role === 'manager') {
    out.ManagerStatus = {
      ...(live.leader === v.id && up ? { Leader: true } : {}),
      Reachability: up ? 'reachable' : 'unreachable',
      Addr: `${v.addr}:${v.port}`,
    };
  }
  return out;
}
