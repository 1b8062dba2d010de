// Docker (Debian's docker.io) on private paths: its own socket, data root,
// exec root, pid file, config file and a bridge made for it. dockerd starts
// its own containerd under the exec root.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Engine } from './engine';
import { quiet } from './proc';
import { chainPolicy, deleteLinksMatching, deleteRuncContainers, freeSubnet, iptablesSnapshot, killByMarker, linkNames, listProcs, removeOwnIptables, unmountUnder, type IptablesSnapshot, type ProcInfo } from './host';

const KEY_JSON = '/etc/docker/key.json';
/** containerd-shim-runc-v2 keeps runc state here, per containerd namespace. */
const SHIM_RUNC_ROOT = '/run/containerd/runc/moby';

/** A veth named as libnetwork names them. */
const DOCKER_VETH = /^veth[0-9a-f]{7}$/;

export class DockerEngine extends Engine {
  readonly key = 'docker';
  readonly title = 'Docker';
  readonly bridge: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  private hadKeyJson = fs.existsSync(KEY_JSON);
  private hadContainerdRun = fs.existsSync('/run/containerd');
  private forwardPolicy?: string;
  /** iptables before our dockerd started: what was there then is never ours to remove. */
  private iptablesBefore?: IptablesSnapshot;
  private subnet?: string;
  /** Docker-named veths (veth + 7 hex) before our dockerd started. */
  private vethsBefore = new Set<string>();

  constructor(root: string, logFile: string, readonly id: string) {
    super(root, logFile);
    this.bridge = `bbd${id}`;
    this.dataRoot = path.join(root, 'data');
    this.execRoot = path.join(root, 'exec');
  }

  async start(): Promise<void> {
    // dockerd sets the FORWARD policy to DROP when it has to turn on
    // ip_forward itself; with br_netfilter loaded that would cut off other
    // bridges on this host. Turning it on first avoids that.
    this.forwardPolicy = chainPolicy('FORWARD');
    if (fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    const cidr = freeSubnet(parseInt(this.id, 16) % 250);
    this.subnet = cidr.replace(/\.\d+\/24$/, '.');
    this.iptablesBefore = iptablesSnapshot();
    this.vethsBefore = new Set(linkNames().filter((n) => DOCKER_VETH.test(n)));
    execFileSync('ip', ['link', 'add', this.bridge, 'type', 'bridge'], { timeout: 10_000 });
    execFileSync('ip', ['addr', 'add', cidr, 'dev', this.bridge], { timeout: 10_000 });
    execFileSync('ip', ['link', 'set', this.bridge, 'up'], { timeout: 10_000 });
    const config = path.join(this.root, 'daemon.json');
    fs.writeFileSync(config, '{}\n');
    this.spawnDaemon('dockerd', [
      '-H', `unix://${this.socket}`,
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '--pidfile', path.join(this.root, 'dockerd.pid'),
      '--config-file', config,
      '--bridge', this.bridge,
      '--storage-driver', 'overlay2',
      '--log-level', 'warn',
    ]);
    await this.waitReady(60_000);
    const v = await this.docker(['version', '--format', '{{.Server.Version}}']);
    this.version = v.stdout.trim();
  }

  isMonitor(p: ProcInfo): boolean {
    return p.comm.startsWith('containerd-shim') && p.cmdline.includes(this.execRoot);
  }

  protected cleanupHost(): void {
    // Containers whose runc state is in the shim's shared root but whose bundle is ours.
    let ids: string[] = [];
    try {
      ids = fs.readdirSync(SHIM_RUNC_ROOT);
    } catch {
      /* none */
    }
    for (const id of ids) {
      try {
        const state = fs.readFileSync(path.join(SHIM_RUNC_ROOT, id, 'state.json'), 'utf8');
        if (state.includes(this.root)) quiet('runc', ['--root', SHIM_RUNC_ROOT, 'delete', '--force', id]);
      } catch {
        /* not a container dir */
      }
    }
    deleteRuncContainers(this.execRoot);
    killByMarker(this.root);
    unmountUnder(this.root);
    // Docker's chain names (DOCKER, DOCKER-USER, ...) are shared by every
    // dockerd in this network namespace: remove the rules naming our bridge
    // and subnet, and what appeared since our start only if no other dockerd
    // is alive to use it. Chains another engine had before stay untouched.
    const othersAlive = listProcs().some((p) => p.comm === 'dockerd' && p.pid !== this.pid);
    removeOwnIptables([this.bridge], this.subnet ? [this.subnet] : [], this.iptablesBefore, othersAlive);
    if (this.forwardPolicy && chainPolicy('FORWARD') !== this.forwardPolicy) quiet('iptables', ['-w', '5', '-P', 'FORWARD', this.forwardPolicy]);
    quiet('ip', ['link', 'delete', this.bridge]);
    // A dockerd killed while it creates endpoints (the removal budget ran
    // out with 1,000 containers) leaves both ends of new veth pairs here.
    if (!othersAlive) deleteLinksMatching((n) => DOCKER_VETH.test(n) && !this.vethsBefore.has(n));
    if (!this.hadKeyJson) fs.rmSync(KEY_JSON, { force: true });
    // The shims make /run/containerd/s for their sockets; drop it if we made it and it is empty.
    if (!this.hadContainerdRun) quiet('find', ['/run/containerd', '-depth', '-type', 'd', '-empty', '-delete']);
    fs.rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
  }
}
