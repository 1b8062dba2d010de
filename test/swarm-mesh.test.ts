// Health-aware balancing and the routing mesh (issue 16, last part), on a
// 3-host namespace cluster (m1 manager, w1 and w2 workers).
// 1. A task whose healthcheck has not passed (starting) or fails (unhealthy)
//    is out of its service's VIP balancing set, `tasks.NAME` and dnsrr
//    answers, on every node, and back once healthy: the bound is the health
//    interval × retries for the status itself, then one overlay sync (the
//    task's node publishes at once, the others learn it within their next
//    1 s sync).
// 2. `-p 8080:80` (mode ingress) answers on every host's address — also on a
//    host with no task — balanced over every task cluster-wide; scaling and a
//    killed task change the set; `service rm` closes the port on every host
//    and leaves no rules, devices or namespaces.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startCluster, until, type Cluster, type ClusterHost } from './helpers/cluster';

let cluster: Cluster;
let m1: ClusterHost, w1: ClusterHost, w2: ClusterHost;
const times: Record<string, number> = {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** Addresses busybox nslookup prints for `name`, asked from container `client` on `h`. */
async function lookup(h: ClusterHost, name: string): Promise<string[]> {
  const r = await h.docker(['exec', 'client', 'nslookup', '-type=a', name], { timeout: 15_000 });
  const after = r.stdout.split(/\nName:/).slice(1).join('\n');
  return [...after.matchAll(/Address(?: \d+)?:\s*(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]).sort();
}

/** Hostnames answering `n` requests to `url` from container `client` on `h`. */
async function hits(h: ClusterHost, url: string, n: number): Promise<Map<string, number>> {
  const r = await h.docker(['exec', 'client', 'sh', '-c', `for i in $(seq ${n}); do timeout 5 wget -q -O - ${url} || echo FAIL; done`], { timeout: 120_000 });
  const out = new Map<string, number>();
  for (const l of r.stdout.split('\n').filter(Boolean)) out.set(l, (out.get(l) ?? 0) + 1);
  return out;
}

/** One GET from the test's own (root) namespace: the body, or FAIL. */
function get(url: string, ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: ms, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve(res.statusCode === 200 ? b.trim() : 'FAIL'));
      res.on('error', () => resolve('FAIL'));
    });
    req.on('timeout', () => { req.destroy(); resolve('FAIL'); });
    req.on('error', () => resolve('FAIL'));
  });
}

async function meshHits(h: ClusterHost, n: number, port = 8080): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const b = await get(`http://${h.addr}:${port}/`);
    out.set(b, (out.get(b) ?? 0) + 1);
  }
  return out;
}

async function replicas(name: string): Promise<string> {
  return (await m1.ok(['service', 'ls', '--filter', `name=${name}`, '--format', '{{.Replicas}}'], 20_000)).trim();
}

/** Names and addresses (on network `net`) of the running tasks of `svc` on host `h`. */
async function localTasks(h: ClusterHost, svc: string, net: string): Promise<Array<{ name: string; ip: string; host: string }>> {
  const ids = (await h.ok(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`], 20_000)).split('\n').filter(Boolean);
  if (!ids.length) return [];
  const out = await h.ok(['inspect', '-f', `{{.Name}} {{(index .NetworkSettings.Networks "${net}").IPAddress}}`, ...ids], 20_000);
  const list = out.split('\n').filter(Boolean).map((l) => { const [name, ip] = l.split(' '); return { name: name.replace(/^\//, ''), ip, host: '' }; });
  for (const t of list) t.host = (await h.ok(['exec', t.name, 'hostname'], 20_000)).trim();
  return list;
}

const HTTPD = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'];

before(async () => {
  const t0 = Date.now();
  cluster = await startCluster(3, { names: ['m1', 'w1', 'w2'] });
  [m1, w1, w2] = cluster.hosts;
  await m1.ok(['swarm', 'init', '--advertise-addr', m1.addr]);
  const token = (await m1.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
  for (const w of [w1, w2]) await w.ok(['swarm', 'join', '--token', token, '--advertise-addr', w.addr, `${m1.addr}:2377`]);
  await Promise.all([m1.loadBusybox(), w1.loadBusybox(), w2.loadBusybox()]);
  times['cluster up'] = Date.now() - t0;
});

after(async () => {
  process.stdout.write(`# mesh timings (ms): ${JSON.stringify(times)}\n`);
  await cluster?.destroy();
  const left = await cluster?.leftovers();
  assert.deepEqual(left ?? [], []);
});

test('tasks leave the balancing set and DNS while not healthy, and come back', async () => {
  await m1.ok(['network', 'create', '-d', 'overlay', '--attachable', 'ov']);
  // both tasks on m1 (so the test can flip their health with exec), the client on w1 (so the change crosses nodes)
  await m1.ok(['service', 'create', '-d', '--name', 'hc', '--replicas', '2', '--network', 'ov', '--constraint', 'node.role==manager',
    '--health-cmd', 'test -e /tmp/ok', '--health-interval', '1s', '--health-retries', '1', '--health-timeout', '2s', '--health-start-period', '120s',
    'busybox', ...HTTPD]);
  const tasks = await until('2 hc containers on m1', async () => { const t = await localTasks(m1, 'hc', 'ov'); return t.length === 2 && t.every((x) => x.ip) ? t : undefined; }, 90_000);
  await until('ov on w1', async () => (await w1.docker(['network', 'inspect', 'ov'], { timeout: 15_000 })).code === 0);
  await w1.ok(['run', '-d', '--name', 'client', '--network', 'ov', 'busybox', 'sleep', '600'], 60_000);
  const vip = JSON.parse(await m1.ok(['service', 'inspect', 'hc']))[0].Endpoint.VirtualIPs[0].Addr.split('/')[0];
  assert.deepEqual(await lookup(w1, 'hc'), [vip]);
  // starting: nothing to balance to, no task address
  await sleep(1500);
  assert.deepEqual(await lookup(w1, 'tasks.hc'), []);
  const [a, b] = tasks;
  // a becomes healthy: it alone is in the set
  let t0 = Date.now();
  await m1.ok(['exec', a.name, 'touch', '/tmp/ok']);
  await until('a healthy', async () => (await m1.ok(['inspect', '-f', '{{.State.Health.Status}}', a.name])).trim() === 'healthy', 30_000);
  times['touch -> a healthy'] = Date.now() - t0;
  await until('tasks.hc lists a', async () => { const l = await lookup(w1, 'tasks.hc'); return l.length === 1 && l[0] === a.ip; }, 30_000);
  times['healthy -> in tasks.hc on another node'] = Date.now() - t0;
  const h1 = await until('http://hc answers from a', async () => { const x = await hits(w1, 'http://hc/', 6); return x.size === 1 && x.has(a.host) ? x : undefined; }, 30_000);
  assert.deepEqual([...h1.keys()], [a.host]);
  // b too: both
  await m1.ok(['exec', b.name, 'touch', '/tmp/ok']);
  await until('tasks.hc lists both', async () => (await lookup(w1, 'tasks.hc')).length === 2, 30_000);
  await until('requests reach both', async () => { const x = await hits(w1, 'http://hc/', 20); return x.size === 2 && !x.has('FAIL'); }, 60_000);
  // a fails its check: it leaves within interval × retries + one sync (then, as Docker, its task fails and a
  // replacement starts, which stays out of the set while it is starting)
  t0 = Date.now();
  await m1.ok(['exec', a.name, 'rm', '/tmp/ok']);
  await until('tasks.hc lists only b', async () => { const l = await lookup(w1, 'tasks.hc'); return l.length === 1 && l[0] === b.ip; }, 30_000);
  times['unhealthy -> out of tasks.hc on another node'] = Date.now() - t0;
  const h2 = await until('only b answers', async () => { const x = await hits(w1, 'http://hc/', 10); return x.size === 1 && x.has(b.host) ? x : undefined; }, 30_000);
  assert.deepEqual([...h2.keys()], [b.host]);
  assert.ok(times['unhealthy -> out of tasks.hc on another node'] < 15_000, JSON.stringify(times));
  await m1.ok(['service', 'rm', 'hc']);
  await w1.ok(['rm', '-f', 'client']);
});

/** The engine's VXLAN devices, in its namespace and its overlays' own. */
const vxlans = (h: ClusterHost): Promise<string[]> => h.vxlans();

test('routing mesh: -p 8080:80 answers on every host over every task, follows scale and kills; rm closes it', async () => {
  // swarm init made the ingress network, as Docker's
  const ing = JSON.parse(await m1.ok(['network', 'inspect', 'ingress']))[0];
  assert.equal(ing.Ingress, true);
  assert.equal(ing.Driver, 'overlay');
  assert.equal(ing.Scope, 'swarm');
  assert.equal(ing.IPAM.Config[0].Subnet, '10.0.0.0/24');
  assert.equal(ing.IPAM.Config[0].Gateway, '10.0.0.1');
  assert.equal(ing.Options['com.docker.network.driver.overlay.vxlanid_list'], '4096');
  // 3 tasks, none on w2
  let t0 = Date.now();
  await m1.ok(['service', 'create', '-d', '--name', 'web', '--replicas', '3', '-p', '8080:80', '--constraint', 'node.hostname!=w2', 'busybox', ...HTTPD]);
  await until('web 3/3', async () => (await replicas('web')) === '3/3', 120_000);
  const svc = JSON.parse(await m1.ok(['service', 'inspect', 'web']))[0];
  assert.deepEqual(svc.Endpoint.Ports, [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }]);
  assert.equal(svc.Endpoint.VirtualIPs.length, 1);
  assert.equal(svc.Endpoint.VirtualIPs[0].NetworkID, ing.Id);
  assert.match(svc.Endpoint.VirtualIPs[0].Addr, /^10\.0\.0\.\d+\/24$/);
  assert.equal(svc.Spec.TaskTemplate.Networks, undefined);
  assert.equal((await m1.ok(['service', 'ls', '--filter', 'name=web', '--format', '{{.Ports}}'])).trim(), '*:8080->80/tcp');
  assert.equal((await localTasks(w2, 'web', 'ingress')).length, 0);
  for (const h of [m1, w1, w2]) {
    await until(`${h.name}:8080 answers`, async () => (await get(`http://${h.addr}:8080/`)) !== 'FAIL', 60_000);
    times[`create -> ${h.name}:8080 answers`] = Date.now() - t0;
  }
  // every task is in every node's balancing set within a bound (each node programs it from the store
  // as the tasks' addresses arrive: the first answer may come while a node knows one task only)
  for (const h of [m1, w1, w2]) {
    let x = new Map<string, number>();
    await until(`${h.name}: requests reach 2 or more tasks`, async () => { x = await meshHits(h, 15); return x.has('FAIL') || x.size >= 2; }, 30_000).catch(() => undefined);
    process.stdout.write(`# ${h.name}:8080 over 3 tasks: ${JSON.stringify([...x])}\n`);
    assert.ok(!x.has('FAIL'), JSON.stringify([...x]));
    assert.ok(x.size >= 2, `${h.name}: requests reached ${x.size} task(s)`);
  }
  // the host's own clients too (OUTPUT), loopback included
  const local = await w2.exec('sh', ['-c', 'for i in 1 2 3; do timeout 5 wget -q -O - http://127.0.0.1:8080/ || echo FAIL; done'], { timeout: 30_000 });
  assert.doesNotMatch(local.stdout, /FAIL/);
  // a published port is the swarm's: a second service asking for it is refused with swarmkit's text
  const clash = await m1.docker(['service', 'create', '--name', 'web2', '-p', '8080:81', 'busybox', 'sleep', '60'], { timeout: 30_000 });
  assert.notEqual(clash.code, 0);
  assert.match(clash.stderr, new RegExp(`port '8080' is already in use by service 'web' \\(${svc.ID}\\) as an ingress port`));
  // scale to 5: the new tasks answer (from the host with none)
  t0 = Date.now();
  await m1.ok(['service', 'scale', '-d', 'web=5']);
  await until('web 5/5', async () => (await replicas('web')) === '5/5', 120_000);
  const h5 = await until('more than 3 tasks answer on w2', async () => { const x = await meshHits(w2, 30); return !x.has('FAIL') && x.size > 3 ? x : undefined; }, 60_000);
  times['scale 5 -> new tasks answer on w2'] = Date.now() - t0;
  process.stdout.write(`# w2:8080 over 5 tasks: ${JSON.stringify([...h5])}\n`);
  // a killed task leaves the set
  const [victim] = await localTasks(w1, 'web', 'ingress');
  t0 = Date.now();
  await w1.ok(['kill', victim.name]);
  await until('the killed task no longer answers', async () => { const x = await meshHits(m1, 20); return !x.has('FAIL') && !x.has(victim.host) ? x : undefined; }, 60_000);
  times['kill -> out of the mesh'] = Date.now() - t0;
  // rm: the port closes everywhere, rules and devices go
  t0 = Date.now();
  await m1.ok(['service', 'rm', 'web']);
  for (const h of [m1, w1, w2]) await until(`${h.name}:8080 closed`, async () => (await get(`http://${h.addr}:8080/`, 2000)) === 'FAIL', 60_000);
  times['rm -> port closed everywhere'] = Date.now() - t0;
  for (const h of [m1, w1, w2]) {
    await until(`${h.name}: no vxlan`, async () => (await vxlans(h)).length === 0, 60_000);
    // the rules follow the devices' removal
    await until(`${h.name}: no mesh rules`, async () => !/--dport 8080|10\.0\.0\./.test((await h.exec('iptables-save', [], { timeout: 15_000 })).stdout), 30_000);
    assert.deepEqual((await h.exec('ip', ['-o', 'link', 'show', 'type', 'bridge'], { timeout: 15_000 })).stdout.split('\n').filter((l) => /^\d+: [a-z0-9]+-[a-z0-9]+[:@]/.test(l)), []);
  }
});

test('mode=host publishes on the task nodes only; a port left to the swarm; leave --force takes the mesh down', async () => {
  await m1.ok(['service', 'create', '-d', '--name', 'hp', '--publish', 'mode=host,published=8081,target=80', '--constraint', 'node.hostname==w1', 'busybox', ...HTTPD]);
  await m1.ok(['service', 'create', '-d', '--name', 'dyn', '-p', '80', '--network', 'ov', '--constraint', 'node.hostname==m1', 'busybox', ...HTTPD]);
  const explicit = await m1.docker(['service', 'create', '--name', 'nope', '--network', 'ingress', 'busybox', 'sleep', '60'], { timeout: 30_000 });
  assert.notEqual(explicit.code, 0);
  assert.match(explicit.stderr, /service cannot be explicitly attached to the ingress network "ingress"/);
  await until('hp and dyn 1/1', async () => (await replicas('hp')) === '1/1' && (await replicas('dyn')) === '1/1', 120_000);
  const hp = JSON.parse(await m1.ok(['service', 'inspect', 'hp']))[0];
  assert.deepEqual(hp.Endpoint.Ports, [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8081, PublishMode: 'host' }]);
  assert.equal(hp.Endpoint.VirtualIPs, undefined);
  await until('w1:8081 answers', async () => (await get(`http://${w1.addr}:8081/`)) !== 'FAIL', 60_000);
  for (const h of [m1, w2]) assert.equal(await get(`http://${h.addr}:8081/`, 2000), 'FAIL', `${h.name} has no hp task`);
  const dyn = JSON.parse(await m1.ok(['service', 'inspect', 'dyn']))[0];
  assert.deepEqual(dyn.Endpoint.Ports, [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 30000, PublishMode: 'ingress' }]);
  // a user overlay too: the ingress VIP first (as swarmkit), the spec shows only the user's network
  const [ingId, ovId] = [(await m1.ok(['network', 'inspect', '-f', '{{.Id}}', 'ingress'])).trim(), (await m1.ok(['network', 'inspect', '-f', '{{.Id}}', 'ov'])).trim()];
  assert.deepEqual(dyn.Endpoint.VirtualIPs.map((v: { NetworkID: string }) => v.NetworkID), [ingId, ovId]);
  assert.deepEqual(dyn.Spec.TaskTemplate.Networks.map((n: { Target: string }) => n.Target), [ovId]);
  for (const h of [m1, w1, w2]) await until(`${h.name}:30000 answers`, async () => (await get(`http://${h.addr}:30000/`)) !== 'FAIL', 60_000);
  // w2 leaves: its mesh goes (rules, address, devices); the others keep serving
  await w2.ok(['swarm', 'leave', '--force']);
  await until('w2: no vxlan', async () => (await vxlans(w2)).length === 0, 60_000);
  await until('w2: no mesh rules', async () => !/--dport 30000|10\.0\.0\./.test((await w2.exec('iptables-save', [], { timeout: 15_000 })).stdout), 30_000);
  assert.equal(await get(`http://${w2.addr}:30000/`, 2000), 'FAIL');
  assert.notEqual(await get(`http://${w1.addr}:30000/`), 'FAIL');
  const tag = w2.chainPrefix.toLowerCase().slice(0, 8);
  const ns = (await w2.exec('ip', ['netns', 'list'], { timeout: 15_000 })).stdout.split('\n').filter((l) => l.startsWith(`${tag}-`));
  assert.deepEqual(ns, [], `w2 keeps namespaces: ${ns.join(', ')}`);
  await m1.ok(['service', 'rm', 'hp', 'dyn']);
  for (const h of [m1, w1]) await until(`${h.name}: no mesh rules`, async () => !/--dport (8081|30000)|10\.0\.0\./.test((await h.exec('iptables-save', [], { timeout: 15_000 })).stdout), 60_000);
});
