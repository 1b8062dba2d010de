// Networks as Docker 20.10 clients use them: the embedded DNS at 127.0.0.11
// in resolv.conf on user-defined networks, names with spaces, duplicate
// names with CheckDuplicate: false. (IPv6: compat-ipv6.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, run, type TestDaemon } from './helpers/daemon';
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
  // route_localnet (needed for the DNAT) never lets 127/8 in from the bridge
  const key = (await d.ok(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', 'peer'])).trim();
  const raw = await run('nsenter', [`--net=${key}`, 'iptables', '-t', 'raw', '-S', 'PREROUTING']);
  assert.match(raw.stdout, /-A PREROUTING -d 127\.0\.0\.0\/8 ! -i lo -j DROP/);
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
