// A non-TTY docker exec runs through berth-exec (no runc): the process must
// be in the container exactly as `runc exec` would put it there — same
// capabilities, no_new_privs, seccomp filter, cgroups and namespaces as the
// container's init — and behave the same for errors, exit codes, signals,
// users and stdin. A second daemon with BERTH_NATIVE_EXEC=0 (runc exec) is
// the reference the outputs are compared with.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startDaemon, waitFor, type TestDaemon } from './helpers/daemon';
import { buildProbe } from './helpers/syscall-probe';

let d: TestDaemon; // berth-exec
let r: TestDaemon; // runc exec (BERTH_NATIVE_EXEC=0)
let probeDir = '';

// A static program printing what a few syscalls return (errno names): the
// default profile denies keyctl and unshare/mount (no CAP_SYS_ADMIN), and a
// syscall number above the profile's last gets ENOSYS from runc's stub.
const PROBE_MAIN = `
  show("keyctl", syscall(SYS_keyctl, 0, -3, 0));
  show("unshare", unshare(CLONE_NEWUSER));
  show("mount", mount("none", "/mnt", "tmpfs", 0, 0));
  show("personality", syscall(SYS_personality, 0x0040000));
  show("nr1000", syscall(1000));
  show("getpid", syscall(SYS_getpid));
`;

before(async () => {
  probeDir = fs.mkdtempSync('/tmp/berth-probe-');
  await buildProbe(probeDir, PROBE_MAIN);
  [d, r] = await Promise.all([startDaemon(), startDaemon({ env: { BERTH_NATIVE_EXEC: '0' } })]);
  for (const x of [d, r]) {
    await x.loadBusybox();
    await x.ok(['run', '-d', '--name', 'n1', '-v', `${probeDir}:/t:ro`, '-e', 'FOO=bar', 'busybox', 'sleep', '600']);
    await x.ok(['run', '-d', '--name', 'nnp', '--security-opt', 'no-new-privileges', '--cap-drop', 'NET_RAW', '--cap-add', 'SYS_PTRACE', 'busybox', 'sleep', '600']);
  }
});

after(async () => {
  await Promise.all([d?.stop(), r?.stop()]);
  if (probeDir) fs.rmSync(probeDir, { recursive: true, force: true });
});

/** Host pid of the process whose command line is exactly `argv`. */
function findPid(argv: string[]): number {
  const want = `${argv.join('\0')}\0`;
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === want) return Number(p);
    } catch { /* gone */ }
  }
  return 0;
}

function ppidOf(pid: number): number {
  const m = /PPid:\s*(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** The exec program a long-running exec runs under (berth-exec or runc). */
async function execParent(x: TestDaemon, ctr: string, marker: string): Promise<string> {
  await x.ok(['exec', '-d', ctr, 'sleep', marker]);
  let pid = 0;
  await waitFor(async () => (pid = findPid(['sleep', marker])) > 0, 15_000, `exec of sleep ${marker} running`);
  const comm = fs.readFileSync(`/proc/${ppidOf(pid)}/comm`, 'utf8').trim();
  process.kill(pid, 'SIGKILL');
  return comm;
}

test('a non-TTY exec runs under berth-exec; with BERTH_NATIVE_EXEC=0 under runc', async () => {
  assert.equal(await execParent(d, 'n1', '4711'), 'berth-exec');
  assert.notEqual(await execParent(r, 'n1', '4712'), 'berth-exec');
  assert.match(r.logs(), /exec through runc.*BERTH_NATIVE_EXEC=0/);
});

const STATUS_KEYS = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp', 'Seccomp_filters'];

function statusOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.split(':');
    if (STATUS_KEYS.includes(k)) out[k] = (v ?? '').trim();
  }
  return out;
}

test('caps, no_new_privs and seccomp of an exec equal the init\'s', async () => {
  for (const ctr of ['n1', 'nnp']) {
    const self = statusOf(await d.ok(['exec', ctr, 'cat', '/proc/self/status']));
    const init = statusOf(await d.ok(['exec', ctr, 'cat', '/proc/1/status']));
    assert.deepEqual(self, init, ctr);
    assert.equal(self.Seccomp, '2');
    assert.equal(self.NoNewPrivs, ctr === 'nnp' ? '1' : '0');
    // And what runc exec gives in the same container on the other daemon.
    assert.deepEqual(self, statusOf(await r.ok(['exec', ctr, 'cat', '/proc/self/status'])), ctr);
  }
});

test('an exec is in the init\'s cgroups and namespaces', async () => {
  assert.equal(await d.ok(['exec', 'n1', 'cat', '/proc/self/cgroup']), await d.ok(['exec', 'n1', 'cat', '/proc/1/cgroup']));
  const ns = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts'];
  const self = await d.ok(['exec', 'n1', 'sh', '-c', ns.map((n) => `readlink /proc/self/ns/${n}`).join(';')]);
  const init = await d.ok(['exec', 'n1', 'sh', '-c', ns.map((n) => `readlink /proc/1/ns/${n}`).join(';')]);
  assert.equal(self, init);
  assert.equal(self.trim().split('\n').length, ns.length);
  // The exec sees the container's pid namespace: its init is pid 1 there.
  assert.equal((await d.ok(['exec', 'n1', 'cat', '/proc/1/cmdline'])).replace(/\0/g, ' ').trim(), 'sleep 600');
});

test('denied syscalls are denied in an exec exactly as in the container\'s init', async () => {
  const inInit = await d.ok(['run', '--rm', '-v', `${probeDir}:/t:ro`, 'busybox', '/t/probe']);
  const inExec = await d.ok(['exec', 'n1', '/t/probe']);
  const viaRunc = await r.ok(['exec', 'n1', '/t/probe']);
  assert.match(inInit, /keyctl=EPERM/);
  assert.match(inInit, /unshare=EPERM/);
  assert.match(inInit, /mount=EPERM/);
  assert.match(inInit, /getpid=ok/);
  assert.equal(inExec, inInit);
  assert.equal(viaRunc, inInit);
});

test('errors, exit codes, users, cwd and env are those of runc exec', async () => {
  const cases: string[][] = [
    ['n1', '/nonexistent'],
    ['n1', 'nope'],
    ['n1', '/etc'],
    ['n1', '/etc/passwd'],
    ['-w', '/nonexistent', 'n1', 'true'],
    ['-w', '/tmp', 'n1', 'pwd'],
    ['n1', 'sh', '-c', 'exit 3'],
    ['n1', 'sh', '-c', 'nope-either'],
    ['n1', 'sh', '-c', 'kill -TERM $$'],
    ['-u', '1000:1000', 'n1', 'id'],
    ['-u', 'nobody', 'n1', 'sh', '-c', 'id; echo $HOME'],
    ['-u', 'nobody', 'n1', 'sh', '-c', 'echo x > /proc/self/fd/1'],
    ['-e', 'X=1', 'n1', 'sh', '-c', 'echo $X $FOO $PATH $HOSTNAME'],
    ['--privileged', 'n1', 'sh', '-c', 'grep -E "^(Cap|Seccomp|NoNew)" /proc/self/status'],
    ['nnp', 'sh', '-c', 'ulimit -n; cat /proc/self/oom_score_adj'],
  ];
  for (const c of cases) {
    const [a, b] = await Promise.all([d.docker(['exec', ...c]), r.docker(['exec', ...c])]);
    const norm = (s: string) => s.replace(/HOSTNAME=\w+|\b[0-9a-f]{12}\b/g, 'HOST');
    assert.equal(a.code, b.code, `exit of exec ${c.join(' ')}: ${a.stdout}${a.stderr} vs ${b.stdout}${b.stderr}`);
    assert.equal(norm(a.stdout), norm(b.stdout), `stdout of exec ${c.join(' ')}`);
    assert.equal(norm(a.stderr), norm(b.stderr), `stderr of exec ${c.join(' ')}`);
  }
  const nf = await d.docker(['exec', 'n1', 'nope']);
  assert.equal(nf.code, 126);
  assert.match(nf.stdout + nf.stderr, /OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in \$PATH: unknown/);
  assert.equal((await d.docker(['exec', 'n1', 'sh', '-c', 'exit 42'])).code, 42);
  assert.equal((await d.docker(['exec', 'n1', 'sh', '-c', 'nope-either'])).code, 127);
  assert.equal((await d.docker(['exec', 'n1', 'sh', '-c', 'kill -KILL $$'])).code, 137);
});

test('stdin reaches EOF; a detached exec runs', async () => {
  const r1 = await d.docker(['exec', '-i', 'n1', 'sh', '-c', 'cat; echo done'], { input: 'hello\n' });
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r1.stdout, 'hello\ndone\n');
  await d.ok(['exec', '-d', 'n1', 'touch', '/tmp/detached']);
  await waitFor(async () => (await d.docker(['exec', 'n1', 'test', '-e', '/tmp/detached'])).code === 0, 10_000, 'detached exec ran');
});

test('signals to berth-exec reach the process', async () => {
  const marker = 'sig-4713';
  const p = d.docker(['exec', 'n1', 'sh', '-c', `trap "echo got-term; exit 7" TERM; echo ${marker}; while :; do sleep 0.1; done`], { timeout: 60_000 });
  let be = 0;
  await waitFor(async () => {
    for (const pid of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.startsWith('/') && cmd.includes('berth-exec\0') && cmd.includes(marker)) be = Number(pid);
      } catch { /* gone */ }
    }
    return be > 0;
  }, 15_000, 'berth-exec running');
  // Once the shell runs its loop (the trap is set), TERM to berth-exec is forwarded.
  await new Promise((res) => setTimeout(res, 500));
  process.kill(be, 'SIGTERM');
  const res = await p;
  assert.equal(res.code, 7, res.stderr);
  assert.match(res.stdout, /got-term/);
});
