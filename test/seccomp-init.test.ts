// A container whose seccomp filter is already compiled is created without
// runc compiling it: berth-seccomp-init, bind-mounted at /dev/.berth-init,
// loads the filter and sets the capabilities before the command runs. The
// command must end up exactly as runc alone would leave it: a second daemon
// with BERTH_SECCOMP_INIT=0 is the reference every result is compared with
// (capability sets, no_new_privs, seccomp, what denied syscalls return,
// file capabilities of a non-root user, errors and exit codes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, run, waitFor, type TestDaemon } from './helpers/daemon';
import { buildProbe } from './helpers/syscall-probe';

let d: TestDaemon; // the loader
let r: TestDaemon; // runc compiles (BERTH_SECCOMP_INIT=0)
let probeDir = '';
let fileCaps = false;

// What a few syscalls return (errno names), then the process's own status lines.
const PROBE_MAIN = `
  show("keyctl", syscall(SYS_keyctl, 0, -3, 0));
  show("unshare", unshare(CLONE_NEWUSER));
  show("mount", mount("none", "/mnt", "tmpfs", 0, 0));
  show("nr1000", syscall(1000));
  show("getpid", syscall(SYS_getpid));
  show("loader", access("/dev/.berth-init", F_OK));
  fflush(stdout);
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) || !strncmp(line, "Seccomp", 7)) fputs(line, stdout);
`;

const CASES: string[][] = [
  [],
  ['-u', '1000:1000'],
  ['-u', '1000', '--cap-add', 'NET_ADMIN'],
  ['--security-opt', 'no-new-privileges'],
  ['-u', '1000', '--security-opt', 'no-new-privileges'],
  ['--cap-drop', 'ALL', '--cap-add', 'CHOWN', '--cap-add', 'NET_RAW'],
];

before(async () => {
  probeDir = fs.mkdtempSync('/tmp/berth-siprobe-');
  fs.chmodSync(probeDir, 0o755);
  await buildProbe(probeDir, PROBE_MAIN);
  // The same program with a file capability: a non-root user gains it at execve through the bounding set.
  fs.copyFileSync(path.join(probeDir, 'probe'), path.join(probeDir, 'probe-cap'));
  fs.chmodSync(path.join(probeDir, 'probe-cap'), 0o755);
  fileCaps = (await run('setcap', ['cap_net_raw+ep', path.join(probeDir, 'probe-cap')])).code === 0;
  [d, r] = await Promise.all([startDaemon(), startDaemon({ env: { BERTH_SECCOMP_INIT: '0' } })]);
  await Promise.all([d.loadBusybox(), r.loadBusybox()]);
  // Each profile (capabilities gate some rules) is compiled on its first
  // container; the loader serves the ones after.
  for (const opts of CASES) {
    await waitFor(async () => (await d.docker(['run', '--rm', ...opts, 'busybox', 'test', '-e', '/dev/.berth-init'])).code === 0, 20_000, `the loader serves ${opts.join(' ') || 'the default'}`);
  }
});

after(async () => {
  await Promise.all([d?.stop(), r?.stop()]);
  if (probeDir) fs.rmSync(probeDir, { recursive: true, force: true });
});

test('without the loader nothing is mounted at /dev/.berth-init', async () => {
  assert.notEqual((await r.docker(['run', '--rm', 'busybox', 'test', '-e', '/dev/.berth-init'])).code, 0);
});

/** The probe's output without its loader line, after checking that line says `loader` (true: it is there). */
function probed(out: string, loader: boolean): string {
  assert.match(out, loader ? /^loader=ok$/m : /^loader=ENOENT$/m);
  return out.replace(/^loader=.*\n/m, '');
}

test('capabilities, no_new_privs, seccomp and denied syscalls are runc\'s', async () => {
  // The command is the image's sh (a command under a mount is left to runc), which execs the probe.
  const probe = (x: TestDaemon, args: string[], prog: string) => x.ok([...args, 'sh', '-c', `exec ${prog}`]);
  for (const opts of CASES) {
    const args = ['run', '--rm', '-v', `${probeDir}:/t:ro`, ...opts, 'busybox'];
    const [a0, b0] = await Promise.all([probe(d, args, '/t/probe'), probe(r, args, '/t/probe')]);
    const a = probed(a0, true);
    assert.equal(a, probed(b0, false), opts.join(' '));
    assert.match(a, /Seccomp:\s+2/);
    assert.match(a, /Seccomp_filters:\s+1/);
    assert.match(a, /keyctl=EPERM/);
    assert.match(a, /mount=EPERM/);
    assert.match(a, /nr1000=ENOSYS/);
    assert.match(a, /getpid=ok/);
    if (fileCaps) {
      const [fa, fb] = await Promise.all([probe(d, args, '/t/probe-cap'), probe(r, args, '/t/probe-cap')]);
      assert.equal(probed(fa, true), probed(fb, false), `file caps, ${opts.join(' ')}`);
    }
  }
  // A non-root user has no capabilities but what a file grants (NET_RAW is in the bounding set).
  const args = ['run', '--rm', '-v', `${probeDir}:/t:ro`, '-u', '1000', 'busybox'];
  assert.match(await probe(d, args, '/t/probe'), /CapEff:\s+0+\n/);
  if (fileCaps) assert.match(await probe(d, args, '/t/probe-cap'), /CapEff:\s+0+2000\n/);
});

test('the environment reaches the command untouched, the loader\'s own start reads none of it', async () => {
  const args = ['run', '--rm', '-e', 'GLIBC_TUNABLES=glibc.malloc.check=3:glibc.malloc.mmap_threshold=1', '-e', 'A=b c', '-e', 'PATH=/bin:/usr/bin', 'busybox', 'sh', '-c', 'env; test -e /dev/.berth-init && echo LOADER; true'];
  const [a, b] = await Promise.all([d.ok(args), r.ok(args)]);
  const norm = (s: string) => s.replace(/^HOSTNAME=.*$/m, 'HOSTNAME=').replace(/^PWD=.*\n|^SHLVL=.*\n/gm, '');
  assert.match(a, /^LOADER$/m);
  assert.equal(norm(a).replace(/^LOADER\n/m, ''), norm(b));
  assert.match(a, /^A=b c$/m);
  assert.match(a, /^GLIBC_TUNABLES=/m);
});

test('a command that is not there is still runc\'s create error (127, left Created)', async () => {
  const empty = fs.mkdtempSync('/tmp/berth-siempty-');
  try {
    for (const [name, args] of [['nf1', ['busybox', 'nope']], ['nf2', ['busybox', '/bin/nope']], ['nf3', ['-v', `${empty}:/bin:ro`, 'busybox', 'ls']]] as const) {
      const [a, b] = await Promise.all([d.docker(['run', '--name', name, ...args]), r.docker(['run', '--name', name, ...args])]);
      assert.equal(a.code, 127, a.stderr);
      assert.equal(b.code, 127, b.stderr);
      const norm = (s: string) => s.replace(/[0-9a-f]{64}/g, 'ID');
      assert.equal(norm(a.stderr), norm(b.stderr));
      assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', name])).trim(), 'created');
    }
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

test('execs into such a container get the filter: TTY, runc fallback and errors as runc exec', async () => {
  for (const x of [d, r]) await x.ok(['run', '-d', '--name', 'c1', '-v', `${probeDir}:/t:ro`, 'busybox', 'sleep', '600']);
  assert.equal((await d.docker(['exec', 'c1', 'test', '-e', '/dev/.berth-init'])).code, 0);
  for (const opts of [[], ['-t'], ['-u', '1000'], ['-t', '-u', '1000'], ['--privileged'], ['-t', '--privileged']]) {
    const [a0, b0] = await Promise.all([d.ok(['exec', ...opts, 'c1', '/t/probe']), r.ok(['exec', ...opts, 'c1', '/t/probe'])]);
    const a = probed(a0.replace(/\r\n/g, '\n'), true);
    assert.equal(a, probed(b0.replace(/\r\n/g, '\n'), false), `exec ${opts.join(' ')}`);
    assert.match(a, /Seccomp:\s+2/);
  }
  for (const cmd of ['nope', '/nonexistent', '/etc']) {
    for (const opts of [[], ['-t']]) {
      const [a, b] = await Promise.all([d.docker(['exec', ...opts, 'c1', cmd]), r.docker(['exec', ...opts, 'c1', cmd])]);
      assert.equal(a.code, 126, `${cmd} ${opts}: ${a.stdout}${a.stderr}`);
      assert.equal(a.code, b.code);
      assert.equal(a.stdout + a.stderr, b.stdout + b.stderr);
    }
  }
});

test('the loader cannot be changed from inside; a restart loads the filter again, its file made again if removed', async () => {
  const w = await d.docker(['exec', 'c1', 'sh', '-c', 'echo x > /dev/.berth-init']);
  assert.notEqual(w.code, 0);
  assert.match(w.stderr, /Read-only file system/);
  assert.notEqual((await d.docker(['exec', 'c1', 'rm', '-f', '/dev/.berth-init'])).code, 0);
  // Run by the container itself it cannot load a filter without CAP_SYS_ADMIN, and gains nothing.
  const self = await d.docker(['exec', 'c1', '/dev/.berth-init', '--caps', 'ffffffffff:ffffffffff:ffffffffff:0:0', '--', 'id']);
  assert.equal(self.code, 255, self.stdout + self.stderr);
  assert.match(self.stderr, /error loading seccomp filter into kernel: permission denied/);
  // A loader file removed from the exec root behind berthd is made again at the next create.
  const dir = path.join(d.execRoot, 'seccomp');
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.init'))) fs.rmSync(path.join(dir, f));
  await d.ok(['restart', '-t', '1', 'c1']);
  assert.equal((await d.docker(['exec', 'c1', 'test', '-e', '/dev/.berth-init'])).code, 0);
  assert.ok(fs.readdirSync(dir).some((f) => f.endsWith('.init')));
  // So is a compiled filter: the next exec goes through runc (behind the loader) while it compiles again.
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.bpf'))) fs.rmSync(path.join(dir, f));
  assert.match(await d.ok(['exec', 'c1', 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\s+2/);
  await waitFor(async () => fs.readdirSync(dir).some((f) => f.endsWith('.bpf')), 20_000, 'the filter compiled again');
  assert.match(await d.ok(['exec', 'c1', 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\s+2/);
  const after = await d.ok(['exec', 'c1', 'sh', '-c', 'grep -E "^(Seccomp|CapEff)" /proc/1/status']);
  assert.match(after, /Seccomp:\s+2/);
  assert.match(after, /CapEff:\s+00000000a80425fb/);
});
