// What swarm init, update and ca share: the spec flags and their merge into
// a swarm Spec (only flags the user set change it), node addresses.
import fs from 'node:fs';
import type { FlagDef, Parsed } from '../../flags';
import { FlagError } from '../../flags';
import type { SwarmSpec, ExternalCA } from '../../../client';

export const DEFAULT_LISTEN_ADDR = '0.0.0.0:2377';

export const caFlags: FlagDef[] = [
  { name: 'cert-expiry', type: 'duration', default: 90 * 24 * 3600 * 1000, usage: 'Validity period for node certificates (ns|us|ms|s|m|h)' },
  { name: 'external-ca', type: 'list', valueName: 'external-ca', usage: 'Specifications of one or more certificate signing endpoints' },
];

export const swarmFlags: FlagDef[] = [
  { name: 'task-history-limit', type: 'int', default: 5, usage: 'Task history retention limit' },
  { name: 'dispatcher-heartbeat', type: 'duration', default: 5000, usage: 'Dispatcher heartbeat period (ns|us|ms|s|m|h)' },
  { name: 'max-snapshots', type: 'int', valueName: 'uint', usage: 'Number of additional Raft snapshots to retain' },
  { name: 'snapshot-interval', type: 'int', default: 10000, valueName: 'uint', usage: 'Number of log entries between Raft snapshots' },
  ...caFlags,
];

const MS_NS = 1_000_000;

/** docker's ExternalCAOption: `protocol=cfssl,url=...[,cacert=file][,k=v]`. */
export function parseExternalCA(spec: string): ExternalCA {
  const ca: ExternalCA = { Protocol: '', URL: '', Options: {} };
  let hasProtocol = false;
  let hasUrl = false;
  for (const field of spec.split(',')) {
    const i = field.indexOf('=');
    if (i < 0) throw new FlagError(`invalid argument "${spec}" for "--external-ca" flag: invalid field '${field}' must be a key=value pair`);
    const key = field.slice(0, i);
    const value = field.slice(i + 1);
    switch (key.toLowerCase()) {
      case 'protocol':
        hasProtocol = true;
        if (value.toLowerCase() !== 'cfssl') throw new FlagError(`invalid argument "${spec}" for "--external-ca" flag: unrecognized external CA protocol ${value}`);
        ca.Protocol = 'cfssl';
        break;
      case 'url':
        hasUrl = true;
        ca.URL = value;
        break;
      case 'cacert': {
        let text: string;
        try {
          text = fs.readFileSync(value, 'utf8');
        } catch (e) {
          throw new FlagError(`invalid argument "${spec}" for "--external-ca" flag: unable to read CA cert for external CA: ${(e as Error).message}`);
        }
        if (!/-----BEGIN [^-]+-----/.test(text)) throw new FlagError(`invalid argument "${spec}" for "--external-ca" flag: CA cert for external CA must be in PEM format`);
        ca.CACert = text;
        break;
      }
      default:
        ca.Options![key] = value;
    }
  }
  if (!hasProtocol) throw new FlagError(`invalid argument "${spec}" for "--external-ca" flag: the external-ca option needs a protocol= parameter`);
  if (!hasUrl) throw new FlagError(`invalid argument "${spec}" for "--external-ca" flag: the external-ca option needs a url= parameter`);
  return ca;
}

/** mergeSwarmSpecCAFlags: cert expiry and external CAs the user set. */
export function mergeCAFlags(spec: SwarmSpec, p: Parsed, caCert?: string): void {
  if (p.changed.has('cert-expiry')) spec.CAConfig = { ...spec.CAConfig, NodeCertExpiry: p.flags['cert-expiry'] * MS_NS };
  if (p.changed.has('external-ca')) {
    const cas = (p.flags['external-ca'] as string[]).map(parseExternalCA);
    if (caCert !== undefined) for (const ca of cas) if (!ca.CACert) ca.CACert = caCert;
    spec.CAConfig = { ...spec.CAConfig, ExternalCAs: cas };
  }
}

/** mergeSwarmSpec: the swarm flags the user set, onto `spec`. */
export function mergeSwarmFlags(spec: SwarmSpec, p: Parsed, caCert?: string): void {
  const f = p.flags;
  if (p.changed.has('task-history-limit')) spec.Orchestration = { ...spec.Orchestration, TaskHistoryRetentionLimit: f['task-history-limit'] };
  if (p.changed.has('dispatcher-heartbeat')) spec.Dispatcher = { ...spec.Dispatcher, HeartbeatPeriod: f['dispatcher-heartbeat'] * MS_NS };
  if (p.changed.has('max-snapshots')) spec.Raft = { ...spec.Raft, KeepOldSnapshots: uint(f['max-snapshots'], 'max-snapshots') };
  if (p.changed.has('snapshot-interval')) spec.Raft = { ...spec.Raft, SnapshotInterval: uint(f['snapshot-interval'], 'snapshot-interval') };
  if (p.changed.has('autolock')) spec.EncryptionConfig = { ...spec.EncryptionConfig, AutoLockManagers: !!f.autolock };
  mergeCAFlags(spec, p, caCert);
}

function uint(n: number, flag: string): number {
  if (!Number.isInteger(n) || n < 0) throw new FlagError(`invalid argument "${n}" for "--${flag}" flag: strconv.ParseUint: parsing "${n}": invalid syntax`);
  return n;
}

/** The Spec Go's client sends for a zero swarm.Spec plus the flags set. */
export function specFromFlags(p: Parsed): SwarmSpec {
  const spec: SwarmSpec = {
    Labels: null,
    Orchestration: {},
    Raft: { ElectionTick: 0, HeartbeatTick: 0 },
    Dispatcher: {},
    CAConfig: {},
    TaskDefaults: {},
    EncryptionConfig: { AutoLockManagers: false },
  };
  mergeSwarmFlags(spec, p);
  return spec;
}

/** NodeAddrOption: `<ip|interface>[:port]`, the default's host and port filling in. */
export function nodeAddr(value: string, flag: string, def = DEFAULT_LISTEN_ADDR): string {
  const [defHost, defPort] = splitHostPort(def);
  let v = value.trim();
  if (v.startsWith('tcp://')) v = v.slice(6);
  else if (/^[a-z]+:\/\//.test(v)) throw new FlagError(`invalid argument "${value}" for "--${flag}" flag: Invalid proto, expected tcp: ${value}`);
  const [host, port] = v.includes(':') && !/^[^[]*:.*:/.test(v) ? splitHostPort(v) : [v, ''];
  const p = port || defPort;
  if (!/^\d+$/.test(p) || Number(p) > 65535) throw new FlagError(`invalid argument "${value}" for "--${flag}" flag: invalid port ${p}`);
  return `${host || defHost}:${p}`;
}

function splitHostPort(s: string): [string, string] {
  const m = /^\[([^\]]*)\](?::(\d*))?$/.exec(s);
  if (m) return [`[${m[1]}]`, m[2] ?? ''];
  const i = s.lastIndexOf(':');
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

/** --availability for init and join: docker's check, only when set. */
export function availability(p: Parsed): string {
  if (!p.changed.has('availability')) return '';
  const a = String(p.flags.availability).toLowerCase();
  if (!['active', 'pause', 'drain'].includes(a)) throw new Error(`invalid availability "${p.flags.availability}", only active, pause and drain are supported`);
  return a;
}
