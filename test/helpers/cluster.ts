// N "hosts" on one machine for multi-host tests: each host is a network
// namespace with a veth to a test bridge in the root namespace, its own
// address on the bridge's subnet, loopback up and no default route, and its
// own engine started as
//   ip netns exec NS unshare --uts sh -c 'hostname NAME; exec berthd ...'
// with its own socket, data root, exec root, pid file and chain prefix.
// destroy() removes every process, namespace, link, rule and directory the
// cluster made, and leftovers() says what (if anything) is still there.
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { ROOT_DIR, run, cleanupHostState, reserveSubnet, releaseSubnet, type RunOptions, type RunResult } from './daemon';
import { busyboxArchive } from '../fixtures/busybox';

const BERTHD = path.join(ROOT_DIR, 'bin', 'berthd');
const BERTH = path.join(ROOT_DIR, 'bin', 'berth');

export type Engine = 'berthd' | 'dockerd';

export interface ClusterOptions {
  /** Host names (default host1..hostN). */
  names?: string[];
  /** Extra engine flags for every host. */
  args?: string[];
  /** berthd (default) or a private Docker engine (dockerd + its managed containerd) per host. */
  engine?: Engine;
  /** Bound on one engine's start, ms (default 30 s). */
  startTimeout?: number;
  /** Pass --log-level debug to berthd (default true). */
  debug?: boolean;
  /**
   * dockerd keeps its default bridge (docker0 in the host's namespace, no
   * iptables), as berthd always has one: a container or task without
   * networks then gets a bridge endpoint on both engines. Default false
   * (`--bridge=none`: such a container has no network at all on dockerd).
   */
  dockerBridge?: boolean;
  /**
   * dockerd keeps its default iptables (rules, br_netfilter hooks in its
   * namespace), as berthd always has: for data-path comparisons. Default
   * false (`--iptables=false --ip-masq=false`: the control-plane tests and
   * rows need none).
   */
  dockerIptables?: boolean;
  /**
   * Two hosts joined by one veth pair (a wire: real hosts have NICs and a
   * switch, not a Linux bridge whose frames the root namespace's netfilter
   * hooks also see), no root-namespace bridge: for data-path benches. At
   * most two hosts; the root namespace has no address on their link.
   */
  wire?: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a host program that must succeed (bounded). */
async function must(cmd: string, args: string[], timeout = 15_000): Promise<string> {
  const r = await run(cmd, args, { timeout });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

async function quiet(cmd: string, args: string[], timeout = 15_000): Promise<string> {
  try {
    const r = await run(cmd, args, { timeout });
    return r.code === 0 ? r.stdout : '';
  } catch {
    return '';
  }
}

/** A zombie still has /proc entries (its cgroup too) until its parent reaps it. */
function zombie(pid: number): boolean {
  try {
    return / Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ')'));
  } catch {
    return true;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Pids whose network namespace is `ns` (`ip netns pids`). */
export async function netnsPids(ns: string): Promise<number[]> {
  const out = await quiet('ip', ['netns', 'pids', ns]);
  return out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0 && n !== process.pid);
}

/**
 * Shell commands that mount PID 1's cgroup filesystems again under the fresh
 * /sys of `ip netns exec` (a bind across mount namespaces is refused), for
 * engines that do not do it themselves (dockerd).
 */
function cgroupMountScript(): string {
  const cmds: string[] = [];
  for (const line of fs.readFileSync('/proc/1/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const mnt = line.slice(0, sep).split(' ')[4] ?? '';
    const [fstype, , superOpts] = line.slice(sep + 3).split(' ');
    if (!(mnt === '/sys/fs/cgroup' || mnt.startsWith('/sys/fs/cgroup/')) || !['tmpfs', 'cgroup', 'cgroup2'].includes(fstype)) continue;
    const opts = (superOpts ?? '').split(',').filter((o) => o && o !== 'rw').join(',');
    cmds.push(`mkdir -p ${mnt} && mount -t ${fstype} ${opts ? `-o ${opts} ` : ''}${fstype} ${mnt}`);
  }
  return cmds.length ? cmds.join(' && ') + ' && ' : '';
}

export class ClusterHost {
  readonly root: string;
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly pidfile: string;
  readonly chainPrefix: string;
  /** The engine's default bridge inside the host's namespace. */
  readonly bridge: string;
  readonly bip: string;
  readonly dockerEnv: NodeJS.ProcessEnv;
  private proc?: ChildProcess;
  private readonly logFile: string;

  constructor(
    readonly cluster: Cluster,
    readonly index: number,
    readonly name: string,
    /** Network namespace name. */
    readonly ns: string,
    /** IPv4 address on the cluster bridge (no prefix length). */
    readonly addr: string,
    /** Root-side veth name. */
    readonly veth: string,
  ) {
    this.root = path.join(cluster.root, name);
    fs.mkdirSync(this.root, { recursive: true });
    this.socket = path.join(this.root, 'engine.sock');
    this.dataRoot = path.join(this.root, 'data');
    this.execRoot = path.join(this.root, 'exec');
    this.pidfile = path.join(this.root, 'engine.pid');
    this.logFile = path.join(this.root, 'engine.log');
    // Unique per host (its first 8 characters name the host's netns and
    // cgroup parent, which live in machine-wide places).
    this.chainPrefix = `BC${cluster.id}${index.toString(36)}`.toUpperCase();
    this.bridge = `bb${cluster.id}${index.toString(36)}`;
    this.bip = cluster.bip;
    const dockerConfig = path.join(this.root, 'docker-config');
    fs.mkdirSync(dockerConfig, { recursive: true });
    this.dockerEnv = {
      ...process.env,
      DOCKER_HOST: `unix://${this.socket}`,
      BERTH_HOST: `unix://${this.socket}`,
      DOCKER_CONFIG: dockerConfig,
      DOCKER_CLI_HINTS: 'false',
      DOCKER_BUILDKIT: '0',
    };
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  /** The engine's pid while it runs. */
  get pid(): number | undefined {
    const p = this.proc;
    return p && p.exitCode === null && p.signalCode === null ? p.pid : undefined;
  }

  private engineArgs(): string[] {
    const common = ['-H', this.host, '--data-root', this.dataRoot, '--exec-root', this.execRoot, '--pidfile', this.pidfile];
    if (this.cluster.engine === 'dockerd') {
      // A private Docker engine: no bridge or iptables of its own unless asked
      // (the swarm layout needs neither), containerd managed under its exec root.
      // Its trust key goes under the host's root, never /etc/docker/key.json.
      const config = path.join(this.root, 'daemon.json');
      fs.writeFileSync(config, JSON.stringify({ 'deprecated-key-path': path.join(this.root, 'key.json') }) + '\n');
      const bridge = this.cluster.opts.dockerBridge ? [] : ['--bridge=none'];
      const ipt = this.cluster.opts.dockerIptables ? [] : ['--iptables=false', '--ip-masq=false'];
      return ['dockerd', ...common, '--config-file', config, ...bridge, ...ipt, ...this.cluster.opts.args ?? []];
    }
    return [
      process.execPath, BERTHD, ...common,
      '--bridge', this.bridge,
      '--bip', this.bip,
      '--iptables-chain-prefix', this.chainPrefix,
      ...(this.cluster.opts.debug === false ? [] : ['--log-level', 'debug']),
      ...this.cluster.opts.args ?? [],
    ];
  }

  /** Starts the engine in the host's namespaces and waits for /_ping. */
  async start(): Promise<void> {
    if (this.pid) return;
    const log = fs.openSync(this.logFile, 'a');
    // dockerd needs the host's cgroups, which `ip netns exec` hides behind a
    // fresh /sys (berthd mounts them back itself).
    const pre = this.cluster.engine === 'dockerd' ? cgroupMountScript() : '';
    this.proc = spawn(
      'ip',
      ['netns', 'exec', this.ns, 'unshare', '--uts', 'sh', '-c', `${pre}hostname "$0" && exec "$@"`, this.name, ...this.engineArgs()],
      // Its own process group, so that a kill reaches nothing of ours.
      { stdio: ['ignore', log, log], detached: true },
    );
    fs.closeSync(log);
    const proc = this.proc;
    let exited = false;
    proc.once('exit', () => (exited = true));
    const deadline = Date.now() + (this.cluster.opts.startTimeout ?? 30_000);
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${this.cluster.engine} on ${this.name} exited during start:\n${this.logs().slice(-4000)}`);
      if (await this.ping()) return;
      await sleep(100);
    }
    throw new Error(`${this.cluster.engine} on ${this.name} did not answer /_ping in time:\n${this.logs().slice(-4000)}`);
  }

  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.request({ socketPath: this.socket, path: '/_ping', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
      req.end();
    });
  }

  /** A JSON request on the host's socket: status and parsed body (or text). */
  api(method: string, urlPath: string, body?: unknown, timeout = 30_000): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = http.request(
        { socketPath: this.socket, path: urlPath, method, timeout, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try { parsed = JSON.parse(text); } catch { /* not JSON */ }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} on ${this.name} timed out`)));
      req.end(data);
    });
  }

  logs(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  docker(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('docker', args, { ...opts, env: { ...this.dockerEnv, ...opts.env } });
  }

  /** A docker command that must succeed: its stdout. */
  async ok(args: string[], timeout = 60_000): Promise<string> {
    const r = await this.docker(args, { timeout });
    assert.equal(r.code, 0, `docker ${args.join(' ')} on ${this.name} failed (${r.code}): ${r.stderr}\n${this.logs().slice(-2000)}`);
    return r.stdout;
  }

  berth(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(process.execPath, ['--', BERTH, ...args], { ...opts, env: { ...this.dockerEnv, ...opts.env } });
  }

  /** Runs a program inside the host's network namespace (e.g. curl to another host). */
  exec(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.ns, cmd, ...args], opts);
  }

  /** A program in the engine's own namespaces, its mount namespace included (where berthd's namespace files are mounted). */
  inEngine(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    if (!this.pid) throw new Error(`${this.name}: the engine is not running`);
    return run('nsenter', ['-t', String(this.pid), '-m', '-n', cmd, ...args], { timeout: 15_000, ...opts });
  }

  /** The engine's overlay namespaces (berthd keeps a user overlay's bridge and VXLAN device in one of its own). */
  async overlayNetns(): Promise<string[]> {
    const tag = this.chainPrefix.toLowerCase().slice(0, 8);
    const r = await this.inEngine('ip', ['netns', 'list']);
    return r.stdout.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(`${tag}-ovl-`));
  }

  /** `ip -o -d link` lines of the engine's VXLAN devices: in its namespace (the ingress overlay's) and in its overlays' own. */
  async vxlans(): Promise<string[]> {
    const out: string[] = [];
    for (const ns of ['', ...await this.overlayNetns()]) {
      const r = await this.inEngine('ip', [...(ns ? ['-n', ns] : []), '-o', '-d', 'link', 'show', 'type', 'vxlan']);
      out.push(...r.stdout.split('\n').filter(Boolean));
    }
    return out;
  }

  /** `docker load` the busybox fixture. */
  async loadBusybox(): Promise<void> {
    const archive = await busyboxArchive();
    await this.ok(['load', '-i', archive], 120_000);
  }

  /**
   * Signals the engine. SIGKILL (the default) is a crash: berthd and, unless
   * `etcd: false`, the etcd it supervises die at once; containers live on.
   * Any other signal waits (bounded) for the engine to exit.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL', opts: { etcd?: boolean } = {}): Promise<void> {
    const proc = this.proc;
    if (signal === 'SIGKILL' && opts.etcd !== false) {
      for (const pid of await netnsPids(this.ns)) {
        if (comm(pid) === 'etcd' || (this.cluster.engine === 'dockerd' && comm(pid) === 'containerd')) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
      }
    }
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(t);
  }

  /** RSS (KiB) of the host's own processes by name (engine, etcd, containerd), not containers. */
  async rss(): Promise<{ kib: number; procs: string[] }> {
    let kib = 0;
    const procs: string[] = [];
    for (const pid of await netnsPids(this.ns)) {
      const name = comm(pid);
      if (!['node', 'etcd', 'dockerd', 'containerd'].includes(name)) continue;
      try {
        const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (m) {
          kib += Number(m[1]);
          procs.push(name === 'node' ? 'berthd' : name);
        }
      } catch { /* gone */ }
    }
    return { kib, procs };
  }

  /** Graceful stop (SIGTERM, SIGKILL after 15 s) of the engine only. */
  stop(): Promise<void> {
    return this.kill('SIGTERM');
  }

  /** Stops the engine if it runs and starts it again on the same data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Everything this host made goes: engine, etcd, containers, namespace. */
  async teardown(): Promise<void> {
    await this.stop().catch(() => {});
    // Whatever still runs in the namespace (etcd, conmon, containerd, shims).
    for (let round = 0; round < 5; round++) {
      const pids = await netnsPids(this.ns);
      if (!pids.length) break;
      for (const pid of pids) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      await sleep(100);
    }
    if (this.cluster.engine === 'dockerd') {
      // containerd's shims and containers under the exec root (runc state there).
      await quiet('sh', ['-c', `for d in ${this.execRoot}/containerd/runc/*/ ; do for c in "$d"*/; do runc --root "$d" delete --force "$(basename "$c")"; done; done`]);
    }
    cleanupHostState(this);
    await quiet('ip', ['netns', 'delete', this.ns]);
  }
}

export class Cluster {
  /** 4 hex digits naming this cluster's namespaces, links and chains. */
  readonly id = randomBytes(2).toString('hex');
  readonly root: string;
  /** The root-namespace bridge all hosts' veths attach to (none with `wire`). */
  readonly bridgeName: string;
  /** `172.30.N` — the hosts' subnet is `${net}.0/24`; the bridge holds .1. */
  readonly net: string;
  /** The engines' own bridge subnet (each host's is in its own namespace). */
  readonly bip: string;
  readonly engine: Engine;
  readonly hosts: ClusterHost[] = [];
  private forwardRule: string[];

  constructor(readonly opts: ClusterOptions = {}) {
    this.engine = opts.engine ?? 'berthd';
    this.root = fs.mkdtempSync('/tmp/berth-cluster-');
    this.bridgeName = `bcl${this.id}`;
    this.net = `172.30.${reserveSubnet(this.root)}`;
    this.bip = `172.30.${reserveSubnet(this.root)}.1/24`;
    // Bridged traffic crosses the root namespace's FORWARD chain when
    // br_netfilter is loaded; let ours through whatever its policy is.
    this.forwardRule = ['FORWARD', '-i', this.bridgeName, '-o', this.bridgeName, '-j', 'ACCEPT'];
  }

  /** Prefix of every namespace name this cluster makes. */
  get nsPrefix(): string {
    return `berth-${this.id}-`;
  }

  async addHost(name?: string): Promise<ClusterHost> {
    const i = this.hosts.length + 1;
    if (i > 35) throw new Error('a test cluster has at most 35 hosts');
    const hostName = name ?? this.opts.names?.[i - 1] ?? `host${i}`;
    const ns = `${this.nsPrefix}${hostName}`;
    const veth = `bcv${this.id}${i.toString(36)}`;
    const addr = `${this.net}.${i + 1}`;
    const h = new ClusterHost(this, i, hostName, ns, addr, veth);
    this.hosts.push(h);
    if (this.opts.wire && i > 2) throw new Error('a wired test cluster has two hosts');
    await must('ip', ['netns', 'add', ns]);
    if (!this.opts.wire) {
      await must('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await must('ip', ['link', 'set', veth, 'master', this.bridgeName, 'up']);
      await this.configure(h);
    } else if (i === 2) {
      // the wire: eth0 of the first host is the peer of this one's
      await must('ip', ['link', 'add', 'eth0', 'netns', this.hosts[0].ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      for (const x of this.hosts) await this.configure(x);
    }
    return h;
  }

  /** The host's address on eth0, eth0 and loopback up. */
  private async configure(h: ClusterHost): Promise<void> {
    const r = await run('ip', ['-n', h.ns, '-batch', '-'], {
      input: [`addr add ${h.addr}/24 dev eth0`, 'link set eth0 up', 'link set lo up'].join('\n') + '\n',
      timeout: 15_000,
    });
    if (r.code !== 0) throw new Error(`configuring ${h.ns}: ${r.stderr}`);
  }

  async start(n: number): Promise<void> {
    if (this.opts.wire && n !== 2) throw new Error('a wired test cluster has two hosts');
    if (!this.opts.wire) {
      await must('ip', ['link', 'add', this.bridgeName, 'type', 'bridge']);
      await must('ip', ['addr', 'add', `${this.net}.1/24`, 'dev', this.bridgeName]);
      await must('ip', ['link', 'set', this.bridgeName, 'up']);
      await must('iptables', ['-w', '5', '-I', ...this.forwardRule]);
    }
    for (let i = 0; i < n; i++) await this.addHost();
    // One at a time: the machine is small, and each engine's start is bounded.
    for (const h of this.hosts) await h.start();
  }

  host(name: string): ClusterHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** Removes everything the cluster made; safe to call twice. */
  async destroy(): Promise<void> {
    for (const h of this.hosts) await h.teardown().catch(() => {});
    for (const h of this.hosts) await quiet('ip', ['link', 'delete', h.veth]);
    await quiet('ip', ['link', 'delete', this.bridgeName]);
    // -D until it fails: the rule was inserted once, but be sure.
    for (let i = 0; i < 3; i++) {
      const r = await run('iptables', ['-w', '5', '-D', ...this.forwardRule], { timeout: 15_000 }).catch(() => ({ code: 1 }));
      if (r.code !== 0) break;
    }
    releaseSubnet(this.root);
    if (!process.env.BERTH_KEEP_TEST_ROOT) fs.rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
  }

  /**
   * Best-effort synchronous removal, for a process 'exit' handler (Ctrl-C
   * of the bench): kills everything in the hosts' namespaces and removes
   * namespaces, links, the rule and the root. destroy() is the thorough one.
   */
  destroySync(): void {
    const q = (cmd: string, args: string[]): string => {
      try {
        return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString();
      } catch {
        return '';
      }
    };
    for (const h of this.hosts) {
      for (const pid of q('ip', ['netns', 'pids', h.ns]).split('\n').map(Number).filter((n) => n > 0)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      cleanupHostState(h);
      q('ip', ['netns', 'delete', h.ns]);
      q('ip', ['link', 'delete', h.veth]);
    }
    q('ip', ['link', 'delete', this.bridgeName]);
    q('iptables', ['-w', '5', '-D', ...this.forwardRule]);
    releaseSubnet(this.root);
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  /** What of this cluster is still on the machine (empty after destroy). */
  async leftovers(): Promise<string[]> {
    // A container killed by teardown's `runc delete --force` may take a moment
    // to be reaped (its conmon is killed too): give such processes a bound.
    for (let t0 = Date.now(); Date.now() - t0 < 5_000; await sleep(200)) {
      if (!(await this.scan()).some((l) => l.startsWith('container process '))) break;
    }
    return this.scan();
  }

  private async scan(): Promise<string[]> {
    const left: string[] = [];
    for (const ns of (await quiet('ip', ['netns', 'list'])).split('\n')) {
      const name = ns.split(' ')[0];
      if (name && (name.startsWith(this.nsPrefix) || this.hosts.some((h) => name.startsWith(h.chainPrefix.toLowerCase().slice(0, 8) + '-')))) left.push(`netns ${name}`);
    }
    for (const line of (await quiet('ip', ['-o', 'link', 'show'])).split('\n')) {
      const m = /^\d+:\s+([^:@]+)/.exec(line);
      if (m && (m[1] === this.bridgeName || m[1].startsWith(`bcv${this.id}`))) left.push(`link ${m[1]}`);
    }
    for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)) {
      if (pid === process.pid) continue;
      let cmd = '';
      try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
      if (cmd.includes(this.root + '/') && alive(pid)) {
        left.push(`process ${pid} ${comm(pid)}: ${cmd.replace(/\0/g, ' ').slice(0, 200)}`);
        continue;
      }
      // Container processes: in one of our hosts' cgroup parents.
      let cg = '';
      try { cg = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'); } catch { continue; }
      if (this.hosts.some((h) => cg.includes(`/berth-${h.chainPrefix.toLowerCase()}/`)) && !zombie(pid)) left.push(`container process ${pid} ${comm(pid)}`);
    }
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(this.root));
    for (const m of mounts) left.push(`mount ${m}`);
    if ((await quiet('iptables', ['-w', '5', '-S', 'FORWARD'])).includes(`-i ${this.bridgeName} `)) left.push('iptables FORWARD rule');
    let controllers: string[] = [];
    try { controllers = fs.readdirSync('/sys/fs/cgroup'); } catch { /* none */ }
    for (const c of controllers) {
      for (const h of this.hosts) {
        const dir = path.join('/sys/fs/cgroup', c, `berth-${h.chainPrefix.toLowerCase()}`);
        if (fs.existsSync(dir)) left.push(`cgroup ${dir}`);
      }
    }
    if (fs.existsSync(this.root)) left.push(`dir ${this.root}`);
    return left;
  }
}

/** Starts n hosts, each running its engine; on failure removes what was made. */
export async function startCluster(n: number, opts: ClusterOptions = {}): Promise<Cluster> {
  const c = new Cluster(opts);
  try {
    await c.start(n);
  } catch (e) {
    await c.destroy().catch(() => {});
    throw e;
  }
  return c;
}

/** Polls fn every 300 ms until it gives a value (not undefined/false), for at most ms; the last error is in the timeout's message. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < ms) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
