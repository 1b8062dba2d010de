// The swarm's certificates with the `openssl` CLI: node 20 can make keys but
// not X.509 certificates. Keys pass through a private temp dir (0700) that is
// removed before the call returns; PEM text goes in and out.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execHost } from './exec';

export interface KeyPair { certPem: string; keyPem: string }

/** An openssl subject: /CN=.../OU=.../O=... (values are ids: no '/' or '='). */
export function subject(parts: { CN: string; OU?: string; O?: string }): string {
  const clean = (v: string) => v.replace(/[/=,\\]/g, '_');
  return `/CN=${clean(parts.CN)}` + (parts.OU ? `/OU=${clean(parts.OU)}` : '') + (parts.O ? `/O=${clean(parts.O)}` : '');
}

async function inTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ssl-'));
  fs.chmodSync(dir, 0o700);
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed P-256 CA (20 years, as swarmkit's root CA). */
export function createCA(cn: string): Promise<KeyPair> {
  return inTemp(async (dir) => {
    const key = path.join(dir, 'ca.key');
    const crt = path.join(dir, 'ca.crt');
    await execHost('openssl', ['req', '-x509', ...EC, '-keyout', key, '-out', crt, '-days', '7300', '-subj', subject({ CN: cn }),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], { timeout: 15_000 });
    return { certPem: fs.readFileSync(crt, 'utf8'), keyPem: fs.readFileSync(key, 'utf8') };
  });
}

/** A P-256 key and a certificate request for it (the subject is the signer's choice). */
export function createKeyAndCsr(): Promise<{ keyPem: string; csrPem: string }> {
  return inTemp(async (dir) => {
    const key = path.join(dir, 'node.key');
    const csr = path.join(dir, 'node.csr');
    await execHost('openssl', ['req', '-new', ...EC, '-keyout', key, '-out', csr, '-subj', '/CN=berth-node'], { timeout: 15_000 });
    return { keyPem: fs.readFileSync(key, 'utf8'), csrPem: fs.readFileSync(csr, 'utf8') };
  });
}

export interface SignOptions {
  csrPem: string;
  ca: KeyPair;
  subject: { CN: string; OU?: string; O?: string };
  /** IP addresses and DNS names for subjectAltName. */
  ips: string[];
  dns?: string[];
  days?: number;
}

/** Signs a request with the CA; the subject and SANs are set here, never taken from the request. */
export function signCsr(o: SignOptions): Promise<string> {
  return inTemp(async (dir) => {
    const f = (n: string, s: string) => { const p = path.join(dir, n); fs.writeFileSync(p, s, { mode: 0o600 }); return p; };
    const san = [...new Set(o.ips)].map((ip) => `IP:${ip}`).concat((o.dns ?? []).map((d) => `DNS:${d}`)).join(',');
    const ext = f('ext.cnf', [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      ...(san ? [`subjectAltName=${san}`] : []),
    ].join('\n') + '\n');
    const out = path.join(dir, 'node.crt');
    await execHost('openssl', ['x509', '-req', '-in', f('node.csr', o.csrPem), '-CA', f('ca.crt', o.ca.certPem), '-CAkey', f('ca.key', o.ca.keyPem),
      '-set_serial', '0x' + randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'), '-days', String(o.days ?? 90),
      '-subj', subject(o.subject), '-extfile', ext, '-out', out], { timeout: 15_000 });
    return fs.readFileSync(out, 'utf8');
  });
}

/** A key and a certificate in one go (used where the signer makes the key, e.g. a promoted node's etcd identity). */
export async function issueKeyPair(ca: KeyPair, subj: SignOptions['subject'], ips: string[]): Promise<KeyPair> {
  const { keyPem, csrPem } = await createKeyAndCsr();
  return { keyPem, certPem: await signCsr({ csrPem, ca, subject: subj, ips, dns: ['localhost'] }) };
}
