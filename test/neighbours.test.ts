// Good neighbours: a foreign engine beside the test berthd — Docker's
// dockerd on its own socket and roots with a running container, when dockerd
// is installed (Debian docker.io; BERTH_TEST_SIMULATE_DOCKER=1 skips it),
// plus Docker's footprint made by this test: DOCKER* chains with dockerd's
// rules, a docker0-style bridge and a "container" (a netns with a veth on
// that bridge and a process inside); without dockerd, a process named
// dockerd stands in for it. berthd's SIGTERM, `berthd --cleanup`,
// the bench's cleanup of its Docker and Berth engines and the test
// harness's own cleanup run beside it; the foreign chains, rules, bridge,
// veth, netns and process must come out exactly as they were.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { startDaemon, run, ROOT_DIR, type TestDaemon } from './helpers/daemon';
import { busyboxArchive } from './fixtures/busybox';
import { DockerEngine } from '../bench/lib/docker-engine';
import { BerthEngine } from '../bench/lib/berth-engine';
import { iptablesSnapshot, removeOwnIptables } from '../bench/lib/host';
import { DOCKER_CLI } from '../bench/lib/engine';

function hasDockerd(): boolean {
  if (process.env.BERTH_TEST_SIMULATE_DOCKER) return false;
  return ['/usr/sbin/dockerd', '/usr/bin/dockerd', '/usr/local/bin/dockerd'].some((p) => fs.existsSync(p));
}

const BERTHD = path.join(ROOT_DIR, 'bin', 'berthd');

function sh(cmd: string, args: string[], allowFail = false): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }).toString();
  } catch (e) {
    if (allowFail) return '';
    throw new Error(`${cmd} ${args.join(' ')}: ${(e as { stderr?: Buffer }).stderr ?? e}`);
  }
}

function freeSubnet(): string {
  const used = sh('ip', ['-o', '-4', 'addr', 'show']);
  for (let i = 0; i < 250; i++) {
    const b = (randomBytes(1)[0] + i) % 250;
    if (!used.includes(` 10.216.${b}.`)) return `10.216.${b}`;
  }
  throw new Error('no free 10.216.x.0/24');
}

/** Docker's footprint in this network namespace, with names no test daemon uses. */
class ForeignEngine {
  readonly id = randomBytes(3).toString('hex');
  readonly bridge = `fdk${this.id}`;
  readonly ns = `fdkc${this.id}`;
  readonly net = freeSubnet();
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'foreign-engine-'));
  veth = '';
  /** Chains this test made (the rest existed before and stay). */
  private madeChains: Array<[string, string]> = [];
  private rules: Array<[string, string[]]> = [];
  daemon?: ChildProcess;
  container?: ChildProcess;
  /** The real dockerd, when installed. */
  docker?: DockerEngine;

  /** `veth` may carry another engine's id, to prove cleanups match names exactly. */
  async start(veth: string, extraChain: string): Promise<void> {
    this.veth = veth;
    if (hasDockerd()) {
      this.docker = new DockerEngine(path.join(this.dir, 'docker'), path.join(this.dir, 'dockerd.log'), this.id);
      await this.docker.start();
      await this.docker.loadImage(await busyboxArchive());
      await this.docker.must(['run', '-d', '--name', 'foreign', '-p', '9:80', 'busybox', 'sleep', '600']);
    } else {
      // "dockerd": a process whose name is dockerd, as the bench's cleanup looks for.
      fs.copyFileSync('/bin/sleep', path.join(this.dir, 'dockerd'));
      this.daemon = spawn(path.join(this.dir, 'dockerd'), ['600'], { stdio: 'ignore', detached: true });
    }
    sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${this.net}.1/24`, 'dev', this.bridge]);
    sh('ip', ['link', 'set', this.bridge, 'up']);
    sh('ip', ['netns', 'add', this.ns]);
    sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns]);
    sh('ip', ['link', 'set', veth, 'master', this.bridge, 'up']);
    sh('ip', ['-n', this.ns, 'addr', 'add', `${this.net}.2/24`, 'dev', 'eth0']);
    sh('ip', ['-n', this.ns, 'link', 'set', 'eth0', 'up']);
    this.container = spawn('ip', ['netns', 'exec', this.ns, 'sleep', '600'], { stdio: 'ignore', detached: true });
    const br = this.bridge;
    const sub = `${this.net}.0/24`;
    for (const [table, chain] of [['filter', 'DOCKER'], ['filter', 'DOCKER-USER'], ['filter', 'DOCKER-ISOLATION-STAGE-1'],
      ['filter', 'DOCKER-ISOLATION-STAGE-2'], ['nat', 'DOCKER'], ['filter', extraChain]]) {
      if (this.chainExists(table, chain)) continue; // another engine's: used, never removed
      sh('iptables', ['-w', '5', '-t', table, '-N', chain]);
      this.madeChains.push([table, chain]);
    }
    // dockerd's rules (v20-v24), appended so they never come before anyone else's.
    const add = (table: string, spec: string) => {
      const args = spec.split(' ');
      sh('iptables', ['-w', '5', '-t', table, '-A', ...args]);
      this.rules.push([table, args]);
    };
    add('filter', 'FORWARD -j DOCKER-USER');
    add('filter', 'FORWARD -j DOCKER-ISOLATION-STAGE-1');
    add('filter', `FORWARD -o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    add('filter', `FORWARD -o ${br} -j DOCKER`);
    add('filter', `FORWARD -i ${br} ! -o ${br} -j ACCEPT`);
    add('filter', `FORWARD -i ${br} -o ${br} -j ACCEPT`);
    add('filter', `DOCKER -d ${this.net}.2/32 ! -i ${br} -o ${br} -p tcp -m tcp --dport 80 -j ACCEPT`);
    add('filter', `DOCKER-ISOLATION-STAGE-1 -i ${br} ! -o ${br} -j DOCKER-ISOLATION-STAGE-2`);
    add('filter', 'DOCKER-ISOLATION-STAGE-1 -j RETURN');
    add('filter', `DOCKER-ISOLATION-STAGE-2 -o ${br} -j DROP`);
    add('filter', 'DOCKER-ISOLATION-STAGE-2 -j RETURN');
    add('filter', 'DOCKER-USER -j RETURN');
    add('filter', `${extraChain} -i ${br} -j RETURN`);
    add('nat', 'PREROUTING -m addrtype --dst-type LOCAL -j DOCKER');
    add('nat', `POSTROUTING -s ${sub} ! -o ${br} -j MASQUERADE`);
    add('nat', `DOCKER -i ${br} -j RETURN`);
    // A published port on the discard port, which no test uses.
    add('nat', `DOCKER ! -i ${br} -p tcp -m tcp --dport 9 -j DNAT --to-destination ${this.net}.2:80`);
  }

  private chainExists(table: string, chain: string): boolean {
    return sh('iptables', ['-w', '5', '-t', table, '-S', chain], true) !== '';
  }

  /** Everything of this engine, as text to compare before and after. */
  state(): string[] {
    const mark = [this.bridge, this.veth, `${this.net}.`, 'DOCKER', ...(this.docker ? [this.docker.bridge] : [])];
    const out: string[] = [];
    for (const table of ['filter', 'nat']) {
      for (const l of sh('iptables-save', ['-t', table]).split('\n')) {
        if ((l.startsWith('-A ') || l.startsWith(':')) && mark.some((m) => l.includes(m)) || this.madeChains.some(([t, c]) => t === table && l.includes(c))) {
          out.push(`${table} ${l.replace(/\[\d+:\d+\]/, '')}`);
        }
      }
    }
    const links = fs.readdirSync('/sys/class/net');
    for (const l of [this.bridge, this.veth]) out.push(`link ${l} ${links.includes(l)}`);
    out.push(`veth master ${fs.existsSync(`/sys/class/net/${this.veth}/master`) ? path.basename(fs.readlinkSync(`/sys/class/net/${this.veth}/master`)) : '-'}`);
    out.push(`netns ${this.ns} ${fs.existsSync(`/run/netns/${this.ns}`)}`);
    out.push(`container address ${sh('ip', ['-n', this.ns, '-4', '-o', 'addr', 'show', 'eth0'], true).includes(`${this.net}.2/24`)}`);
    const alive = (p?: ChildProcess) => { try { return !!p?.pid && process.kill(p.pid, 0); } catch { return false; } };
    out.push(`daemon alive ${this.docker ? alive({ pid: this.docker.pid } as ChildProcess) : alive(this.daemon)}`, `container alive ${alive(this.container)}`);
    if (this.docker) {
      const env = { ...this.docker.env };
      const ps = (() => { try { return execFileSync(DOCKER_CLI, ['ps', '--format', '{{.Names}} {{.State}} {{.Ports}}'], { env, timeout: 20_000 }).toString().trim(); } catch (e) { return `docker ps failed: ${e}`; } })();
      out.push(`dockerd containers: ${ps}`);
      out.push(`dockerd bridge ${fs.existsSync(`/sys/class/net/${this.docker.bridge}`)}`);
    }
    return out;
  }

  /** Removes exactly what start() made. */
  async stop(): Promise<void> {
    if (this.docker) {
      // Engine.stop() without its 90 s guard timer, which would hold this test process.
      await this.docker.removeAllContainers();
      await this.docker.terminate();
      this.docker.cleanup();
    }
    // Each has its own process group (`ip netns exec` may fork the sleep).
    for (const p of [this.container, this.daemon]) try { if (p?.pid) process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
    for (const [table, args] of this.rules.reverse()) sh('iptables', ['-w', '5', '-t', table, '-D', ...args], true);
    for (const [table, chain] of this.madeChains) sh('iptables', ['-w', '5', '-t', table, '-X', chain], true);
    sh('ip', ['netns', 'del', this.ns], true);
    sh('ip', ['link', 'del', this.veth], true);
    sh('ip', ['link', 'del', this.bridge], true);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let d: TestDaemon;
const foreign = new ForeignEngine();
let foreignBefore: string[];

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  // The foreign veth carries the test daemon's id and one chain starts with
  // its chain prefix (without the separator): matching by a bare prefix or
  // substring would take them.
  await foreign.start(`veth${d.id}0`, `${d.chainPrefix}X-FOREIGN`);
  foreignBefore = foreign.state();
  assert.ok(foreignBefore.includes('container alive true') && foreignBefore.includes('daemon alive true'), foreignBefore.join('\n'));
  assert.ok(foreignBefore.some((l) => l.startsWith('filter :DOCKER-USER')), foreignBefore.join('\n'));
  if (foreign.docker) assert.ok(foreignBefore.some((l) => /^dockerd containers: foreign running .*:9->80\/tcp/.test(l)), foreignBefore.join('\n'));
});

after(async () => {
  await d?.stop();
  await foreign.stop();
});

function berthdArgs(extra: string[]): string[] {
  return ['--', BERTHD, '-H', d.host, '--data-root', d.dataRoot, '--exec-root', d.execRoot, '--bridge', d.bridge,
    '--bip', d.bip, '--iptables-chain-prefix', d.chainPrefix, ...extra];
}

function chainExists(table: string, chain: string): boolean {
  return sh('iptables', ['-w', '5', '-t', table, '-S', chain], true) !== '';
}

test('berthd keeps its bridge and chains on SIGTERM; --cleanup refuses while a container runs, then removes all of its host objects', async () => {
  const P = d.chainPrefix;
  const net = `nb${d.id}`;
  await d.ok(['network', 'create', net]);
  const netBridge = `${d.chainPrefix.toLowerCase()}-${(await d.ok(['network', 'inspect', '-f', '{{.Id}}', net])).trim().slice(0, 15 - d.chainPrefix.length - 1)}`;
  await d.ok(['run', '-d', '--name', 'nb1', '--network', net, '-p', '80', 'busybox', 'sleep', '300']);
  assert.ok(fs.existsSync(`/sys/class/net/${netBridge}`), `network bridge ${netBridge}`);

  await d.terminate('SIGTERM');
  // As dockerd: stopping the daemon keeps bridges and chains, so a restart is quick.
  assert.ok(fs.existsSync(`/sys/class/net/${d.bridge}`));
  assert.ok(fs.existsSync(`/sys/class/net/${netBridge}`));
  for (const c of ['FORWARD', 'ISOLATION']) assert.ok(chainExists('filter', `${P}-${c}`), `${P}-${c} kept`);
  for (const c of ['NAT', 'POSTROUTING']) assert.ok(chainExists('nat', `${P}-${c}`), `${P}-${c} kept`);
  assert.deepEqual(foreign.state(), foreignBefore);

  // A container still runs under its conmon: --cleanup changes nothing.
  let r = await run(process.execPath, berthdArgs(['--cleanup']));
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /cannot clean up data root .*: a container is still running \(nb1\); stop it first/);
  assert.ok(fs.existsSync(`/sys/class/net/${d.bridge}`));
  assert.ok(chainExists('filter', `${P}-FORWARD`));

  await d.start();
  // --cleanup also refuses while the daemon itself runs.
  r = await run(process.execPath, berthdArgs(['--cleanup']));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /berthd is running on data root .*: stop it before --cleanup/);
  await d.ok(['rm', '-f', 'nb1']);
  await d.terminate('SIGTERM');

  r = await run(process.execPath, berthdArgs(['--cleanup']));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`removed interface ${d.bridge}\\n`));
  assert.match(r.stdout, new RegExp(`removed interface ${netBridge}\\n`));
  assert.match(r.stdout, new RegExp(`removed iptables chain ${P}-FORWARD\\n`));
  assert.ok(!fs.existsSync(`/sys/class/net/${d.bridge}`), 'default bridge removed');
  assert.ok(!fs.existsSync(`/sys/class/net/${netBridge}`), 'network bridge removed');
  for (const c of ['FORWARD', 'ISOLATION']) assert.ok(!chainExists('filter', `${P}-${c}`), `${P}-${c} removed`);
  for (const c of ['NAT', 'POSTROUTING']) assert.ok(!chainExists('nat', `${P}-${c}`), `${P}-${c} removed`);
  const jumps = ['filter', 'nat'].flatMap((t) => sh('iptables-save', ['-t', t]).split('\n')).filter((l) => l.includes(`${P}-`));
  assert.deepEqual(jumps, []);
  const tag = d.chainPrefix.toLowerCase();
  assert.deepEqual(fs.readdirSync('/run/netns').filter((n) => n.startsWith(tag)), []);
  assert.deepEqual(fs.readdirSync('/sys/class/net').filter((n) => n.startsWith(tag)), []);
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(d.root + '/'));
  assert.deepEqual(mounts, []);
  const cg = fs.readdirSync('/sys/fs/cgroup').filter((c) => fs.existsSync(`/sys/fs/cgroup/${c}/berth-${tag}`));
  assert.deepEqual(cg, []);
  // The data stays: images and records are not host objects.
  assert.ok(fs.existsSync(path.join(d.dataRoot, 'berth.db')));
  assert.deepEqual(foreign.state(), foreignBefore);

  // A second run finds nothing to do; the daemon starts again from the same data root.
  r = await run(process.execPath, berthdArgs(['--cleanup']));
  assert.equal(r.code, 0);
  assert.match(r.stdout, /\(0 host objects\)/);
  await d.start();
  assert.match(await d.ok(['images', '--format', '{{.Repository}}']), /busybox/);
  assert.deepEqual(foreign.state(), foreignBefore);
});

test("the bench's Docker cleanup removes only its own bridge's rules and keeps the foreign DOCKER chains", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-docker-'));
  const id = randomBytes(3).toString('hex');
  const engine = new DockerEngine(root, path.join(root, '..', `${path.basename(root)}.log`), id);
  // What start() records before dockerd runs, then the footprint the bench's
  // dockerd leaves in the shared DOCKER chains (dockerd itself is not run here).
  const e = engine as unknown as { iptablesBefore: unknown; subnet: string };
  e.iptablesBefore = iptablesSnapshot();
  const net = freeSubnet();
  e.subnet = `${net}.`;
  const br = engine.bridge;
  sh('ip', ['link', 'add', br, 'type', 'bridge']);
  const benchRules: Array<[string, string]> = [
    ['filter', `FORWARD -o ${br} -j DOCKER`],
    ['filter', `FORWARD -i ${br} ! -o ${br} -j ACCEPT`],
    ['filter', `DOCKER-ISOLATION-STAGE-1 -i ${br} ! -o ${br} -j DOCKER-ISOLATION-STAGE-2`],
    ['filter', `DOCKER-ISOLATION-STAGE-2 -o ${br} -j DROP`],
    ['nat', `POSTROUTING -s ${net}.0/24 ! -o ${br} -j MASQUERADE`],
    ['nat', `DOCKER -i ${br} -j RETURN`],
  ];
  for (const [t, spec] of benchRules) sh('iptables', ['-w', '5', '-t', t, '-I', ...spec.split(' ').slice(0, 1), '1', ...spec.split(' ').slice(1)]);
  // The foreign dockerd, alive meanwhile, adds a rule of its own after the bench started.
  sh('iptables', ['-w', '5', '-t', 'nat', '-A', 'DOCKER', '!', '-i', foreign.bridge, '-p', 'tcp', '-m', 'tcp', '--dport', '7', '-j', 'DNAT', '--to-destination', `${foreign.net}.2:7`]);
  try {
    engine.cleanup();
    const left = ['filter', 'nat'].flatMap((t) => sh('iptables-save', ['-t', t]).split('\n')).filter((l) => l.includes(br) || l.includes(`${net}.`));
    assert.deepEqual(left, [], 'the bench bridge rules are gone');
    assert.ok(!fs.existsSync(`/sys/class/net/${br}`));
    const now = foreign.state();
    assert.ok(now.some((l) => l.includes('--dport 7 -j DNAT')), 'the rule the foreign engine added meanwhile stays');
    assert.deepEqual(now.filter((l) => !l.includes('--dport 7 ')), foreignBefore);
  } finally {
    sh('iptables', ['-w', '5', '-t', 'nat', '-D', 'DOCKER', '!', '-i', foreign.bridge, '-p', 'tcp', '-m', 'tcp', '--dport', '7', '-j', 'DNAT', '--to-destination', `${foreign.net}.2:7`], true);
    sh('ip', ['link', 'del', br], true);
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(`${root}.log`, { force: true });
  }
  assert.deepEqual(foreign.state(), foreignBefore);
  // When no other dockerd is alive, what appeared during the run (a chain the
  // bench's dockerd made, its jump from a shared chain) goes too; what was there before stays.
  const snap = iptablesSnapshot();
  const newChain = `DOCKER-B${id}`;
  // Another engine's chain made in the same window (a parallel test berthd) is not Docker's and stays.
  const otherChain = `NB${id.toUpperCase()}-FORWARD`;
  try {
    sh('iptables', ['-w', '5', '-N', newChain]);
    sh('iptables', ['-w', '5', '-A', newChain, '-j', 'RETURN']);
    sh('iptables', ['-w', '5', '-I', 'DOCKER-USER', '1', '-j', newChain]);
    sh('iptables', ['-w', '5', '-N', otherChain]);
    sh('iptables', ['-w', '5', '-A', otherChain, '-j', 'RETURN']);
    removeOwnIptables([], [], snap, false);
    assert.ok(!chainExists('filter', newChain), `${newChain} removed`);
    assert.doesNotMatch(sh('iptables-save', ['-t', 'filter']), new RegExp(newChain));
    assert.ok(chainExists('filter', otherChain), `${otherChain} (not Docker's) kept`);
  } finally {
    sh('iptables', ['-w', '5', '-F', otherChain], true);
    sh('iptables', ['-w', '5', '-X', otherChain], true);
    sh('iptables', ['-w', '5', '-D', 'DOCKER-USER', '-j', newChain], true);
    sh('iptables', ['-w', '5', '-F', newChain], true);
    sh('iptables', ['-w', '5', '-X', newChain], true);
  }
  assert.deepEqual(foreign.state(), foreignBefore);
});

test("the bench's Berth engine and the test harness clean up only their own objects", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-berth-'));
  const logFile = `${root}.log`;
  const engine = new BerthEngine(root, logFile, randomBytes(3).toString('hex'));
  try {
    await engine.start();
    await engine.loadImage(await busyboxArchive());
    await engine.must(['run', '-d', '-p', '80', 'busybox', 'sleep', '300']);
    assert.ok(fs.existsSync(`/sys/class/net/${engine.bridge}`));
    // engine.stop() without its 90 s guard timer, which would hold this test process.
    await engine.removeAllContainers();
    await engine.terminate();
    engine.cleanup();
    assert.ok(!fs.existsSync(`/sys/class/net/${engine.bridge}`));
    assert.ok(!chainExists('filter', `${engine.chainPrefix}-FORWARD`));
    assert.deepEqual(foreign.state(), foreignBefore);
  } finally {
    engine.cleanup();
    fs.rmSync(logFile, { force: true });
  }
  // The harness's cleanup of the test daemon (stop() in after()) runs here too.
  await d.stop();
  assert.ok(!fs.existsSync(`/sys/class/net/${d.bridge}`));
  assert.deepEqual(foreign.state(), foreignBefore);
});
