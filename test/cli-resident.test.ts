// The resident CLI: bin/berth as a program hands the command to the native
// client (native/fsroot/cli-client.c), which asks the user's CLI server
// (src/cli/resident/) or runs Node as before. Served or not, the output and
// exit code are the normal path's. To tell the two apart from outside, the
// served runs get a PATH without node: the client's fallback execs `node`
// from the PATH and fails (127) there, a served command needs no node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startDaemon, waitFor, type TestDaemon, type RunResult } from './helpers/daemon';
import { cliSocket, alive, type CliSocket } from './helpers/cli-server';
import os from 'node:os';
import { servable, BUILD_VALUE_FLAGS, BUILD_BOOL_FLAGS, STATE_COMMANDS } from '../src/cli/resident/allow';
import { buildCommand } from '../src/cli/commands/image/build';

const ROOT = path.resolve(__dirname, '..', '..');
const BERTH = path.join(ROOT, 'bin', 'berth');
const CLIENT = path.join(ROOT, 'native', 'fsroot', 'build', 'Release', 'berth-cli');
const NO_NODE = '/nonexistent-berth-test-bin:/usr/sbin:/usr/bin:/sbin:/bin'.split(':').filter((d) => !fs.existsSync(path.join(d, 'node'))).join(':');

let d: TestDaemon;
const sockets: CliSocket[] = [];

before(async () => {
  assert.ok(fs.existsSync(CLIENT), `${CLIENT} is built (npm run build:native)`);
  d = await startDaemon();
  await d.loadBusybox();
  const r = await d.berth(['run', '--name', 'res-out', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 3']);
  assert.equal(r.code, 3, r.stderr);
});

after(async () => {
  for (const s of sockets) await s.cleanup();
  for (const s of sockets) {
    const p = s.pid();
    assert.ok(p === undefined || !alive(p), 'no CLI server left behind');
  }
  await d?.stop();
});

function exec(file: string, args: string[], env: NodeJS.ProcessEnv, opts: { uid?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], uid: opts.uid, gid: opts.uid, cwd: opts.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

/** A private socket for this test; the server it gets is killed in after(). */
function socket(): CliSocket {
  const s = cliSocket();
  sockets.push(s);
  return s;
}

function envFor(s: CliSocket, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { BERTH_CLI_SERVER: _off, XDG_RUNTIME_DIR: _xdg, NODE_OPTIONS: _no, ...rest } = d.env;
  return { ...rest, BERTH_CLI_SOCKET: s.sock, ...extra };
}

/** Starts a server on `s` through a first command, and waits for it. */
async function started(s: CliSocket, extra: NodeJS.ProcessEnv = {}): Promise<number> {
  const r = await exec(BERTH, ['version', '--format', '{{.Client.Version}}'], envFor(s, extra));
  assert.equal(r.code, 0, r.stderr);
  let pid: number | undefined;
  await waitFor(async () => (pid = s.pid()) !== undefined && fs.existsSync(s.sock), 30_000, 'the CLI server to start');
  return pid!;
}

test('served commands print and exit exactly as the normal path', async () => {
  const s = socket();
  await started(s);
  const cases: Array<[string[], NodeJS.ProcessEnv?]> = [
    [['ps']],
    [['ps', '-a', '--format', '{{.Names}} {{.State}} {{.Image}}']],
    [['container', 'ls', '-a', '-q', '--no-trunc']],
    [['version', '--format', '{{.Client.Version}} {{.Server.Version}}']],
    [['images', '--format', '{{.Repository}}:{{.Tag}}']],
    [['image', 'inspect', '--format', '{{.Os}}', 'busybox']],
    [['inspect', '--format', '{{.State.ExitCode}}', 'res-out']],
    [['logs', 'res-out']],
    [['logs', '-n', '1', '-t', 'res-out']],
    [['network', 'ls', '--format', '{{.Name}}']],
    [['volume', 'ls']],
    [['info', '--format', '{{.Containers}}']],
    [['-D', '--log-level', 'info', 'ps', '-a', '-q']],
    [['port', 'res-out']],
    [['top', 'res-out']], // error: not running
    [['inspect', 'no-such-thing']], // error, exit 1
    [['ps', '--bogus']], // flag error, exit 125
    [['ps', 'extra']], // argument error
    [['ps', '--help']],
    [['ps'], { DOCKER_HOST: 'unix:///nonexistent/berth.sock', BERTH_HOST: '' }],
    [['ps'], { DOCKER_HOST: 'bogus://x', BERTH_HOST: '' }],
    [['-H', 'unix:///nonexistent/other.sock', 'ps']],
    [['network', 'inspect', 'bridge', '--format', '{{.Name}}']],
  ];
  for (const [args, extra] of cases) {
    const env = envFor(s, { PATH: NO_NODE, ...extra });
    const served = await exec(BERTH, args, env);
    const plain = await exec(process.execPath, ['--', BERTH, ...args], env);
    const what = `berth ${args.join(' ')} ${JSON.stringify(extra ?? {})}`;
    assert.notEqual(served.code, 127, `${what} was served (no node on the PATH): ${served.stderr}`);
    assert.equal(served.stdout, plain.stdout, `stdout of ${what}`);
    assert.equal(served.stderr, plain.stderr, `stderr of ${what}`);
    assert.equal(served.code, plain.code, `exit code of ${what}`);
  }
  // the logs case really relays both streams and the exit code
  const logs = await exec(BERTH, ['logs', 'res-out'], envFor(s, { PATH: NO_NODE }));
  assert.deepEqual([logs.stdout, logs.stderr, logs.code], ['to-out\n', 'to-err\n', 0]);
  const err = await exec(BERTH, ['inspect', 'no-such-thing'], envFor(s, { PATH: NO_NODE }));
  assert.equal(err.code, 1);
  assert.match(err.stderr, /No such object: no-such-thing/);
});

test('after a long ps the next workers warm its formatting; what they print is still the normal path\'s', async () => {
  // two containers with 9 KB labels: `ps -a --format '{{.Labels}}'` prints more than the server's 16 KB mark
  for (const n of ['res-big1', 'res-big2']) {
    const r = await d.berth(['create', '--name', n, '--label', `big=${n.repeat(1500)}`, 'busybox', 'true']);
    assert.equal(r.code, 0, r.stderr);
  }
  try {
    const s = socket();
    await started(s);
    const env = envFor(s, { PATH: NO_NODE });
    const long = await exec(BERTH, ['ps', '-a', '--format', '{{.Labels}}'], env);
    assert.equal(long.code, 0, long.stderr);
    assert.ok(long.stdout.length > 16 * 1024, `long ps printed ${long.stdout.length} bytes`);
    // the spares started after it ran the warm-up before taking these
    for (const args of [['ps', '-a'], ['ps', '-a', '--no-trunc'], ['container', 'ls', '-a', '-q'], ['ps', '-a', '--format', 'json'], ['ps', '-a']]) {
      const served = await exec(BERTH, args, env);
      const plain = await exec(process.execPath, ['--', BERTH, ...args], env);
      assert.notEqual(served.code, 127, `berth ${args.join(' ')} was served: ${served.stderr}`);
      // "3 seconds ago" may tick between the two runs (and a column's width with it)
      const ago = (t: string) => t.replace(/(\d+|About an?|Less than a) (second|minute)s? ago/g, 'T ago').replace(/ {2,}/g, '  ');
      assert.deepEqual([ago(served.stdout), served.stderr, served.code], [ago(plain.stdout), plain.stderr, plain.code], `berth ${args.join(' ')}`);
    }
    assert.ok(s.pid() !== undefined, 'the server still runs');
  } finally {
    await d.berth(['rm', 'res-big1', 'res-big2']);
  }
});

test('warmPs formats sample rows without printing; allow.ts marks container listings', async () => {
  const { warmPs } = await import('../src/cli/warmup');
  const writes: unknown[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((c: unknown) => { writes.push(c); return true; }) as typeof process.stdout.write;
  let n: number;
  try {
    n = await warmPs(2, 50);
  } finally {
    process.stdout.write = write;
  }
  assert.ok(n > 50 * 2 * 60, `formatted ${n} characters`);
  assert.deepEqual(writes, []);
  for (const argv of [['ps'], ['ps', '-a'], ['container', 'ls'], ['container', 'list', '-q'], ['container', 'ps'], ['-D', 'ps']]) {
    assert.deepEqual(servable(argv, {}), { ok: true, kind: 'ps' }, argv.join(' '));
  }
  for (const argv of [['images'], ['container', 'inspect', 'x'], ['version']]) {
    assert.deepEqual(servable(argv, {}), { ok: true }, argv.join(' '));
  }
});

test('the server starts on first use and answers the second; it is per socket and goes idle', async () => {
  const s = socket();
  assert.equal(s.pid(), undefined);
  const env = envFor(s, { BERTH_CLI_IDLE_MS: '3000' });
  // no server yet: the client runs node itself (so a PATH without node fails) ...
  const first = await exec(BERTH, ['ps'], { ...env, PATH: NO_NODE });
  assert.equal(first.code, 127, 'first use is the normal path');
  assert.match(first.stderr, /berth: node: /);
  // ... and starts one only when it can: here it could not find node either
  assert.equal(s.pid(), undefined);
  const pid = await started(s, { BERTH_CLI_IDLE_MS: '3000' });
  const second = await exec(BERTH, ['ps', '-a', '-q'], { ...env, PATH: NO_NODE });
  assert.equal(second.code, 0, second.stderr);
  assert.equal(s.pid(), pid, 'the same server answered');
  const st = fs.statSync(path.dirname(s.sock));
  assert.equal(st.mode & 0o777, 0o700);
  assert.equal(fs.statSync(s.sock).mode & 0o777, 0o600);
  // idle: BERTH_CLI_IDLE_MS=3000 (the default is 10 minutes)
  await waitFor(async () => !alive(pid), 30_000, 'the idle server to exit');
  assert.equal(fs.existsSync(s.sock), false, 'it removed its socket');
});

test('state commands (rm, stop, start, kill, pause, rename, tag, rmi, volume rm) are served and print and exit as the normal path', async () => {
  const s = socket();
  await started(s);
  // the same steps on two sets of objects: "sa" served, "sb" on the normal path
  for (const n of ['sa', 'sb']) {
    await d.ok(['run', '-d', '--name', `st-${n}`, 'busybox', 'sleep', '1000']);
    await d.ok(['volume', 'create', `st-vol-${n}`]);
  }
  const steps: Array<(n: string) => string[]> = [
    (n) => ['pause', `st-${n}`],
    (n) => ['container', 'unpause', `st-${n}`],
    (n) => ['stop', '-t', '1', `st-${n}`],
    (n) => ['start', `st-${n}`],
    (n) => ['restart', '--time=1', `st-${n}`],
    (n) => ['rename', `st-${n}`, `st-${n}-2`],
    (n) => ['kill', '-s', 'KILL', `st-${n}-2`],
    (n) => ['container', 'rm', '-f', `st-${n}-2`],
    (n) => ['rm', `st-${n}-missing`], // error, exit 1
    (n) => ['kill', '-s', 'NOPE', `st-${n}-missing`],
    (n) => ['tag', 'busybox', `st-${n}:t`],
    (n) => ['image', 'tag', 'busybox', `st-${n}:u`],
    (n) => ['rmi', `st-${n}:t`],
    (n) => ['image', 'rm', '--no-prune', `st-${n}:u`],
    (n) => ['volume', 'rm', `st-vol-${n}`],
  ];
  for (const step of steps) {
    const served = await exec(BERTH, step('sa'), envFor(s, { PATH: NO_NODE }));
    const plain = await exec(process.execPath, ['--', BERTH, ...step('sb')], envFor(s, { PATH: NO_NODE }));
    const what = `berth ${step('sa').join(' ')}`;
    assert.notEqual(served.code, 127, `${what} was served (no node on the PATH): ${served.stderr}`);
    const same = (t: string) => t.replaceAll('sa', 'sb');
    assert.equal(same(served.stdout), plain.stdout, `stdout of ${what}`);
    assert.equal(same(served.stderr), plain.stderr, `stderr of ${what}`);
    assert.equal(served.code, plain.code, `exit code of ${what}`);
  }
  // and they did what they say
  assert.notEqual((await d.docker(['inspect', 'st-sa-2'])).code, 0);
  assert.notEqual((await d.docker(['volume', 'inspect', 'st-vol-sa'])).code, 0);
  assert.notEqual((await d.docker(['image', 'inspect', 'st-sa:u'])).code, 0);
  assert.deepEqual(servable(['stop', '-t', '3', 'x'], {}), { ok: true });
  assert.equal(servable(['start', '-ai', 'x'], {}).ok, false);
  assert.equal(servable(['container', 'prune', '-f'], {}).ok, false);
  assert.equal(servable(['rm', '--bogus', 'x'], {}).ok, false);
});

test('the state commands\' allowed flags are flags of those commands, with the same short letters and kinds', async () => {
  const { groups, loadGroup, loadCommand } = await import('../src/cli/registry');
  await import('../src/cli/commands');
  for (const [key, spec] of Object.entries(STATE_COMMANDS)) {
    const [group, name] = key.split(' ');
    assert.ok(groups.has(group), key);
    const entry = (await loadGroup(group))!.commands.find((c) => c.name === name);
    assert.ok(entry, key);
    const cmd = await loadCommand(entry!);
    const defs = new Map((cmd.flags ?? []).map((f) => [f.name, f]));
    for (const [long, short] of spec.value) {
      assert.ok(defs.has(long) && defs.get(long)!.type !== 'bool', `${key} --${long} takes a value`);
      assert.equal(defs.get(long)!.short ?? '', short, `${key} --${long}'s short letter`);
    }
    for (const [long, short] of spec.bool) {
      assert.equal(defs.get(long)?.type, 'bool', `${key} --${long} is a bool`);
      assert.equal(defs.get(long)!.short ?? '', short, `${key} --${long}'s short letter`);
    }
  }
});

test('commands off the allow-list, TLS and BERTH_CLI_SERVER=0 take the normal path', async () => {
  const s = socket();
  await started(s);
  const env = envFor(s, { PATH: NO_NODE });
  for (const args of [['run', '--rm', 'busybox', 'true'], ['logs', '-f', 'res-out'], ['--config', '/tmp', 'ps'], ['create', 'busybox'], ['start', '-a', 'res-out'], ['rm', '-fv', 'x'], ['compose', 'ls'], ['__complete', 'p']]) {
    const r = await exec(BERTH, args, env);
    assert.equal(r.code, 127, `berth ${args.join(' ')} not served: ${r.stderr}`);
  }
  assert.equal((await exec(BERTH, ['ps'], { ...env, DOCKER_TLS_VERIFY: '1' })).code, 127, 'TLS not served');
  assert.equal((await exec(BERTH, ['ps'], { ...env, DOCKER_CONFIG: 'rel/dir' })).code, 127, 'relative DOCKER_CONFIG not served');
  assert.equal((await exec(BERTH, ['ps'], { ...env, TZ: 'Asia/Tokyo' })).code, 127, "another TZ than the server's not served");
  assert.equal((await exec(BERTH, ['ps'], { ...env, BERTH_CLI_SERVER: '0' })).code, 127, 'BERTH_CLI_SERVER=0: sh execs node');
  assert.equal((await exec(BERTH, ['ps'], env)).code, 0, 'and ps is served');
  // BERTH_CLI_SERVER=0 starts no server
  const off = socket();
  const r = await exec(BERTH, ['ps'], envFor(off, { BERTH_CLI_SERVER: '0' }));
  assert.equal(r.code, 0, r.stderr);
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal(fs.existsSync(off.sock), false);
  // the allow-list itself
  assert.deepEqual(servable(['-H', 'unix:///x', 'ps', '-a'], {}), { ok: true, kind: 'ps' });
  assert.deepEqual(servable(['--host=unix:///x', 'container', 'inspect', 'a'], {}), { ok: true });
  assert.equal(servable(['logs', '-tf', 'a'], {}).ok, false);
  assert.equal(servable(['logs', '--follow=true', 'a'], {}).ok, false);
  assert.equal(servable(['--tlsverify', 'ps'], {}).ok, false);
  assert.equal(servable(['network', 'create', 'n'], {}).ok, false);
  assert.equal(servable(['ps'], { HOME: 'relative' }).ok, false);
});

test('a changed bundle is never answered by the old code', async () => {
  const s = socket();
  const pid = await started(s);
  const bundle = path.join(ROOT, 'dist', 'berth.js');
  const st = fs.statSync(bundle);
  const before = new Set(fs.readdirSync(path.dirname(bundle)));
  try {
    fs.utimesSync(bundle, st.atime, new Date(st.mtimeMs + 2000));
    const r = await exec(BERTH, ['ps'], envFor(s, { PATH: NO_NODE }));
    assert.equal(r.code, 127, `the old server did not answer: ${r.stderr}`);
    await waitFor(async () => !alive(pid), 30_000, 'the old server to exit');
    // the next command (with node) runs the normal path and starts a new server, which serves
    const pid2 = await started(s);
    assert.notEqual(pid2, pid);
    const served = await exec(BERTH, ['ps', '-a', '-q'], envFor(s, { PATH: NO_NODE }));
    assert.equal(served.code, 0, served.stderr);
  } finally {
    fs.utimesSync(bundle, st.atime, st.mtime);
    for (const f of fs.readdirSync(path.dirname(bundle))) if (!before.has(f) && /^berth\.js\..*\.cache$/.test(f)) fs.rmSync(path.join(path.dirname(bundle), f), { force: true });
  }
});

test('another user is refused: neither the socket nor the client serves them', async () => {
  const s = socket();
  await started(s);
  // the socket's directory is 0700 root: another uid cannot connect
  const probe = `require('net').connect(${JSON.stringify(s.sock)}).on('connect', () => process.exit(0)).on('error', (e) => { console.log(e.code); process.exit(3); })`;
  const r = await exec(process.execPath, ['-e', probe], { PATH: process.env.PATH }, { uid: 65534 });
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout.trim(), 'EACCES');
  // the client, as that user, does not talk to a directory that is not theirs
  // (and takes the normal path, here without node on the PATH)
  const c = await exec(CLIENT, [BERTH, 'ps'], { PATH: NO_NODE, BERTH_CLI_SOCKET: s.sock }, { uid: 65534 });
  assert.equal(c.code, 127, c.stderr);
  // nor does root's client talk to someone else's directory
  const other = socket();
  fs.chownSync(other.dir, 65534, 65534);
  const srv = net.createServer().listen(other.sock);
  await new Promise((res) => srv.once('listening', res));
  let connected = false;
  srv.on('connection', (c2) => { connected = true; c2.destroy(); });
  try {
    const rr = await exec(BERTH, ['ps'], envFor(other, { PATH: NO_NODE }));
    assert.equal(rr.code, 127);
    assert.equal(connected, false);
  } finally {
    srv.close();
  }
});

test('build is served for a context directory, relative to the client\'s cwd; stdin, URLs and --iidfile are not', async () => {
  const s = socket();
  await started(s);
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-res-build-'));
  try {
    const ctx = path.join(top, 'ctx');
    fs.mkdirSync(path.join(ctx, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY a.txt /\nCOPY sub /sub/\nENV X=1\nCMD ["cat", "/a.txt"]\n');
    fs.writeFileSync(path.join(ctx, 'a.txt'), 'a\n');
    fs.writeFileSync(path.join(ctx, 'sub', 'b.txt'), 'b\n');
    fs.writeFileSync(path.join(ctx, '.dockerignore'), 'sub/ignored\n');
    fs.writeFileSync(path.join(ctx, 'sub', 'ignored'), 'x\n');
    fs.writeFileSync(path.join(top, 'Other.Dockerfile'), 'FROM busybox\nCOPY a.txt /other\n');
    const env = envFor(s, { PATH: NO_NODE });
    const cases: Array<[string[], string]> = [
      [['build', '-t', 'res-build', '.'], ctx],
      [['build', '-q', '--tag=res-build', 'ctx'], top],
      [['image', 'build', '-t', 'res-build', '--build-arg', 'A=1', '../ctx'], path.join(ctx, 'sub')],
      [['build', '-f', 'Other.Dockerfile', '-t', 'res-other', 'ctx'], top], // a Dockerfile outside the context
      [['build', '-fctx/Dockerfile', 'ctx'], top],
      [['build', 'no-such-dir'], top], // error, exit 1
      [['build', '-f', 'nope', '.'], ctx], // error
    ];
    for (const [args, cwd] of cases) {
      await exec(process.execPath, ['--', BERTH, ...args], env, { cwd }); // fills the cache
      const served = await exec(BERTH, args, env, { cwd });
      const plain = await exec(process.execPath, ['--', BERTH, ...args], env, { cwd });
      const what = `berth ${args.join(' ')} in ${cwd}`;
      assert.notEqual(served.code, 127, `${what} was served (no node on the PATH): ${served.stderr}`);
      assert.equal(served.stdout, plain.stdout, `stdout of ${what}`);
      assert.equal(served.stderr, plain.stderr, `stderr of ${what}`);
      assert.equal(served.code, plain.code, `exit code of ${what}`);
    }
    const cached = await exec(BERTH, ['build', '.'], env, { cwd: ctx });
    assert.equal((cached.stdout.match(/Using cache/g) ?? []).length, 4, cached.stdout);
    assert.match(cached.stdout, /Sending build context to Docker daemon {2}\d/);
    // not served: the client falls back to node (here: none on the PATH)
    for (const args of [['build', '-'], ['build', '-f', '-', '.'], ['build', '--file=-', '.'], ['build', '--iidfile', 'id', '.'], ['build', 'http://example.invalid/x.tar'], ['build', '-qt', 'x', '.'], ['build', '--no-such-flag', '.'], ['build'], ['build', '--', '.']]) {
      const r = await exec(BERTH, args, env, { cwd: ctx });
      assert.equal(r.code, 127, `berth ${args.join(' ')} not served: ${r.stderr}`);
    }
  } finally {
    fs.rmSync(top, { recursive: true, force: true });
  }
  // the allow-list's idea of build's flags is build's own
  const defs = buildCommand.flags ?? [];
  assert.deepEqual(
    new Map(defs.filter((f) => f.type !== 'bool').map((f) => [f.name, f.short ?? ''])),
    BUILD_VALUE_FLAGS,
  );
  assert.deepEqual(new Map(defs.filter((f) => f.type === 'bool').map((f) => [f.name, f.short ?? ''])), BUILD_BOOL_FLAGS);
  assert.equal(servable(['build', '.'], {}).ok, false, 'no cwd: not served');
  assert.equal(servable(['build', '.'], {}, 'rel').ok, false);
  assert.deepEqual(servable(['-H', 'unix:///x', 'build', '--rm=false', '-t', 'a', '--network', 'host', '.'], {}, '/'), { ok: true });
  assert.equal(servable(['build', '-t'], {}, '/').ok, false);
});

test('Ctrl-C on a served build cancels it: the RUN container goes, no image is tagged', async () => {
  const s = socket();
  await started(s);
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-res-cancel-'));
  try {
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo sta""rted && sleep 60\n');
    const t0 = Date.now();
    const child = spawn(BERTH, ['build', '-t', 'res-cancelled', '.'], { cwd: ctx, env: envFor(s, { PATH: NO_NODE }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    const ended = new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, sig) => res([c, sig])));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`build did not start in 60 s: ${out} ${err}`)), 60_000);
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (/^started$/m.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    const [, sig] = await ended;
    assert.equal(sig, 'SIGINT', `the client ends as the normal path does on ^C: ${err}`);
    let left = 'x';
    for (let i = 0; i < 150 && left; i++) {
      left = (await d.berth(['ps', '-aq', '--filter', 'status=running'])).stdout.trim();
      if (left) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(left, '', 'the build container is gone');
    assert.ok(Date.now() - t0 < 50_000, 'cancelled well before the sleep ended');
    assert.notEqual((await d.berth(['image', 'inspect', 'res-cancelled'])).code, 0, 'no image tagged');
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
});
