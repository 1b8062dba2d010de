// What a default container's system calls return under the seccomp profile,
// seen from inside by a small static probe (built with the host's cc): calls
// the profile allows work, the ones it denies get EPERM, unknown ones ENOSYS,
// unshare follows CAP_SYS_ADMIN, and x32-ABI calls (bit 30 of the number) get
// an errno, never a SIGSYS kill. Any change to the profile's shape (rule
// merging, architectures) must keep these results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from './helpers/daemon';

// Each argument is a system call number (x32 with bit 30) and up to one
// argument; the probe forks per call so a SIGSYS kill is reported, not fatal.
const PROBE_C = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    char *end; long nr = strtol(argv[i], &end, 0); long a0 = *end == ':' ? strtol(end + 1, 0, 0) : 0;
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
      long r = syscall(nr, a0, 0, 0, 0, 0, 0);
      printf("%s %s\\n", argv[i], r < 0 ? (errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : "EOTHER") : "OK");
      fflush(stdout);
      _exit(0);
    }
    int st; waitpid(p, &st, 0);
    if (WIFSIGNALED(st)) printf("%s KILLED%d\\n", argv[i], WTERMSIG(st));
  }
  return 0;
}
`;

const cc = spawnSync('sh', ['-c', 'command -v cc'], { encoding: 'utf8' }).stdout.trim();
const x64 = process.arch === 'x64';
let d: TestDaemon;
let dir = '';

before(async () => {
  if (!cc || !x64) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-scprobe-'));
  fs.writeFileSync(path.join(dir, 'probe.c'), PROBE_C);
  const b = spawnSync(cc, ['-static', '-O2', '-o', path.join(dir, 'probe'), path.join(dir, 'probe.c')], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  d = await startDaemon();
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function probe(opts: string[], calls: string[]): Promise<Map<string, string>> {
  const out = await d.ok(['run', '--rm', '-v', `${dir}:/probe:ro`, ...opts, 'busybox', '/probe/probe', ...calls]);
  return new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

const X32 = 0x40000000;
// x86_64 numbers: getpid 39, getppid 110, keyctl 250, add_key 248, unshare 272 (flags 0: no new namespace).
const CALLS = ['39', '110', '250', '248', '272', '1000', `${X32 | 39}`, `${X32 | 250}`, `${X32 | 1000}`];

test('default profile: allowed calls work, denied get EPERM, unknown ENOSYS, x32 an errno', { skip: !cc || !x64 ? 'needs cc on x86_64' : false }, async () => {
  const r = await probe([], CALLS);
  assert.equal(r.get('39'), 'OK');
  assert.equal(r.get('110'), 'OK');
  assert.equal(r.get('250'), 'EPERM', 'keyctl');
  assert.equal(r.get('248'), 'EPERM', 'add_key');
  assert.equal(r.get('272'), 'EPERM', 'unshare without CAP_SYS_ADMIN');
  assert.equal(r.get('1000'), 'ENOSYS');
  // x32 calls are filtered as x32 (this kernel may not even run them): an errno, not a kill.
  assert.equal(r.get(String(X32 | 39)), 'ENOSYS');
  assert.equal(r.get(String(X32 | 250)), 'EPERM', 'x32 keyctl');
  assert.equal(r.get(String(X32 | 1000)), 'ENOSYS');
});

test('caps-gated rules follow the capabilities; unconfined has no filter', { skip: !cc || !x64 ? 'needs cc on x86_64' : false }, async () => {
  const admin = await probe(['--cap-add', 'SYS_ADMIN'], ['272', '250']);
  assert.equal(admin.get('272'), 'OK', 'unshare(0) with CAP_SYS_ADMIN');
  assert.equal(admin.get('250'), 'EPERM', 'keyctl stays denied');
  const unc = await probe(['--security-opt', 'seccomp=unconfined'], ['1000', `${X32 | 39}`]);
  assert.equal(unc.get('1000'), 'ENOSYS');
  assert.equal(unc.get(String(X32 | 39)), 'ENOSYS');
});
