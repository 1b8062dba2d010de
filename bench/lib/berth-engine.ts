// berthd from this checkout's dist/, on private paths like the test harness:
// own socket, data root, exec root, bridge, bip and iptables chain prefix.
import fs from 'node:fs';
import path from 'node:path';
import { Engine } from './engine';
import { quiet } from './proc';
import { deleteLinksMatching, deleteNetnsMatching, deleteRuncContainers, freeSubnet, killByMarker, removeIptables, unmountUnder, type ProcInfo } from './host';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const BERTHD = path.join(REPO_ROOT, 'bin', 'berthd');

export interface BerthOptions {
  /** Directory for a V8 CPU profile (node --cpu-prof), written when berthd exits. */
  cpuProfDir?: string;
  logLevel?: string;
}

export class BerthEngine extends Engine {
  readonly key = 'berth';
  readonly title = 'Berth';
  readonly bridge: string;
  readonly chainPrefix: string;
  readonly dataRoot: string;
  readonly execRoot: string;

  constructor(root: string, logFile: string, readonly id: string, private readonly opts: BerthOptions = {}) {
    super(root, logFile);
    this.bridge = `bbb${id}`;
    this.chainPrefix = `BB${id.toUpperCase()}`;
    this.dataRoot = path.join(root, 'data');
    this.execRoot = path.join(root, 'exec');
  }

  async start(): Promise<void> {
    const node: string[] = [];
    if (this.opts.cpuProfDir) node.push('--cpu-prof', '--cpu-prof-dir', this.opts.cpuProfDir);
    const bip = freeSubnet((parseInt(this.id, 16) + 125) % 250);
    this.spawnDaemon(process.execPath, [
      ...node,
      BERTHD,
      '-H', `unix://${this.socket}`,
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '--pidfile', path.join(this.root, 'berthd.pid'),
      '--bridge', this.bridge,
      '--bip', bip,
      '--iptables-chain-prefix', this.chainPrefix,
      '--log-level', this.opts.logLevel ?? 'info',
    ]);
    await this.waitReady(30_000);
    const v = await this.docker(['version', '--format', '{{.Server.Version}}']);
    const commit = quiet('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']).trim();
    this.version = `${v.stdout.trim() || '?'}${commit ? ` (${commit})` : ''}`;
  }

  isMonitor(p: ProcInfo): boolean {
    return p.comm === 'conmon' && p.cmdline.includes(this.root);
  }

  protected cleanupHost(): void {
    deleteRuncContainers(this.execRoot);
    deleteRuncContainers(this.dataRoot);
    killByMarker(this.root);
    unmountUnder(this.root);
    // Exactly what this berthd names: `<tag>-<id>` netns and bridges, `<tag>v<rand>`
    // veths, `<PREFIX>-<NAME>` chains; never a bare prefix another engine may share.
    const tag = this.chainPrefix.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8);
    deleteNetnsMatching((n) => n.startsWith(tag + '-'));
    deleteLinksMatching((n) => n === this.bridge || n.startsWith(tag + '-') || n.startsWith(tag + 'v'));
    removeIptables((c) => c.startsWith(this.chainPrefix + '-'), [this.bridge]);
    quiet('ip', ['link', 'delete', this.bridge]);
    fs.rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
  }
}
