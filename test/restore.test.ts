// Restart policies with back-off, and live restore: berthd killed with
// SIGKILL while containers run and some of them exit; after it starts again
// everything is as it should be. Through the docker CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, run, type TestDaemon, waitFor as waitUntil } from './helpers/daemon';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
});

const ok = (args: string[], timeout?: number): Promise<string> => d.ok(args, timeout);

const waitFor = (pred: () => Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> => waitUntil(pred, ms, what, 100, () => `\n${d.logs().slice(-1500)}`);

const insp = async (name: string, f: string) => (await ok(['inspect', '-f', f, name])).trim();

test('on-failure:N restarts a failing container N times, then it stays exited with its code', async () => {
  await ok(['run', '-d', '--name', 'of', '--restart', 'on-failure:3', 'busybox', 'sh', '-c', 'exit 3']);
  await waitFor(async () => (await insp('of', '{{.RestartCount}} {{.State.Status}}')) === '3 exited', 20_000, 'three restarts');
  assert.equal(await insp('of', '{{.State.ExitCode}}'), '3');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await insp('of', '{{.RestartCount}}'), '3');
  // on-failure does not restart a clean exit.
  await ok(['run', '-d', '--name', 'of0', '--restart', 'on-failure', 'busybox', 'true']);
  await waitFor(async () => (await insp('of0', '{{.State.Status}}')) === 'exited');
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(await insp('of0', '{{.RestartCount}}'), '0');
});

test('always restarts with a growing back-off; docker stop ends it; restart resets', async () => {
  await ok(['run', '-d', '--name', 'al', '--restart', 'always', 'busybox', 'true']);
  await new Promise((r) => setTimeout(r, 3000));
  const n = Number(await insp('al', '{{.RestartCount}}'));
  // 100+200+400+800+1600 ms of waits: about 4-5 restarts in 3 s, never dozens.
  // (A loaded host makes each start slower, so fewer is fine: wait for the 2nd.)
  assert.ok(n <= 7, `restart count after 3 s: ${n}`);
  await waitFor(async () => Number(await insp('al', '{{.RestartCount}}')) >= 2, 20_000, 'always restarts again');
  const ps = await ok(['ps', '-a', '--filter', 'name=al', '--format', '{{.Status}}']);
  assert.match(ps, /Restarting|Up|Exited/);
  await ok(['stop', 'al']);
  const after = Number(await insp('al', '{{.RestartCount}}'));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await insp('al', '{{.State.Status}}'), 'exited');
  assert.ok(Number(await insp('al', '{{.RestartCount}}')) <= after + 1);
  await ok(['rm', '-f', 'al']);
});

test('docker update --restart changes the policy of an existing container', async () => {
  // It fails only once told to (a file), so the update always comes before the exit; each
  // restart removes the file again, so the one restart the policy allows fails for good.
  await ok(['run', '-d', '--name', 'up', 'busybox', 'sh', '-c', 'while [ ! -f /go ]; do sleep 0.05; done; rm /go; exit 1']);
  await ok(['update', '--restart', 'on-failure:1', 'up']);
  assert.equal(await insp('up', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}'), 'on-failure:1');
  await ok(['exec', 'up', 'touch', '/go']);
  await waitFor(async () => (await insp('up', '{{.RestartCount}} {{.State.Status}}')) === '1 running', 15_000, 'restarted after the update');
  await ok(['exec', 'up', 'touch', '/go']);
  await waitFor(async () => (await insp('up', '{{.RestartCount}} {{.State.Status}}')) === '1 exited', 15_000, 'one restart after update');
  const bad = await d.docker(['run', '--rm', '--restart', 'always', 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /can't create 'AutoRemove' container with restart policy|conflicting options/i);
});

test('docker restart restarts a running container (new StartedAt, same id)', async () => {
  await ok(['run', '-d', '--name', 'rs', 'busybox', 'sleep', '600']);
  const before = await insp('rs', '{{.State.StartedAt}}');
  await ok(['restart', '-t', '1', 'rs']);
  assert.equal(await insp('rs', '{{.State.Running}}'), 'true');
  assert.notEqual(await insp('rs', '{{.State.StartedAt}}'), before);
  await ok(['rm', '-f', 'rs']);
});

test('live restore: SIGKILL berthd; running containers stay usable, exits while down are recorded, --rm ones go, policies apply', async () => {
  await ok(['run', '-d', '--name', 'lr-run', 'busybox', 'sh', '-c', 'i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done']);
  await ok(['run', '-d', '--name', 'lr-exit', 'busybox', 'sh', '-c', 'sleep 2; exit 42']);
  await ok(['run', '-d', '--rm', '--name', 'lr-rm', 'busybox', 'sh', '-c', 'sleep 2']);
  await ok(['run', '-d', '--name', 'lr-always', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 2']);
  await ok(['run', '-d', '-it', '--name', 'lr-tty', 'busybox', 'sh']);
  await ok(['stop', '-t', '1', 'lr-always']); // Docker starts `always` containers at daemon start even after a stop
  await ok(['run', '-d', '--name', 'lr-us', '--restart', 'unless-stopped', 'busybox', 'sleep', '600']);
  await ok(['stop', '-t', '1', 'lr-us']);
  const pidBefore = await insp('lr-run', '{{.State.Pid}}');
  await d.kill();
  await new Promise((r) => setTimeout(r, 3000)); // lr-exit and lr-rm exit while berthd is down
  await d.restart();
  // Running one: same process, logs keep flowing, exec/stats/top work, stop works.
  assert.equal(await insp('lr-run', '{{.State.Running}} {{.State.Pid}}'), `true ${pidBefore}`);
  const n1 = (await ok(['logs', 'lr-run'])).split('\n').filter(Boolean).length;
  await new Promise((r) => setTimeout(r, 800));
  const n2 = (await ok(['logs', 'lr-run'])).split('\n').filter(Boolean).length;
  assert.ok(n2 > n1, `logs keep flowing (${n1} → ${n2})`);
  assert.equal((await ok(['exec', 'lr-run', 'echo', 'alive'])).trim(), 'alive');
  assert.match(await ok(['stats', '--no-stream', '--format', '{{.MemUsage}}', 'lr-run'], 30_000), /B \//);
  assert.match(await ok(['top', 'lr-run']), /tick|while true/);
  // Exited while down: exit code and a finish time after the start.
  assert.equal(await insp('lr-exit', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 42');
  assert.ok(Date.parse(await insp('lr-exit', '{{.State.FinishedAt}}')) > Date.parse(await insp('lr-exit', '{{.State.StartedAt}}')));
  // --rm: gone.
  await waitFor(async () => (await d.docker(['inspect', 'lr-rm'])).code !== 0, 10_000, '--rm container removed');
  // always: started again at daemon start (Docker does even after a stop); unless-stopped stopped by the user stays down.
  await waitFor(async () => (await insp('lr-always', '{{.State.Running}}')) === 'true' || Number(await insp('lr-always', '{{.RestartCount}}')) > 0, 10_000, 'always restarted');
  assert.equal(await insp('lr-us', '{{.State.Status}}'), 'exited');
  // Attach to the TTY container still works after the restore.
  const s = `berth-lr-${process.pid}`;
  await run('tmux', ['new-session', '-d', '-s', s, '-x', '80', '-y', '20', `env DOCKER_HOST=${d.env.DOCKER_HOST} DOCKER_CONFIG=${d.env.DOCKER_CONFIG} docker attach lr-tty; sleep 20`]);
  try {
    await new Promise((r) => setTimeout(r, 800));
    await run('tmux', ['send-keys', '-t', s, 'echo restored-$((3*3))', 'Enter']);
    await waitFor(async () => (await run('tmux', ['capture-pane', '-p', '-t', s])).stdout.includes('restored-9'), 10_000, 'attach after restore');
  } finally {
    await run('tmux', ['kill-session', '-t', s]);
  }
  await ok(['stop', '-t', '1', 'lr-run']);
  assert.equal(await insp('lr-run', '{{.State.Running}}'), 'false');
  // Nothing duplicated.
  const names = (await ok(['ps', '-a', '--format', '{{.Names}}'])).split('\n').filter((x) => x.startsWith('lr-'));
  assert.equal(new Set(names).size, names.length);
});

test('a monitor killed with SIGKILL: the poll records the container as exited within its bound, its process is ended, rm works', async () => {
  await ok(['run', '-d', '--name', 'mon-kill', 'busybox', 'sleep', '1000']);
  const pid = Number(await insp('mon-kill', '{{.State.Pid}}'));
  // conmon is the container init's parent
  const conmon = Number((await run('ps', ['-o', 'ppid=', '-p', String(pid)])).stdout.trim());
  assert.match((await run('ps', ['-o', 'comm=', '-p', String(conmon)])).stdout, /conmon/);
  const t0 = Date.now();
  process.kill(conmon, 'SIGKILL');
  await waitFor(async () => (await insp('mon-kill', '{{.State.Status}}')) === 'exited', 10_000, 'exited after its monitor died');
  console.log(`# monitor death noticed in ${Date.now() - t0} ms`);
  // the container's process does not outlive its record as running
  const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
  await waitFor(async () => !alive(), 10_000, 'the container process gone');
  await ok(['rm', '-f', 'mon-kill']);
  assert.notEqual((await d.docker(['inspect', 'mon-kill'])).code, 0);
});
