// Service discovery and internal load balancing on overlays (issue 16, second
// part), on the multi-host harness: a manager and a worker, an attachable
// overlay, a 3-replica busybox httpd service answering its own hostname on
// it. From a container on the overlay: `web` resolves to the service's VIP
// and repeated requests to http://web reach several tasks (iptables
// statistic DNAT in the client's namespace), `tasks.web` lists every task,
// scaling adds the new tasks to the balancing set, `--endpoint-mode dnsrr`
// answers task addresses; `service rm`, `network rm` and `swarm leave
// --force` leave no VXLAN device, namespace or rule.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, until, type Cluster, type ClusterHost } from './helpers/cluster';

let cluster: Cluster;
let m1: ClusterHost, w1: ClusterHost;
const times: Record<string, number> = {};


/** The engine's VXLAN devices, in its namespace and its overlays' own. */
const vxlans = (h: ClusterHost): Promise<string[]> => h.vxlans();

/** Addresses busybox nslookup prints for `name` (the server's own lines left out). */
async function lookup(name: string): Promise<string[]> {
  const r = await m1.docker(['exec', 'client', 'nslookup', '-type=a', name], { timeout: 15_000 });
  const after = r.stdout.split(/\nName:/).slice(1).join('\n');
  return [...after.matchAll(/Address(?: \d+)?:\s*(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]).sort();
}

/** Hostnames answering `n` requests to http://web from the client. */
async function hits(n: number): Promise<Map<string, number>> {
  const r = await m1.docker(['exec', 'client', 'sh', '-c', `for i in $(seq ${n}); do timeout 5 wget -q -O - http://web/ || echo FAIL; done`], { timeout: 120_000 });
  const out = new Map<string, number>();
  for (const l of r.stdout.split('\n').filter(Boolean)) out.set(l, (out.get(l) ?? 0) + 1);
  return out;
}

async function replicas(name: string): Promise<string> {
  return (await m1.ok(['service', 'ls', '--filter', `name=${name}`, '--format', '{{.Replicas}}'], 20_000)).trim();
}

const HTTPD = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'];

before(async () => {
  const t0 = Date.now();
  cluster = await startCluster(2, { names: ['m1', 'w1'] });
  [m1, w1] = cluster.hosts;
  await m1.ok(['swarm', 'init', '--advertise-addr', m1.addr]);
  const token = (await m1.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
  await w1.ok(['swarm', 'join', '--token', token, '--advertise-addr', w1.addr, `${m1.addr}:2377`]);
  await Promise.all([m1.loadBusybox(), w1.loadBusybox()]);
  times['cluster up'] = Date.now() - t0;
});

after(async () => {
  process.stdout.write(`# vip timings (ms): ${JSON.stringify(times)}\n`);
  await cluster?.destroy();
  const left = await cluster?.leftovers();
  assert.deepEqual(left ?? [], []);
});

test('a 3-replica service on an overlay: VIP in inspect, DNS, requests spread over the tasks, scale', async () => {
  const netId = (await m1.ok(['network', 'create', '-d', 'overlay', '--attachable', 'ov'])).trim();
  await until('ov on the worker', async () => (await w1.docker(['network', 'inspect', 'ov'], { timeout: 15_000 })).code === 0);
  const t0 = Date.now();
  await m1.ok(['service', 'create', '-d', '--name', 'web', '--replicas', '3', '--network', 'ov', 'busybox', ...HTTPD]);
  await until('web 3/3', async () => (await replicas('web')) === '3/3', 90_000);
  times['web 3/3'] = Date.now() - t0;
  const svc = JSON.parse(await m1.ok(['service', 'inspect', 'web']))[0];
  assert.deepEqual(svc.Spec.TaskTemplate.Networks.map((n: any) => n.Target), [netId]);
  assert.equal(svc.Endpoint.Spec.Mode, 'vip');
  assert.equal(svc.Endpoint.VirtualIPs.length, 1);
  assert.equal(svc.Endpoint.VirtualIPs[0].NetworkID, netId);
  assert.match(svc.Endpoint.VirtualIPs[0].Addr, /^10\.0\.1\.\d+\/24$/);
  const vip = svc.Endpoint.VirtualIPs[0].Addr.split('/')[0];

  await m1.ok(['run', '-d', '--name', 'client', '--network', 'ov', 'busybox', 'sleep', '600'], 60_000);
  const tasks = await until('tasks.web lists 3', async () => { const a = await lookup('tasks.web'); return a.length === 3 ? a : undefined; });
  assert.ok(!tasks.includes(vip));
  assert.deepEqual(await lookup('web'), [vip]);
  const t1 = Date.now();
  await until('http://web answers', async () => !(await hits(1)).has('FAIL')).catch(async (e) => {
    const pid = (await m1.ok(['inspect', '-f', '{{.State.Pid}}', 'client'])).trim();
    const nat = await m1.exec('nsenter', ['-t', pid, '-n', 'iptables-save', '-t', 'nat'], { timeout: 15_000 });
    const direct = await m1.docker(['exec', 'client', 'sh', '-c', `for t in ${tasks.join(' ')}; do ping -c1 -W2 $t | grep -E 'received|PING'; done; timeout 5 wget -O - http://${tasks[0]}/ 2>&1; echo rc=$?; timeout 5 wget -O - http://web/ 2>&1; echo rc=$?`], { timeout: 30_000 });
    const ps = await m1.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}'], { timeout: 15_000 });
    const name = ps.stdout.split('\n').find((l) => l.startsWith('web.'))?.split(' ')[0] ?? '';
    const lg = await m1.docker(['logs', name], { timeout: 15_000 });
    const top = await m1.docker(['exec', name, 'sh', '-c', 'ps; cat /www/index.html; netstat -ltn; ip a'], { timeout: 15_000 });
    for (const h of [m1, w1]) {
      const fdb = await h.exec('sh', ['-c', 'bridge fdb show | grep -v permanent.*master; ip neigh show; ip -d link show type vxlan'], { timeout: 15_000 });
      process.stdout.write(`# ${h.name} fdb/neigh:\n${fdb.stdout}\n`);
    }
    process.stdout.write(`# ps: ${ps.stdout}\n# logs ${name}: ${lg.stdout}${lg.stderr}\n# inside: ${top.stdout}${top.stderr}\n`);
    process.stdout.write(`# client nat:\n${nat.stdout}${nat.stderr}\n# direct to ${tasks[0]}: ${direct.code} ${direct.stdout} ${direct.stderr}\n# m1 log: ${m1.logs().split('\n').filter((l) => /VIP|overlay|warn/i.test(l)).slice(-20).join('\n')}\n`);
    throw e;
  });
  times['first answer through the VIP'] = Date.now() - t1;
  const t2 = Date.now();
  const h = await hits(30);
  times['30 requests through the VIP'] = Date.now() - t2;
  process.stdout.write(`# hits over 3 tasks: ${JSON.stringify([...h])}\n`);
  assert.ok(!h.has('FAIL'), JSON.stringify([...h]));
  assert.ok(h.size >= 2, `requests reached ${h.size} task(s)`);

  // network inspect --verbose: the service's VIP and its tasks with their nodes
  const v = JSON.parse(await m1.ok(['network', 'inspect', '--verbose', 'ov']))[0];
  assert.equal(v.Services.web.VIP, vip);
  assert.deepEqual(v.Services.web.Tasks.map((t: { EndpointIP: string }) => t.EndpointIP).sort(), tasks);
  assert.ok(v.Services.web.Tasks.every((t: { Name: string }) => t.Name.startsWith('web.')));
  // scale to 5: the new tasks join the balancing set and tasks.web
  await m1.ok(['service', 'scale', '-d', 'web=5']);
  await until('web 5/5', async () => (await replicas('web')) === '5/5', 90_000);
  await until('tasks.web lists 5', async () => (await lookup('tasks.web')).length === 5);
  const h5 = await until('a new task answers', async () => { const x = await hits(30); return [...x.keys()].filter((k) => k !== 'FAIL').length > 3 ? x : undefined; });
  process.stdout.write(`# hits over 5 tasks: ${JSON.stringify([...h5])}\n`);
  // back to 2: the dropped tasks leave the set
  await m1.ok(['service', 'scale', '-d', 'web=2']);
  await until('tasks.web lists 2', async () => (await lookup('tasks.web')).length === 2, 60_000);
  const h2 = await until('only 2 tasks answer', async () => { const x = await hits(20); return x.size === 2 && !x.has('FAIL') ? x : undefined; });
  assert.equal(h2.size, 2);
});

test('--endpoint-mode dnsrr answers the task addresses, no VIP', async () => {
  await m1.ok(['service', 'create', '-d', '--name', 'rr', '--endpoint-mode', 'dnsrr', '--replicas', '2', '--network', 'ov', 'busybox', 'sleep', '600']);
  await until('rr 2/2', async () => (await replicas('rr')) === '2/2', 90_000);
  const svc = JSON.parse(await m1.ok(['service', 'inspect', 'rr']))[0];
  assert.equal(svc.Endpoint.Spec.Mode, 'dnsrr');
  assert.equal(svc.Endpoint.VirtualIPs, undefined);
  const rr = await until('rr lists 2 task addresses', async () => { const a = await lookup('rr'); return a.length === 2 ? a : undefined; });
  assert.deepEqual(rr, await lookup('tasks.rr'));
});

test('service rm, network rm and leave --force leave no devices, namespaces or rules', async () => {
  await m1.ok(['service', 'rm', 'web', 'rr']);
  await m1.ok(['rm', '-f', 'client']);
  for (const h of [m1, w1]) await until(`${h.name}: no vxlan`, async () => (await vxlans(h)).length === 0);
  await until('network rm ov', async () => (await m1.docker(['network', 'rm', 'ov'], { timeout: 15_000 })).code === 0);
  for (const h of [m1, w1]) {
    const rules = (await h.exec('iptables-save', [], { timeout: 15_000 })).stdout;
    assert.doesNotMatch(rules, /10\.0\.1\.|BERTH-VIP/, `${h.name} keeps rules`);
  }
  // a task still running on an overlay when its node leaves: its data plane goes too
  await m1.ok(['network', 'create', '-d', 'overlay', 'ov2']);
  await m1.ok(['service', 'create', '-d', '--name', 'lone', '--mode', 'global', '--network', 'ov2', 'busybox', 'sleep', '600']);
  await until('lone 2/2', async () => (await replicas('lone')) === '2/2', 90_000);
  assert.equal((await vxlans(w1)).length, 1);
  await w1.ok(['swarm', 'leave', '--force']);
  await until('w1 data plane removed after leave', async () => (await vxlans(w1)).length === 0);
  const rules = (await w1.exec('iptables-save', [], { timeout: 15_000 })).stdout;
  assert.doesNotMatch(rules, /10\.0\.\d+\.0\/24|BERTH-VIP/);
});
