// Leak check: a daemon that ran containers with networks, published ports,
// DNS and option volumes leaves nothing on the host once its containers and
// networks are removed and it is stopped — no interface, network namespace,
// iptables chain or jump, or mount. Everything it makes is named with its
// id (bt<hex6> / BT<HEX6>), which is what lets the harness and this check
// find it; the check fails if anything was named otherwise and stayed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
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

function snapshot(): { links: string[]; netns: string[]; rules: string[]; mounts: string[] } {
  return {
    links: fs.readdirSync('/sys/class/net'),
    netns: fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : [],
    rules: ['filter', 'nat', 'raw'].flatMap((t) => execFileSync('iptables-save', ['-t', t]).toString().split('\n').filter((l) => l.startsWith('-A') || l.startsWith(':'))),
    mounts: fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? ''),
  };
}

test('after containers, networks and volumes are removed and the daemon stops, nothing of it is left', async () => {
  const before0 = snapshot();
  const run = async (args: string[]) => {
    const r = await d.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await run(['network', 'create', 'leaknet']);
  await run(['network', 'create', '--internal', 'leakint']);
  await run(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', 'leakvol']);
  await run(['run', '-d', '--name', 'l1', '--network', 'leaknet', '-p', '127.0.0.1::80', '-v', 'leakvol:/v', 'busybox', 'sleep', '300']);
  await run(['network', 'connect', 'leakint', 'l1']);
  await run(['run', '-d', '--name', 'l2', '-p', '80', '-v', '/anon', 'busybox', 'sleep', '300']);
  await run(['run', '--rm', '--network', 'leaknet', 'busybox', 'nslookup', 'l1']);
  await run(['rm', '-f', '-v', 'l1', 'l2']);
  await run(['network', 'rm', 'leaknet', 'leakint']);
  await run(['volume', 'rm', 'leakvol']);
  const id = d.id;
  const mine = (s: string) => s.toLowerCase().includes(id) || s.startsWith(d.root);
  // While the daemon still runs, only its default bridge and base chains may remain.
  const during = snapshot();
  assert.deepEqual(during.links.filter(mine), [d.bridge]);
  // (the pool's spare namespaces, <tag>_p<hex>, stay while it runs; the stop below must remove them)
  assert.deepEqual(during.netns.filter(mine).filter((n) => !/_p[0-9a-f]{8}$/.test(n)), []);
  assert.deepEqual(during.mounts.filter((m) => m.startsWith(d.root)), []);
  const ruleLines = during.rules.filter(mine).filter((l) => !l.startsWith(':'));
  const P = d.chainPrefix;
  const expected = [
    `-A FORWARD -j ${P}-FORWARD`,
    `-A ${P}-FORWARD -j ${P}-ISOLATION`,
    `-A ${P}-FORWARD -o ${d.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${P}-FORWARD -i ${d.bridge} -o ${d.bridge} -j ACCEPT`,
    `-A ${P}-FORWARD -i ${d.bridge} ! -o ${d.bridge} -j ACCEPT`,
    `-A ${P}-ISOLATION -j RETURN`,
    `-A PREROUTING -m addrtype --dst-type LOCAL -j ${P}-NAT`,
    `-A POSTROUTING -j ${P}-POSTROUTING`,
    `-A ${P}-POSTROUTING -s ${d.bip.replace(/\.1\/24$/, '.0/24')} ! -o ${d.bridge} -j MASQUERADE`,
    `-A ${P}-POSTROUTING -s ${d.bip.replace(/\.1\/24$/, '.0/24')} -o ${d.bridge} -m conntrack --ctstate DNAT -j MASQUERADE`,
    `-A PREROUTING -j ${P}-NOTRACK`,
    `-A OUTPUT -j ${P}-NOTRACK`,
    `-A ${P}-NOTRACK -s ${d.bip.replace(/\.1\/24$/, '.0/24')} -d ${d.bip.replace(/\/24$/, '/32')} -i ${d.bridge} -j RETURN`,
    `-A ${P}-NOTRACK -s ${d.bip.replace(/\.1\/24$/, '.0/24')} -d ${d.bip.replace(/\.1\/24$/, '.0/24')} -i ${d.bridge} -j NOTRACK`,
  ];
  assert.deepEqual([...ruleLines].sort(), [...expected].sort());
  // No veth or bridge appeared that is not named after this daemon (the harness could not find it).
  const unnamed = during.links.filter((l) => !before0.links.includes(l) && !mine(l) && /^(veth|br-)/.test(l));
  assert.deepEqual(unnamed, []);
  await d.stop();
  const afterStop = snapshot();
  assert.deepEqual(afterStop.links.filter(mine), []);
  assert.deepEqual(afterStop.netns.filter(mine), []);
  assert.deepEqual(afterStop.rules.filter(mine), []);
  assert.deepEqual(afterStop.mounts.filter((m) => m.startsWith(d.root)), []);
});
