// Security defaults and options through the docker CLI: a default container
// cannot mount, load modules, see host processes or write /proc/sys;
// --privileged can; capabilities, no-new-privileges, seccomp, read-only
// rootfs, tmpfs, devices, ulimits, users and groups, --init. The last test
// checks that nothing leaks after the daemon stops.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
let stopped = false;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});

after(async () => {
  if (!stopped) await d?.stop();
});

const ok = (args: string[], timeout?: number): Promise<string> => d.ok(args, timeout);

async function runIn(args: string[], script: string): Promise<{ code: number; out: string }> {
  const r = await d.docker(['run', '--rm', ...args, 'busybox', 'sh', '-c', script], { timeout: 60_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

test('a default container cannot mount, load modules, see host processes or write /proc/sys', async () => {
  const m = await runIn([], 'mkdir -p /mnt/x && mount -t tmpfs none /mnt/x');
  assert.notEqual(m.code, 0, m.out);
  const mod = await runIn([], 'insmod /nonexistent.ko 2>&1; echo rc=$?');
  assert.doesNotMatch(mod.out, /rc=0/);
  const ps = await runIn([], 'ps -o pid | wc -l');
  assert.ok(Number(ps.out.trim()) <= 4, `sees ${ps.out.trim()} processes`);
  const sys = await runIn([], 'echo 1 > /proc/sys/net/ipv4/ip_forward');
  assert.notEqual(sys.code, 0);
  const trig = await runIn([], 'echo h > /proc/sysrq-trigger');
  assert.notEqual(trig.code, 0);
  const caps = await runIn([], 'grep CapEff /proc/self/status');
  assert.match(caps.out, /CapEff:\s*00000000a80425fb/);
});

test('--privileged can mount and has all capabilities and devices', async () => {
  const m = await runIn(['--privileged'], 'mkdir -p /mnt/x && mount -t tmpfs none /mnt/x && echo mounted');
  assert.equal(m.code, 0, m.out);
  assert.match(m.out, /mounted/);
  const dev = await runIn(['--privileged'], 'ls /dev | wc -l');
  assert.ok(Number(dev.out.trim()) > 15, `devices: ${dev.out}`);
  const sys = await runIn(['--privileged'], 'cat /proc/sys/net/ipv4/ip_forward > /dev/null && echo 0 > /proc/sys/net/ipv4/conf/all/accept_local && echo wrote');
  assert.match(sys.out, /wrote/);
});

test('--cap-add/--cap-drop (ALL, with or without CAP_), unknown capability is refused', async () => {
  const add = await runIn(['--cap-add', 'SYS_ADMIN'], 'mkdir -p /mnt/x && mount -t tmpfs none /mnt/x && echo mounted');
  assert.match(add.out, /mounted/);
  const drop = await runIn(['--cap-drop', 'CAP_CHOWN'], 'touch /f && chown 1:1 /f');
  assert.notEqual(drop.code, 0);
  const all = await runIn(['--cap-drop', 'ALL'], 'grep CapEff /proc/self/status');
  assert.match(all.out, /CapEff:\s*0000000000000000/);
  const bad = await d.docker(['run', '--rm', '--cap-add', 'NOT_A_CAP', 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid capability|unknown capability/i);
});

test('no-new-privileges, seccomp=unconfined and a seccomp profile file', async () => {
  const nnp = await runIn(['--security-opt', 'no-new-privileges'], 'grep NoNewPrivs /proc/self/status');
  assert.match(nnp.out, /NoNewPrivs:\s*1/);
  const def = await runIn([], 'grep Seccomp: /proc/self/status');
  assert.match(def.out, /Seccomp:\s*2/);
  const unc = await runIn(['--security-opt', 'seccomp=unconfined'], 'grep Seccomp: /proc/self/status');
  assert.match(unc.out, /Seccomp:\s*0/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sec-'));
  try {
    // Everything allowed except mkdir (EPERM).
    fs.writeFileSync(path.join(dir, 'p.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
    const prof = await runIn(['--security-opt', `seccomp=${path.join(dir, 'p.json')}`], 'mkdir /tmp/x && echo made; echo end');
    assert.doesNotMatch(prof.out, /made/);
    assert.match(prof.out, /end/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--read-only and --tmpfs', async () => {
  const ro = await runIn(['--read-only'], 'touch /x');
  assert.notEqual(ro.code, 0);
  const tmp = await runIn(['--read-only', '--tmpfs', '/scratch:rw,size=1m'], 'touch /scratch/x && grep " /scratch " /proc/mounts');
  assert.equal(tmp.code, 0, tmp.out);
  assert.match(tmp.out, /tmpfs \/scratch tmpfs/);
});

test('--device adds a host device; --ulimit within the host hard limits, above is refused', async () => {
  const dev = await runIn(['--device', '/dev/null:/dev/mynull'], 'ls -l /dev/mynull && echo x > /dev/mynull && echo ok');
  assert.equal(dev.code, 0, dev.out);
  assert.match(dev.out, /^c/m);
  const ul = await runIn(['--ulimit', 'nofile=1024:2048'], 'ulimit -n; ulimit -Hn');
  assert.equal(ul.out.trim(), '1024\n2048');
  const high = await d.docker(['run', '--rm', '--ulimit', 'nofile=50000:50000', 'busybox', 'sh', '-c', 'ulimit -n']);
  if (high.code === 0) assert.ok(Number(high.stdout.trim()) <= 20000, `nofile ${high.stdout}`);
  else assert.match(high.stderr, /ulimit|hard limit|nofile/i);
});

test('-u name and uid:gid resolved through the image, --group-add, --init', async () => {
  const u = await runIn(['-u', 'nobody'], 'id');
  assert.match(u.out, /uid=65534\(nobody\)/);
  const g = await runIn(['-u', '1000:1000', '--group-add', '27', '--group-add', 'daemon'], 'id -G');
  const groups = g.out.trim().split(/\s+/);
  assert.ok(groups.includes('27') && groups.includes('1'), g.out);
  const bad = await d.docker(['run', '--rm', '-u', 'nosuchuser', 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /no matching entries in passwd file|unable to find user nosuchuser/);
  const init = await runIn(['--init'], 'cat /proc/1/cmdline | tr "\\0" " "');
  assert.match(init.out, /init/);
  assert.doesNotMatch(init.out, /^sh /);
});

test('as Docker 20.10: any user binds ports below 1024 and pings; --sysctl overrides; host network untouched', async () => {
  const own = await runIn(['--user', '1000'], 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; timeout 1 nc -l -p 80 2>&1; echo rc=$?');
  assert.match(own.out, /^0\n0\s+2147483647\n/, own.out);
  assert.doesNotMatch(own.out, /denied/i, own.out);
  const set = await runIn(['--sysctl', 'net.ipv4.ip_unprivileged_port_start=1024'], 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start');
  assert.equal(set.out.trim(), '1024');
  const hostValue = fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim();
  const host = await runIn(['--network', 'host'], 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start');
  assert.equal(host.out.trim(), hostValue);
  assert.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim(), hostValue);
});

test('nothing leaks after the daemon stops: no conmon, runc state, mounts or cgroups', async () => {
  await ok(['run', '-d', '--name', 'leak1', 'busybox', 'sleep', '600']);
  await ok(['run', '-d', '--name', 'leak2', '-it', 'busybox', 'sh']);
  await ok(['exec', 'leak1', 'true']);
  await ok(['create', '--name', 'leak3', 'busybox', 'true']);
  const root = d.root;
  // The daemon's cgroup parent, from a container's memory cgroup (/<parent>/<id>).
  const pid = (await ok(['inspect', '-f', '{{.State.Pid}}', 'leak1'])).trim();
  const memLine = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1] === 'memory')!;
  const parent = path.posix.dirname(memLine.split(':')[2]);
  assert.ok(parent.length > 1, `cgroup parent of ${memLine}`);
  await d.stop();
  for (const ctrl of ['memory', 'pids', 'cpu', 'cpuacct', 'freezer', 'cpuset', 'blkio', 'devices']) {
    const dir = path.join('/sys/fs/cgroup', ctrl, parent);
    const kids = fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
    assert.deepEqual(kids, [], `container cgroups left under ${dir}`);
  }
  stopped = true;
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  assert.ok(!mounts.includes(root), 'a mount under the test root is left');
  const procs = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  });
  assert.ok(!procs.some((c) => c.includes(root) && /conmon|runc/.test(c)), 'a conmon/runc of the test daemon is left');
  assert.ok(!fs.existsSync(root) || !fs.readdirSync(root).length, 'test dirs left');
});
