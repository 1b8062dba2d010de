// A lone etcd member for tests of the swarm's store without a berthd: its
// own CA and certificate, a random port pair on loopback, its data in a
// temporary directory that stop() removes with the member.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EtcdProcess } from '../../src/host/etcd';
import { createCA, issueKeyPair } from '../../src/host/x509';

export interface TestEtcd {
  /** The client URL (https on 127.0.0.1). */
  url: string;
  /** What an EtcdClient needs to talk to it. */
  tls: { ca: string; cert: string; key: string };
  stop(): Promise<void>;
}

/** Starts member `name` (not waiting for it to serve: the caller's client probes). */
export async function startTestEtcd(name: string): Promise<TestEtcd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-etcd-${name}-`));
  const ca = await createCA(`${name}-test-ca`);
  const pair = await issueKeyPair(ca, { CN: 'etcd' }, ['127.0.0.1']);
  fs.writeFileSync(path.join(dir, 'ca.crt'), ca.certPem);
  fs.writeFileSync(path.join(dir, 'etcd.crt'), pair.certPem);
  fs.writeFileSync(path.join(dir, 'etcd.key'), pair.keyPem, { mode: 0o600 });
  const port = 42000 + Math.floor(Math.random() * 8000) * 2;
  const etcd = new EtcdProcess({
    name, dataDir: path.join(dir, 'data'), logFile: path.join(dir, 'etcd.log'), pidFile: path.join(dir, 'etcd.pid'),
    clientUrl: `https://127.0.0.1:${port}`, peerListenUrl: `https://127.0.0.1:${port + 1}`, peerAdvertiseUrl: `https://127.0.0.1:${port + 1}`,
    initialCluster: `${name}=https://127.0.0.1:${port + 1}`, initialState: 'new',
    certFile: path.join(dir, 'etcd.crt'), keyFile: path.join(dir, 'etcd.key'), caFile: path.join(dir, 'ca.crt'),
  });
  etcd.start();
  return {
    url: `https://127.0.0.1:${port}`,
    tls: { ca: ca.certPem, cert: pair.certPem, key: pair.keyPem },
    async stop() {
      await etcd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
