// A lone etcd member for tests of the swarm's store without a berthd: its
// own CA and certificate, a random port pair on loopback, its data in a
// temporary directory that stop() removes with the member.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EtcdProcess } from '../../src/host/etcd';
import { createCA, issueKeyPair, type KeyPair as CA } from '../../src/host/x509';
import { EtcdClient, type Compare, type Op } from '../../src/swarm/etcd-client';

/** The real client, counting its transactions (what the feed-kept reads save). */
export class CountingClient extends EtcdClient {
  txns = 0;
  override txn(compare: Compare[], success: Op[], failure: Op[] = []): ReturnType<EtcdClient['txn']> {
    this.txns++;
    return super.txn(compare, success, failure);
  }
}

/** Polls fn every 50 ms until it gives a value (not undefined/false), for at most ms. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const v = await fn();
    if (v) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface TestEtcd {
  /** The client URL (https on 127.0.0.1). */
  url: string;
  /** What an EtcdClient needs to talk to it. */
  tls: { ca: string; cert: string; key: string };
  /** For a second member of its cluster (startTestMember): its name, peer URL and CA. */
  name: string;
  peerUrl: string;
  ca: CA;
  stop(): Promise<void>;
}

/** Starts member `name` (not waiting for it to serve: the caller's client probes). */
export async function startTestEtcd(name: string): Promise<TestEtcd> {
  return startMember(name, await createCA(`${name}-test-ca`));
}

/**
 * Starts member `name` in `first`'s cluster, after the caller added its
 * peer URL with member add (`add`) (as a learner or a voter).
 */
export async function startTestMember(first: TestEtcd, name: string, add: (peerUrl: string) => Promise<void>): Promise<TestEtcd> {
  return startMember(name, first.ca, { first, add });
}

async function startMember(name: string, ca: CA, join?: { first: TestEtcd; add: (peerUrl: string) => Promise<void> }): Promise<TestEtcd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-etcd-${name}-`));
  const pair = await issueKeyPair(ca, { CN: 'etcd' }, ['127.0.0.1']);
  fs.writeFileSync(path.join(dir, 'ca.crt'), ca.certPem);
  fs.writeFileSync(path.join(dir, 'etcd.crt'), pair.certPem);
  fs.writeFileSync(path.join(dir, 'etcd.key'), pair.keyPem, { mode: 0o600 });
  const port = 42000 + Math.floor(Math.random() * 8000) * 2;
  const peerUrl = `https://127.0.0.1:${port + 1}`;
  if (join) await join.add(peerUrl);
  const etcd = new EtcdProcess({
    name, dataDir: path.join(dir, 'data'), logFile: path.join(dir, 'etcd.log'), pidFile: path.join(dir, 'etcd.pid'),
    clientUrl: `https://127.0.0.1:${port}`, peerListenUrl: peerUrl, peerAdvertiseUrl: peerUrl,
    initialCluster: join ? `${join.first.name}=${join.first.peerUrl},${name}=${peerUrl}` : `${name}=${peerUrl}`,
    initialState: join ? 'existing' : 'new',
    certFile: path.join(dir, 'etcd.crt'), keyFile: path.join(dir, 'etcd.key'), caFile: path.join(dir, 'ca.crt'),
  });
  etcd.start();
  return {
    url: `https://127.0.0.1:${port}`,
    tls: { ca: ca.certPem, cert: pair.certPem, key: pair.keyPem },
    name,
    peerUrl,
    ca,
    async stop() {
      await etcd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
