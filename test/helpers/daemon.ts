// A private berthd for a test file: its own socket, data root, exec root,
// bridge and iptables chain names, so tests never touch another daemon.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import http from 'node:http';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { busyboxArchive } from '../fixtures/busybox';

export const ROOT_DIR = path.resolve(__dirname, '..', '..', '..');
const BERTHD = path.join(ROOT_DIR, 'bin', 'berthd');
const BERTH = path.join(ROOT_DIR, 'bin', 'berth');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  timeout?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a program to completion, bounded in time. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timeout = opts.timeout ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeout} ms; stdout: ${Buffer.concat(out)}; stderr: ${Buffer.concat(err)}`));
    }, timeout);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : -1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

export interface DaemonOptions {
  /** Extra berthd flags. */
  args?: string[];
  /** Extra environment of berthd. */
  env?: NodeJS.ProcessEnv;
}

export class TestDaemon {
  readonly id = randomBytes(3).toString('hex');
  readonly root: string;
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly bridge: string;
  readonly bip: string;
  readonly chainPrefix: string;
  readonly env: NodeJS.ProcessEnv;
  private proc?: ChildProcess;
  private logFile: string;

  constructor(private readonly opts: DaemonOptions = {}) {
    this.root = fs.mkdtempSync('/tmp/berth-test-');
    this.socket = path.join(this.root, 'berth.sock');
    this.dataRoot = path.join(this.root, 'data');
    this.execRoot = path.join(this.root, 'exec');
    this.bridge = `bt${this.id}`;
    this.chainPrefix = `BT${this.id.toUpperCase()}`;
    // A /24 per daemon, reserved on disk so that parallel test files (and
    // parallel checkouts) never share a bridge subnet.
    this.bip = `172.30.${reserveSubnet(this.root)}.1/24`;
    this.logFile = path.join(this.root, 'daemon.log');
    const dockerConfig = path.join(this.root, 'docker-config');
    fs.mkdirSync(dockerConfig, { recursive: true });
    this.env = {
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

  async start(): Promise<void> {
    const log = fs.openSync(this.logFile, 'a');
    this.proc = spawn(
      process.execPath,
      [
        BERTHD,
        '-H', this.host,
        '--data-root', this.dataRoot,
        '--exec-root', this.execRoot,
        '--bridge', this.bridge,
        '--bip', this.bip,
        '--iptables-chain-prefix', this.chainPrefix,
        '--log-level', 'debug',
        ...(this.opts.args ?? []),
      ],
      { stdio: ['ignore', log, log], detached: false, env: { ...process.env, ...this.opts.env } },
    );
    fs.closeSync(log);
    const proc = this.proc;
    let exited = false;
    proc.once('exit', () => (exited = true));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`berthd exited during start:\n${this.logs()}`);
      if (await this.ping()) return;
      await sleep(50);
    }
    throw new Error(`berthd did not answer /_ping within 20 s:\n${this.logs()}`);
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

  logs(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  docker(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('docker', args, { ...opts, env: { ...this.env, ...opts.env } });
  }

  /** A docker command that must succeed: its stdout, or a failure that shows stderr and the daemon log's tail. */
  async ok(args: string[], timeout = 60_000): Promise<string> {
    const r = await this.docker(args, { timeout });
    assert.equal(r.code, 0, `docker ${args.join(' ')} failed (${r.code}): ${r.stderr}\n${this.logs().slice(-2000)}`);
    return r.stdout;
  }

  berth(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(process.execPath, ['--', BERTH, ...args], { ...opts, env: { ...this.env, ...opts.env } });
  }

  /** `docker load` the busybox fixture as busybox:latest. */
  async loadBusybox(): Promise<void> {
    const archive = await busyboxArchive();
    const r = await this.docker(['load', '-i', archive]);
    if (r.code !== 0) throw new Error(`docker load failed: ${r.stderr}\n${this.logs().slice(-4000)}`);
  }

  /** Graceful stop of the daemon process only (containers keep running). */
  async terminate(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(t);
  }

  /** SIGKILL the daemon (containers keep running under conmon). */
  kill(): Promise<void> {
    return this.terminate('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.terminate('SIGTERM');
    await this.start();
  }

  /** Stop the daemon and remove everything it made. */
  async stop(): Promise<void> {
    await this.terminate('SIGTERM');
    cleanupHostState(this);
    releaseSubnet(this.root);
    if (!process.env.BERTH_KEEP_TEST_ROOT) fs.rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
  }
}

/**
 * The same command through the docker CLI and berth on one daemon: same exit
 * code, stdout and stderr (berth's name read as docker's in stderr), after
 * `stdout`/`stderr` even out what may differ between two runs. Docker's result.
 */
export async function sameOnBothClis(d: TestDaemon, args: string[], o: { input?: string; stdout?: (s: string) => string; stderr?: (s: string) => string } = {}): Promise<RunResult> {
  const a = await d.docker(args, { input: o.input });
  const b = await d.berth(args, { input: o.input });
  assert.equal(b.code, a.code, `exit code of ${args.join(' ')}: docker ${a.code} (${a.stderr}), berth ${b.code} (${b.stderr})`);
  const out = o.stdout ?? ((s: string) => s);
  const err = o.stderr ?? ((s: string) => s);
  assert.equal(out(b.stdout), out(a.stdout), `stdout of ${args.join(' ')}`);
  assert.equal(err(b.stderr.replace(/berth(?!-test)/g, 'docker')), err(a.stderr), `stderr of ${args.join(' ')}`);
  return a;
}

/** Starts a private daemon. */
export async function startDaemon(opts: DaemonOptions = {}): Promise<TestDaemon> {
  const d = new TestDaemon(opts);
  try {
    await d.start();
  } catch (e) {
    // The caller never gets `d`, so its after() cannot stop it: a berthd left
    // running here keeps the test process (and the whole suite) alive forever.
    await d.stop().catch(() => {});
    throw e;
  }
  return d;
}

/** Polls `pred` every `interval` ms until it holds; fails after `ms` with `what` and `detail()`. */
export async function waitFor(pred: () => Promise<boolean>, ms: number, what: string, interval = 100, detail: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(interval);
  }
  assert.fail(`${what} not met in time${detail()}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function quiet(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: 15_000 }).toString();
  } catch {
    return '';
  }
}

/**
 * Best-effort removal of whatever a test daemon left on the host: runc
 * containers under its exec root, conmon processes, mounts under its root,
 * its network namespaces, bridge interfaces and iptables chains.
 */
export function cleanupHostState(d: Pick<TestDaemon, 'root' | 'execRoot' | 'bridge' | 'chainPrefix'>): void {
  // runc state dirs: <runc-root>/<id>/state.json
  const walk = (dir: string, depth: number): void => {
    if (depth > 4) return;
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isFile() && e.name === 'state.json') {
        quiet('runc', ['--root', path.dirname(dir), 'delete', '--force', path.basename(dir)]);
      } else if (e.isDirectory()) {
        walk(p, depth + 1);
      }
    }
  };
  walk(d.execRoot, 0);
  // overlay namespaces' holders (a sleep in each; pid and start time recorded by berthd)
  const holders = path.join(d.execRoot, 'netns-holders');
  for (const f of (fs.existsSync(holders) ? fs.readdirSync(holders) : []).filter((n) => n.endsWith('.json'))) {
    try {
      const h = JSON.parse(fs.readFileSync(path.join(holders, f), 'utf8')) as { pid: number; start: number };
      const stat = fs.readFileSync(`/proc/${h.pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) === h.start) process.kill(h.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  // and their cgroup (berthd's tag: the chain prefix, lower case), once they have left it
  const cgTag = daemonTag(d.chainPrefix);
  const cg = cgTag === 'berth' ? 'berth-netns' : `berth-${cgTag}-netns`;
  for (const h of fs.existsSync('/sys/fs/cgroup') ? fs.readdirSync('/sys/fs/cgroup') : []) {
    for (let i = 0; i < 20; i++) {
      try {
        fs.rmdirSync(path.join('/sys/fs/cgroup', h, cg));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
  }
  // conmon (and anything else) started with our root in its command line.
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(d.root + '/') && Number(pid) !== process.pid) process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  // Mounts under the test root, deepest first.
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m && (m === d.root || m.startsWith(d.root + '/')))
    .map((m) => m.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) quiet('umount', ['-l', m]);
  // The daemon's cgroup parent under each controller (children go with runc delete).
  const parent = `berth-${d.chainPrefix.toLowerCase()}`;
  let controllers: string[] = [];
  try {
    controllers = fs.readdirSync('/sys/fs/cgroup');
  } catch { /* no cgroupfs */ }
  for (const c of controllers) {
    const dir = path.join('/sys/fs/cgroup', c, parent);
    let kids: fs.Dirent[] = [];
    try {
      kids = fs.readdirSync(dir, { withFileTypes: true }).filter((k) => k.isDirectory());
    } catch {
      continue;
    }
    for (const k of kids) {
      try { fs.rmdirSync(path.join(dir, k.name)); } catch { /* still busy */ }
    }
    try { fs.rmdirSync(dir); } catch { /* still busy */ }
  }
  // Network state named after this daemon, matched exactly (see ownedByDaemon).
  for (const line of quiet('ip', ['-o', 'link', 'show']).split('\n')) {
    const m = /^\d+:\s+([^:@]+)/.exec(line);
    if (m && ownedByDaemon(d, m[1])) quiet('ip', ['link', 'delete', m[1]]);
  }
  const tag = daemonTag(d.chainPrefix);
  for (const ns of quiet('ip', ['netns', 'list']).split('\n')) {
    const name = ns.split(' ')[0];
    // its containers' namespaces and the pool's spares (<tag>_p<hex>)
    if (name && (name.startsWith(tag + '-') || new RegExp(`^${tag}_p[0-9a-f]{8}$`).test(name))) quiet('ip', ['netns', 'delete', name]);
  }
  // Our chains are `<prefix>-<NAME>`: the separator keeps a shorter prefix
  // (BT1, DOCKER) from ever matching another engine's chains.
  const ours = (chain: string | undefined) => !!chain && chain.startsWith(d.chainPrefix + '-');
  for (const table of ['filter', 'nat', 'raw']) {
    const rules = quiet('iptables-save', ['-t', table]).split('\n');
    for (const r of rules) {
      if (!r.startsWith('-A ')) continue;
      const args = r.split(' ');
      if (ours(args[1])) continue; // goes with the chain
      if (args.some((a, i) => (args[i - 1] === '-j' || args[i - 1] === '-g') && ours(a))) {
        quiet('iptables', ['-w', '5', '-t', table, '-D', ...args.slice(1)]);
      }
    }
    for (const r of rules) {
      const m = /^:(\S+)/.exec(r);
      if (m && ours(m[1])) {
        quiet('iptables', ['-w', '5', '-t', table, '-F', m[1]]);
        quiet('iptables', ['-w', '5', '-t', table, '-X', m[1]]);
      }
    }
  }
}

/** berthd's interface/netns tag for a chain prefix (as network/service.ts makes it). */
export function daemonTag(chainPrefix: string): string {
  return chainPrefix.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8) || 'berth';
}

/** An interface this test daemon made: its default bridge, `<tag>-<net>` bridges, `<tag>v<rand>` veths. */
export function ownedByDaemon(d: Pick<TestDaemon, 'bridge' | 'chainPrefix'>, name: string): boolean {
  const tag = daemonTag(d.chainPrefix);
  return name === d.bridge || name.startsWith(tag + '-') || name.startsWith(tag + 'v');
}

const SUBNET_DIR = '/tmp/berth-test-subnets';

/** Claims a free third octet for 172.30.N.0/24: a file made with O_EXCL names its owner's test root. */
export function reserveSubnet(owner: string): number {
  fs.mkdirSync(SUBNET_DIR, { recursive: true });
  const start = randomBytes(1)[0];
  for (let i = 0; i < 256; i++) {
    const n = (start + i) % 256;
    const f = path.join(SUBNET_DIR, String(n));
    try {
      fs.writeFileSync(f, owner, { flag: 'wx' });
      return n;
    } catch {
      // Taken: reclaim it only when its owner's test root is gone.
      let holder = '';
      try { holder = fs.readFileSync(f, 'utf8'); } catch { continue; }
      if (holder && !fs.existsSync(holder)) {
        try { fs.rmSync(f); } catch { /* raced */ }
        try {
          fs.writeFileSync(f, owner, { flag: 'wx' });
          return n;
        } catch { /* raced */ }
      }
    }
  }
  throw new Error('no free 172.30.N.0/24 test subnet');
}

export function releaseSubnet(owner: string): void {
  let names: string[] = [];
  try { names = fs.readdirSync(SUBNET_DIR); } catch { return; }
  for (const n of names) {
    const f = path.join(SUBNET_DIR, n);
    try {
      if (fs.readFileSync(f, 'utf8') === owner) fs.rmSync(f);
    } catch { /* gone */ }
  }
}
