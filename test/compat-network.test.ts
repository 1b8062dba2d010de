// Networks as Docker 20.10 clients use them: the embedded DNS at 127.0.0.11
// in resolv.conf on user-defined networks, names with spaces, duplicate
// names with CheckDuplicate: false, and IPv6 networks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { pyOk } from './helpers/python';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});
after(async () => {
  await d?.stop();
});

test('user-defined network: resolv.conf names 127.0.0.11 and names resolve through it; the default bridge keeps the host resolvers', async () => {
  await d.ok(['network', 'create', 'dnsnet']);
  await d.ok(['run', '-d', '--name', 'peer', '--network', 'dnsnet', 'busybox', 'sleep', '300']);
  const ip = (await d.ok(['inspect', '--format', '{{(index .NetworkSettings.Networks "dnsnet").IPAddress}}', 'peer'])).trim();
  const out = await d.ok(['run', '--rm', '--network', 'dnsnet', 'busybox', 'sh', '-c', 'cat /etc/resolv.conf; echo ---; nslookup peer; nslookup -type=a peer 127.0.0.11']);
  const [resolv, lookups] = out.split('---\n');
  assert.match(resolv, /^nameserver 127\.0\.0\.11$/m);
  assert.doesNotMatch(resolv, /nameserver (?!127\.0\.0\.11)/);
  assert.match(resolv, /^options ndots:0$/m);
  assert.equal((lookups.match(new RegExp(`Address: ${ip.replace(/\./g, '\\.')}\\b`, 'g')) ?? []).length, 2, lookups);
  // over TCP too: a length-prefixed A query for "peer" by hand (busybox nslookup only speaks UDP)
  const query = '\\000\\026\\000\\001\\001\\000\\000\\001\\000\\000\\000\\000\\000\\000\\004peer\\000\\000\\001\\000\\001';
  const tcp = await d.ok(['run', '--rm', '--network', 'dnsnet', 'busybox', 'sh', '-c', `printf '${query}' | nc -w 3 127.0.0.11 53 | od -An -tu1 | tr -s ' \\n' ' '`]);
  assert.match(tcp, new RegExp(` ${ip.split('.').join(' ')} ?$`), tcp);
  const def = await d.ok(['run', '--rm', 'busybox', 'cat', '/etc/resolv.conf']);
  assert.doesNotMatch(def, /127\.0\.0\.11/);
  await d.ok(['rm', '-f', 'peer']);
});

test('network names with spaces; CheckDuplicate: false makes a second network of the same name (then the name is ambiguous)', async () => {
  const id = (await d.ok(['network', 'create', 'test 01'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal((await d.ok(['network', 'inspect', '--format', '{{.Name}}', 'test 01'])).trim(), 'test 01');
  await d.ok(['run', '--rm', '--network', 'test 01', 'busybox', 'true']);
  const dup = await d.docker(['network', 'create', 'test 01']);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /network with name test 01 already exists/);
  const out = await pyOk(d, `
import docker
c = docker.from_env()
n = c.api.create_network('test 01', check_duplicate=False)
print(n['Id'] != ${JSON.stringify(id)}, n['Warning'])
print(sorted(x['Name'] for x in c.api.networks(names=['test 01'])))
try:
    c.api.inspect_network('test 01')
except docker.errors.APIError as e:
    print(e.status_code, e.explanation)
c.api.remove_network(n['Id'])
print(c.api.inspect_network('test 01')['Id'])
`);
  const lines = out.split('\n');
  assert.equal(lines[0], `True Network with name test 01 (id : ${id}) already exists`);
  assert.equal(lines[1], "['test 01', 'test 01']");
  assert.equal(lines[2], '400 2 matches found based on name: network test 01 is ambiguous');
  assert.equal(lines[3], id);
  await d.ok(['network', 'rm', 'test 01']);
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
  await d.ok(['rm', '-f', 'six2', 'six3']);
  await d.ok(['network', 'rm', 'v6net']);
});

test('IPv6 on the default bridge: berthd --ipv6 --fixed-cidr-v6', async () => {
  const d6 = await startDaemon({ args: ['--ipv6', '--fixed-cidr-v6', 'fd00:b3::/64'] });
  try {
    await d6.loadBusybox();
    const bridge = JSON.parse(await d6.ok(['network', 'inspect', 'bridge']))[0];
    assert.equal(bridge.EnableIPv6, true);
    await d6.ok(['run', '-d', '--name', 'b6', 'busybox', 'sleep', '300']);
    const ns = JSON.parse(await d6.ok(['inspect', '--format', '{{json .NetworkSettings}}', 'b6']));
    assert.equal(ns.GlobalIPv6Address, 'fd00:b3::2');
    assert.equal(ns.IPv6Gateway, 'fd00:b3::1');
    const ping = await d6.ok(['run', '--rm', 'busybox', 'ping', '-6', '-c', '1', '-W', '3', 'fd00:b3::2']);
    assert.match(ping, /1 packets received/);
    await d6.ok(['rm', '-f', 'b6']);
  } finally {
    await d6.stop();
  }
});
