// docker exec as the docker CLI drives it: TTY output byte for byte, a
// missing binary is exit 126 with Docker's message, and the detachKeys of
// the client's config file apply to exec (the CLI sends them at exec create).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, run, waitFor, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
const sessions: string[] = [];

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  await d.ok(['run', '-d', '--name', 'ex', 'busybox', 'sleep', '600']);
});

after(async () => {
  for (const s of sessions) await run('tmux', ['kill-session', '-t', s]).catch(() => {});
  await d?.stop();
});

test('docker exec -t: every byte of both streams, in order, through the pty', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await d.docker(['exec', '-t', 'ex', 'sh', '-c', 'echo hello out; echo hello err >&2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello out\r\nhello err\r\n');
  }
  const big = await d.docker(['exec', '-t', 'ex', 'seq', '1', '5000']);
  assert.equal(big.stdout, Array.from({ length: 5000 }, (_, i) => `${i + 1}\r\n`).join(''));
  // Each TTY exec's conmon is gone, and so are its exec dir and attach socket link.
  const id = (await d.ok(['inspect', '-f', '{{.Id}}', 'ex'])).trim();
  await waitFor(async () => fs.readdirSync(path.join(d.execRoot, 'exec')).length === 0, 10_000, 'exec dirs removed');
  assert.deepEqual(fs.readdirSync(path.join(d.execRoot, 's')), [id.slice(0, 16)]);
  const execConmons = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(d.root) && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--exec-attach'); } catch { return false; }
  });
  assert.deepEqual(execConmons, []);
});

test('docker exec of a missing binary: exit 126 and "OCI runtime exec failed"', async () => {
  for (const args of [['exec', 'ex', '/nonexistent'], ['exec', '-t', 'ex', '/nonexistent']]) {
    const r = await d.docker(args);
    assert.equal(r.code, 126, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, /OCI runtime exec failed: exec failed: .*\/nonexistent.*no such file or directory: unknown/);
    assert.doesNotMatch(r.stdout + r.stderr, /level=error/);
  }
  const inspect = JSON.parse(await d.ok(['inspect', 'ex']));
  assert.equal(inspect[0].State.Running, true);
});

test('detachKeys from the docker config file detach a docker exec -it', async () => {
  const cfg = path.join(d.root, 'docker-config-dk');
  fs.mkdirSync(cfg, { recursive: true });
  fs.writeFileSync(path.join(cfg, 'config.json'), JSON.stringify({ detachKeys: 'ctrl-x,x' }));
  const s = `berth-execdk-${process.pid}`;
  sessions.push(s);
  const r = await run('tmux', ['new-session', '-d', '-s', s, '-x', '100', '-y', '30',
    `env DOCKER_HOST=${d.env.DOCKER_HOST} DOCKER_CONFIG=${cfg} docker exec -it ex sh -c "echo marker-dk-\\$((6*7)); exec sh"; sleep 30`]);
  assert.equal(r.code, 0, r.stderr);
  const screen = async () => (await run('tmux', ['capture-pane', '-p', '-t', s])).stdout;
  const command = async () => (await run('tmux', ['display', '-p', '-t', s, '#{pane_current_command}'])).stdout.trim();
  await waitFor(async () => (await screen()).includes('marker-dk-42'), 15_000, 'exec started');
  // The default sequence is now ordinary input...
  await run('tmux', ['send-keys', '-t', s, 'C-p', 'C-q']);
  await run('tmux', ['send-keys', '-t', s, 'echo still-$((1+1))', 'Enter']);
  await waitFor(async () => (await screen()).includes('still-2'), 10_000, 'exec shell still attached after ctrl-p ctrl-q');
  // ...and the configured one detaches.
  await run('tmux', ['send-keys', '-t', s, 'C-x', 'x']);
  await waitFor(async () => (await command()) === 'sleep', 10_000, 'docker exec detached by the config\'s keys');
  assert.match(await d.ok(['top', 'ex']), /\bsh\b/);
});
