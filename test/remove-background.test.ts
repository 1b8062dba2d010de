// A removal answers once the container is logically gone (record deleted,
// name free, `destroy` sent); its files go into <data-root>/trash and are
// deleted, with its runtime state, cgroups, mount and network, in the
// background. These tests check that this work always finishes: after
// `run --rm` and `rm -f` of many, across a SIGKILL of berthd in the middle
// of it, and that what it releases (a fixed address, a network) is usable
// at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon, waitFor, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
});

async function ok(args: string[], timeout = 120_000): Promise<string> {
  const r = await d.docker(args, { timeout });
  assert.equal(r.code, 0, `docker ${args.join(' ')} failed (${r.code}): ${r.stderr}\n${d.logs().slice(-3000)}`);
  return r.stdout;
}

const trash = () => path.join(d.dataRoot, 'trash');
const ls = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
const mounts = () => fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(d.root));
const links = () => fs.readdirSync('/sys/class/net').filter((l) => l.startsWith(`bt${d.id}`) && l !== d.bridge);
// a container's namespaces (the pool's spares, <tag>_p<hex>, are checked by netns-pool.test.ts)
const netns = () => ls('/run/netns').filter((n) => n.includes(d.id) && !/_p[0-9a-f]{8}$/.test(n));
const runcStates = () => ls(path.join(d.execRoot, 'runc'));
const cgroups = () => fs.readdirSync('/sys/fs/cgroup').flatMap((ctl) => {
  try {
    // this daemon's cgroup parent only (other daemons run beside it)
    const parent = path.join('/sys/fs/cgroup', ctl, `berth-${d.chainPrefix.toLowerCase()}`);
    return fs.readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory() && /^[0-9a-f]{64}$/.test(e.name)).map((e) => `${ctl}/${e.name.slice(0, 12)}`);
  } catch { return []; }
});

/** Everything a container leaves on the host while it exists, by kind. */
function leftovers(): Record<string, string[]> {
  return {
    trash: ls(trash()),
    containers: ls(path.join(d.dataRoot, 'containers')).filter((n) => /^[0-9a-f]{64}$/.test(n)),
    mounts: mounts(),
    links: links(),
    netns: netns(),
    runc: runcStates(),
    cgroups: cgroups(),
  };
}

async function nothingLeft(what: string): Promise<void> {
  const empty = () => Object.values(leftovers()).every((v) => v.length === 0);
  await waitFor(async () => empty(), 20_000, what, 100, () => `: ${JSON.stringify(leftovers())}`);
}

test('run --rm: output and exit code exact, then nothing of the container is left', async () => {
  await nothingLeft('a clean start');
  const cid = path.join(d.root, 'rm.cid');
  const r = await d.docker(['run', '--rm', '--cidfile', cid, '-p', '80', 'busybox', 'sh', '-c', 'seq 1 2000; echo to-stderr >&2; exit 3'], { timeout: 60_000 });
  assert.equal(r.code, 3, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2000);
  assert.equal(lines[1999], '2000');
  assert.match(r.stderr, /to-stderr/);
  const id = fs.readFileSync(cid, 'utf8').trim();
  // Logically gone at the answer.
  const inspect = await d.docker(['inspect', id]);
  assert.notEqual(inspect.code, 0);
  assert.ok(!fs.existsSync(path.join(d.dataRoot, 'containers', id)), 'container dir still under containers/');
  await nothingLeft('the background removal of a run --rm');
});

test('a fixed address and a network are free again right after run --rm', async () => {
  await ok(['network', 'create', '--subnet', '10.231.7.0/24', 'rmnet']);
  for (let i = 0; i < 3; i++) {
    const out = await ok(['run', '--rm', '--name', 'fixed', '--network', 'rmnet', '--ip', '10.231.7.9', 'busybox', 'sh', '-c', 'ip -4 addr show eth0 | grep -o 10.231.7.9']);
    assert.equal(out.trim(), '10.231.7.9');
  }
  await ok(['network', 'rm', 'rmnet']);
  await nothingLeft('after the network is removed');
});

test('rm -f of many, then SIGKILL of berthd: the next start finishes the removals', async () => {
  const names = Array.from({ length: 8 }, (_, i) => `many${i}`);
  for (const n of names) await ok(['run', '-d', '--name', n, '-p', '80', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=4 2>/dev/null; sleep 300']);
  const ids = (await ok(['inspect', '--format', '{{.Id}}', ...names])).trim().split('\n');
  const written = () => ids.map((id) => { try { return fs.statSync(path.join(d.dataRoot, 'containers', id, 'upper', 'big')).size; } catch { return 0; } });
  await waitFor(async () => written().every((s) => s === 4 << 20), 60_000, 'the containers wrote their files', 200, () => `: ${written()}`);
  await ok(['rm', '-f', ...names]);
  // Killed while (some of) the background removals may still run; whatever
  // they had not done is in the trash and done at the next start.
  await d.kill();
  // A removal interrupted at any point looks like this: a trash entry with a
  // mounted overlay and files in its writable layer.
  const fake = path.join(trash(), 'e'.repeat(64));
  for (const sub of ['upper', 'work', 'merged', 'init']) fs.mkdirSync(path.join(fake, sub), { recursive: true });
  fs.writeFileSync(path.join(fake, 'upper', 'file'), 'x'.repeat(1 << 20));
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(fake, 'merged')]);
  assert.ok(mounts().some((m) => m.startsWith(trash())), 'the fake entry is not mounted');
  await d.start();
  assert.deepEqual(ls(trash()), [], 'the start-up sweep left trash entries');
  await nothingLeft('after the restart');
  const ps = await ok(['ps', '-aq']);
  assert.equal(ps.trim(), '');
});
