// The addon's posix_spawn (src/host/native/spawn.ts), which starts conmon off
// the JS thread: the child's fds, environment, working directory, session
// and signals as child_process would give a detached child; no fd of ours
// leaks into it (nor its pipes into other children: `docker exec -i` needs
// its stdin to reach EOF); the direct child is reaped; bad input is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import type net from 'node:net';
import { detachedSpawner, type DetachedSpawner } from '../src/host/native/spawn';
import { fsrootNative } from '../src/host/native/addon';

function spawner(): DetachedSpawner {
  const s = detachedSpawner();
  assert.ok(s, 'native/fsroot lacks spawnDetached: rebuild it (npm run build:native)');
  return s;
}

function readAll(s: net.Socket | undefined): Promise<string> {
  assert.ok(s);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no EOF within 20 s; got ${JSON.stringify(out)}`)), 20_000);
    s.on('data', (b: Buffer) => { out += b.toString(); });
    s.on('end', () => { clearTimeout(timer); resolve(out); });
  });
}

/** This process's fds without O_CLOEXEC: what any child inherits. */
function inheritable(): number[] {
  return fs.readdirSync('/proc/self/fd').map(Number).filter((fd) => {
    try {
      const flags = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      return flags !== undefined && (parseInt(flags, 8) & 0o2000000) === 0;
    } catch {
      return false;
    }
  }).sort((a, b) => a - b);
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test('the child gets its pipes, /dev/null, env, cwd and a session of its own', async () => {
  const script = [
    'echo to-null',
    'echo err >&2',
    'echo "env=$FOO cwd=$(pwd)" >&3',
    'cat <&4 >&3',
    'echo "sid=$(cut -d" " -f6 /proc/self/stat) pid=$$" >&3',
    'exit 7',
  ].join('\n');
  const c = await spawner()('/bin/sh', ['-c', script], { env: { FOO: 'bar baz', PATH: '/usr/bin:/bin' }, cwd: '/tmp', stdio: ['null', 'null', 'read', 'read', 'write'] });
  assert.equal(c.stdio[0], undefined);
  assert.equal(c.stdio[1], undefined);
  const err = readAll(c.stdio[2]);
  const out = readAll(c.stdio[3]);
  c.stdio[4]!.end('from-parent\n');
  const text = await out;
  assert.equal(await err, 'err\n');
  assert.match(text, /^env=bar baz cwd=\/tmp$/m);
  assert.match(text, /^from-parent$/m);
  const m = /sid=(\d+) pid=(\d+)/.exec(text);
  assert.ok(m && m[1] === m[2], `not a session leader: ${text}`);
  assert.equal(m![2], String(c.pid));
  assert.equal(await within(c.exited, 20_000, 'reap'), 7);
  assert.equal(fs.existsSync(`/proc/${c.pid}`), false, 'the child is left a zombie');
});

test('the child holds its stdio, nothing of ours but what we hold without close-on-exec, and default signals', async () => {
  // Looked at from outside while the child sleeps: a shell listing its own
  // fds would see its pipeline's pipes and its saved redirections.
  const c = await spawner()('/usr/bin/sleep', ['30'], { env: {}, cwd: '/', stdio: ['null', 'null', 'read', 'read', 'write'] });
  try {
    const deadline = Date.now() + 10_000;
    // 230 = clock_nanosleep on x86_64, 101 on aarch64; 35 = nanosleep.
    const asleep = () => { try { return /^(230|101|35) /.test(fs.readFileSync(`/proc/${c.pid}/syscall`, 'utf8')); } catch { return false; } };
    while (!asleep()) {
      assert.ok(Date.now() < deadline, 'the child never went to sleep');
      await new Promise((r) => setTimeout(r, 10));
    }
    const fds = fs.readdirSync(`/proc/${c.pid}/fd`).map(Number).sort((a, b) => a - b);
    const ours = inheritable();
    assert.deepEqual(fds.slice(0, 5), [0, 1, 2, 3, 4]);
    assert.deepEqual(fds.slice(5), ours.filter((f) => f > 4), `fds leaked into the child: ${fds.join(' ')}; ours without close-on-exec: ${ours.join(' ')}`);
    assert.equal(fs.readlinkSync(`/proc/${c.pid}/fd/0`), '/dev/null');
    assert.equal(fs.readlinkSync(`/proc/${c.pid}/fd/1`), '/dev/null');
    // Node ignores SIGPIPE; the child must not inherit that, nor a blocked
    // mask. (Signals 32 and 33 are glibc's own.)
    const status = fs.readFileSync(`/proc/${c.pid}/status`, 'utf8');
    const ign = BigInt('0x' + (/SigIgn:\s*([0-9a-f]+)/.exec(status)?.[1] ?? 'ff'));
    assert.equal(ign & 0x7fffffffn, 0n, `signals ignored in the child: ${ign.toString(16)}`);
    assert.match(status, /SigBlk:\s*0+$/m);
  } finally {
    process.kill(c.pid, 'SIGKILL');
    for (const s of c.stdio) s?.destroy();
  }
  assert.equal(await within(c.exited, 20_000, 'reap'), 128 + 9);
});

test('a child that detaches (as conmon does) is reaped; its grandchild lives on', async () => {
  const c = await spawner()('/bin/sh', ['-c', 'sleep 30 >/dev/null 2>&1 </dev/null 3>&- & echo $! >&3'], { env: {}, cwd: '/', stdio: ['null', 'null', 'null', 'read'] });
  const grandchild = Number((await readAll(c.stdio[3])).trim());
  assert.equal(await within(c.exited, 20_000, 'reap'), 0);
  assert.equal(fs.existsSync(`/proc/${c.pid}`), false);
  assert.ok(fs.existsSync(`/proc/${grandchild}`));
  process.kill(grandchild, 'SIGKILL');
});

test('a program that cannot start is an error, and no fd is left behind', async () => {
  const before = fs.readdirSync('/proc/self/fd').length;
  await assert.rejects(spawner()('/nonexistent/conmon', [], { env: {}, cwd: '/', stdio: ['null', 'null', 'read', 'read'] }), /nonexistent\/conmon: No such file or directory/);
  await assert.rejects(spawner()('/bin/true', [], { env: {}, cwd: '/nonexistent-dir', stdio: ['null', 'null', 'read'] }), /No such file or directory/);
  await assert.rejects(spawner()('true', [], { env: {}, cwd: '/', stdio: [] }), /absolute path/);
  await assert.rejects(spawner()('/bin/true', ['a\0b'], { env: {}, cwd: '/', stdio: [] }), /bad argument list/);
  const n = fsrootNative() as unknown as { spawnDetached(...a: unknown[]): Promise<unknown>; reap(pid: number): number };
  assert.throws(() => n.spawnDetached('/bin/true', ['x'], [], '/', [3]), /bad stdio entry/);
  assert.throws(() => n.reap(-1), /bad pid/);
  assert.equal(fs.readdirSync('/proc/self/fd').length, before);
});

test('pipes made for native children never reach other children: stdin of a child_process child still ends', async () => {
  // Many native spawns on the pool while child_process spawns `cat` on the
  // JS thread: a leaked write end of cat's stdin would keep cat from EOF.
  const natives = Array.from({ length: 8 }, () => spawner()('/bin/sh', ['-c', 'sleep 0.3'], { env: {}, cwd: '/', stdio: ['null', 'null', 'read', 'read', 'write'] }));
  const cats = Array.from({ length: 8 }, () => {
    const cat = spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
    cat.stdin.end('x');
    return within(new Promise<number | null>((resolve) => cat.on('close', resolve)), 20_000, 'cat exit (stdin EOF)');
  });
  assert.deepEqual(await Promise.all(cats), Array(8).fill(0));
  for (const c of await Promise.all(natives)) {
    c.stdio[4]!.end();
    for (const s of c.stdio) s?.destroy();
    assert.equal(await within(c.exited, 20_000, 'reap'), 0);
  }
});
