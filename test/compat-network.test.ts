// Networks as Docker 20.10 clients use them: the embedded DNS at 127.0.0.11
// in resolv.conf on user-defined networks, names with spaces, duplicate
// names with CheckDuplicate: false. (IPv6: compat-ipv6.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
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
  // the resolver listens inside the container's namespace: no NAT there, no route_localnet
  const key = (await d.ok(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', 'peer'])).trim();
  const inNs = async (cmd: string[]) => (await run('nsenter', [`--net=${key}`, ...cmd])).stdout;
  assert.match(await inNs(['ss', '-lnu']), /127\.0\.0\.11:53\b/);
  assert.match(await inNs(['ss', '-lnt']), /127\.0\.0\.11:53\b/);
  assert.doesNotMatch(await inNs(['iptables-save']), /DNAT|SNAT/);
  assert.equal((await inNs(['cat', '/proc/sys/net/ipv4/conf/all/route_localnet'])).trim(), '0');
  const def = await d.ok(['run', '--rm', 'busybox', 'cat', '/etc/resolv.conf']);
  assert.doesNotMatch(def, /127\.0\.0\.11/);
  await d.ok(['rm', '-f', 'peer']);
});

test('the embedded DNS inside a namespace: back after a daemon restart, closed when the container stops; without the addon, DNAT to the gateway', async () => {
  await d.ok(['network', 'create', 'dnsnet2']);
  await d.ok(['run', '-d', '--name', 'dpeer', '--network', 'dnsnet2', '--network-alias', 'dpal', 'busybox', 'sleep', '300']);
  const ip = (await d.ok(['inspect', '--format', '{{(index .NetworkSettings.Networks "dnsnet2").IPAddress}}', 'dpeer'])).trim();
  const key = (await d.ok(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', 'dpeer'])).trim();
  // the host's busybox in the container's namespace, as its own resolver would ask
  const lookup = () => run('nsenter', [`--net=${key}`, 'busybox', 'nslookup', 'dpal', '127.0.0.11'], { timeout: 15_000 });
  assert.match((await lookup()).stdout, new RegExp(`Address: ${ip.replace(/\./g, '\\.')}`));
  await d.restart();
  assert.match((await lookup()).stdout, new RegExp(`Address: ${ip.replace(/\./g, '\\.')}`), 'answered after a restart');
  // a process of ours keeps the namespace after the stop: the daemon's sockets in it must be gone
  const holder = spawn('nsenter', [`--net=${key}`, 'sleep', '60'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    assert.match((await run('nsenter', ['-t', String(holder.pid), '-n', 'ss', '-lnua'])).stdout, /127\.0\.0\.11:53\b/);
    await d.ok(['stop', '-t', '1', 'dpeer']);
    const left = await run('nsenter', ['-t', String(holder.pid), '-n', 'ss', '-lnua']);
    assert.doesNotMatch(left.stdout, /127\.0\.0\.11:53\b/, left.stdout);
  } finally {
    holder.kill('SIGKILL');
  }
  await d.ok(['rm', 'dpeer']);
  await d.ok(['network', 'rm', 'dnsnet2']);
  // BERTH_DNS_IN_NS=0 (as without the addon): queries DNATed to the gateway's resolver
  const nd = await startDaemon({ env: { BERTH_DNS_IN_NS: '0' } });
  try {
    await nd.loadBusybox();
    await nd.ok(['network', 'create', 'dnsnet3']);
    await nd.ok(['run', '-d', '--name', 'dpeer3', '--network', 'dnsnet3', 'busybox', 'sleep', '300']);
    const key3 = (await nd.ok(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', 'dpeer3'])).trim();
    const rules = (await run('nsenter', [`--net=${key3}`, 'iptables-save'])).stdout;
    assert.match(rules, /-A OUTPUT -d 127\.0\.0\.11\/32 -p udp -m udp --dport 53 -j DNAT/);
    // route_localnet (needed for the DNAT) never lets 127/8 in from the bridge
    assert.match(rules, /-A PREROUTING -d 127\.0\.0\.0\/8 ! -i lo -j DROP/);
    assert.match(await nd.ok(['run', '--rm', '--network', 'dnsnet3', 'busybox', 'nslookup', 'dpeer3']), /Name:\s+dpeer3/);
  } finally {
    await nd.stop();
  }
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
