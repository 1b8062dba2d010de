// IPv6 as Docker 20.10 clients use it: user-defined --ipv6 networks with a
// v6 subnet (--ip6, --link-local-ip, inspect fields, ping6 between
// containers, python3-docker's IPAM pools) and the default bridge with
// berthd --ipv6 --fixed-cidr-v6 (this file's daemon runs with both).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { pyOk } from './helpers/python';

let d: TestDaemon;

before(async () => {
  d = await startDaemon({ args: ['--ipv6', '--fixed-cidr-v6', 'fd00:b3::/64'] });
  await d.loadBusybox();
});
after(async () => {
  await d?.stop();
});

test('IPv6: --ipv6 network with a v6 subnet, --ip6, link-local IPs, inspect fields, ping6 between containers', async () => {
  await d.ok(['network', 'create', '--ipv6', '--subnet', 'fd00:b1::/64', 'v6net']);
  const net = JSON.parse(await d.ok(['network', 'inspect', 'v6net']))[0];
  assert.equal(net.EnableIPv6, true);
  assert.deepEqual(net.IPAM.Config.find((c: any) => c.Subnet.includes(':')), { Subnet: 'fd00:b1::/64', Gateway: 'fd00:b1::1' });
  await d.ok(['run', '-d', '--name', 'six1', '--network', 'v6net', 'busybox', 'sleep', '300']);
  await d.ok(['run', '-d', '--name', 'six2', '--network', 'v6net', '--ip6', 'fd00:b1::99', '--link-local-ip', '169.254.8.8', '--link-local-ip', 'fe80::8', 'busybox', 'sleep', '300']);
  const ep1 = JSON.parse(await d.ok(['inspect', '--format', '{{json .NetworkSettings.Networks.v6net}}', 'six1']));
  assert.equal(ep1.GlobalIPv6Address, 'fd00:b1::2');
  assert.equal(ep1.GlobalIPv6PrefixLen, 64);
  assert.equal(ep1.IPv6Gateway, 'fd00:b1::1');
  const ep2 = JSON.parse(await d.ok(['inspect', '--format', '{{json .NetworkSettings.Networks.v6net}}', 'six2']));
  assert.equal(ep2.GlobalIPv6Address, 'fd00:b1::99');
  assert.deepEqual(ep2.IPAMConfig, { IPv6Address: 'fd00:b1::99', LinkLocalIPs: ['169.254.8.8', 'fe80::8'] });
  const addrs = await d.ok(['exec', 'six2', 'ip', 'addr', 'show', 'eth0']);
  assert.match(addrs, /inet6 fd00:b1::99\/64 scope global/);
  assert.match(addrs, /inet 169\.254\.8\.8\/16/);
  assert.match(addrs, /inet6 fe80::8\/64 scope link/);
  const route = await d.ok(['exec', 'six1', 'ip', '-6', 'route', 'show', 'default']);
  assert.match(route, /default via fd00:b1::1 dev eth0/);
  const ping = await d.ok(['exec', 'six1', 'ping', '-6', '-c', '2', '-W', '3', 'fd00:b1::99']);
  assert.match(ping, /2 packets received/);
  const members = JSON.parse(await d.ok(['network', 'inspect', '--format', '{{json .Containers}}', 'v6net']));
  assert.deepEqual(Object.values(members).map((m: any) => m.IPv6Address).sort(), ['fd00:b1::2/64', 'fd00:b1::99/64']);
  // the address is released at stop and given again
  await d.ok(['rm', '-f', 'six1']);
  await d.ok(['run', '-d', '--name', 'six3', '--network', 'v6net', 'busybox', 'sleep', '300']);
  assert.equal((await d.ok(['inspect', '--format', '{{(index .NetworkSettings.Networks "v6net").GlobalIPv6Address}}', 'six3'])).trim(), 'fd00:b1::2');
  // the embedded DNS answers AAAA with the v6 address, A with the v4 one
  const aaaa = await d.ok(['exec', 'six3', 'nslookup', '-type=aaaa', 'six2']);
  assert.match(aaaa, /Address: fd00:b1::99\b/);
  const a = await d.ok(['exec', 'six3', 'nslookup', '-type=a', 'six2']);
  assert.match(a, new RegExp(`Address: ${ep2.IPAddress.replace(/\./g, '\\.')}\\b`));
  assert.doesNotMatch(a, /fd00:b1::99/);
  const bad = await d.docker(['run', '--rm', '--network', 'v6net', '--ip6', 'fd00:ff::1', 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /no configured subnet or ip-range contain the IP address fd00:ff::1/);
  // the Python SDK's IPAM pools
  const out = await pyOk(d, `
import docker
from docker.types import IPAMConfig, IPAMPool
c = docker.from_env()
n = c.networks.create('v6py', enable_ipv6=True, ipam=IPAMConfig(pool_configs=[IPAMPool(subnet='fd00:b2::/64', gateway='fd00:b2::fe')]))
n.reload()
print(n.attrs['EnableIPv6'], [x['Gateway'] for x in n.attrs['IPAM']['Config'] if ':' in x['Subnet']])
n.remove()
try:
    c.networks.create('v6none', enable_ipv6=True)
except docker.errors.APIError as e:
    print('refused')
`);
  assert.equal(out, "True ['fd00:b2::fe']\nrefused\n");
  // berth's run has the same flags
  const b = await d.berth(['run', '--rm', '--network', 'v6net', '--ip6', 'fd00:b1::77', '--link-local-ip', '169.254.7.7', 'busybox', 'ip', 'addr', 'show', 'eth0']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /inet 169\.254\.7\.7\/16/);
  assert.match(b.stdout, /inet6 fd00:b1::77\/64/);
  await d.ok(['rm', '-f', 'six2', 'six3']);
  await d.ok(['network', 'rm', 'v6net']);
});

test('IPv6 on the default bridge: berthd --ipv6 --fixed-cidr-v6', async () => {
  const bridge = JSON.parse(await d.ok(['network', 'inspect', 'bridge']))[0];
  assert.equal(bridge.EnableIPv6, true);
  assert.deepEqual(bridge.IPAM.Config.find((c: any) => c.Subnet.includes(':')), { Subnet: 'fd00:b3::/64', Gateway: 'fd00:b3::1' });
  await d.ok(['run', '-d', '--name', 'b6', 'busybox', 'sleep', '300']);
  const ns = JSON.parse(await d.ok(['inspect', '--format', '{{json .NetworkSettings}}', 'b6']));
  assert.equal(ns.GlobalIPv6Address, 'fd00:b3::2');
  assert.equal(ns.GlobalIPv6PrefixLen, 64);
  assert.equal(ns.IPv6Gateway, 'fd00:b3::1');
  const ping = await d.ok(['run', '--rm', 'busybox', 'ping', '-6', '-c', '1', '-W', '3', 'fd00:b3::2']);
  assert.match(ping, /1 packets received/);
  await d.ok(['rm', '-f', 'b6']);
});
