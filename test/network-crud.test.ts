// Networks without containers: create/ls/inspect/rm/prune through the docker
// CLI, IPAM validation errors, the bridge interfaces and iptables chains the
// daemon makes, and that removal leaves nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
});
after(async () => {
  await d?.stop();
});

const ipt = (table: string) => execFileSync('iptables-save', ['-t', table]).toString();

test('predefined networks and the default bridge', async () => {
  const r = await d.docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), ['bridge bridge local', 'host host local', 'none null local']);
  const br = JSON.parse((await d.docker(['network', 'inspect', 'bridge'])).stdout)[0];
  assert.equal(br.IPAM.Config[0].Subnet, d.bip.replace(/\.1\/24$/, '.0/24'));
  assert.equal(br.IPAM.Config[0].Gateway, d.bip.replace(/\/24$/, ''));
  assert.equal(br.Options['com.docker.network.bridge.name'], d.bridge);
  assert.ok(fs.existsSync(`/sys/class/net/${d.bridge}`), 'default bridge interface exists');
  assert.match(ipt('filter'), new RegExp(`-A FORWARD -j ${d.chainPrefix}-FORWARD`));
  assert.match(ipt('nat'), new RegExp(`-A POSTROUTING -j ${d.chainPrefix}-POSTROUTING`));
  const rm = await d.docker(['network', 'rm', 'bridge']);
  assert.notEqual(rm.code, 0);
  assert.match(rm.stderr, /bridge is a pre-defined network and cannot be removed/);
});

test('user-defined bridge: create with subnet/gateway/ip-range/labels/options, inspect, ls filters, rm', async () => {
  const c = await d.docker([
    'network', 'create', '--subnet', '10.231.0.0/24', '--gateway', '10.231.0.254', '--ip-range', '10.231.0.128/25',
    '--label', 'team=a', '--internal', '-o', `com.docker.network.bridge.name=bn${d.id}`, 'net1',
  ]);
  assert.equal(c.code, 0, c.stderr);
  const id = c.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const n = JSON.parse((await d.docker(['network', 'inspect', 'net1'])).stdout)[0];
  assert.equal(n.Id, id);
  assert.equal(n.Driver, 'bridge');
  assert.equal(n.Internal, true);
  assert.deepEqual(n.Labels, { team: 'a' });
  assert.deepEqual(n.IPAM.Config, [{ Subnet: '10.231.0.0/24', Gateway: '10.231.0.254', IPRange: '10.231.0.128/25' }]);
  assert.ok(fs.existsSync(`/sys/class/net/bn${d.id}`));
  const addr = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', `bn${d.id}`]).toString();
  assert.match(addr, /10\.231\.0\.254\/24/);
  // isolation rules for the internal network
  assert.match(ipt('filter'), new RegExp(`-A ${d.chainPrefix}-FORWARD -i bn${d.id} ! -o bn${d.id} -j DROP`));

  const auto = await d.docker(['network', 'create', 'net2']);
  assert.equal(auto.code, 0, auto.stderr);
  const n2 = JSON.parse((await d.docker(['network', 'inspect', 'net2'])).stdout)[0];
  assert.match(n2.IPAM.Config[0].Subnet, /^(172|192)\./);

  let ls = await d.docker(['network', 'ls', '--filter', 'label=team=a', '--format', '{{.Name}}']);
  assert.equal(ls.stdout.trim(), 'net1');
  ls = await d.docker(['network', 'ls', '--filter', 'type=custom', '--format', '{{.Name}}']);
  assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['net1', 'net2']);
  ls = await d.docker(['network', 'ls', '--filter', `id=${id.slice(0, 10)}`, '-q']);
  assert.equal(ls.stdout.trim(), id.slice(0, 12));
  ls = await d.docker(['network', 'ls', '--filter', 'driver=null', '--format', '{{.Name}}']);
  assert.equal(ls.stdout.trim(), 'none');

  const dup = await d.docker(['network', 'create', 'net1']);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /network with name net1 already exists/);

  const bridgeOfNet2 = n2.Options['com.docker.network.bridge.name'] ?? '';
  assert.equal(bridgeOfNet2, '');
  const rm = await d.docker(['network', 'rm', 'net1', 'net2']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.ok(!fs.existsSync(`/sys/class/net/bn${d.id}`), 'bridge removed with the network');
  assert.doesNotMatch(ipt('filter'), new RegExp(`bn${d.id}`));
  const gone = await d.docker(['network', 'inspect', 'net1']);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /network net1 not found/);
});

test('bad input: overlapping subnets, bad CIDR, gateway outside subnet, unknown driver; nothing half-made', async () => {
  assert.equal((await d.docker(['network', 'create', '--subnet', '10.232.0.0/16', 'ov1'])).code, 0);
  const ov = await d.docker(['network', 'create', '--subnet', '10.232.5.0/24', 'ov2']);
  assert.notEqual(ov.code, 0);
  assert.match(ov.stderr, /Pool overlaps with other one on this address space/);
  const bad = await d.docker(['network', 'create', '--subnet', '10.1.2.300/24', 'bad1']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid CIDR address: 10\.1\.2\.300\/24/);
  const gw = await d.docker(['network', 'create', '--subnet', '10.233.0.0/24', '--gateway', '10.234.0.1', 'bad2']);
  assert.notEqual(gw.code, 0);
  assert.match(gw.stderr, /no matching subnet for gateway 10\.234\.0\.1/);
  const drv = await d.docker(['network', 'create', '-d', 'macvlanx', 'bad3']);
  assert.notEqual(drv.code, 0);
  assert.match(drv.stderr, /plugin "macvlanx" not found/);
  const names = (await d.docker(['network', 'ls', '--format', '{{.Name}}'])).stdout;
  assert.doesNotMatch(names, /ov2|bad1|bad2|bad3/);
  const pr = await d.docker(['network', 'prune', '-f']);
  assert.equal(pr.code, 0, pr.stderr);
  assert.match(pr.stdout, /ov1/);
  assert.doesNotMatch((await d.docker(['network', 'ls'])).stdout, /ov1/);
});

test('networks created at the same moment get distinct subnets (no pick races another)', async () => {
  const names = ['par1', 'par2', 'par3', 'par4'];
  const made = await Promise.all(names.map((n) => d.docker(['network', 'create', n])));
  for (const r of made) assert.equal(r.code, 0, r.stderr);
  const subnets = await Promise.all(names.map(async (n) => (await d.docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', n])).stdout.trim()));
  assert.equal(new Set(subnets).size, names.length, subnets.join(' '));
  const rm = await d.docker(['network', 'rm', ...names]);
  assert.equal(rm.code, 0, rm.stderr);
});

test('chains are reconciled after a crash (SIGKILL + restart)', async () => {
  assert.equal((await d.docker(['network', 'create', 'keep'])).code, 0);
  await d.kill();
  execFileSync('iptables', ['-F', `${d.chainPrefix}-FORWARD`]);
  await d.start();
  const n = JSON.parse((await d.docker(['network', 'inspect', 'keep'])).stdout)[0];
  const br = `${d.chainPrefix.toLowerCase()}-${n.Id}`.slice(0, 15);
  assert.ok(fs.existsSync(`/sys/class/net/${br}`), `bridge ${br} exists after restart`);
  assert.match(ipt('filter'), new RegExp(`-A ${d.chainPrefix}-FORWARD -i ${br} -o ${br} -j ACCEPT`));
  const jumps = ipt('filter').split('\n').filter((l) => l === `-A FORWARD -j ${d.chainPrefix}-FORWARD`);
  assert.equal(jumps.length, 1, 'jump added once');
  assert.equal((await d.docker(['network', 'rm', 'keep'])).code, 0);
  assert.ok(!fs.existsSync(`/sys/class/net/${br}`));
});

test('berth network create/ls/inspect/rm', async () => {
  const c = await d.berth(['network', 'create', '--subnet', '10.235.0.0/24', '--label', 'via=berth', 'bnet']);
  assert.equal(c.code, 0, c.stderr);
  const ls = await d.berth(['network', 'ls', '--filter', 'label=via=berth', '--format', '{{.Name}} {{.Driver}}']);
  assert.equal(ls.stdout.trim(), 'bnet bridge');
  const table = await d.berth(['network', 'ls']);
  assert.match(table.stdout, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n/);
  const sub = await d.berth(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', 'bnet']);
  assert.equal(sub.stdout.trim(), '10.235.0.0/24');
  const rm = await d.berth(['network', 'rm', 'bnet']);
  assert.equal(rm.code, 0, rm.stderr);
  const again = await d.berth(['network', 'rm', 'bnet']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /Error response from daemon: network bnet not found/);
});
