// exec, attach with stdin, run -it in a real terminal (tmux), detach keys and
// resize, through the official docker CLI and berth against a private berthd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, run, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
const sessions: string[] = [];
let last = '';

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  await ok(['run', '-d', '--name', 'e1', '-e', 'FOO=bar', 'busybox', 'sleep', '600']);
});

after(async () => {
  for (const s of sessions) await run('tmux', ['kill-session', '-t', s]).catch(() => {});
  await d?.stop();
});

async function ok(args: string[], timeout = 60_000): Promise<string> {
  const r = await d.docker(args, { timeout });
  assert.equal(r.code, 0, `docker ${args.join(' ')} failed (${r.code}): ${r.stderr}\n${d.logs().slice(-3000)}`);
  return r.stdout;
}

async function waitFor(pred: () => Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what} not met in time; screen:\n${last}`);
}

/**
 * Types `cmd` until the screen matches `re`: after a tmux resize the client's
 * SIGWINCH → resize request → pty resize may land after the first command ran
 * (on a loaded machine), so a stale answer is retried until the deadline.
 */
async function typeUntil(t: { send(...keys: string[]): Promise<void>; screen(): Promise<string> }, cmd: string, re: RegExp, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await t.send(cmd, 'Enter');
    const next = Math.min(end, Date.now() + 2_000);
    while (Date.now() < next) {
      if (re.test(await t.screen())) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.fail(`${what} not met in time; screen:\n${last}`);
}

/** A docker command in a real terminal (tmux), with DOCKER_HOST of the test daemon. */
async function tmux(name: string, cmd: string, cols = 100, rows = 30): Promise<{ send(...keys: string[]): Promise<void>; screen(): Promise<string>; command(): Promise<string> }> {
  const s = `berth-${name}-${process.pid}`;
  sessions.push(s);
  const envs = `DOCKER_HOST=${d.env.DOCKER_HOST} DOCKER_CONFIG=${d.env.DOCKER_CONFIG}`;
  const r = await run('tmux', ['new-session', '-d', '-s', s, '-x', String(cols), '-y', String(rows), `env ${envs} ${cmd}; sleep 30`]);
  assert.equal(r.code, 0, r.stderr);
  return {
    send: async (...keys: string[]) => { await run('tmux', ['send-keys', '-t', s, ...keys]); },
    screen: async () => (last = (await run('tmux', ['capture-pane', '-p', '-t', s])).stdout),
    command: async () => (await run('tmux', ['display', '-p', '-t', s, '#{pane_current_command}'])).stdout.trim(),
  };
}

test('docker exec runs in the container with its env; exit codes pass through', async () => {
  assert.equal((await ok(['exec', 'e1', 'sh', '-c', 'echo $FOO; echo err >&2'])).trim(), 'bar');
  const r = await d.docker(['exec', 'e1', 'sh', '-c', 'exit 7']);
  assert.equal(r.code, 7);
  const nf = await d.docker(['exec', 'e1', 'nonexistent-cmd']);
  assert.notEqual(nf.code, 0);
  assert.equal((await ok(['exec', '-e', 'X=1', '-w', '/tmp', 'e1', 'sh', '-c', 'echo $X $PWD $FOO'])).trim(), '1 /tmp bar');
  assert.equal((await ok(['exec', '-u', 'nobody', 'e1', 'id', '-u'])).trim(), '65534');
  assert.equal((await ok(['exec', '-u', '1234:55', 'e1', 'id'])).trim().startsWith('uid=1234 gid=55'), true);
});

test('docker exec -i passes stdin; -d runs detached; exec inspect shows the exit code', async () => {
  const r = await d.docker(['exec', '-i', 'e1', 'sh', '-c', 'cat; echo done'], { input: 'from stdin\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'from stdin\ndone\n');
  await ok(['exec', '-d', 'e1', 'sh', '-c', 'echo detached > /tmp/d.txt']);
  await waitFor(async () => (await d.docker(['exec', 'e1', 'cat', '/tmp/d.txt'])).stdout.trim() === 'detached');
  // exec inspect through the API (the CLI has no exec inspect).
  const cr = await run('curl', ['-s', '--unix-socket', d.socket, '-X', 'POST', '-H', 'Content-Type: application/json',
    '-d', '{"Cmd":["sh","-c","exit 3"]}', 'http://x/v1.43/containers/e1/exec']);
  const id = JSON.parse(cr.stdout).Id as string;
  assert.match(id, /^[0-9a-f]{64}$/);
  await run('curl', ['-s', '--unix-socket', d.socket, '-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{"Detach":true}', `http://x/v1.43/exec/${id}/start`]);
  let info: any;
  await waitFor(async () => {
    info = JSON.parse((await run('curl', ['-s', '--unix-socket', d.socket, `http://x/v1.43/exec/${id}/json`])).stdout);
    return info.Running === false && info.ExitCode !== null;
  });
  assert.equal(info.ExitCode, 3);
  assert.equal(info.ProcessConfig.entrypoint, 'sh');
  const missing = await run('curl', ['-s', '--unix-socket', d.socket, 'http://x/v1.43/exec/nope/json']);
  assert.match(missing.stdout, /No such exec instance: nope/);
});

test('docker exec --privileged gets all capabilities; a default exec does not', async () => {
  const def = await ok(['exec', 'e1', 'grep', 'CapEff', '/proc/self/status']);
  const priv = await ok(['exec', '--privileged', 'e1', 'grep', 'CapEff', '/proc/self/status']);
  const bits = (s: string) => BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(s)![1]}`);
  const SYS_ADMIN = 1n << 21n;
  assert.equal(bits(def) & SYS_ADMIN, 0n, def);
  assert.equal(bits(priv) & SYS_ADMIN, SYS_ADMIN, priv);
});

test('exec into a stopped container is a 409 with Docker\'s message', async () => {
  await ok(['create', '--name', 'stopped1', 'busybox', 'true']);
  const r = await d.docker(['exec', 'stopped1', 'true']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Container [0-9a-f]{64} is not running/);
  const r2 = await d.docker(['exec', 'no-such-ctr', 'true']);
  assert.match(r2.stderr, /No such container: no-such-ctr/);
});

test('berth exec works like docker exec', async () => {
  const r = await d.berth(['exec', 'e1', 'sh', '-c', 'echo $FOO; exit 4']);
  assert.equal(r.stdout.trim(), 'bar');
  assert.equal(r.code, 4);
});

test('docker exec -it has a real pty; resize reaches the process (stty size)', async () => {
  const t = await tmux('exec', 'docker exec -it e1 sh', 100, 30);
  await waitFor(async () => /#\s*$/m.test(await t.screen()), 15_000, 'exec prompt');
  await t.send('tty; stty size', 'Enter');
  await waitFor(async () => /\/dev\/pts\/\d+/.test(await t.screen()) && /^30 100\s*$/m.test(await t.screen()), 10_000, 'tty and size');
  await run('tmux', ['resize-window', '-t', sessions[sessions.length - 1], '-x', '90', '-y', '25']);
  await typeUntil(t, 'clear; stty size', /^25 90\s*$/m, 15_000, 'resized stty size');
  await t.send('exit', 'Enter');
});

test('docker exec -it: ctrl-p ctrl-q detaches the client; the exec process keeps running', async () => {
  const t = await tmux('execdetach', 'docker exec -it e1 sh -c "echo marker-exec-$((2*21)); exec sh"', 100, 30);
  await waitFor(async () => (await t.screen()).includes('marker-exec-42'), 15_000, 'exec started');
  await t.send('C-p', 'C-q');
  await waitFor(async () => (await t.command()) === 'sleep', 10_000, 'docker exec detached');
  assert.match(await ok(['top', 'e1']), /\bsh\b/);
});

test('docker run -it: a shell in a real terminal; ctrl-p ctrl-q detaches and the container keeps running', async () => {
  const t = await tmux('runit', 'docker run -it --name it1 busybox sh', 100, 30);
  await waitFor(async () => /#\s*$/m.test(await t.screen()), 20_000, 'run -it prompt');
  await t.send('echo hello-$((6*7))', 'Enter');
  await waitFor(async () => (await t.screen()).includes('hello-42'), 10_000, 'echo output');
  await t.send('stty size', 'Enter');
  await waitFor(async () => /^30 100\s*$/m.test(await t.screen()), 10_000, 'stty size in run -it');
  await run('tmux', ['resize-window', '-t', sessions[sessions.length - 1], '-x', '80', '-y', '20']);
  await typeUntil(t, 'clear; stty size', /^20 80\s*$/m, 15_000, 'container resized through /containers/{id}/resize');
  await t.send('C-p', 'C-q');
  // docker run exits quietly on detach: the pane is back to the trailing sleep.
  await waitFor(async () => (await t.command()) === 'sleep', 10_000, 'docker run detached');
  assert.equal((await ok(['inspect', '-f', '{{.State.Running}}', 'it1'])).trim(), 'true');
  // Attach again, type, then exit the shell: the container stops.
  const t2 = await tmux('attach', 'docker attach it1', 100, 30);
  await new Promise((r) => setTimeout(r, 700));
  await t2.send('echo again-$((5*5))', 'Enter');
  await waitFor(async () => (await t2.screen()).includes('again-25'), 10_000, 'attach output');
  await t2.send('exit 5', 'Enter');
  await waitFor(async () => (await ok(['inspect', '-f', '{{.State.Running}}', 'it1'])).trim() === 'false', 10_000, 'container exit');
  assert.equal((await ok(['inspect', '-f', '{{.State.ExitCode}}', 'it1'])).trim(), '5');
});

test('docker run -i (no tty) pipes stdin to the container and closes it at EOF', async () => {
  const r = await d.docker(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'wc -l'], { input: 'a\nb\nc\n', timeout: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '3');
});

test('docker start -a -i attaches stdin to a created container', async () => {
  await ok(['create', '-i', '--name', 'sai', 'busybox', 'sh', '-c', 'read x; echo got-$x']);
  const r = await d.docker(['start', '-a', '-i', 'sai'], { input: 'line1\n', timeout: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'got-line1');
});

test('--detach-keys: a custom sequence detaches', async () => {
  await ok(['run', '-dit', '--name', 'dk', 'busybox', 'sh']);
  const t = await tmux('dk', 'docker attach --detach-keys=ctrl-x,x dk', 100, 30);
  await new Promise((r) => setTimeout(r, 700));
  await t.send('C-x', 'x');
  await waitFor(async () => /read escape sequence/.test(await t.screen()), 10_000, 'custom detach');
  assert.equal((await ok(['inspect', '-f', '{{.State.Running}}', 'dk'])).trim(), 'true');
  const bad = await d.docker(['attach', '--detach-keys=ctrl-', 'dk'], { timeout: 10_000 });
  assert.notEqual(bad.code, 0);
});
