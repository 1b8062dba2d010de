// The swarm's in-process certificates (src/host/x509.ts): what openssl and
// node's own X.509 parser make of them, and the requests a signer refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createCA, createKeyAndCsr, signCsr, issueKeyPair } from '../src/host/x509';

function openssl(args: string[], files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-x509-'));
  try {
    for (const [n, s] of Object.entries(files)) fs.writeFileSync(path.join(dir, n), s);
    return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a CA and a node certificate as openssl made them: subject, SANs, usages, validity, chain', async () => {
  const ca = await createCA('swarm-ca');
  const csr = await createKeyAndCsr();
  openssl(['req', '-in', 'r.csr', '-verify', '-noout'], { 'r.csr': csr.csrPem }); // throws unless the self-signature holds
  const pem = await signCsr({ csrPem: csr.csrPem, ca, subject: { CN: 'node1', OU: 'swarm-manager', O: 'cluster1' }, ips: ['10.1.2.3', '127.0.0.1', '127.0.0.1'], dns: ['localhost'] });
  assert.match(openssl(['verify', '-CAfile', 'ca.crt', 'n.crt'], { 'ca.crt': ca.certPem, 'n.crt': pem }), /n\.crt: OK/);

  const c = new X509Certificate(pem);
  const root = new X509Certificate(ca.certPem);
  assert.ok(c.checkIssued(root) && c.verify(root.publicKey) && root.verify(root.publicKey));
  assert.ok(c.checkPrivateKey(createPrivateKey(csr.keyPem)));
  assert.equal(c.subject, 'CN=node1\nOU=swarm-manager\nO=cluster1');
  assert.equal(root.subject, 'CN=swarm-ca');
  assert.equal(c.subjectAltName, 'IP Address:10.1.2.3, IP Address:127.0.0.1, DNS:localhost');
  assert.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(root.ca, true);
  assert.equal(c.ca, false);
  const days = (x: X509Certificate) => Math.round((Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86_400_000);
  assert.equal(days(c), 90);
  assert.ok(days(root) >= 7299 && days(root) <= 7300);
  const text = openssl(['x509', '-in', 'n.crt', '-noout', '-text'], { 'n.crt': pem });
  assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
  assert.match(text, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
  assert.match(text, /ecdsa-with-SHA256/);
  assert.match(text, /prime256v1/);
  assert.match(openssl(['x509', '-in', 'ca.crt', '-noout', '-text'], { 'ca.crt': ca.certPem }), /Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
  // the key is PKCS #8, as openssl wrote it
  assert.match(csr.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  // two certificates never share a serial
  const again = await signCsr({ csrPem: csr.csrPem, ca, subject: { CN: 'node1' }, ips: [] });
  assert.notEqual(new X509Certificate(again).serialNumber, c.serialNumber);
});

test('an openssl-made P-256 request is signed; issueKeyPair gives a matching pair', async () => {
  const ca = await createCA('swarm-etcd-ca');
  const csrPem = openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=x'], {});
  const pem = await signCsr({ csrPem, ca, subject: { CN: 'n' }, ips: ['1.2.3.4'] });
  assert.equal(new X509Certificate(pem).subject, 'CN=n');
  const pair = await issueKeyPair(ca, { CN: 'm', OU: 'swarm-manager', O: 'c' }, ['10.0.0.9', '127.0.0.1']);
  assert.ok(new X509Certificate(pair.certPem).checkPrivateKey(createPrivateKey(pair.keyPem)));
});

test('requests that are tampered with, not P-256 or not ECDSA-SHA256 are refused', async () => {
  const ca = await createCA('c');
  const { csrPem } = await createKeyAndCsr();
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const pemOf = (d: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${d.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  for (const pos of [40, 80, der.length - 3]) {
    const d = Buffer.from(der);
    d[pos] ^= 1;
    await assert.rejects(signCsr({ csrPem: pemOf(d), ca, subject: { CN: 'a' }, ips: [] }), /certificate request|decode|DER|bad/i, `flip at ${pos}`);
  }
  const rsaCsr = openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=x'], {});
  await assert.rejects(signCsr({ csrPem: rsaCsr, ca, subject: { CN: 'a' }, ips: [] }), /invalid certificate request/);
  const p384 = openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=x', '-sha256'], {});
  await assert.rejects(signCsr({ csrPem: p384, ca, subject: { CN: 'a' }, ips: [] }), /P-256/);
  await assert.rejects(signCsr({ csrPem: 'junk', ca, subject: { CN: 'a' }, ips: [] }), /not a PEM certificate request/);
  await assert.rejects(signCsr({ csrPem, ca, subject: { CN: 'a' }, ips: ['::1'] }), /not an IPv4 address/);
});
