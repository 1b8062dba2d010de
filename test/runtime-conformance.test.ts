// Conformance of a ContainerRuntime (host/runtime/runtime.ts): the whole
// task life cycle against the real OCI runtime with a busybox bundle —
// create, start, state, exec (pipes and TTY), stats, pids, update, pause,
// resume, attach, kill, exit record, delete — and the cgroup path the
// runtime owns. A second implementation (crun, a faster exec path) is
// proven by calling runtimeConformance() with its own factory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { buildSpec } from '../src/host/runtime/spec';
import { ConmonRuntime } from '../src/host/runtime/conmon';
import type { ContainerRuntime, ExecProcess } from '../src/host/runtime/runtime';
import type { OciProcess, OciSpec } from '../src/host/runtime/spec-types';
import { cgroupDir } from '../src/host/cgroups/paths';

type Factory = (execRoot: string, cgroupParent: string) => ContainerRuntime;

const MB = 1024 * 1024;

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_r, rej) => { t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function collect(s: Readable | undefined): Promise<string> {
  if (!s) return Promise.resolve('');
  let out = '';
  s.on('data', (b: Buffer) => { out += b.toString(); });
  return new Promise((resolve) => { s.once('end', () => resolve(out)); s.once('close', () => resolve(out)); });
}

/** Runs the conformance suite for the runtime `factory` makes (one per test file run). */
export function runtimeConformance(name: string, factory: Factory): void {
  let tmp: string;
  let rootfs: string;
  let rt: ContainerRuntime;
  const parent = `berth-conf-${process.pid}`;
  const exits = new Set<string>();

  const specFor = (id: string, args: string[], o: { tty?: boolean; stdin?: boolean } = {}): OciSpec => buildSpec({
    id, rootfs, args, env: [], workingDir: '/', tty: !!o.tty, openStdin: !!o.stdin, hostname: 'conf', domainname: '',
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' }, etcFiles: {}, cgroupsPath: rt.cgroupPath(id), host: {},
  });

  /** A process.json in a fresh exec dir, as the exec service writes it. */
  const execDir = (execId: string, args: string[], tty = false): { dir: string; processPath: string } => {
    const dir = path.join(tmp, 'exec', execId);
    fs.mkdirSync(dir, { recursive: true });
    const proc: OciProcess = { terminal: tty, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin', ...(tty ? ['TERM=xterm'] : [])], cwd: '/' };
    const processPath = path.join(dir, 'process.json');
    fs.writeFileSync(processPath, JSON.stringify(proc));
    return { dir, processPath };
  };

  before(() => {
    tmp = fs.mkdtempSync('/tmp/berth-conf-');
    rootfs = path.join(tmp, 'rootfs');
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
    fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of ['sh', 'echo', 'sleep', 'cat', 'true']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
    fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    rt = factory(path.join(tmp, 'exec-root'), parent);
    rt.init();
    rt.watch((id) => exits.add(id), () => {}, 200);
  });

  after(() => {
    rt.stopWatching();
    rt.releaseCgroupParent();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test(`${name}: the cgroup path is the runtime's, one per container`, () => {
    const a = rt.cgroupPath('a'.repeat(64));
    assert.equal(a, `/${parent}/${'a'.repeat(64)}`);
    assert.notEqual(rt.cgroupPath('b'.repeat(64)), a);
  });

  test(`${name}: create, start, exec, stats, update, pause, resume, kill, delete`, async () => {
    const id = 'c'.repeat(63) + '1';
    const log = path.join(tmp, 'c1.log');
    const spec = specFor(id, ['sh', '-c', 'echo up; exec sleep 600']);
    try {
      const { pid, conmonPid } = await within(rt.create(id, spec, { name: 'c1', logPath: log, tty: false, stdin: false }), 60_000, 'create');
      assert.ok(pid > 0, `pid ${pid}`);
      assert.ok(rt.monitorAlive(conmonPid), 'the monitor runs');
      assert.ok(rt.exists(id));
      const st = await rt.state(id);
      assert.deepEqual({ status: st?.status, pid: st?.pid }, { status: 'created', pid });
      // the init's start time, when the runtime records one, is the kernel's (/proc/<pid>/stat field 22)
      if (st?.start !== undefined) assert.equal(st.start, Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[19]));
      assert.equal(rt.spec(id)?.linux.cgroupsPath, rt.cgroupPath(id));
      await within(rt.start(id), 30_000, 'start');
      assert.equal((await rt.state(id))?.status, 'running');
      await until(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('up'), 10_000, 'output in the log');

      // exec on pipes: stdout, stderr and the process's exit code.
      const x1 = execDir('x1', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
      const p1: ExecProcess = rt.exec(id, { execId: 'x1', ...x1, tty: false, stdin: false, startErrors: true });
      const [o1, e1, c1] = await within(Promise.all([collect(p1.stdout), collect(p1.stderr), p1.exited]), 30_000, 'exec');
      assert.equal(o1, 'out\n');
      assert.equal(e1, 'err\n');
      assert.equal(c1, 3);
      assert.ok(p1.started());
      assert.equal(p1.startError(), undefined);
      await p1.release();
      // stdin reaches the process.
      const x2 = execDir('x2', ['cat']);
      const p2 = rt.exec(id, { execId: 'x2', ...x2, tty: false, stdin: true });
      const o2 = collect(p2.stdout);
      p2.stdin!.end('piped\n');
      assert.equal(await within(o2, 30_000, 'exec stdin'), 'piped\n');
      assert.equal(await p2.exited, 0);
      // A command that cannot start: the runtime's error, apart from the output.
      const x3 = execDir('x3', ['/nonexistent']);
      const p3 = rt.exec(id, { execId: 'x3', ...x3, tty: false, stdin: false, startErrors: true });
      const c3 = await within(p3.exited, 30_000, 'failed exec');
      assert.notEqual(c3, 0);
      assert.ok(!p3.started());
      assert.match(p3.startError() ?? '', /no such file or directory|not found/);
      // A TTY exec: one stream.
      const x4 = execDir('x4', ['echo', 'on a tty'], true);
      const p4 = rt.exec(id, { execId: 'x4', ...x4, tty: true, stdin: false, startErrors: true });
      const [o4, c4] = await within(Promise.all([collect(p4.stdout), p4.exited]), 30_000, 'tty exec');
      assert.match(o4, /on a tty/);
      assert.equal(c4, 0);
      assert.equal(p4.stderr, undefined);
      await p4.release();
      // A process that never ends is killed.
      const x5 = execDir('x5', ['sleep', '600']);
      const p5 = rt.exec(id, { execId: 'x5', ...x5, tty: false, stdin: false });
      await until(() => p5.pid() > 0, 10_000, 'exec pid');
      p5.kill();
      await within(p5.exited, 10_000, 'killed exec');

      // stats and pids read the runtime's cgroup.
      const s = rt.stats(id, pid);
      assert.ok(s && s.memory.usage > 0, 'memory usage');
      assert.ok(s!.cpu.totalUsage > 0, 'cpu usage');
      assert.ok(rt.pids(id).includes(pid), `pids ${rt.pids(id)} include ${pid}`);
      // update: live resources.
      await rt.update(id, { memory: { limit: 64 * MB }, pids: { limit: 40 } });
      assert.equal(rt.stats(id, pid)!.memory.limit, 64 * MB);
      assert.equal(rt.stats(id, pid)!.pids.limit, 40);
      // pause and resume.
      await rt.pause(id);
      assert.equal((await rt.state(id))?.status, 'paused');
      const freezer = cgroupDir(rt.cgroupPath(id), 'freezer');
      if (freezer && fs.existsSync(path.join(freezer, 'freezer.state'))) assert.equal(fs.readFileSync(path.join(freezer, 'freezer.state'), 'utf8').trim(), 'FROZEN');
      await assert.rejects(rt.pause(id), /Cannot pause container/);
      await rt.resume(id);
      assert.equal((await rt.state(id))?.status, 'running');

      // kill: the exit is recorded and reported.
      await rt.kill(id, 9);
      await until(() => exits.has(id) || !!rt.readExit(id), 15_000, 'exit recorded');
      assert.equal(rt.readExit(id)!.code, 137);
      assert.equal(rt.oomKilled(id), false);
      await until(async () => (await rt.state(id))?.status === 'stopped', 10_000, 'stopped');
      // Killing a stopped container is no error.
      await rt.kill(id, 9);
    } finally {
      await rt.delete(id);
    }
    assert.equal(await rt.state(id), undefined);
    assert.ok(!rt.exists(id));
    assert.equal(rt.readExit(id), undefined);
    assert.equal(rt.spec(id), undefined);
    const mem = cgroupDir(rt.cgroupPath(id), 'memory');
    assert.ok(!mem || !fs.existsSync(mem), `cgroup ${mem} removed`);
    await rt.delete(id); // twice: no error
  });

  test(`${name}: attach reaches the container's stdin; resize a TTY`, async () => {
    const id = 'd'.repeat(63) + '2';
    const log = path.join(tmp, 'c2.log');
    try {
      await within(rt.create(id, specFor(id, ['sh', '-c', 'read l; echo got:$l'], { stdin: true }), { name: 'c2', logPath: log, tty: false, stdin: true }), 60_000, 'create');
      await within(rt.start(id), 30_000, 'start');
      const conn = await within(rt.attach(id), 10_000, 'attach');
      conn.write(Buffer.from('hello\n'));
      await until(() => !!rt.readExit(id), 15_000, 'exit after reading stdin');
      conn.destroy();
      assert.equal(rt.readExit(id)!.code, 0);
      assert.match(fs.readFileSync(log, 'utf8'), /stdout F got:hello/);
    } finally {
      await rt.delete(id);
    }
    const tid = 'e'.repeat(63) + '3';
    try {
      await within(rt.create(tid, specFor(tid, ['sh', '-c', 'sleep 1; stty size'], { tty: true }), { name: 'c3', logPath: path.join(tmp, 'c3.log'), tty: true, stdin: false }), 60_000, 'create tty');
      await within(rt.start(tid), 30_000, 'start tty');
      rt.resize(tid, 33, 120);
      await until(() => !!rt.readExit(tid), 15_000, 'tty exit');
      assert.match(fs.readFileSync(path.join(tmp, 'c3.log'), 'utf8'), /33 120/);
    } finally {
      await rt.delete(tid);
    }
  });
}

runtimeConformance('conmon+runc', (execRoot, cgroupParent) => new ConmonRuntime(execRoot, 'runc', { cgroupParent }));
