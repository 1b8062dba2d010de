// A joiner's one connection to a manager's control port (join-client.ts),
// against a real ControlServer on loopback: the CA comes in the handshake,
// and a CA fetch and the join share that one handshake; the join is never sent to a server whose certificate is
// not the CA's (a CA handed out that did not issue the server's certificate,
// as a man in the middle would hand out the real one); a connection the
// server closed before the join goes out falls back to a new, verified one;
// a rehearsed join (the process warmed ahead) leaves nothing open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { ControlServer, type JoinRequest, type JoinResponse } from '../src/swarm/control';
import { JoinConnection } from '../src/swarm/join-client';
import { createCA, createKeyAndCsr, signCsr, type KeyPair } from '../src/host/x509';

interface Manager { server: ControlServer; addr: string; handshakes: () => number; caRequests: () => number; joins: JoinRequest[]; close: () => Promise<void> }

async function manager(nodeCA: KeyPair, handedOut: KeyPair): Promise<Manager> {
  const k = await createKeyAndCsr();
  const cert = await signCsr({ csrPem: k.csrPem, ca: nodeCA, subject: { CN: 'mgr', OU: 'swarm-manager', O: 'c1' }, ips: ['127.0.0.1'] });
  const joins: JoinRequest[] = [];
  let cas = 0;
  const server = new ControlServer({
    rootCA: () => { cas++; return handedOut.certPem; },
    join: async (r) => {
      joins.push(r);
      return { nodeId: 'n1', clusterId: 'c1', role: 'worker', rootCA: handedOut.certPem, cert: 'x', managers: [] } satisfies JoinResponse;
    },
    heartbeat: async () => ({ role: 'worker', managers: [] }),
  });
  await server.listen('127.0.0.1', 0, { cert, key: k.keyPem, ca: nodeCA.certPem });
  const srv = (server as unknown as { server: import('node:https').Server }).server;
  let n = 0;
  srv.on('secureConnection', () => n++);
  const port = (srv.address() as AddressInfo).port;
  return { server, addr: `127.0.0.1:${port}`, handshakes: () => n, caRequests: () => cas, joins, close: () => server.close() };
}

const join = (csr: string): JoinRequest => ({
  token: 't', csr, hostname: 'h', engineVersion: '0', addr: '127.0.0.1', port: 2377,
  platform: { Architecture: 'x86_64', OS: 'linux' }, resources: { NanoCPUs: 0, MemoryBytes: 0 },
});

test('the CA comes with the handshake; asked for and the join go over the same connection', async () => {
  const ca = await createCA('swarm-ca');
  const m = await manager(ca, ca);
  try {
    const c = await JoinConnection.open(m.addr);
    assert.equal(c.chainCA(), ca.certPem, 'the control server sends the root CA as its chain, byte for byte the PEM the token digests');
    assert.equal(m.caRequests(), 0);
    const pem = await c.fetchCA();
    assert.equal(pem, ca.certPem);
    assert.equal(c.localAddress, '127.0.0.1');
    c.trust(pem);
    const res = await c.post<JoinResponse>('/join', join('csr'), 5000);
    c.close();
    assert.equal(res.nodeId, 'n1');
    assert.equal(m.joins.length, 1);
    assert.equal(m.handshakes(), 1, 'one handshake for both requests');
  } finally {
    await m.close();
  }
});

test('a server whose certificate the handed-out CA did not issue never sees the join', async () => {
  const real = await createCA('swarm-ca');
  const other = await createCA('swarm-ca');
  // the server hands out `real` (its digest would match the token) but presents a certificate of `other`
  const m = await manager(other, real);
  try {
    const c = await JoinConnection.open(m.addr);
    assert.equal(c.chainCA(), other.certPem);
    const pem = await c.fetchCA();
    assert.throws(() => c.trust(pem), /does not present a certificate of the cluster's root CA/);
    await assert.rejects(c.post('/join', join('csr'), 5000), /not trusted/);
    c.close();
    assert.equal(m.joins.length, 0);
  } finally {
    await m.close();
  }
});

test('a connection closed before the join: the join goes on a new connection, verified by the CA', async () => {
  const ca = await createCA('swarm-ca');
  const m = await manager(ca, ca);
  try {
    const c = await JoinConnection.open(m.addr);
    c.trust(await c.fetchCA());
    // the server drops its idle connections (as at its keep-alive timeout)
    const srv = (m.server as unknown as { server: import('node:https').Server }).server;
    srv.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 100));
    const res = await c.post<JoinResponse>('/join', join('csr'), 5000);
    c.close();
    assert.equal(res.nodeId, 'n1');
    assert.equal(m.joins.length, 1);
    assert.equal(m.handshakes(), 2);
  } finally {
    await m.close();
  }
});

test('an unreachable manager is an UnreachableError naming it', async () => {
  await assert.rejects(JoinConnection.open('127.0.0.1:1', 2000), /could not reach 127\.0\.0\.1:1/);
});

test('a join rehearsed in the process: a handshake and a POST on an abstract socket, nothing left open', async () => {
  const before = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().length;
  await JoinConnection.rehearse();
  // once per process: a second call does nothing
  await JoinConnection.rehearse();
  await new Promise((r) => setImmediate(r));
  const after = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().length;
  assert.ok(after <= before, `handles before ${before}, after ${after}`);
  // and a real join still works after it
  const ca = await createCA('swarm-ca');
  const m = await manager(ca, ca);
  try {
    const c = await JoinConnection.open(m.addr);
    c.trust(c.chainCA()!);
    const res = await c.post<JoinResponse>('/join', join('csr'), 5000);
    c.close();
    assert.equal(res.nodeId, 'n1');
  } finally {
    await m.close();
  }
});
