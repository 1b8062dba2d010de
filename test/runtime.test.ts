// The host runtime layer on its own: spec builder rules, --user resolution
// inside a rootfs (no escapes through symlinks), the seccomp profile, and
// conmon+runc driving a real container from a bundle (exit file, k8s log).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildSpec, effectiveCaps, DEFAULT_CAPS, hostHardLimits, containerEnv, type SpecInput } from '../src/host/runtime/spec';
import { resolveUser } from '../src/host/runtime/users';
import { resolveInRoot } from '../src/host/rootfs';
import { defaultSeccomp, haveDefaultProfile } from '../src/host/runtime/seccomp';
import { ConmonRuntime, runtimeRoot } from '../src/host/runtime/conmon';
import { stateFromFiles } from '../src/host/runtime/runc';
import { parseLine, frame, parseTimestamp } from '../src/container/logs';
import { parseSignal } from '../src/container/signals';

let tmp: string;
let rootfs: string;

before(() => {
  tmp = fs.mkdtempSync('/tmp/berth-rt-');
  rootfs = path.join(tmp, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'echo', 'sleep', 'cat', 'id']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
  fs.writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\nwheel:x:10:root,app\napp:x:1000:\nextra:x:2000:app\n');
});

after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function input(over: Partial<SpecInput> = {}): SpecInput {
  return {
    id: 'a'.repeat(64), rootfs, args: ['sh'], env: [], workingDir: '/', tty: false, openStdin: false,
    hostname: 'h', domainname: '', user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    etcFiles: {}, cgroupsPath: '/berth-test/x', host: {}, ...over,
  };
}

test('user resolution: names, numbers, groups, errors', () => {
  assert.deepEqual(resolveUser(rootfs, ''), { uid: 0, gid: 0, additionalGids: [10], home: '/root' });
  assert.deepEqual(resolveUser(rootfs, 'app'), { uid: 1000, gid: 1000, additionalGids: [10, 2000], home: '/home/app' });
  assert.deepEqual(resolveUser(rootfs, '1000:extra'), { uid: 1000, gid: 2000, additionalGids: [], home: '/home/app' });
  assert.deepEqual(resolveUser(rootfs, '4242:4343'), { uid: 4242, gid: 4343, additionalGids: [], home: '/' });
  assert.deepEqual(resolveUser(rootfs, 'app', ['wheel', '77']).additionalGids.sort(), [10, 2000, 77].sort());
  assert.throws(() => resolveUser(rootfs, 'nobody'), /unable to find user nobody: no matching entries in passwd file/);
  assert.throws(() => resolveUser(rootfs, 'app:nogroup'), /unable to find group nogroup/);
});

test('paths in the rootfs never resolve outside it', () => {
  const evil = fs.mkdtempSync(path.join(tmp, 'evil-'));
  const r2 = path.join(evil, 'root');
  fs.mkdirSync(path.join(r2, 'etc'), { recursive: true });
  fs.symlinkSync('/../../../../realpasswd', path.join(r2, 'etc', 'passwd'));
  fs.symlinkSync('../../../../../../etc', path.join(r2, 'up'));
  assert.equal(resolveInRoot(r2, '/etc/passwd'), path.join(r2, 'realpasswd'));
  assert.equal(resolveInRoot(r2, '/up/shadow'), path.join(r2, 'etc', 'shadow'));
  // The host's passwd has users the container's (missing) file does not.
  fs.symlinkSync('/etc/loop', path.join(r2, 'etc', 'loop'));
  assert.throws(() => resolveInRoot(r2, '/etc/loop'), /too many levels/);
  assert.throws(() => resolveUser(r2, 'daemon'), /unable to find user/);
});

test('capabilities: Docker default set, add/drop, ALL, bad names', () => {
  assert.deepEqual(effectiveCaps({}), DEFAULT_CAPS);
  const c = effectiveCaps({ CapAdd: ['net_admin', 'CAP_SYS_TIME'], CapDrop: ['MKNOD'] });
  assert.ok(c.includes('CAP_NET_ADMIN') && c.includes('CAP_SYS_TIME') && !c.includes('CAP_MKNOD'));
  assert.deepEqual(effectiveCaps({ CapDrop: ['ALL'], CapAdd: ['CHOWN'] }), ['CAP_CHOWN']);
  assert.ok(effectiveCaps({ CapAdd: ['ALL'] }).includes('CAP_SYS_ADMIN'));
  assert.throws(() => effectiveCaps({ CapAdd: ['BOGUS'] }), /invalid capability: BOGUS/);
});

test('spec: namespaces, mounts, masked paths, rlimits capped at the host hard limit, resources', () => {
  const s = buildSpec(input({
    etcFiles: { hostname: '/x/hostname', hosts: '/x/hosts', resolvConf: '/x/resolv.conf' },
    host: { Ulimits: [{ Name: 'nofile', Soft: 10, Hard: 10_000_000 }], Memory: 64 << 20, CpuShares: 512, PidsLimit: 50, OomScoreAdj: 100 },
  }));
  assert.deepEqual(s.linux.namespaces.map((n) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
  const dests = s.mounts.map((m) => m.destination);
  for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf']) assert.ok(dests.includes(d), d);
  assert.ok(s.mounts.find((m) => m.destination === '/sys')!.options!.includes('ro'));
  assert.ok(s.linux.maskedPaths!.includes('/proc/kcore'));
  assert.ok(s.linux.readonlyPaths!.includes('/proc/sys'));
  const hard = hostHardLimits().get('RLIMIT_NOFILE')!;
  const nofile = s.process.rlimits!.find((r) => r.type === 'RLIMIT_NOFILE')!;
  assert.equal(nofile.hard, Math.min(hard, 10_000_000));
  assert.equal(nofile.soft, 10);
  assert.equal(s.linux.resources!.memory!.limit, 64 << 20);
  assert.equal(s.linux.resources!.cpu!.shares, 512);
  assert.equal(s.linux.resources!.pids!.limit, 50);
  assert.equal(s.process.oomScoreAdj, 100);
  assert.equal(s.linux.cgroupsPath, '/berth-test/x');
  const hostNet = buildSpec(input({ host: { NetworkMode: 'host' } }));
  assert.ok(!hostNet.linux.namespaces.some((n) => n.type === 'network'));
  const priv = buildSpec(input({ host: { Privileged: true } }));
  assert.equal(priv.linux.seccomp, undefined);
  assert.equal(priv.linux.maskedPaths, undefined);
  const nnp = buildSpec(input({ host: { SecurityOpt: ['no-new-privileges'] } }));
  assert.equal(nnp.process.noNewPrivileges, true);
  assert.throws(() => buildSpec(input({ host: { SecurityOpt: ['bogus=1'] } })), /invalid --security-opt/);
  assert.throws(() => buildSpec(input({ host: { Ulimits: [{ Name: 'nofile', Soft: 20, Hard: 10 }] } })), /soft limit/);
});

test('environment: PATH default, HOSTNAME, HOME, TERM for a tty', () => {
  const e = containerEnv(['FOO=1'], 'h1', '/root', true);
  assert.ok(e.includes('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'));
  assert.ok(e.includes('HOSTNAME=h1') && e.includes('HOME=/root') && e.includes('TERM=xterm') && e.includes('FOO=1'));
  assert.ok(containerEnv(['PATH=/x'], 'h', '/', false).filter((x) => x.startsWith('PATH=')).length === 1);
});

test('seccomp: the default profile follows the container\'s capabilities', { skip: !haveDefaultProfile() }, () => {
  const base = defaultSeccomp(DEFAULT_CAPS)!;
  assert.equal(base.defaultAction, 'SCMP_ACT_ERRNO');
  const allowed = (p: typeof base) => new Set(p.syscalls!.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args?.length).flatMap((s) => s.names));
  assert.ok(allowed(base).has('read'));
  assert.ok(!allowed(base).has('mount'), 'mount allowed without CAP_SYS_ADMIN');
  assert.ok(allowed(defaultSeccomp([...DEFAULT_CAPS, 'CAP_SYS_ADMIN'])!).has('mount'));
  assert.ok(!allowed(base).has('unshare') && !allowed(base).has('keyctl') && !allowed(base).has('clone'));
  const clone = base.syscalls!.find((s) => s.names.includes('clone') && s.action === 'SCMP_ACT_ALLOW')!;
  assert.equal(clone.args![0].op, 'SCMP_CMP_MASKED_EQ');
  if (process.arch === 'x64') assert.ok(base.architectures!.includes('SCMP_ARCH_X86_64'));
});

test('k8s-file lines, frames, signals', () => {
  const e = parseLine(Buffer.from('2026-11-27T20:48:57.107635727+00:00 stderr P part'))!;
  assert.equal(e.stream, 'stderr');
  assert.equal(e.full, false);
  assert.equal(e.text.toString(), 'part');
  assert.equal(parseTimestamp('2026-11-27T21:48:57.5+01:00'), BigInt(Date.parse('2026-11-27T20:48:57Z')) * 1_000_000n + 500_000_000n);
  assert.deepEqual([...frame('stdout', Buffer.from('hi')).subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 2]);
  assert.equal(parseSignal('SIGKILL'), 9);
  assert.equal(parseSignal('term'), 15);
  assert.equal(parseSignal('10'), 10);
  assert.throws(() => parseSignal('NOPE'), /Invalid signal: NOPE/);
});

test('conmon + runc: create, start, exit code in the exit dir, log file, cleanup', async () => {
  const execRoot = path.join(tmp, 'exec');
  const rt = new ConmonRuntime(execRoot);
  rt.init();
  const id = 'b'.repeat(63) + '1';
  const log = path.join(tmp, 'ctr.log');
  const spec = buildSpec(input({ id, args: ['sh', '-c', 'echo out; echo err >&2; exit 42'], cgroupsPath: `/berth-rttest-${process.pid}/${id}` }));
  const exited = new Promise<void>((resolve) => rt.watch((x) => { if (x === id) resolve(); }, () => { if (rt.readExit(id)) resolve(); }, 200));
  try {
    const { pid, conmonPid } = await rt.create(id, spec, { name: 'rt', logPath: log, tty: false, stdin: false });
    assert.ok(pid > 0 && conmonPid > 0);
    assert.ok(rt.conmonAlive(conmonPid));
    assert.equal((await rt.state(id))!.status, 'created');
    await rt.start(id);
    await Promise.race([exited, new Promise((_r, rej) => setTimeout(() => rej(new Error('no exit within 10s')), 10_000))]);
    assert.equal(rt.readExit(id)!.code, 42);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => parseLine(Buffer.from(l))!);
    assert.deepEqual(lines.map((l) => `${l.stream}:${l.text}`).sort(), ['stderr:err', 'stdout:out']);
  } finally {
    rt.stopWatching();
    await rt.cleanup(id);
    rt.removeCgroupParent(`berth-rttest-${process.pid}`);
  }
  assert.equal(await rt.state(id), undefined);
  assert.ok(!fs.existsSync(rt.bundleDir(id)));
  // A bad command fails at create with the runtime's message, classified as Docker does (400).
  const bad = buildSpec(input({ id, args: ['/nonexistent'], cgroupsPath: `/berth-rttest-${process.pid}/${id}` }));
  await assert.rejects(rt.create(id, bad, { name: 'rt', logPath: log, tty: false, stdin: false }), (e: any) => e.status === 400 && /no such file or directory|not found/.test(e.message));
  await rt.cleanup(id);
  rt.removeCgroupParent(`berth-rttest-${process.pid}`);
  assert.equal(execFileSync('sh', ['-c', `ls /sys/fs/cgroup/*/ 2>/dev/null | grep -c berth-rttest-${process.pid} || true`]).toString().trim(), '0');
  void os;
});

test('state read from runc\'s files is what `runc state` says: created, running, paused, stopped', async () => {
  const execRoot = path.join(tmp, 'exec-state');
  const rt = new ConmonRuntime(execRoot);
  rt.init();
  const id = 'c'.repeat(63) + '2';
  const cg = `berth-rtstate-${process.pid}`;
  const spec = buildSpec(input({ id, args: ['sleep', '30'], cgroupsPath: `/${cg}/${id}` }));
  // runc's own answer, asked with the same --root
  const runcSays = (): { status: string; pid: number } | undefined => {
    try {
      const j = JSON.parse(execFileSync('runc', ['--root', runtimeRoot(execRoot), 'state', id], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
      return { status: j.status, pid: j.status === 'stopped' ? 0 : j.pid };
    } catch {
      return undefined;
    }
  };
  // read from the files alone (never 'unknown' here: that would ask runc), and what state() answers
  const ours = async () => {
    const f = stateFromFiles(runtimeRoot(execRoot), id);
    assert.notEqual(f, 'unknown', 'runc\'s files give the answer');
    const s = await rt.state(id);
    assert.deepEqual(s, f);
    return s && { status: s.status, pid: s.pid };
  };
  try {
    await rt.create(id, spec, { name: 'st', logPath: path.join(tmp, 'st.log'), tty: false, stdin: false });
    assert.equal((await ours())?.status, 'created');
    assert.deepEqual(await ours(), runcSays());
    await rt.start(id);
    assert.equal((await ours())?.status, 'running');
    assert.deepEqual(await ours(), runcSays());
    await rt.pause(id);
    assert.equal((await ours())?.status, 'paused');
    assert.deepEqual(await ours(), runcSays());
    await rt.resume(id);
    assert.deepEqual(await ours(), runcSays());
    await rt.kill(id, 9);
    const stopped = () => { const f = stateFromFiles(runtimeRoot(execRoot), id); return f !== 'unknown' && f?.status === 'stopped'; };
    for (const end = Date.now() + 10_000; Date.now() < end && !stopped();) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await ours())?.status, 'stopped');
    assert.deepEqual(await ours(), runcSays());
  } finally {
    await rt.cleanup(id);
    rt.removeCgroupParent(cg);
  }
  assert.equal(await rt.state(id), undefined, 'no state directory: no container');
  assert.equal(runcSays(), undefined);
});
