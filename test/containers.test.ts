// Containers through the official docker CLI and dockerode against a private
// berthd: run/create/start/stop/kill/rm/inspect/ps/logs/wait/rename/prune,
// the default security setup, and cleanup after rm.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
});

async function ok(args: string[], timeout = 60_000): Promise<string> {
  const r = await d.docker(args, { timeout });
  assert.equal(r.code, 0, `docker ${args.join(' ')} failed (${r.code}): ${r.stderr}\n${d.logs().slice(-3000)}`);
  return r.stdout;
}

async function waitFor(pred: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('condition not met in time');
}

test('docker run --rm prints the output, exits 0 and removes the container', async () => {
  const r = await d.docker(['run', '--rm', '--name', 'hello', 'busybox', '/bin/echo', 'Hello world']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Hello world\n');
  await waitFor(async () => !(await ok(['ps', '-a', '--format', '{{.Names}}'])).includes('hello'));
});

test('exit codes come back through docker run', async () => {
  const r = await d.docker(['run', '--name', 'exit3', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  const st = JSON.parse(await ok(['inspect', '--format', '{{json .State}}', 'exit3']));
  assert.equal(st.Status, 'exited');
  assert.equal(st.ExitCode, 3);
  assert.equal(st.Running, false);
  assert.notEqual(st.FinishedAt, '0001-01-01T00:00:00Z');
  const nf = await d.docker(['run', '--rm', 'busybox', 'nosuchcommand']);
  assert.equal(nf.code, 127, nf.stderr);
  assert.match(nf.stderr, /executable file not found/);
  await ok(['rm', 'exit3']);
});

test('create, start, inspect shape, stop -t, kill -s, rm -f', async () => {
  // As pid 1, sh only ends on TERM/USR1 because it traps them (like Docker, no signal reaches an untrapped init).
  // A signal sent before the traps are set is dropped: each start's /dev/shm (a fresh tmpfs) says when they are.
  const script = 'trap "exit 143" TERM; trap "exit 138" USR1; touch /dev/shm/trapped; while true; do sleep 0.1; done';
  const trapped = () => waitFor(async () => (await d.docker(['exec', 'life', 'test', '-f', '/dev/shm/trapped'])).code === 0);
  const id = (await ok(['create', '--name', 'life', '-l', 'tier=web', 'busybox', 'sh', '-c', script])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  let info = JSON.parse(await ok(['inspect', 'life']))[0];
  for (const k of ['Id', 'Created', 'Path', 'Args', 'State', 'Image', 'ResolvConfPath', 'HostnamePath', 'HostsPath', 'LogPath', 'Name',
    'RestartCount', 'Driver', 'Platform', 'MountLabel', 'ProcessLabel', 'AppArmorProfile', 'ExecIDs', 'HostConfig', 'GraphDriver',
    'Mounts', 'Config', 'NetworkSettings']) assert.ok(k in info, `inspect lacks ${k}`);
  assert.equal(info.Id, id);
  assert.equal(info.Name, '/life');
  assert.equal(info.Path, 'sh');
  assert.deepEqual(info.Args, ['-c', script]);
  assert.equal(info.State.Status, 'created');
  assert.equal(info.Driver, 'overlay2');
  assert.match(info.Image, /^sha256:[0-9a-f]{64}$/);
  assert.equal(info.Config.Labels.tier, 'web');
  assert.equal(info.Config.Image, 'busybox');
  assert.equal(info.Config.Hostname, id.slice(0, 12));

  await ok(['start', 'life']);
  info = JSON.parse(await ok(['inspect', id.slice(0, 10)]))[0];
  assert.equal(info.State.Status, 'running');
  assert.ok(info.State.Pid > 0);
  assert.ok(fs.existsSync(`/proc/${info.State.Pid}`));
  // start of a running container is a no-op (304) for the CLI.
  await ok(['start', 'life']);

  // The trap ends it on SIGTERM, well within -t.
  await trapped();
  const t0 = Date.now();
  await ok(['stop', '-t', '5', 'life']);
  assert.ok(Date.now() - t0 < 5000, 'stop waited for the timeout');
  info = JSON.parse(await ok(['inspect', 'life']))[0];
  assert.equal(info.State.Status, 'exited');
  assert.equal(info.State.ExitCode, 143);

  // sleep as pid 1 ignores TERM: SIGKILL after -t.
  await ok(['run', '-d', '--name', 'stubborn', 'busybox', 'sleep', '300']);
  const t1 = Date.now();
  await ok(['stop', '-t', '1', 'stubborn']);
  assert.ok(Date.now() - t1 >= 900, 'stop did not wait for the timeout');
  assert.equal(JSON.parse(await ok(['inspect', '--format', '{{json .State.ExitCode}}', 'stubborn'])), 137);

  await ok(['start', 'life']);
  await trapped();
  await ok(['kill', '-s', 'USR1', 'life']);
  await waitFor(async () => (await ok(['inspect', '--format', '{{.State.Status}}', 'life'])).trim() === 'exited');
  assert.equal((await ok(['inspect', '--format', '{{.State.ExitCode}}', 'life'])).trim(), '138');
  const k = await d.docker(['kill', 'life']);
  assert.notEqual(k.code, 0);
  assert.match(k.stderr, /is not running/);
  const badSig = await d.docker(['kill', '-s', 'NOPE', 'stubborn']);
  assert.notEqual(badSig.code, 0);

  await ok(['start', 'life']);
  const rm = await d.docker(['rm', 'life']);
  assert.notEqual(rm.code, 0);
  assert.match(rm.stderr, /You cannot remove a running container [0-9a-f]{64}\. Stop the container before attempting removal or force remove/);
  await ok(['rm', '-f', 'life', 'stubborn']);
  const gone = await d.docker(['inspect', 'life']);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /No such (container|object): life/);
});

test('name clash is a 409 with Docker\'s message; bad names are refused', async () => {
  const id = (await ok(['create', '--name', 'taken', 'busybox', 'true'])).trim();
  const r = await d.docker(['create', '--name', 'taken', 'busybox', 'true']);
  assert.notEqual(r.code, 0);
  assert.ok(r.stderr.includes(`Conflict. The container name "/taken" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`), r.stderr);
  const bad = await d.docker(['create', '--name', '-bad', 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /Invalid container name/);
  const noimg = await d.docker(['create', '--pull', 'never', 'nosuchimage:1', 'true']);
  assert.notEqual(noimg.code, 0);
  assert.match(noimg.stderr, /No such image: nosuchimage:1/);
  await ok(['rm', 'taken']);
  // Unique prefixes work; an ambiguous one is Docker's 400 (at most 17 creates find two sharing a first digit).
  const ids: string[] = [];
  let clash: [string, string] | undefined;
  while (!clash && ids.length < 17) {
    const nid = (await ok(['create', '-l', 'prefix-test=1', 'busybox', 'true'])).trim();
    const other = ids.find((x) => x[0] === nid[0]);
    if (other) clash = [other, nid];
    ids.push(nid);
  }
  assert.ok(clash);
  const amb = await d.docker(['inspect', '--type', 'container', clash[0][0]]);
  assert.notEqual(amb.code, 0);
  assert.match(amb.stderr, new RegExp(`multiple IDs found with provided prefix: ${clash[0][0]}`, 'i'));
  let n = 1;
  while (clash[0].slice(0, n) === clash[1].slice(0, n)) n++;
  assert.equal((await ok(['inspect', '--format', '{{.Id}}', clash[1].slice(0, n)])).trim(), clash[1]);
  await ok(['rm', ...ids]);
});

test('hostname, env, workdir, user, entrypoint', async () => {
  const out = await ok(['run', '--rm', '-h', 'box1', '-e', 'FOO=bar', '-w', '/tmp/work', '-u', 'nobody', 'busybox', 'sh', '-c',
    'hostname; echo $FOO; pwd; id -u; id -g; echo $HOME; cat /etc/hostname']);
  const lines = out.trim().split('\n');
  assert.equal(lines[0], 'box1');
  assert.equal(lines[1], 'bar');
  assert.equal(lines[2], '/tmp/work');
  assert.equal(lines[3], '65534');
  assert.equal(lines[6], 'box1');
  const ug = await ok(['run', '--rm', '-u', '1234:5678', 'busybox', 'sh', '-c', 'id -u; id -g']);
  assert.equal(ug, '1234\n5678\n');
  const nouser = await d.docker(['run', '--rm', '-u', 'nosuchuser', 'busybox', 'true']);
  assert.notEqual(nouser.code, 0);
  assert.match(nouser.stderr, /unable to find user nosuchuser/);
  const ep = await ok(['run', '--rm', '--entrypoint', '/bin/echo', 'busybox', 'from', 'entrypoint']);
  assert.equal(ep, 'from entrypoint\n');
  const env = await ok(['run', '--rm', 'busybox', 'env']);
  assert.match(env, /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
  assert.match(env, /^HOSTNAME=[0-9a-f]{12}$/m);
});

test('default capabilities, seccomp, masked paths; no mounting', async () => {
  const out = await ok(['run', '--rm', 'busybox', 'sh', '-c', 'grep -E "^Cap(Eff|Bnd)|^Seccomp:" /proc/self/status']);
  assert.match(out, /CapEff:\s+00000000a80425fb/);
  assert.match(out, /CapBnd:\s+00000000a80425fb/);
  assert.match(out, /Seccomp:\s+2/);
  const m = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m']);
  assert.notEqual(m.code, 0);
  assert.match(m.stderr, /denied|not permitted/i);
  // Docker's seccomp gating: no new namespaces, no keyring without privileges; threads still work.
  const ns = await d.docker(['run', '--rm', 'busybox', 'unshare', '-n', 'true']);
  assert.notEqual(ns.code, 0);
  assert.match(ns.stderr, /not permitted/i);
  const kcore = await ok(['run', '--rm', 'busybox', 'sh', '-c', '[ -c /proc/timer_list ] && echo masked; (echo 1 > /proc/sys/vm/overcommit_memory) 2>&1 || echo rofail']);
  assert.match(kcore, /^masked$/m);
  assert.match(kcore, /rofail|Read-only/);
  const add = await ok(['run', '--rm', '--cap-add', 'SYS_ADMIN', '--cap-drop', 'CHOWN', 'busybox', 'grep', '^CapEff', '/proc/self/status']);
  assert.match(add, /00000000a82425fa/);
  const nofile = await ok(['run', '--rm', 'busybox', 'sh', '-c', 'ulimit -n']);
  assert.ok(Number(nofile.trim()) <= 20000 && Number(nofile.trim()) > 1024, nofile);
});

test('resources and limits reach the container: memory, pids, cpu shares, ulimits, read-only rootfs', async () => {
  const out = await ok(['run', '--rm', '--memory', '64m', '--pids-limit', '50', '--cpu-shares', '512', '--ulimit', 'nofile=100:200', 'busybox', 'sh', '-c',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares; ulimit -n; ulimit -Hn']);
  assert.deepEqual(out.trim().split('\n'), [String(64 * 1024 * 1024), '50', '512', '100', '200']);
  const ro = await d.docker(['run', '--rm', '--read-only', 'busybox', 'touch', '/x']);
  assert.notEqual(ro.code, 0);
  assert.match(ro.stderr, /Read-only file system/);
  await ok(['create', '--name', 'hc', '--memory', '64m', '--restart', 'on-failure:3', '--cap-add', 'NET_ADMIN', '--security-opt', 'no-new-privileges', 'busybox', 'true']);
  const h = JSON.parse(await ok(['inspect', '--format', '{{json .HostConfig}}', 'hc']));
  assert.equal(h.Memory, 64 * 1024 * 1024);
  assert.deepEqual(h.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.deepEqual(h.CapAdd, ['CAP_NET_ADMIN']); // the CLI normalizes; kept as sent
  assert.deepEqual(h.SecurityOpt, ['no-new-privileges']);
  await ok(['rm', 'hc']);
  // Over the memory limit: the kernel kills it, inspect says OOMKilled, an oom event is sent.
  const since = String(Date.now() / 1000);
  const oom = await d.docker(['run', '--name', 'oom', '--memory', '8m', '--memory-swap', '8m', 'busybox', 'sh', '-c', 'x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived'], { timeout: 60_000 });
  assert.equal(oom.code, 137, oom.stdout + oom.stderr);
  assert.equal((await ok(['inspect', '--format', '{{.State.OOMKilled}}', 'oom'])).trim(), 'true');
  const evs = await ok(['events', '--since', since, '--until', String(Date.now() / 1000 + 0.5), '--filter', 'container=oom', '--format', '{{.Action}}']);
  assert.match(evs, /^oom$/m);
  await ok(['rm', 'oom']);
  const badcap = await d.docker(['create', '--cap-add', 'BOGUS', 'busybox', 'true']);
  assert.notEqual(badcap.code, 0);
  assert.match(badcap.stderr, /invalid capability/);
});

test('ps: filters and formats', async () => {
  await ok(['run', '-d', '--name', 'ps-run', '-l', 'app=a', 'busybox', 'sleep', '300']);
  await d.docker(['run', '--name', 'ps-exit', '-l', 'app=b', 'busybox', 'sh', '-c', 'exit 2']);
  await ok(['create', '--name', 'ps-created', 'busybox', 'true']);
  const names = async (args: string[]) => (await ok(['ps', ...args, '--format', '{{.Names}}'])).trim().split('\n').filter(Boolean).sort();
  assert.deepEqual(await names([]), ['ps-run']);
  assert.deepEqual(await names(['-a', '--filter', 'name=ps-']), ['ps-created', 'ps-exit', 'ps-run']);
  assert.deepEqual(await names(['-a', '--filter', 'status=exited']), ['ps-exit']);
  assert.deepEqual(await names(['-a', '--filter', 'status=created']), ['ps-created']);
  assert.deepEqual(await names(['-a', '--filter', 'label=app=b']), ['ps-exit']);
  assert.deepEqual(await names(['-a', '--filter', 'exited=2']), ['ps-exit']);
  assert.deepEqual(await names(['-a', '--filter', 'ancestor=busybox', '--filter', 'name=ps-r']), ['ps-run']);
  const runId = (await ok(['inspect', '--format', '{{.Id}}', 'ps-run'])).trim();
  assert.deepEqual(await names(['-a', '--filter', `id=${runId.slice(0, 8)}`]), ['ps-run']);
  assert.deepEqual(await names(['-a', '--filter', 'since=ps-exit', '--filter', 'name=ps-']), ['ps-created']);
  assert.deepEqual(await names(['-a', '--filter', 'before=ps-exit', '--filter', 'name=ps-']), ['ps-run']);
  const st = await ok(['ps', '-a', '--filter', 'name=ps-', '--format', '{{.Names}}|{{.Status}}|{{.Command}}|{{.Image}}']);
  assert.match(st, /^ps-run\|Up (Less than a second|\d+ seconds?)\|"sleep 300"\|busybox$/m);
  assert.match(st, /^ps-exit\|Exited \(2\) (Less than a second|\d+ seconds?) ago\|/m);
  assert.match(st, /^ps-created\|Created\|/m);
  const q = (await ok(['ps', '-aq', '--filter', 'name=ps-'])).trim().split('\n');
  assert.equal(q.length, 3);
  assert.ok(q.every((x) => /^[0-9a-f]{12}$/.test(x)));
  const last = (await ok(['ps', '-n', '1', '--format', '{{.Names}}'])).trim();
  assert.equal(last, 'ps-created');
  const bad = await d.docker(['ps', '--filter', 'status=bogus']);
  assert.notEqual(bad.code, 0);
  await ok(['rm', '-f', 'ps-run', 'ps-exit', 'ps-created']);
});

test('logs: stdout and stderr apart, --tail, -t, --since, -f ends when the container stops', async () => {
  await ok(['run', '--name', 'logger', 'busybox', 'sh', '-c', 'echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three; sleep 0.1; echo four >&2']);
  const r = await d.docker(['logs', 'logger']);
  assert.equal(r.stdout, 'one\nthree\n');
  assert.equal(r.stderr, 'two\nfour\n');
  const tail = await d.docker(['logs', '--tail', '2', 'logger']);
  assert.equal(tail.stdout, 'three\n');
  assert.equal(tail.stderr, 'four\n');
  const ts = await ok(['logs', '-t', 'logger']);
  assert.match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z one$/m);
  const future = await d.docker(['logs', '--since', String(Math.floor(Date.now() / 1000) + 3600), 'logger']);
  assert.equal(future.stdout + future.stderr, '');
  const before = await d.docker(['logs', '--until', '2020-01-01T00:00:00Z', 'logger']);
  assert.equal(before.code, 0, before.stderr);
  assert.equal(before.stdout + before.stderr, '');
  const past = await d.docker(['logs', '--since', '10m', 'logger']);
  assert.equal(past.stdout, 'one\nthree\n');

  await ok(['run', '-d', '--name', 'follower', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.3; done']);
  const t0 = Date.now();
  const f = await d.docker(['logs', '-f', 'follower'], { timeout: 20_000 });
  assert.equal(f.code, 0);
  assert.equal(f.stdout, 'line1\nline2\nline3\n');
  assert.ok(Date.now() - t0 < 15_000);
  // conmon reads stdout and stderr separately: lines written together may be logged in either order.
  // A TTY container's log is a raw stream.
  const tty = await ok(['run', '-t', '--name', 'ttylog', 'busybox', 'echo', 'tty-out']);
  assert.match(tty, /tty-out/);
  assert.match(await ok(['logs', 'ttylog']), /tty-out/);
  await ok(['rm', 'logger', 'follower', 'ttylog']);
});

test('wait, rename, prune', async () => {
  await ok(['run', '-d', '--name', 'waiter', 'busybox', 'sh', '-c', 'sleep 0.5; exit 5']);
  const w = await ok(['wait', 'waiter'], 20_000);
  assert.equal(w.trim(), '5');
  assert.equal((await ok(['wait', 'waiter'])).trim(), '5');

  await ok(['rename', 'waiter', 'renamed']);
  assert.equal((await ok(['inspect', '--format', '{{.Name}}', 'renamed'])).trim(), '/renamed');
  const old = await d.docker(['inspect', 'waiter']);
  assert.notEqual(old.code, 0);
  await ok(['create', '--name', 'other', 'busybox', 'true']);
  const clash = await d.docker(['rename', 'renamed', 'other']);
  assert.notEqual(clash.code, 0);
  assert.match(clash.stderr, /is already in use/);

  await ok(['create', '--name', 'keepme', '-l', 'keep=1', 'busybox', 'true']);
  await ok(['run', '-d', '--name', 'running1', 'busybox', 'sleep', '300']);
  const pr = await ok(['container', 'prune', '-f', '--filter', 'label!=keep=1']);
  assert.match(pr, /Deleted Containers:/);
  const left = (await ok(['ps', '-a', '--format', '{{.Names}}'])).trim().split('\n').sort();
  assert.deepEqual(left, ['keepme', 'running1']);
  await ok(['rm', '-f', 'keepme', 'running1']);
});

test('dockerode: create, attach, start, wait, logs demuxed', async () => {
  const docker = new Docker({ socketPath: d.socket });
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 4'] });
  const stream = await c.attach({ stream: true, stdout: true, stderr: true });
  const out = new PassThrough();
  const err = new PassThrough();
  const outBuf: Buffer[] = [];
  const errBuf: Buffer[] = [];
  out.on('data', (b) => outBuf.push(b));
  err.on('data', (b) => errBuf.push(b));
  docker.modem.demuxStream(stream, out, err);
  const ended = new Promise((r) => stream.on('end', r));
  const waited = c.wait({ condition: 'next-exit' });
  await c.start();
  const res = await waited;
  assert.equal(res.StatusCode, 4);
  await Promise.race([ended, new Promise((r) => setTimeout(r, 5000))]);
  assert.equal(Buffer.concat(outBuf).toString(), 'to-out\n');
  assert.equal(Buffer.concat(errBuf).toString(), 'to-err\n');
  const info = await c.inspect();
  assert.equal(info.State.ExitCode, 4);
  const list = await docker.listContainers({ all: true, filters: { id: [c.id] } });
  assert.equal(list.length, 1);
  assert.equal(list[0].State, 'exited');
  // logs=1 without stream: the output so far, then the end.
  const past = await c.attach({ logs: true, stream: false, stdout: true, stderr: false });
  const pastBuf: Buffer[] = [];
  const pastOut = new PassThrough();
  pastOut.on('data', (b) => pastBuf.push(b));
  docker.modem.demuxStream(past, pastOut, new PassThrough());
  await Promise.race([new Promise((r) => past.on('end', r)), new Promise((_r, rej) => setTimeout(() => rej(new Error('attach logs did not end')), 5000))]);
  assert.equal(Buffer.concat(pastBuf).toString(), 'to-out\n');
  await c.remove();
  await assert.rejects(c.inspect(), (e: any) => e.statusCode === 404);
});

test('diff, commit, export', async () => {
  await ok(['run', '--name', 'fs', 'busybox', 'sh', '-c', 'echo data > /newfile; rm /bin/ls']);
  const diff = await ok(['diff', 'fs']);
  assert.match(diff, /^A \/newfile$/m);
  assert.match(diff, /^D \/bin\/ls$/m);
  const sized = JSON.parse(await ok(['inspect', '-s', 'fs']))[0];
  assert.ok(sized.SizeRw >= 5 && sized.SizeRootFs > sized.SizeRw, `sizes ${sized.SizeRw} ${sized.SizeRootFs}`);
  assert.match(await ok(['ps', '-a', '-s', '--filter', 'name=fs', '--format', '{{.Size}}']), /^\d+(\.\d+)?k?B \(virtual [\d.]+MB\)$/m);
  await ok(['commit', '-c', 'ENV COMMITTED=yes', '-m', 'my commit', 'fs', 'committed:1']);
  const img = JSON.parse(await ok(['image', 'inspect', 'committed:1']))[0];
  assert.equal(img.Comment, 'my commit');
  assert.ok(img.Config.Env.includes('COMMITTED=yes'));
  const out = await ok(['run', '--rm', 'committed:1', 'sh', '-c', 'cat /newfile; echo $COMMITTED; test -e /bin/ls || echo nols']);
  assert.equal(out, 'data\nyes\nnols\n');
  const tarFile = path.join(d.root, 'fs.tar');
  await ok(['export', '-o', tarFile, 'fs']);
  assert.ok(fs.statSync(tarFile).size > 100_000);
  await ok(['rm', 'fs']);
  await ok(['rmi', 'committed:1']);
});

test('commit freezes a running container around the layer read, as Docker does', async () => {
  await ok(['run', '-d', '--name', 'live', 'busybox', 'sh', '-c', 'echo x > /made; sleep 300']);
  await waitFor(async () => (await d.docker(['exec', 'live', 'cat', '/made'])).stdout === 'x\n');
  const actions = async (since: string) => (await ok(['events', '--since', since, '--until', String(Date.now() / 1000 + 0.5),
    '--filter', 'container=live', '--format', '{{.Action}}'])).trim().split('\n').filter((a) => a !== '' && !a.startsWith('exec_'));
  const t1 = String(Date.now() / 1000 - 0.01);
  await ok(['commit', 'live', 'livecommit:1']);
  assert.deepEqual(await actions(t1), ['pause', 'commit', 'unpause']);
  const st = JSON.parse(await ok(['inspect', '--format', '{{json .State}}', 'live']));
  assert.equal(st.Status, 'running');
  assert.equal(st.Paused, false);
  assert.equal(await ok(['run', '--rm', 'livecommit:1', 'cat', '/made']), 'x\n');
  // --pause=false commits without freezing; a paused container stays paused.
  const t2 = String(Date.now() / 1000 - 0.01);
  await ok(['commit', '--pause=false', 'live', 'livecommit:2']);
  assert.deepEqual(await actions(t2), ['commit']);
  await ok(['pause', 'live']);
  const t3 = String(Date.now() / 1000);
  await ok(['commit', 'live', 'livecommit:3']);
  assert.deepEqual(await actions(t3), ['commit']);
  assert.equal(JSON.parse(await ok(['inspect', '--format', '{{json .State.Paused}}', 'live'])), true);
  await ok(['rm', '-f', 'live']);
  await ok(['rmi', 'livecommit:1', 'livecommit:2', 'livecommit:3']);
});

test('nothing leaks after rm: mounts, conmon, runc state, cgroups', async () => {
  const id = (await ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  const mountsHave = () => fs.readFileSync('/proc/self/mounts', 'utf8').includes(id);
  assert.ok(mountsHave(), 'rootfs not mounted while running');
  const conmons = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(id) && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'conmon'; } catch { return false; }
  });
  assert.equal(conmons().length, 1);
  const runcState = path.join(d.execRoot, 'runc', id);
  assert.ok(fs.existsSync(runcState));
  const cgroupDirs = () => fs.readdirSync('/sys/fs/cgroup').filter((ctl) => {
    try { return fs.readdirSync(path.join('/sys/fs/cgroup', ctl)).some((p) => p.startsWith('berth-') && fs.existsSync(path.join('/sys/fs/cgroup', ctl, p, id))); } catch { return false; }
  });
  assert.ok(cgroupDirs().length > 0, 'no cgroup for the container');
  await ok(['rm', '-f', id]);
  assert.ok(!mountsHave(), 'rootfs still mounted');
  await waitFor(async () => conmons().length === 0, 5000);
  assert.ok(!fs.existsSync(runcState), 'runc state left');
  assert.equal(cgroupDirs().length, 0, 'cgroup left');
  assert.ok(!fs.existsSync(path.join(d.dataRoot, 'containers', id)), 'container dir left');
  assert.ok(!fs.existsSync(path.join(d.execRoot, 'containers', id)), 'bundle left');
});

test('SIGKILL of berthd: running containers survive, exits meanwhile are recorded', async () => {
  await ok(['run', '-d', '--name', 'survivor', 'busybox', 'sleep', '300']);
  await ok(['run', '-d', '--name', 'shortlived', 'busybox', 'sh', '-c', 'sleep 1; echo bye; exit 7']);
  await ok(['run', '-d', '--rm', '--name', 'autorm', 'busybox', 'sh', '-c', 'sleep 1']);
  const pid = Number((await ok(['inspect', '--format', '{{.State.Pid}}', 'survivor'])).trim());
  await d.kill();
  // What a crash in the middle of a create leaves: a directory without a record.
  const orphan = path.join(d.dataRoot, 'containers', 'f'.repeat(64));
  fs.mkdirSync(path.join(orphan, 'upper'), { recursive: true });
  await new Promise((r) => setTimeout(r, 2000));
  assert.ok(fs.existsSync(`/proc/${pid}`), 'container died with the daemon');
  await d.start();
  assert.ok(!fs.existsSync(orphan), 'orphan container dir kept');
  let info = JSON.parse(await ok(['inspect', 'survivor']))[0];
  assert.equal(info.State.Status, 'running');
  assert.equal(info.State.Pid, pid);
  const sl = JSON.parse(await ok(['inspect', 'shortlived']))[0];
  assert.equal(sl.State.Status, 'exited');
  assert.equal(sl.State.ExitCode, 7);
  assert.equal((await ok(['logs', 'shortlived'])).trim(), 'bye');
  await waitFor(async () => (await d.docker(['inspect', 'autorm'])).code !== 0);
  // Still controllable: wait and logs -f follow it, stop works and the exit is seen.
  const waiting = d.docker(['wait', 'survivor'], { timeout: 30_000 });
  const following = d.docker(['logs', '-f', 'survivor'], { timeout: 30_000 });
  await new Promise((r) => setTimeout(r, 500));
  await ok(['stop', '-t', '2', 'survivor']);
  assert.equal((await waiting).stdout.trim(), '137');
  assert.equal((await following).code, 0);
  info = JSON.parse(await ok(['inspect', 'survivor']))[0];
  assert.equal(info.State.Status, 'exited');
  assert.ok(!fs.existsSync(`/proc/${pid}`) || !fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sleep'));
  // SIGTERM leaves containers running too.
  await ok(['start', 'survivor']);
  const pid2 = Number((await ok(['inspect', '--format', '{{.State.Pid}}', 'survivor'])).trim());
  await d.terminate('SIGTERM');
  assert.ok(fs.existsSync(`/proc/${pid2}`));
  await d.start();
  assert.equal((await ok(['inspect', '--format', '{{.State.Status}}', 'survivor'])).trim(), 'running');
  await ok(['rm', '-f', 'survivor', 'shortlived']);
});

test('events carry Docker\'s actions and attributes', async () => {
  const since = String(Date.now() / 1000);
  assert.equal((await d.docker(['run', '--name', 'ev', '-l', 'team=blue', 'busybox', 'sh', '-c', 'exit 2'])).code, 2);
  await ok(['rename', 'ev', 'ev2']);
  await ok(['rm', 'ev2']);
  const until = String(Date.now() / 1000 + 0.5);
  const out = await ok(['events', '--since', since, '--until', until, '--filter', 'type=container', '--format', '{{json .}}']);
  const evs = out.trim().split('\n').map((l) => JSON.parse(l));
  const actions = evs.map((e) => e.Action);
  for (const a of ['create', 'attach', 'start', 'die', 'rename', 'destroy']) assert.ok(actions.includes(a), `no ${a} event in ${actions}`);
  assert.ok(actions.indexOf('create') < actions.indexOf('start') && actions.indexOf('start') < actions.indexOf('die'));
  const die = evs.find((e) => e.Action === 'die');
  assert.equal(die.Actor.Attributes.exitCode, '2');
  assert.equal(die.Actor.Attributes.name, 'ev');
  assert.equal(die.Actor.Attributes.image, 'busybox');
  assert.equal(die.Actor.Attributes.team, 'blue');
  const ren = evs.find((e) => e.Action === 'rename');
  assert.equal(ren.Actor.Attributes.oldName, '/ev');
  assert.equal(ren.Actor.Attributes.name, 'ev2');

  const since2 = String(Date.now() / 1000);
  await ok(['run', '-d', '--name', 'ev3', 'busybox', 'sleep', '300']);
  await ok(['stop', '-t', '1', 'ev3']);
  await ok(['rm', 'ev3']);
  const out2 = await ok(['events', '--since', since2, '--until', String(Date.now() / 1000 + 0.5), '--filter', 'container=ev3', '--format', '{{.Action}} {{.Actor.Attributes.signal}}']);
  const lines = out2.trim().split('\n');
  const stopIdx = lines.findIndex((l) => l.startsWith('stop'));
  assert.deepEqual(lines.filter((l) => l.startsWith('kill')), ['kill 15', 'kill 9']);
  assert.ok(stopIdx > lines.findIndex((l) => l.startsWith('die')));
});

test('restart; image in use cannot be removed; parallel runs', async () => {
  await ok(['run', '-d', '--name', 'rs', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; echo started; while true; do sleep 0.1; done']);
  const pid1 = (await ok(['inspect', '--format', '{{.State.Pid}}', 'rs'])).trim();
  await ok(['restart', '-t', '5', 'rs']);
  const info = JSON.parse(await ok(['inspect', 'rs']))[0];
  assert.equal(info.State.Status, 'running');
  assert.notEqual(String(info.State.Pid), pid1);
  let seen = '';
  await waitFor(async () => (seen = await ok(['logs', 'rs'])) === 'started\nstarted\n').catch(() => assert.fail(`logs after restart: ${JSON.stringify(seen)}`));
  const rmi = await d.docker(['rmi', 'busybox']);
  assert.notEqual(rmi.code, 0);
  assert.match(rmi.stderr, /conflict|being used|is using/i);
  await ok(['rm', '-f', 'rs']);

  const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => d.docker(['run', '--rm', 'busybox', 'sh', '-c', `echo par${i}; exit ${i}`], { timeout: 60_000 })));
  runs.forEach((r, i) => {
    assert.equal(r.code, i, r.stderr);
    assert.equal(r.stdout, `par${i}\n`);
  });
  await waitFor(async () => (await ok(['ps', '-aq'])).trim() === '');
});

test('the berth CLI drives the same containers', async () => {
  const r = await d.berth(['run', '--rm', 'busybox', '/bin/echo', 'Hello world']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Hello world\n');
  const e = await d.berth(['run', '--name', 'bexit', 'busybox', 'sh', '-c', 'echo o; echo e >&2; exit 9']);
  assert.equal(e.code, 9);
  assert.equal(e.stdout, 'o\n');
  assert.equal(e.stderr, 'e\n');
  const ps = await d.berth(['ps', '-a', '--filter', 'name=bexit', '--format', '{{.Names}} {{.Status}}']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout, /^bexit Exited \(9\) /);
  const logs = await d.berth(['logs', 'bexit']);
  assert.equal(logs.stdout, 'o\n');
  assert.equal(logs.stderr, 'e\n');
  const id = (await d.berth(['run', '-d', '--name', 'bsleep', 'busybox', 'sleep', '300'])).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ins = await d.berth(['inspect', '--format', '{{.State.Status}}', 'bsleep']);
  assert.equal(ins.stdout.trim(), 'running');
  const rm = await d.berth(['rm', 'bsleep']);
  assert.notEqual(rm.code, 0);
  assert.match(rm.stderr, /You cannot remove a running container/);
  assert.equal((await d.berth(['kill', 'bsleep'])).code, 0);
  assert.equal((await d.berth(['wait', 'bsleep'])).stdout.trim(), '137');
  assert.equal((await d.berth(['rm', 'bexit', 'bsleep'])).code, 0);
});
