// The newcomer's first minutes: daemon.json (keys, flag conflicts, unknown
// keys, --validate, SIGHUP reload, runtimes), sd_notify for the systemd
// unit, the unit itself (systemd-analyze verify), `berth system check`,
// `berth version` without a daemon, and shell completion loaded in bash and
// zsh under tmux completing container names from the daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DgramSocket } from 'node-unix-socket';
import { startDaemon, run, waitFor, ROOT_DIR, TestDaemon } from './helpers/daemon';
import { privateCliSocket } from './helpers/cli-server';

// `berth` on a PATH under tmux: its CLI server (if one starts) is this file's, stopped at the end.
const cliSock = privateCliSocket(after);

const BERTHD = path.join(ROOT_DIR, 'bin', 'berthd');
const BERTH = path.join(ROOT_DIR, 'bin', 'berth');
let d: TestDaemon;
let tmp: string;
let configFile: string;
const notified: string[] = [];
let notifySock: DgramSocket | undefined;

function writeConfig(obj: unknown): void {
  fs.writeFileSync(configFile, JSON.stringify(obj, null, 2));
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-newcomer-'));
  configFile = path.join(tmp, 'daemon.json');
  writeConfig({
    labels: ['env=first'],
    'insecure-registries': ['reg.example:5000'],
    'max-concurrent-downloads': 2,
    runtimes: { myrunc: { path: '/usr/sbin/runc' } },
    'default-runtime': 'myrunc',
  });
  // berthd tells systemd it is ready (Type=notify): catch it on a socket of ours.
  const sockPath = path.join(tmp, 'notify.sock');
  notifySock = new DgramSocket();
  notifySock.on('data', (b: Buffer) => notified.push(b.toString()));
  notifySock.bind(sockPath);
  process.env.NOTIFY_SOCKET = sockPath;
  try {
    d = await startDaemon({ args: ['--config-file', configFile] });
  } finally {
    delete process.env.NOTIFY_SOCKET;
  }
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
  notifySock?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function berthd(args: string[]) {
  return run(process.execPath, ['--', BERTHD, ...args]);
}

test('daemon.json: keys apply, the named runtime runs containers, READY=1 reaches systemd', async () => {
  const info = JSON.parse(await d.ok(['info', '--format', '{{json .}}']));
  assert.deepEqual(info.Labels, ['env=first']);
  assert.equal(info.DefaultRuntime, 'myrunc');
  assert.equal(info.LiveRestoreEnabled, true);
  assert.ok(info.RegistryConfig.IndexConfigs['reg.example:5000'], JSON.stringify(info.RegistryConfig));
  assert.equal((await d.ok(['run', '--rm', 'busybox', 'echo', 'via myrunc'])).trim(), 'via myrunc');
  await waitFor(async () => notified.includes('READY=1'), 5000, 'READY=1 on NOTIFY_SOCKET', 50, () => `: ${JSON.stringify(notified)}`);
});

test('daemon.json: a key both in the file and on the command line, unknown keys and bad values are refused as dockerd does', async () => {
  const file = path.join(tmp, 'conflict.json');
  fs.writeFileSync(file, JSON.stringify({ 'data-root': '/tmp/from-file', hosts: ['unix:///tmp/a.sock', 'unix:///tmp/b.sock'], labels: ['a=b'] }));
  let r = await berthd(['--validate', '--config-file', file, '--data-root', '/tmp/from-flag', '-H', 'unix:///tmp/c.sock']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `unable to configure the Berth daemon with file ${file}: the following directives are specified both as a flag and in the configuration file: ` +
    'data-root: (from flag: /tmp/from-flag, from file: /tmp/from-file), hosts: (from flag: unix:///tmp/c.sock, from file: [unix:///tmp/a.sock unix:///tmp/b.sock])');
  fs.writeFileSync(file, JSON.stringify({ 'data-root': '/tmp/x', 'no-such-key': 1, graph: '/y' }));
  r = await berthd(['--validate', '--config-file', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the following directives don't match any configuration option: no-such-key, graph\n$/);
  fs.writeFileSync(file, JSON.stringify({ 'max-concurrent-uploads': '5' }));
  r = await berthd(['--validate', '--config-file', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /invalid value for "max-concurrent-uploads": "5" \(want an integer\)/);
  fs.writeFileSync(file, '{"bip": ');
  r = await berthd(['--validate', '--config-file', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /invalid JSON/);
  r = await berthd(['--validate', '--config-file', path.join(tmp, 'absent.json')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /open .*absent\.json: no such file or directory/);
  // A good file, and flags for keys it does not set: fine.
  fs.writeFileSync(file, JSON.stringify({ bridge: 'bq0', 'live-restore': true, 'log-level': 'warn' }));
  r = await berthd(['--validate', '--config-file', file, '--data-root', '/tmp/elsewhere']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'configuration OK\n');
  // A daemon refuses to start on a conflict, before touching anything.
  const root = fs.mkdtempSync(path.join(tmp, 'conflict-'));
  fs.writeFileSync(file, JSON.stringify({ 'exec-root': path.join(root, 'x') }));
  r = await berthd(['--config-file', file, '--exec-root', path.join(root, 'y'), '--data-root', path.join(root, 'data')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /specified both as a flag and in the configuration file: exec-root/);
  assert.deepEqual(fs.readdirSync(root), []);
});

test('SIGHUP reloads labels, insecure registries and live-restore; a broken file keeps the running settings', async () => {
  const pid = Number(fs.readFileSync(path.join(d.execRoot, 'berthd.pid'), 'utf8'));
  const info = async () => JSON.parse(await d.ok(['info', '--format', '{{json .}}']));
  writeConfig({ labels: ['env=second', 'tier=db'], 'insecure-registries': ['other.example:5000'], runtimes: { myrunc: { path: '/usr/sbin/runc' } }, 'default-runtime': 'myrunc', 'live-restore': false });
  process.kill(pid, 'SIGHUP');
  await waitFor(async () => JSON.stringify((await info()).Labels) === '["env=second","tier=db"]', 5000, 'labels reloaded', 100, () => d.logs().slice(-1500));
  const now = await info();
  assert.ok(now.RegistryConfig.IndexConfigs['other.example:5000']);
  assert.equal(now.RegistryConfig.IndexConfigs['reg.example:5000'], undefined);
  assert.equal(now.LiveRestoreEnabled, false);
  assert.match(d.logs(), /"msg":"Reloaded configuration"/);
  // Broken: logged, nothing changes.
  fs.writeFileSync(configFile, '{"labels": [');
  process.kill(pid, 'SIGHUP');
  await waitFor(async () => /Error reconfiguring the daemon/.test(d.logs()), 5000, 'reload error logged');
  assert.deepEqual((await info()).Labels, ['env=second', 'tier=db']);
  // live-restore off: the daemon stops its containers when it stops.
  writeConfig({ labels: ['env=second', 'tier=db'], runtimes: { myrunc: { path: '/usr/sbin/runc' } }, 'default-runtime': 'myrunc', 'live-restore': false });
  await d.ok(['run', '-d', '--name', 'lr', '--stop-timeout', '1', 'busybox', 'sleep', '300']);
  await d.restart();
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Running}}', 'lr'])).trim(), 'false');
  // Back on (the default) by a reload.
  writeConfig({ runtimes: { myrunc: { path: '/usr/sbin/runc' } }, 'default-runtime': 'myrunc' });
  process.kill(Number(fs.readFileSync(path.join(d.execRoot, 'berthd.pid'), 'utf8')), 'SIGHUP');
  await waitFor(async () => (await info()).LiveRestoreEnabled === true, 5000, 'live-restore back on');
  await d.ok(['rm', '-f', 'lr']);
});

test('berthd.service passes systemd-analyze verify and has the settings containers need', async () => {
  const dir = path.join(tmp, 'units');
  const r = await run('bash', [path.join(ROOT_DIR, 'scripts', 'install-service.sh'), '--unit-dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  const unit = path.join(dir, 'berthd.service');
  const v = await run('systemd-analyze', ['verify', unit]);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stderr.trim(), '', 'no warnings');
  const text = fs.readFileSync(unit, 'utf8');
  const value = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(text)?.[1];
  assert.equal(value('Delegate'), 'yes');
  assert.equal(value('KillMode'), 'process');
  assert.equal(value('Restart'), 'on-failure');
  assert.equal(value('LimitNOFILE'), '1048576');
  assert.equal(value('Type'), 'notify');
  assert.equal(value('ExecReload'), '/bin/kill -s HUP $MAINPID');
  assert.equal(value('ExecStart'), `${execFileSync('sh', ['-c', 'command -v node']).toString().trim()} ${ROOT_DIR}/bin/berthd`);
  assert.equal(value('WantedBy'), 'multi-user.target');
  assert.equal(value('TasksMax'), 'infinity');
});

test('berth system check lists what the host has and, when something is missing, the fix', async () => {
  let r = await run(process.execPath, ['--', BERTH, 'system', 'check']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const name of ['runc', 'conmon', 'iptables', 'overlay', 'cgroups', 'vxlan', 'ipvs']) assert.match(r.stdout, new RegExp(`^\\[(ok|WARN)\\] +${name} `, 'm'));
  // A PATH without iptables: berthd could not run its rules.
  const bin = path.join(tmp, 'bin-no-iptables');
  fs.mkdirSync(bin);
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    for (const f of fs.readdirSync(dir)) {
      if (f.startsWith('iptables') || fs.existsSync(path.join(bin, f))) continue;
      fs.symlinkSync(path.join(dir, f), path.join(bin, f));
    }
  }
  r = await run(process.execPath, ['--', BERTH, 'system', 'check', '-q'], { env: { ...process.env, PATH: bin } });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^\[MISSING\] iptables +not found\n +fix: apt-get install iptables$/m);
  assert.doesNotMatch(r.stdout, /^\[ok\]/m);
  assert.match(r.stdout, /required items are missing: iptables, iptables-restore/);
});

test('berth without a daemon: the hint and exit 1; version prints the client part, then the error', async () => {
  const env = { ...process.env, BERTH_HOST: '', DOCKER_HOST: `unix://${tmp}/none.sock` };
  let r = await run(process.execPath, ['--', BERTH, 'ps'], { env });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `Cannot connect to the Berth daemon at unix://${tmp}/none.sock. Is the berth daemon running?\n`);
  r = await run(process.execPath, ['--', BERTH, 'version'], { env });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^Client:\n Version: /);
  assert.doesNotMatch(r.stdout, /Server/);
  assert.match(r.stderr, /Cannot connect to the Berth daemon at .*none\.sock\. Is the berth daemon running\?/);
  r = await d.berth(['version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Client:\n[\s\S]*\nServer: [\s\S]*Engine:\n  Version: /);
});

/** A shell under a private tmux server, with `berth` on its PATH. */
async function typeAndComplete(shell: string[], setup: string[], typed: string, want: RegExp): Promise<string> {
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  if (!fs.existsSync(path.join(bin, 'berth'))) fs.symlinkSync(BERTH, path.join(bin, 'berth'));
  const server = `bcomp-${d.id}-${path.basename(shell[0])}`;
  const env = { PATH: `${bin}:${path.dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: tmp, TERM: 'xterm', BERTH_HOST: d.host, LANG: 'C.UTF-8', BERTH_CLI_SOCKET: cliSock.sock };
  const tmux = (args: string[]) => execFileSync('tmux', ['-L', server, '-f', '/dev/null', ...args], { env, timeout: 10_000 }).toString();
  // The private server can die while it starts ("server exited
  // unexpectedly", seen once in a CI run on a busy host): one more try.
  const start = () => tmux(['new-session', '-d', '-x', '200', '-y', '40', ...shell]);
  try {
    start();
  } catch {
    try { tmux(['kill-server']); } catch { /* gone */ }
    start();
  }
  try {
    for (const line of setup) tmux(['send-keys', line, 'Enter']);
    tmux(['send-keys', typed, 'Tab']);
    let pane = '';
    await waitFor(async () => want.test(pane = tmux(['capture-pane', '-p'])), 20_000, `completion of "${typed}" in ${shell[0]}`, 200, () => `:\n${pane}`);
    return pane;
  } finally {
    try { tmux(['kill-server']); } catch { /* gone */ }
  }
}

test('completion: bash and zsh under tmux complete container names from the daemon', async () => {
  await d.ok(['create', '--name', 'nc-comp-alpha', 'busybox', 'true']);
  await d.ok(['run', '-d', '--name', 'nc-comp-beta', 'busybox', 'sleep', '300']);
  await d.ok(['network', 'create', 'nc-comp-net']);
  // The hidden protocol the scripts use: start offers stopped containers, stop running ones.
  const comp = async (...words: string[]) => (await d.berth(['__complete', ...words])).stdout.split('\n').filter(Boolean);
  assert.deepEqual(await comp('start', 'nc-comp-'), ['nc-comp-alpha']);
  assert.deepEqual(await comp('stop', 'nc-comp-'), ['nc-comp-beta']);
  assert.deepEqual(await comp('rm', '-f', 'nc-comp-'), ['nc-comp-alpha', 'nc-comp-beta']);
  assert.deepEqual(await comp('run', '--network', 'nc-comp'), ['nc-comp-net']);
  assert.deepEqual(await comp('network', 'connect', 'nc-comp-n'), ['nc-comp-net']);
  assert.deepEqual(await comp('image', 'rm', 'busy'), ['busybox:latest']);
  assert.ok((await comp('ru')).includes('run'));
  assert.ok((await comp('run', '--rest')).includes('--restart'));
  assert.deepEqual(await comp('completion', ''), ['bash', 'fish', 'zsh']);
  const fish = await d.berth(['completion', 'fish']);
  assert.match(fish.stdout, /complete -c berth -f -a '\(__berth_complete\)'/);
  assert.equal((await d.berth(['completion', 'tcsh'])).code, 1);

  await typeAndComplete(['bash', '--norc', '--noprofile'], ['source <(berth completion bash)'], 'berth start nc-comp-al', /berth start nc-comp-alpha$/m);
  await typeAndComplete(['bash', '--norc', '--noprofile'], ['source <(berth completion bash)'], 'berth image inspect busybox:la', /berth image inspect busybox:latest$/m);
  await typeAndComplete(['zsh', '-f'], ['autoload -U compinit && compinit -u', 'source <(berth completion zsh)'], 'berth stop nc-comp-', /berth stop nc-comp-beta$/m);
  await d.ok(['rm', '-f', 'nc-comp-alpha', 'nc-comp-beta']);
  await d.ok(['network', 'rm', 'nc-comp-net']);
});
