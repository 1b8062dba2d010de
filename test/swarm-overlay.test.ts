// Swarm overlay networks (issue 16, first part) on the multi-host harness:
// a manager and a worker (each a network namespace with its own berthd), an
// attachable overlay made on the manager, one container on each host, ping
// across the VXLAN by address and by name (embedded DNS from the peer table),
// Docker's inspect shapes, refusals, and `network rm` / `swarm leave --force`
// leaving no VXLAN device, bridge, namespace or rule behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, type Cluster, type ClusterHost } from './helpers/cluster';
import type { RunResult } from './helpers/daemon';

let cluster: Cluster;
let m1: ClusterHost, w1: ClusterHost;
const times: Record<string, number> = {};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The host's links (in its namespace) named by its engine's tag. */
async function engineLinks(h: ClusterHost, kind: string): Promise<string[]> {
  const r = await h.exec('ip', ['-o', '-d', 'link', 'show'], { timeout: 15_000 });
  return r.stdout.split('\n').filter((l) => l.includes(` ${kind} `) || (kind === 'vxlan' && /vxlan id/.test(l))).map((l) => l.split(':')[1]?.trim() ?? l);
}

/** A program in the engine's own namespaces (mount included: the overlays' namespace files are mounted there). */
const inEngine = (h: ClusterHost, cmd: string, args: string[]): Promise<RunResult> => h.inEngine(cmd, args);
const overlayNetns = (h: ClusterHost): Promise<string[]> => h.overlayNetns();
const vxlans = (h: ClusterHost): Promise<string[]> => h.vxlans();
/** The holder process of an overlay namespace (pid and start time), as berthd recorded it. */
const holderOf = (h: ClusterHost, ns: string): { pid: number; start: number } | undefined => {
  try { return JSON.parse(fs.readFileSync(path.join(h.execRoot, 'netns-holders', `${ns}.json`), 'utf8')); } catch { return undefined; }
};
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };
let held: { ns: string; pid: number } | undefined;

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < ms) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await sleep(300);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

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
  process.stdout.write(`# overlay timings (ms): ${JSON.stringify(times)}\n`);
  await cluster?.destroy();
  const left = await cluster?.leftovers();
  assert.deepEqual(left ?? [], []);
});

test('overlay create: swarm scope, subnet from the default pool, VNI; seen by the worker; refused there', async () => {
  const id = (await m1.ok(['network', 'create', '-d', 'overlay', '--attachable', 'ov1'])).trim();
  assert.match(id, /^[0-9a-z]{25}$/);
  const n = JSON.parse(await m1.ok(['network', 'inspect', 'ov1']))[0];
  assert.equal(n.Scope, 'swarm');
  assert.equal(n.Driver, 'overlay');
  assert.equal(n.Attachable, true);
  assert.equal(n.IPAM.Config[0].Subnet, '10.0.1.0/24');
  assert.equal(n.IPAM.Config[0].Gateway, '10.0.1.1');
  assert.equal(n.Options['com.docker.network.driver.overlay.vxlanid_list'], '4097');
  const ls = await m1.ok(['network', 'ls', '--filter', 'scope=swarm', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']);
  assert.match(ls, /^ov1 overlay swarm$/m);
  // the worker learns it from the managers within a few syncs
  const wn = await until('the worker to see ov1', async () => {
    const r = await w1.docker(['network', 'inspect', 'ov1'], { timeout: 15_000 });
    return r.code === 0 ? JSON.parse(r.stdout)[0] : undefined;
  });
  assert.equal(wn.Id, id);
  assert.equal(wn.Scope, 'swarm');
  const r = await w1.docker(['network', 'create', '-d', 'overlay', 'nope'], { timeout: 15_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Cannot create a multi-host network from a worker node/);
  const dup = await m1.docker(['network', 'create', '-d', 'overlay', 'ov1'], { timeout: 15_000 });
  assert.notEqual(dup.code, 0);
  // a second overlay gets the next subnet and VNI; a non-attachable one refuses docker run
  await m1.ok(['network', 'create', '-d', 'overlay', 'ov2']);
  const n2 = JSON.parse(await m1.ok(['network', 'inspect', 'ov2']))[0];
  assert.equal(n2.IPAM.Config[0].Subnet, '10.0.2.0/24');
  assert.equal(n2.Options['com.docker.network.driver.overlay.vxlanid_list'], '4098');
  const run = await m1.docker(['run', '--rm', '--network', 'ov2', 'busybox', 'true'], { timeout: 30_000 });
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /not manually attachable/);
  await m1.ok(['network', 'rm', 'ov2']);
  // nothing on the hosts until a container uses it
  assert.deepEqual(await vxlans(m1), []);
});

test('two containers on two hosts ping each other by address and by name', async () => {
  const t0 = Date.now();
  await m1.ok(['run', '-d', '--name', 'a1', '--network', 'ov1', 'busybox', 'sleep', '600'], 60_000);
  await w1.ok(['run', '-d', '--name', 'b1', '--network', 'ov1', 'busybox', 'sleep', '600'], 60_000);
  times['two containers up'] = Date.now() - t0;
  const ipA = (await m1.ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "ov1").IPAddress}}', 'a1'])).trim();
  const ipB = (await w1.ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "ov1").IPAddress}}', 'b1'])).trim();
  assert.match(ipA, /^10\.0\.1\.\d+$/);
  assert.match(ipB, /^10\.0\.1\.\d+$/);
  assert.notEqual(ipA, ipB, 'addresses are allocated cluster-wide');
  // the data plane: one vxlan device (VNI 4097, UDP 4789, local = host address, no learning)
  const vx = await vxlans(m1);
  assert.equal(vx.length, 1, vx.join('\n'));
  // (its underlay device is named from the overlay namespace, where that index is another link)
  assert.match(vx[0], /vxlan id 4097 local 172\.30\.\d+\.\d+ .*dstport 4789 .*nolearning/);
  assert.match(vx[0], /mtu 1450/);
  const mtu = (await m1.ok(['exec', 'a1', 'cat', '/sys/class/net/eth0/mtu'])).trim();
  assert.equal(mtu, '1450');
  const t1 = Date.now();
  await until('a1 to ping b1 by address', async () => (await m1.docker(['exec', 'a1', 'ping', '-c', '1', '-W', '1', ipB], { timeout: 10_000 })).code === 0 || undefined);
  times['first cross-host ping'] = Date.now() - t1;
  const byIp = await w1.ok(['exec', 'b1', 'ping', '-c', '2', '-W', '2', ipA]);
  assert.match(byIp, /2 packets received/);
  await until('b1 to resolve a1', async () => (await w1.docker(['exec', 'b1', 'ping', '-c', '1', '-W', '2', 'a1'], { timeout: 10_000 })).code === 0 || undefined);
  const byName = await m1.ok(['exec', 'a1', 'ping', '-c', '2', '-W', '2', 'b1']);
  assert.match(byName, new RegExp(`PING b1 \\(${ipB.replace(/\./g, '\\.')}\\)`));
  assert.match(byName, /2 packets received/);
  const ns = await m1.ok(['exec', 'a1', 'nslookup', 'b1']);
  assert.match(ns, new RegExp(ipB.replace(/\./g, '\\.')));
  // the overlay's data plane is in a namespace of its own (Docker's 1-<id>): the bridge, the VXLAN
  // device and the containers' ends there, no iptables table; berthd's namespace keeps the gateway link
  const [ons] = await overlayNetns(m1);
  assert.ok(ons, 'an overlay namespace on m1');
  const inside = (await inEngine(m1, 'ip', ['-n', ons, '-o', 'link', 'show'])).stdout;
  assert.match(inside, /: br0: /);
  assert.equal((await inEngine(m1, 'ip', ['-n', ons, '-o', 'link', 'show', 'master', 'br0'])).stdout.split('\n').filter(Boolean).length, 3, inside);
  assert.equal((await inEngine(m1, 'ip', ['netns', 'exec', ons, 'iptables-save'])).stdout.trim(), '');
  // conntrack in the node's namespace sees neither the VXLAN datagrams nor the frames between the two
  const raw = (await m1.exec('iptables-save', ['-t', 'raw'], { timeout: 15_000 })).stdout;
  assert.ok(raw.includes(`-A ${m1.chainPrefix}-NOTRACK -d ${m1.addr}/32 -p udp -m udp --dport 4789 -j NOTRACK`), raw);
  const ct = (await m1.exec('cat', ['/proc/net/nf_conntrack'], { timeout: 15_000 })).stdout;
  assert.doesNotMatch(ct, new RegExp(`src=${ipA.replace(/\./g, '\\.')} dst=${ipB.replace(/\./g, '\\.')} `), ct);
  assert.doesNotMatch(ct, /dport=4789 /, ct);
  // nor do its filter chains: the frames between the two are bridged in the overlay's namespace
  const fwd = async () => {
    const r = await m1.exec('iptables', ['-w', '5', '-t', 'filter', '-L', `${m1.chainPrefix}-FORWARD`, '-v', '-x', '-n'], { timeout: 15_000 });
    return r.stdout.split('\n').slice(2).reduce((sum, l) => sum + (Number(l.trim().split(/\s+/)[0]) || 0), 0);
  };
  const fwd0 = await fwd();
  assert.match(await m1.ok(['exec', 'a1', 'ping', '-c', '3', '-W', '2', ipB]), /3 packets received/);
  assert.equal(await fwd(), fwd0, `pings between two containers of the overlay reached ${m1.chainPrefix}-FORWARD`);
  // an idle node leaves its chains alone: the sync rounds (1 s) neither rewrite the rules (which
  // zeroes their counters) nor touch the VXLAN table's entries
  const counted = async () => {
    const r = await m1.exec('iptables', ['-w', '5', '-t', 'raw', '-L', `${m1.chainPrefix}-NOTRACK`, '-v', '-x', '-n'], { timeout: 15_000 });
    return r.stdout.split('\n').slice(2).reduce((sum, l) => sum + (Number(l.trim().split(/\s+/)[0]) || 0), 0);
  };
  const pkts = await counted();
  assert.ok(pkts >= 4, `the overlay's VXLAN datagrams are counted in ${m1.chainPrefix}-NOTRACK (${pkts})`);
  await sleep(3500);
  assert.ok((await counted()) >= pkts, 'the chains were rewritten by an idle sync round');
  // the VXLAN table is repaired by difference: an entry lost behind berthd's back is back and a
  // stale one gone within ~10 s (the kernel read), while the right entries are left alone
  const dev = vx[0].split(':')[1].trim().split('@')[0];
  const macB = (await w1.ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "ov1").MacAddress}}', 'b1'])).trim();
  const fdb = async () => JSON.parse((await inEngine(m1, 'bridge', ['-n', ons, '-s', '-j', 'fdb', 'show', 'dev', dev])).stdout) as Array<{ mac: string; dst?: string; updated: number }>;
  const flood = (await fdb()).find((e) => e.mac === '00:00:00:00:00:00' && e.dst === w1.addr);
  assert.ok(flood, `a flood entry for ${w1.addr} on ${dev}`);
  const t2 = Date.now();
  await inEngine(m1, 'bridge', ['-n', ons, 'fdb', 'del', macB, 'dev', dev, 'dst', w1.addr, 'self']);
  await inEngine(m1, 'ip', ['-n', ons, 'neigh', 'replace', '10.0.1.250', 'lladdr', '02:42:0a:00:01:fa', 'dev', dev, 'nud', 'permanent']);
  await until('the lost FDB entry back, the stale neighbour gone', async () => {
    const back = (await fdb()).some((e) => e.mac === macB && e.dst === w1.addr);
    const neigh = (await inEngine(m1, 'ip', ['-n', ons, 'neigh', 'show', 'dev', dev])).stdout;
    return (back && !neigh.includes('10.0.1.250')) || undefined;
  }, 25_000);
  times['VXLAN table repaired'] = Date.now() - t2;
  const flood2 = (await fdb()).find((e) => e.mac === '00:00:00:00:00:00' && e.dst === w1.addr);
  assert.ok(flood2 && flood2.updated >= flood.updated + Math.floor((Date.now() - t2) / 1000) - 1, `the flood entry was left alone (${JSON.stringify(flood2)})`);
  assert.match(await m1.ok(['exec', 'a1', 'ping', '-c', '1', '-W', '2', ipB]), /1 packets received/);
  // inspect shows the local container and both peers
  const n = JSON.parse(await m1.ok(['network', 'inspect', 'ov1']))[0];
  assert.deepEqual(Object.values(n.Containers).map((c: any) => c.Name), ['a1']);
  const peers = await until('both peers in inspect', async () => {
    const v = JSON.parse(await m1.ok(['network', 'inspect', '--verbose', 'ov1']))[0];
    assert.deepEqual(v.Services, {});
    const p = v.Peers;
    return p?.length === 2 ? p : undefined;
  });
  assert.deepEqual(peers.map((p: any) => p.IP).sort(), [m1.addr, w1.addr].sort());
  // rm refused while containers use it (on any host)
  const busy = await m1.docker(['network', 'rm', 'ov1'], { timeout: 15_000 });
  assert.notEqual(busy.code, 0);
  assert.match(busy.stderr, /active endpoints/);
});

// A node's sync is held on the manager while nothing changes (10 s): a change must end the wait on
// every node, not wait for it to run out.
test('a container started on one host is known on the other within seconds, both ways', async () => {
  const known = async (from: ClusterHost, via: string, name: string, what: string) => {
    const t0 = Date.now();
    await until(`${via} to resolve ${name}`, async () => (await from.docker(['exec', via, 'nslookup', name], { timeout: 10_000 })).code === 0 || undefined, 20_000);
    times[what] = Date.now() - t0;
    assert.ok(times[what] < 6000, `${name} known on the other host after ${times[what]} ms`);
  };
  try {
    // on the worker: its sync ends early, its new endpoint wakes the manager's own held sync
    await w1.ok(['run', '-d', '--name', 'b2', '--network', 'ov1', 'busybox', 'sleep', '600'], 60_000);
    await known(m1, 'a1', 'b2', 'worker container known on the manager');
    // on the manager: the worker's held sync wakes on the store's change
    await m1.ok(['run', '-d', '--name', 'a2', '--network', 'ov1', 'busybox', 'sleep', '600'], 60_000);
    await known(w1, 'b1', 'a2', 'manager container known on the worker');
  } finally {
    await w1.docker(['rm', '-f', 'b2'], { timeout: 30_000 });
    await m1.docker(['rm', '-f', 'a2'], { timeout: 30_000 });
  }
});

/** Every hierarchy's cgroup of a process, by hierarchy (`/proc/<pid>/cgroup`). */
const cgroupsOf = (pid: number): Map<string, string> => new Map(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean)
  .map((l) => { const [, h, p] = /^\d+:([^:]*):(.*)$/.exec(l)!; return [h, p] as [string, string]; }));

// Under the cluster layout each berthd starts under `ip netns exec`, in a fresh mount namespace: the
// old one's mounts of the namespace files (the overlay's and the containers') are not there after a
// restart. The overlay's is mounted again from its holder, the containers' from their inits.
test('a berthd restarted in a fresh mount namespace keeps its overlay namespace: a new container reaches the old, the peer and a task', async () => {
  const [ons] = await overlayNetns(m1);
  const h = holderOf(m1, ons);
  assert.ok(h && alive(h.pid), `a live holder recorded for ${ons}`);
  held = { ns: ons, pid: h.pid };
  // the holder is in neither berthd's process group nor its cgroups: a kill of either leaves it
  assert.notEqual(fs.readFileSync(`/proc/${h.pid}/stat`, 'utf8').split(') ')[1].split(' ')[2], String(m1.pid));
  const mine = cgroupsOf(m1.pid!), its = cgroupsOf(h.pid);
  for (const [hier, p] of its) assert.notEqual(p, mine.get(hier), `the holder shares berthd's ${hier || 'v2'} cgroup ${p}`);
  // a task of a service on the other node, on the overlay
  await m1.ok(['service', 'create', '-d', '--name', 'rs', '--network', 'ov1', '--constraint', 'node.hostname==w1', 'busybox', 'sleep', '600'], 60_000);
  try {
    const ipT = await until('the task on w1 with its overlay address', async () => {
      const ids = (await w1.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=rs'], { timeout: 15_000 })).stdout.trim().split('\n').filter(Boolean);
      if (ids.length !== 1) return undefined;
      return (await w1.ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "ov1").IPAddress}}', ids[0]])).trim() || undefined;
    }, 60_000);
    const a1ns = `${m1.chainPrefix.toLowerCase().slice(0, 8)}-${(await m1.ok(['inspect', '-f', '{{.Id}}', 'a1'])).trim().slice(0, 12)}`;
    // the old berthd's mounts of the namespace files stay in its mount namespace (ip netns exec)
    await m1.restart();
    assert.deepEqual(await overlayNetns(m1), [ons]);
    // a1's namespace file is its namespace again (not an empty file: `ip -n` enters it)
    const a1links = await inEngine(m1, 'ip', ['-n', a1ns, '-o', 'link', 'show', 'eth0']);
    assert.equal(a1links.code, 0, a1links.stderr);
    // (the swarm's networks are back once the node has resumed)
    await until('ov1 on m1 again', async () => (await m1.docker(['network', 'inspect', 'ov1'], { timeout: 15_000 })).code === 0 || undefined, 60_000);
    await until('a1 on ov1 again', async () => (await m1.docker(['inspect', '-f', '{{(index .NetworkSettings.Networks "ov1").IPAddress}}', 'a1'], { timeout: 15_000 })).stdout.trim() || undefined, 60_000);
    const ipA = (await m1.ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "ov1").IPAddress}}', 'a1'])).trim();
    const ipB = (await w1.ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "ov1").IPAddress}}', 'b1'])).trim();
    assert.match(ipA, /^10\.0\.1\.\d+$/, 'a1 keeps its overlay endpoint across the restart');
    await m1.ok(['run', '-d', '--name', 'a2', '--network', 'ov1', 'busybox', 'sleep', '600'], 60_000);
    await until('a2 to ping a1', async () => (await m1.docker(['exec', 'a2', 'ping', '-c', '1', '-W', '1', ipA], { timeout: 10_000 })).code === 0 || undefined);
    await until('a2 to ping b1', async () => (await m1.docker(['exec', 'a2', 'ping', '-c', '1', '-W', '1', ipB], { timeout: 10_000 })).code === 0 || undefined);
    await until('a2 to ping the task on w1', async () => (await m1.docker(['exec', 'a2', 'ping', '-c', '1', '-W', '1', ipT], { timeout: 10_000 })).code === 0 || undefined);
    await until('b1 to ping a2 by name', async () => (await w1.docker(['exec', 'b1', 'ping', '-c', '1', '-W', '2', 'a2'], { timeout: 10_000 })).code === 0 || undefined);
    // the same namespace, device and holder: nothing was made again
    assert.equal((await vxlans(m1)).length, 1);
    assert.deepEqual(holderOf(m1, ons), h);
    assert.equal((await inEngine(m1, 'ip', ['-n', ons, '-o', 'link', 'show', 'master', 'br0'])).stdout.split('\n').filter(Boolean).length, 4);
  } finally {
    // (also when a step failed: the tests after this one count on ov1's users being a1 and b1 only)
    await m1.docker(['rm', '-f', 'a2'], { timeout: 60_000 });
    await m1.docker(['service', 'rm', 'rs'], { timeout: 30_000 });
    await until('the task on w1 gone', async () => (await w1.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=rs'], { timeout: 15_000 })).stdout.trim() === '' || undefined, 60_000);
  }
});

test('the last user gone, rm and leave --force leave no devices, namespaces or rules', async () => {
  // a disconnect of the last local user takes the data plane (and gives the address back) as a removal does
  await m1.ok(['network', 'disconnect', 'ov1', 'a1']);
  await until('m1 data plane removed', async () => ((await vxlans(m1)).length === 0 && (await overlayNetns(m1)).length === 0 ? true : undefined));
  await m1.ok(['rm', '-f', 'a1']);
  // and its holder: ended, its record gone
  if (held) {
    assert.equal(holderOf(m1, held.ns), undefined);
    await until('the holder ended', async () => (!alive(held!.pid) ? true : undefined));
  }
  const br = await engineLinks(m1, 'bridge');
  assert.ok(!br.some((l) => l.startsWith(m1.chainPrefix.toLowerCase().slice(0, 8) + '-')), br.join('\n'));
  await w1.ok(['rm', '-f', 'b1']);
  await until('w1 data plane removed', async () => ((await vxlans(w1)).length === 0 ? true : undefined));
  // the peer table empties within a sync or two; then rm works
  await until('rm of ov1', async () => (await m1.docker(['network', 'rm', 'ov1'], { timeout: 15_000 })).code === 0 || undefined);
  await until('ov1 gone on the worker', async () => ((await w1.docker(['network', 'inspect', 'ov1'], { timeout: 15_000 })).code !== 0 ? true : undefined));
  for (const h of [m1, w1]) {
    const rules = (await h.exec('iptables-save', [], { timeout: 15_000 })).stdout;
    assert.doesNotMatch(rules, /10\.0\.1\.0\/24/, `${h.name} keeps rules of ov1`);
  }
  // leave --force with a container still on an overlay removes its data plane too
  await m1.ok(['network', 'create', '-d', 'overlay', '--attachable', 'ov3']);
  await until('ov3 on the worker', async () => (await w1.docker(['network', 'inspect', 'ov3'], { timeout: 15_000 })).code === 0 || undefined);
  await w1.ok(['run', '-d', '--name', 'c1', '--network', 'ov3', 'busybox', 'sleep', '600'], 60_000);
  assert.equal((await vxlans(w1)).length, 1);
  await w1.ok(['swarm', 'leave', '--force']);
  await until('w1 data plane removed after leave', async () => ((await vxlans(w1)).length === 0 ? true : undefined));
  await w1.ok(['rm', '-f', 'c1']);
  // no overlay namespace, holder record or holders' cgroup is left on either node
  for (const h of [m1, w1]) {
    assert.deepEqual(await overlayNetns(h), [], `${h.name} keeps an overlay namespace`);
    const dir = path.join(h.execRoot, 'netns-holders');
    assert.deepEqual(fs.existsSync(dir) ? fs.readdirSync(dir) : [], [], `${h.name} keeps a holder record`);
    const cg = `berth-${h.chainPrefix.toLowerCase().slice(0, 8)}-netns`;
    await until(`${h.name}'s holders' cgroup gone`, async () => (!fs.existsSync(path.join('/sys/fs/cgroup/systemd', cg)) && !fs.existsSync(path.join('/sys/fs/cgroup/memory', cg))) || undefined, 10_000);
  }
  const rules = (await w1.exec('iptables-save', [], { timeout: 15_000 })).stdout;
  assert.doesNotMatch(rules, /10\.0\.\d+\.0\/24/);
  assert.doesNotMatch(rules, /--dport 4789/);
  const ls = await w1.ok(['network', 'ls', '--format', '{{.Name}}']);
  assert.doesNotMatch(ls, /ov3/);
});
