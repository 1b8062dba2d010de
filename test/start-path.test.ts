// The fast start/stop path (bench/REPORT.md): runc start and runc delete done
// in-process, the namespace's inside configured while runc creates, the
// namespace set up while the rootfs mounts. Each shortcut must leave exactly
// what runc and the sequential path left: nothing behind, same errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
});

function api(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      { socketPath: d.socket, method, path: `/v1.43${p}`, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}, timeout: 60_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.end(data);
  });
}

/** Everything the host holds for one container: runc state, cgroups, netns, host veths, the rootfs mount. */
function leftovers(id: string): string[] {
  const found: string[] = [];
  if (fs.existsSync(path.join(d.execRoot, 'runc', id))) found.push('runc state');
  for (const ctrl of fs.readdirSync('/sys/fs/cgroup')) {
    try {
      for (const parent of fs.readdirSync(path.join('/sys/fs/cgroup', ctrl))) {
        if (parent.includes(d.id) && fs.existsSync(path.join('/sys/fs/cgroup', ctrl, parent, id))) found.push(`cgroup ${ctrl}`);
      }
    } catch { /* not a directory */ }
  }
  const ns = execFileSync('ip', ['netns', 'list']).toString();
  if (ns.includes(id.slice(0, 12))) found.push('netns');
  if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(id)) found.push('mount');
  return found;
}

function hostVeths(): string[] {
  return fs.readdirSync('/sys/class/net').filter((n) => n.startsWith(`${d.bridge}v`));
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('run --rm: exit code passes through and the host keeps nothing of the container', async () => {
  const veths = hostVeths().length;
  const r = await d.docker(['run', '--rm', '--name', 'quick', 'busybox', 'sh', '-c', 'echo out; exit 3']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'out\n');
  const ps = await d.docker(['ps', '-a', '-q', '--filter', 'name=quick']);
  assert.equal(ps.stdout.trim(), '');
  // The name is free again at once.
  const again = await d.docker(['run', '--rm', '--name', 'quick', 'busybox', 'true']);
  assert.equal(again.code, 0, again.stderr);
  // The veth goes in the background after the removal's answer (bounded).
  await waitFor('the veths and files of both runs to be gone', () => hostVeths().length === veths && fs.readdirSync(path.join(d.dataRoot, 'trash')).length === 0);
});

test('a container started again after exiting runs again (the exec fifo of each create is read)', async () => {
  const r = await d.docker(['run', '-d', 'busybox', 'sh', '-c', 'echo run >> /runs; wc -l < /runs']);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.equal((await d.docker(['wait', id])).stdout.trim(), '0');
  assert.deepEqual(leftovers(id).filter((x) => x !== 'mount'), []);
  for (const n of ['2', '3']) {
    const s = await d.docker(['start', '-a', id]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout.trim(), n);
  }
  assert.equal((await d.docker(['rm', id])).code, 0);
  assert.deepEqual(leftovers(id), []);
});

test('a failure inside the namespace (set up while runc creates) fails the start and leaves nothing', async () => {
  const veths = hostVeths().length;
  // A multicast MAC passes create but the kernel refuses it on the interface.
  const c = await api('POST', '/containers/create?name=badmac', { Image: 'busybox', Cmd: ['true'], MacAddress: '01:00:00:00:00:01' });
  assert.equal(c.status, 201, JSON.stringify(c.json));
  const s = await api('POST', `/containers/${c.json.Id}/start`);
  assert.equal(s.status, 500);
  assert.match(s.json.message, /failed to set up container networking/);
  const st = await d.docker(['inspect', '-f', '{{.State.Status}} {{.State.Running}}', c.json.Id]);
  assert.equal(st.stdout.trim(), 'created false');
  assert.deepEqual(leftovers(c.json.Id), []);
  assert.equal(hostVeths().length, veths);
  // The address it had is free, the network still works.
  const ok = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'ip -4 addr show eth0 | grep -q inet']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await d.docker(['rm', 'badmac'])).code, 0);
});

test('processes left in the cgroup after init exits (shared pid namespace) are killed at cleanup', async () => {
  const marker = `berth-left-${d.id}`;
  const r = await d.docker(['run', '-d', '--pid=host', 'busybox', 'sh', '-c', `(exec -a ${marker} sleep 300) & sleep 0.2`]);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.equal((await d.docker(['wait', id])).stdout.trim(), '0');
  const alive = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(marker); } catch { return false; }
  });
  await waitFor('the left-over process to be killed', () => !alive());
  assert.deepEqual(leftovers(id).filter((x) => x !== 'mount'), []);
  assert.equal((await d.docker(['rm', id])).code, 0);
  assert.deepEqual(leftovers(id), []);
});

test('20 concurrent run -d then rm -f: all run, all go, nothing left', async () => {
  const ids = await Promise.all(Array.from({ length: 20 }, async () => {
    const r = await d.docker(['run', '-d', 'busybox', 'sleep', '1000'], { timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  }));
  const running = await d.docker(['ps', '-q', '--no-trunc']);
  for (const id of ids) assert.ok(running.stdout.includes(id), `${id} running`);
  const rm = await d.docker(['rm', '-f', ...ids], { timeout: 120_000 });
  assert.equal(rm.code, 0, rm.stderr);
  for (const id of ids) assert.deepEqual(leftovers(id), [], id);
  assert.equal(hostVeths().length, 0);
});
