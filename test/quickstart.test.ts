// The README's first command, verbatim (`bash scripts/quickstart.sh`), in a
// clean environment: as root with no sudo on the PATH, as a user without
// sudo (a clear refusal), and as a sudoer (it re-runs itself under sudo).
// The berthd it starts is private (socket, roots, bridge, chain prefix from
// the script's BERTH_* overrides); the test stops it and runs
// `berthd --cleanup`, so nothing of it stays.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { run, ROOT_DIR, cleanupHostState, type TestDaemon } from './helpers/daemon';
import { privateCliSocket } from './helpers/cli-server';

const BERTHD = path.join(ROOT_DIR, 'bin', 'berthd');
const README_FIRST = ['bash', 'scripts/quickstart.sh'];
const id = randomBytes(3).toString('hex');
const user = `bq${id}`;
const sudoers = `/etc/sudoers.d/berth-quickstart-${id}`;
// ./bin/berth as a program: its CLI server (if one starts) is this file's, stopped at the end.
const cliSock = privateCliSocket(after);
let base: string;
let madeUser = false;
const started: Private[] = [];

interface Private {
  root: string;
  env: Record<string, string>;
  flags: string[];
  bridge: string;
  chainPrefix: string;
}

/** A PATH of links to every program on the usual PATH but sudo. */
function pathWithoutSudo(): string {
  const dir = path.join(base, 'bin-no-sudo');
  if (fs.existsSync(dir)) return dir;
  fs.mkdirSync(dir);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', path.dirname(process.execPath)]) {
    let names: string[] = [];
    try { names = fs.readdirSync(d); } catch { continue; }
    for (const n of names) {
      if (n.startsWith('sudo') || fs.existsSync(path.join(dir, n))) continue;
      fs.symlinkSync(path.join(d, n), path.join(dir, n));
    }
  }
  fs.chmodSync(dir, 0o755);
  return dir;
}

function freeBip(): string {
  const used = execFileSync('ip', ['-o', '-4', 'addr', 'show']).toString();
  for (let i = 0; i < 250; i++) {
    const b = (randomBytes(1)[0] + i) % 250;
    if (!used.includes(` 10.217.${b}.`)) return `10.217.${b}.1/24`;
  }
  throw new Error('no free 10.217.x.0/24');
}

/** Overrides for a private daemon, as the quickstart script documents them. */
function privateDaemon(tag: string): Private {
  const root = fs.mkdtempSync(path.join(base, `${tag}-`));
  fs.chmodSync(root, 0o755);
  const n = `${id.slice(0, 5)}${tag[0]}`;
  const p: Private = { root, bridge: `bq${n}`, chainPrefix: `BQ${n.toUpperCase()}`, env: {}, flags: [] };
  p.env = {
    BERTH_SOCK: path.join(root, 'berth.sock'),
    BERTH_DATA_ROOT: path.join(root, 'data'),
    BERTH_EXEC_ROOT: path.join(root, 'exec'),
    BERTH_BRIDGE: p.bridge,
    BERTH_BIP: freeBip(),
    BERTH_CHAIN_PREFIX: p.chainPrefix,
    BERTH_LOG: path.join(root, 'berthd.log'),
    BERTH_CLI_SOCKET: cliSock.sock,
  };
  p.flags = ['-H', `unix://${p.env.BERTH_SOCK}`, '--data-root', p.env.BERTH_DATA_ROOT, '--exec-root', p.env.BERTH_EXEC_ROOT,
    '--bridge', p.bridge, '--bip', p.env.BERTH_BIP, '--iptables-chain-prefix', p.chainPrefix];
  return p;
}

/** Stops the quickstart's berthd (SIGTERM, bounded) and removes its host objects with `berthd --cleanup`. */
async function stopPrivate(p: Private): Promise<void> {
  const pidFile = path.join(p.env.BERTH_EXEC_ROOT, 'berthd.pid');
  if (fs.existsSync(pidFile)) {
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    const end = Date.now() + 20_000;
    const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
    while (alive() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    if (alive()) process.kill(pid, 'SIGKILL');
  }
  // The quickstart's container ran with --rm; nothing runs, so --cleanup does it all.
  const r = await run(process.execPath, ['--', BERTHD, ...p.flags, '--cleanup']);
  assert.equal(r.code, 0, r.stderr);
  cleanupHostState({ root: p.root, execRoot: p.env.BERTH_EXEC_ROOT, chainPrefix: p.chainPrefix, bridge: p.bridge } as TestDaemon);
}

before(async () => {
  base = fs.mkdtempSync('/tmp/berth-quickstart-');
  fs.chmodSync(base, 0o755);
  if (!fs.existsSync('/usr/bin/sudo')) {
    const r = await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'sudo'], { timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    assert.equal(r.code, 0, r.stderr);
  }
  const home = path.join(base, 'home');
  fs.mkdirSync(home);
  execFileSync('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/bin/bash', user]);
  madeUser = true;
  execFileSync('chown', [`${user}:`, home]);
});

after(async () => {
  for (const p of started) await stopPrivate(p).catch(() => {});
  fs.rmSync(sudoers, { force: true });
  if (madeUser) execFileSync('userdel', [user]);
  fs.rmSync(base, { recursive: true, force: true });
});

test('as root with no sudo on the PATH', async () => {
  const p = privateDaemon('root');
  started.push(p);
  const PATH = pathWithoutSudo();
  assert.equal((await run('sh', ['-c', 'command -v sudo || echo none'], { env: { PATH } })).stdout.trim(), 'none');
  const home = fs.mkdtempSync(path.join(base, 'roothome-'));
  const r = await run(README_FIRST[0], README_FIRST.slice(1), { cwd: ROOT_DIR, env: { PATH, HOME: home, ...p.env }, timeout: 300_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${fs.existsSync(p.env.BERTH_LOG) ? fs.readFileSync(p.env.BERTH_LOG, 'utf8').slice(-2000) : ''}`);
  assert.match(r.stdout, /^Hello world$/m);
  assert.match(r.stdout, /berthd is running in the background \(pid \d+, log: .*berthd\.log\)/);
  assert.doesNotMatch(r.stderr, /sudo/);
  assert.ok(fs.existsSync(`/sys/class/net/${p.bridge}`), 'its private bridge');
  await stopPrivate(p);
  started.pop();
  assert.ok(!fs.existsSync(`/sys/class/net/${p.bridge}`), 'removed by berthd --cleanup');
});

test('as a user without sudo: a clear message, nothing started', async () => {
  const p = privateDaemon('nosudo');
  const r = await run('runuser', ['-u', user, '--', 'env', '-i', `PATH=${pathWithoutSudo()}`, `HOME=${base}/home`,
    ...Object.entries(p.env).map(([k, v]) => `${k}=${v}`), ...README_FIRST], { cwd: ROOT_DIR, timeout: 60_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /quickstart: berthd needs root \(mounts, namespaces, cgroups, iptables\) and sudo is not installed\.\nRun it as root/);
  assert.ok(!fs.existsSync(p.env.BERTH_SOCK));
});

test('as a sudoer: it re-runs itself under sudo', async () => {
  fs.writeFileSync(sudoers, `${user} ALL=(ALL:ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
  const p = privateDaemon('sudo');
  started.push(p);
  const r = await run('runuser', ['-u', user, '--', 'env', '-i', 'PATH=/usr/local/bin:/usr/bin:/bin', `HOME=${base}/home`,
    ...Object.entries(p.env).map(([k, v]) => `${k}=${v}`), ...README_FIRST], { cwd: ROOT_DIR, timeout: 300_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${fs.existsSync(p.env.BERTH_LOG) ? fs.readFileSync(p.env.BERTH_LOG, 'utf8').slice(-2000) : ''}`);
  assert.match(r.stderr, /quickstart: berthd needs root; re-running under sudo/);
  assert.match(r.stdout, /^Hello world$/m);
  // The overrides crossed sudo: the daemon is the private one, and runs as root.
  const pid = Number(fs.readFileSync(path.join(p.env.BERTH_EXEC_ROOT, 'berthd.pid'), 'utf8'));
  assert.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+0\s/m);
  assert.ok(fs.existsSync(`/sys/class/net/${p.bridge}`));
  await stopPrivate(p);
  started.pop();
  fs.rmSync(sudoers, { force: true });
});
