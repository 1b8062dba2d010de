// Where the daemon is: -H / BERTH_HOST / DOCKER_HOST, as Docker parses them,
// plus the TLS material from DOCKER_CERT_PATH / DOCKER_TLS_VERIFY.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';

export const DEFAULT_HOST = 'unix:///run/berth/berth.sock';

export interface TlsOptions {
  ca?: Buffer | Array<string | Buffer>;
  cert?: Buffer;
  key?: Buffer;
  /** Check the server certificate against the CA (DOCKER_TLS_VERIFY). */
  verify: boolean;
}

export interface Endpoint {
  /** The host string as given (for messages). */
  raw: string;
  kind: 'unix' | 'tcp';
  socketPath?: string;
  hostname?: string;
  port?: number;
  /** Base path prefix (tcp://h:p/prefix). */
  basePath: string;
  tls?: TlsOptions;
}

export interface HostOptions {
  host?: string;
  tls?: boolean;
  tlsVerify?: boolean;
  certPath?: string;
  /** Explicit files (--tlscacert/--tlscert/--tlskey) override those in certPath. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  env?: NodeJS.ProcessEnv;
}

/** The host the user asked for: flag, then BERTH_HOST, then DOCKER_HOST, then the default socket. */
export function resolveHost(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.BERTH_HOST || env.DOCKER_HOST || DEFAULT_HOST;
}

export function parseEndpoint(opts: HostOptions = {}): Endpoint {
  const env = opts.env ?? process.env;
  const raw = resolveHost(opts.host, env);
  let ep: Endpoint;
  if (raw.startsWith('unix://')) {
    const p = raw.slice('unix://'.length);
    if (!p) throw new Error(`invalid bind address format: ${raw}`);
    ep = { raw, kind: 'unix', socketPath: p, basePath: '' };
  } else if (raw.startsWith('/')) {
    ep = { raw: 'unix://' + raw, kind: 'unix', socketPath: raw, basePath: '' };
  } else {
    const m = /^(?:(tcp|http|https):\/\/)?(\[[^\]]+\]|[^:/]*)(?::(\d+))?(\/.*)?$/.exec(raw);
    if (!m || (m[1] === undefined && !raw.includes(':'))) throw new Error(`Invalid bind address format: ${raw}`);
    const scheme = m[1] ?? 'tcp';
    const tlsWanted = scheme === 'https' || opts.tls || opts.tlsVerify || !!env.DOCKER_TLS_VERIFY;
    const port = m[3] ? Number(m[3]) : tlsWanted ? 2376 : 2375;
    ep = {
      raw,
      kind: 'tcp',
      hostname: (m[2] || '127.0.0.1').replace(/^\[|\]$/g, ''),
      port,
      basePath: (m[4] ?? '').replace(/\/$/, ''),
    };
    if (tlsWanted) ep.tls = loadTls(opts, env);
  }
  return ep;
}

function loadTls(opts: HostOptions, env: NodeJS.ProcessEnv): TlsOptions {
  const dir = opts.certPath || env.DOCKER_CERT_PATH || env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
  const read = (explicit: string | undefined, name: string) => {
    if (explicit) return fs.readFileSync(explicit);
    const f = path.join(dir, name);
    return fs.existsSync(f) ? fs.readFileSync(f) : undefined;
  };
  const verify = !!(opts.tlsVerify || env.DOCKER_TLS_VERIFY);
  return { ca: read(opts.caFile, 'ca.pem') ?? extraCAs(env), cert: read(opts.certFile, 'cert.pem'), key: read(opts.keyFile, 'key.pem'), verify };
}

/**
 * Without a ca.pem the server is checked against Node's default CAs, which
 * include NODE_EXTRA_CA_CERTS's. bin/berth keeps Node from loading those at
 * start-up (they cost more than a whole `berth ps`), so they are added here,
 * for the one connection that may need them.
 */
function extraCAs(env: NodeJS.ProcessEnv): Array<string | Buffer> | undefined {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (!file) return undefined;
  let extra: Buffer;
  try {
    extra = fs.readFileSync(file);
  } catch {
    return undefined; // Node itself only warns about an unreadable file
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only for a TLS connection
  return [...(require('node:tls') as typeof tls).rootCertificates, extra];
}
