// The multi-host harness itself: two berthd "hosts", each in its own network
// namespace and UTS namespace on a test bridge, run containers, reach each
// other's published ports, survive kill -9, and leave nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, netnsPids, type Cluster } from './helpers/cluster';
import { waitFor } from './helpers/daemon';

let cluster: Cluster;

before(async () => {
  cluster = await startCluster(2, { names: ['alpha', 'beta'] });
  for (const h of cluster.hosts) await h.loadBusybox();
});

after(async () => {
  await cluster?.destroy();
});

test('each host has its own name, address and no default route', async () => {
  for (const h of cluster.hosts) {
    const info = JSON.parse(await h.ok(['info', '--format', '{{json .}}'])) as { Name: string };
    assert.equal(info.Name, h.name, `/info Name on ${h.name}`);
    const routes = await h.exec('ip', ['-4', 'route', 'show']);
    assert.equal(routes.code, 0, routes.stderr);
    assert.ok(!/^default/m.test(routes.stdout), `no default route in ${h.ns}: ${routes.stdout}`);
    assert.match(routes.stdout, new RegExp(`${cluster.net.replace(/\./g, '\\.')}\\.0/24 dev eth0 .*src ${h.addr.replace(/\./g, '\\.')}`));
    // A container runs, with its own (container) hostname, as on any engine.
    const id = (await h.ok(['run', '-d', 'busybox', 'sh', '-c', 'hostname; sleep 30'])).trim();
    await waitFor(async () => (await h.docker(['logs', id])).stdout.trim() === id.slice(0, 12), 20_000, `container hostname on ${h.name}`);
    await h.ok(['rm', '-f', id]);
    // Its cgroups work although `ip netns exec` hid /sys/fs/cgroup from berthd.
    const limit = await h.ok(['run', '--rm', '--memory', '64m', 'busybox', 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes']);
    assert.equal(limit.trim(), String(64 * 1024 * 1024));
  }
});

test('a published port is reached from the other host', async () => {
  const [a, b] = cluster.hosts;
  await a.ok(['run', '-d', '--name', 'web', '-p', '8080:80', 'busybox', 'sh', '-c', 'mkdir -p /www && echo page-from-alpha > /www/index.html && exec httpd -f -p 80 -h /www']);
  let last = '';
  await waitFor(async () => {
    const r = await b.exec('curl', ['-sS', '--max-time', '3', `http://${a.addr}:8080/`], { timeout: 10_000 });
    last = r.stdout + r.stderr;
    return r.stdout.trim() === 'page-from-alpha';
  }, 30_000, 'curl from beta to alpha:8080', 500, () => `; last: ${last}`);
  // And the hosts are isolated from the root namespace's default route: beta reaches nothing but the bridge.
  const out = await b.exec('curl', ['-sS', '--max-time', '2', 'http://192.0.2.1/'], { timeout: 10_000 });
  assert.notEqual(out.code, 0);
  await a.ok(['rm', '-f', 'web']);
});

test('a berthd killed with SIGKILL restarts on the same data', async () => {
  const a = cluster.hosts[0];
  const id = (await a.ok(['run', '-d', '--name', 'keeper', 'busybox', 'sleep', '300'])).trim();
  const pid = a.pid;
  assert.ok(pid);
  await a.kill('SIGKILL');
  assert.equal(a.pid, undefined);
  assert.equal(await a.ping(), false);
  await a.start();
  assert.notEqual(a.pid, pid);
  const ps = await a.ok(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}']);
  assert.match(ps, new RegExp(`^${id} keeper$`, 'm'));
  assert.equal((await a.ok(['run', '--rm', 'busybox', 'echo', 'after-restart'])).trim(), 'after-restart');
  const info = JSON.parse(await a.ok(['info', '--format', '{{json .}}'])) as { Name: string };
  assert.equal(info.Name, 'alpha');
  await a.ok(['rm', '-f', 'keeper']);
});

test('destroy leaves no namespace, link, process, mount or directory', async () => {
  const nss = cluster.hosts.map((h) => h.ns);
  assert.ok((await netnsPids(nss[0])).length > 0, 'the host namespaces have processes before destroy');
  await cluster.destroy();
  assert.deepEqual(await cluster.leftovers(), []);
});
