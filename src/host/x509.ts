// The swarm's certificates, made in-process: P-256 keys from node:crypto and
// the few DER structures of X.509 v3 and PKCS #10 written (and read) here.
// node 20 can make keys, sign and parse certificates but not build them; the
// openssl CLI did that before at 2–4 process spawns per init or join, which
// dominated both on a loaded machine. PEM text goes in and out; no key ever
// touches the disk here.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { isIPv4 } from 'node:net';

export interface KeyPair { certPem: string; keyPem: string }
export interface Subject { CN: string; OU?: string; O?: string }

// ---- DER ----

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner);

/** A non-negative INTEGER from big-endian bytes (minimal, with a 0 byte when the high bit is set). */
function uint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Buffer {
  const p = dotted.split('.').map(Number);
  const out = [40 * p[0] + p[1]];
  for (const v of p.slice(2)) {
    const enc = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) enc.unshift(0x80 | (x & 0x7f));
    out.push(...enc);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(s.slice(2))) : tlv(0x18, Buffer.from(s));
}

interface Node { tag: number; off: number; start: number; end: number }

function read(buf: Buffer, off: number, limit = buf.length): Node {
  if (off + 2 > limit) throw new Error('truncated DER');
  let len = buf[off + 1];
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + 2 + i];
    hdr += n;
  }
  const end = off + hdr + len;
  if (end > limit) throw new Error('truncated DER');
  return { tag: buf[off], off, start: off + hdr, end };
}

function children(buf: Buffer, parent: Node): Node[] {
  const out: Node[] = [];
  for (let p = parent.start; p < parent.end;) {
    const c = read(buf, p, parent.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

const raw = (buf: Buffer, n: Node) => buf.subarray(n.off, n.end);

function fromPem(pem: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`not a PEM ${label.toLowerCase()}`);
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

// ---- X.509 ----

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  cn: '2.5.4.3', ou: '2.5.4.11', o: '2.5.4.10',
  basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15', extKeyUsage: '2.5.29.37', subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14', authorityKeyId: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2',
};
const SIG_ALG = seq(oid(OID.ecdsaSha256));

/** A Name in the order CN, OU, O (as openssl's `-subj /CN=…/OU=…/O=…` made it). */
function name(s: Subject): Buffer {
  const rdn = (o: string, v: string) => set(seq(oid(o), utf8(v)));
  return seq(rdn(OID.cn, s.CN), ...(s.OU ? [rdn(OID.ou, s.OU)] : []), ...(s.O ? [rdn(OID.o, s.O)] : []));
}

const ext = (o: string, critical: boolean, value: Buffer) => seq(oid(o), ...(critical ? [bool(true)] : []), octets(value));

/** RFC 5280's method 1: SHA-1 of the subjectPublicKey bits. */
function keyId(spki: Buffer): Buffer {
  const parts = children(spki, read(spki, 0));
  const key = parts[1];
  return createHash('sha1').update(spki.subarray(key.start + 1, key.end)).digest();
}

function serial(): Buffer {
  const b = randomBytes(16);
  b[0] = 0x40 | (b[0] & 0x3f); // positive, 16 bytes, never a leading zero
  return b;
}

interface CertSpec {
  subject: Subject;
  issuer: Buffer;
  spki: Buffer;
  signer: KeyObject;
  days: number;
  extensions: Buffer[];
}

function certificate(c: CertSpec): string {
  const now = Date.now();
  const tbs = seq(
    explicit(0, uint(Buffer.from([2]))),
    uint(serial()),
    SIG_ALG,
    c.issuer,
    seq(time(new Date(now)), time(new Date(now + c.days * 86_400_000))),
    name(c.subject),
    c.spki,
    explicit(3, seq(...c.extensions)),
  );
  const sig = sign('sha256', tbs, c.signer);
  return toPem(seq(tbs, SIG_ALG, bits(sig)), 'CERTIFICATE');
}

function newKey(): { key: KeyObject; keyPem: string; spki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    key: privateKey,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    spki: publicKey.export({ type: 'spki', format: 'der' }),
  };
}

/** A self-signed P-256 CA (20 years, as swarmkit's root CA). */
export async function createCA(cn: string): Promise<KeyPair> {
  const k = newKey();
  const subject = { CN: clean(cn) };
  const certPem = certificate({
    subject, issuer: name(subject), spki: k.spki, signer: k.key, days: 7300,
    extensions: [
      ext(OID.basicConstraints, true, seq(bool(true))),
      // keyCertSign, cRLSign, digitalSignature
      ext(OID.keyUsage, true, bits(Buffer.from([0x86]), 1)),
      ext(OID.subjectKeyId, false, octets(keyId(k.spki))),
    ],
  });
  return { certPem, keyPem: k.keyPem };
}

/** A P-256 key and a certificate request for it (the subject is the signer's choice). */
export async function createKeyAndCsr(): Promise<{ keyPem: string; csrPem: string }> {
  return keyAndCsr();
}

/** createKeyAndCsr, synchronously (a millisecond or two of CPU). */
export function keyAndCsr(): { keyPem: string; csrPem: string } {
  const k = newKey();
  const info = seq(uint(Buffer.from([0])), name({ CN: 'berth-node' }), k.spki, tlv(0xa0, Buffer.alloc(0)));
  const csr = seq(info, SIG_ALG, bits(sign('sha256', info, k.key)));
  return { keyPem: k.keyPem, csrPem: toPem(csr, 'CERTIFICATE REQUEST') };
}

/** The public key of a request whose signature holds (proof that its sender has the key); only P-256. */
function csrKey(csrPem: string): Buffer {
  const der = fromPem(csrPem, 'CERTIFICATE REQUEST');
  const top = read(der, 0);
  if (top.end !== der.length) throw new Error('invalid certificate request');
  const [info, alg, sig] = children(der, top);
  if (!info || !alg || !sig || sig.tag !== 0x03 || !raw(der, alg).equals(SIG_ALG)) throw new Error('invalid certificate request: an ECDSA-SHA256 signature is required');
  const spkiNode = children(der, info)[2];
  if (!spkiNode || spkiNode.tag !== 0x30) throw new Error('invalid certificate request');
  const spki = Buffer.from(raw(der, spkiNode));
  const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  if (pub.asymmetricKeyType !== 'ec' || pub.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('invalid certificate request: a P-256 key is required');
  if (!verify('sha256', raw(der, info), pub, der.subarray(sig.start + 1, sig.end))) throw new Error('invalid certificate request: bad signature');
  return spki;
}

export interface SignOptions {
  csrPem: string;
  ca: KeyPair;
  subject: Subject;
  /** IP addresses and DNS names for subjectAltName. */
  ips: string[];
  dns?: string[];
  days?: number;
}

/** Signs a request with the CA; the subject and SANs are set here, never taken from the request. */
export async function signCsr(o: SignOptions): Promise<string> {
  const spki = csrKey(o.csrPem);
  const caDer = fromPem(o.ca.certPem, 'CERTIFICATE');
  const tbs = children(caDer, read(caDer, 0))[0];
  const f = children(caDer, tbs);
  const v = f[0].tag === 0xa0 ? 1 : 0;
  const issuer = Buffer.from(raw(caDer, f[4 + v]));
  const caSpki = Buffer.from(raw(caDer, f[5 + v]));
  const san = [
    ...[...new Set(o.ips)].map((ip) => {
      if (!isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
      return tlv(0x87, Buffer.from(ip.split('.').map(Number)));
    }),
    ...(o.dns ?? []).map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
  ];
  return certificate({
    subject: { CN: clean(o.subject.CN), OU: o.subject.OU && clean(o.subject.OU), O: o.subject.O && clean(o.subject.O) },
    issuer, spki, signer: createPrivateKey(o.ca.keyPem), days: o.days ?? 90,
    extensions: [
      ext(OID.basicConstraints, true, seq()),
      // digitalSignature, keyEncipherment
      ext(OID.keyUsage, true, bits(Buffer.from([0xa0]), 5)),
      ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
      ...(san.length ? [ext(OID.subjectAltName, false, seq(...san))] : []),
      ext(OID.subjectKeyId, false, octets(keyId(spki))),
      ext(OID.authorityKeyId, false, seq(tlv(0x80, keyId(caSpki)))),
    ],
  });
}

/** A key and a certificate in one go (used where the signer makes the key, e.g. a promoted node's etcd identity). */
export async function issueKeyPair(ca: KeyPair, subj: Subject, ips: string[]): Promise<KeyPair> {
  const { keyPem, csrPem } = await createKeyAndCsr();
  return { keyPem, certPem: await signCsr({ csrPem, ca, subject: subj, ips, dns: ['localhost'] }) };
}

/** Subject values are ids; the characters openssl's -subj syntax reserved stay replaced as before. */
function clean(v: string): string {
  return v.replace(/[/=,\\]/g, '_');
}
