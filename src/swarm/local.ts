// A node's swarm files under <data-root>/swarm (dirs 0700, files 0600):
//   state.json                  node id, cluster id, role, addresses, known managers
//   init.json                   an init's cluster and node records until they are in etcd (pending.ts)
//   certificates/swarm-root-ca.crt, swarm-node.crt, swarm-node.key   control port (2377) identity
//   certificates/etcd-ca.crt, etcd.crt, etcd.key                     managers only: etcd peers and clients
//   etcd/ (member data), etcd.log, etcd.pid                          managers only
// A node in no swarm has only certificates/swarm-node.key: its next join's
// key, written ahead (stageKey).
import fs from 'node:fs';
import path from 'node:path';
import type { LocalState } from './types';
import type { InitRecord } from './pending';

export class LocalFiles {
  readonly dir: string;
  readonly certs: string;

  constructor(dataRoot: string) {
    this.dir = path.join(dataRoot, 'swarm');
    this.certs = path.join(this.dir, 'certificates');
  }

  get stateFile(): string { return path.join(this.dir, 'state.json'); }
  get initFile(): string { return path.join(this.dir, 'init.json'); }
  get etcdData(): string { return path.join(this.dir, 'etcd'); }
  get etcdLog(): string { return path.join(this.dir, 'etcd.log'); }
  get etcdPid(): string { return path.join(this.dir, 'etcd.pid'); }
  cert(name: 'swarm-root-ca.crt' | 'swarm-node.crt' | 'swarm-node.key' | 'etcd-ca.crt' | 'etcd.crt' | 'etcd.key'): string {
    return path.join(this.certs, name);
  }

  read(name: Parameters<LocalFiles['cert']>[0]): string {
    return fs.readFileSync(this.cert(name), 'utf8');
  }

  loadState(): LocalState | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.stateFile, 'utf8')) as LocalState;
    } catch {
      return undefined;
    }
  }

  /** temp + rename: a crash never leaves half a state file. */
  saveState(s: LocalState): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writePrivate(this.stateFile, JSON.stringify(s, null, 2) + '\n');
  }

  saveInit(r: InitRecord): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writePrivate(this.initFile, JSON.stringify(r) + '\n');
  }

  loadInit(): InitRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.initFile, 'utf8')) as InitRecord;
    } catch {
      return undefined;
    }
  }

  removeInit(): void {
    fs.rmSync(this.initFile, { force: true });
  }

  writeCerts(files: Partial<Record<Parameters<LocalFiles['cert']>[0], string>>): void {
    fs.mkdirSync(this.certs, { recursive: true, mode: 0o700 });
    for (const [name, pem] of Object.entries(files)) if (pem) writePrivate(this.cert(name as Parameters<LocalFiles['cert']>[0]), pem);
  }

  /**
   * A node not in a swarm: a fresh directory holding the key its next join
   * will use, written ahead (off the join's path: an rm -rf, two mkdirs and
   * a file cost 7-28 ms on a host busy with etcd members' fsyncs). No
   * state.json: a restart is in no swarm.
   */
  stageKey(keyPem: string): void {
    this.removeAll();
    this.writeCerts({ 'swarm-node.key': keyPem });
  }

  /** Whether the key file holds this key (one staged by stageKey and not removed since). */
  holdsKey(keyPem: string): boolean {
    try {
      return fs.readFileSync(this.cert('swarm-node.key'), 'utf8') === keyPem;
    } catch {
      return false;
    }
  }

  /** Drops the etcd member's files (a demoted or leaving manager). */
  removeEtcd(): void {
    fs.rmSync(this.etcdData, { recursive: true, force: true });
    for (const f of ['etcd-ca.crt', 'etcd.crt', 'etcd.key'] as const) fs.rmSync(this.cert(f), { force: true });
  }

  removeAll(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function writePrivate(file: string, data: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
