// The bridge endpoint's links made by rtnetlink (the addon) and by the `ip`
// fallback: the same namespace, addresses, routes and bridge ports, the same
// clean removal, and a failed start that leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { scenario } from './helpers/links';
import { netlink, ipBytes, addrAdd, linkUp, linkDel } from '../src/host/network/rtnetlink';
import { fsrootNative } from '../src/host/native/addon';

test('the addon provides rtnetlink, so starts run no ip program', () => {
  assert.ok(netlink(), 'native/fsroot lacks nlExec: rebuild it (npm run build:native)');
});

test('rtnetlink and the ip fallback leave the kernel in the same state', async () => {
  const tag = `nl${randomBytes(2).toString('hex')}`;
  const viaNetlink = await scenario(tag);
  const script = path.join(__dirname, 'helpers', 'links.js');
  const viaIp = JSON.parse(execFileSync(process.execPath, [script, tag], { env: { ...process.env, BERTH_NETLINK: '0' }, timeout: 60_000 }).toString()) as typeof viaNetlink;

  const inside = viaNetlink.inside as { links: Array<{ name: string; mtu: number; mac: string; up: boolean; addrs: string[] }>; routes: string[] };
  const eth0 = inside.links.find((l) => l.name === 'eth0');
  assert.ok(eth0, JSON.stringify(inside));
  assert.equal(eth0.mtu, 1450);
  assert.equal(eth0.mac, '02:42:0a:4d:00:02');
  assert.ok(eth0.up);
  assert.ok(eth0.addrs.some((a) => a.endsWith(':77::2/64')) && eth0.addrs.includes('169.254.7.7/16') && eth0.addrs.includes('fe80::7/64'), eth0.addrs.join(' '));
  assert.ok(inside.links.find((l) => l.name === 'lo')?.up, 'lo is up');
  assert.equal(inside.routes.length, 2, inside.routes.join('; '));
  assert.deepEqual(viaNetlink.host, [{ mtu: 1450, master: `${tag}br`, up: true }, { mtu: 1500, master: `${tag}br`, up: true }]);
  assert.deepEqual(viaNetlink.afterDetach, ['eth0', 'eth1', 'lo']);
  assert.deepEqual(viaNetlink.leftover, []);
  assert.deepEqual(viaNetlink.failure.leftover, []);
  assert.match(viaNetlink.failure.message, new RegExp(`${tag}no`));

  assert.deepEqual(viaNetlink.inside, viaIp.inside);
  assert.deepEqual(viaNetlink.host, viaIp.host);
  assert.deepEqual(viaNetlink.afterDetach, viaIp.afterDetach);
  assert.deepEqual(viaIp.leftover, []);
  assert.deepEqual(viaIp.failure.leftover, []);
});

test('addresses encode as the kernel reads them; bad ones are refused before any request', () => {
  assert.equal(ipBytes('10.1.2.3').toString('hex'), '0a010203');
  assert.equal(ipBytes('fd00::1').toString('hex'), 'fd000000000000000000000000000001');
  assert.equal(ipBytes('::ffff:10.0.0.1').toString('hex'), '00000000000000000000ffff0a000001');
  assert.equal(ipBytes('1:2:3:4:5:6:7:8').toString('hex'), '00010002000300040005000600070008');
  assert.throws(() => ipBytes('10.0.0.256'), /invalid IP address/);
  assert.throws(() => addrAdd('eth0', '10.0.0.2/33'), /invalid prefix/);
});

test('the addon refuses malformed requests with an error, reports a missing interface as ENODEV and a missing namespace as an error', async () => {
  type Exec = (ns: string, create: boolean, msgs: unknown[], patches: unknown[], keepGoing: boolean) => Promise<number[]>;
  const exec = (fsrootNative() as unknown as { nlExec: Exec }).nlExec;
  const up = linkUp('lo');
  assert.throws(() => exec('', false, ['not a buffer'], [], false), /bad message/);
  assert.throws(() => exec('', false, [up.buf], [[0, up.buf.length, 'lo']], false), /bad patch/);
  assert.throws(() => exec('', false, [up.buf], [[0, 20, 'x'.repeat(16)]], false), /bad interface name/);
  assert.throws(() => exec('', true, [], [], false), /create needs a namespace path/);
  await assert.rejects(exec('/run/netns/berth-no-such-ns', false, [up.buf], [], false), /open namespace/);
  const gone = linkDel(`nl${randomBytes(4).toString('hex')}`);
  assert.deepEqual(await exec('', false, [gone.buf, gone.buf], [], true), [19, 19]);
  assert.deepEqual(await exec('', false, [gone.buf, gone.buf], [], false), [19]);
  assert.deepEqual(await exec('', false, [up.buf], [[0, 20, 'berthnosuchif']], false), [19]);
  // socketsIn (the embedded DNS's sockets) shares the namespace entry and the settling
  type Sockets = (ns: string, specs: unknown[]) => Promise<number[]>;
  const sockets = (fsrootNative() as unknown as { socketsIn: Sockets }).socketsIn;
  assert.throws(() => sockets('/run/netns/x', [['icmp', '127.0.0.11', 53]]), /bad protocol/);
  assert.throws(() => sockets('/run/netns/x', [['udp', '127.0.0.256', 53]]), /bad address/);
  assert.throws(() => sockets('/run/netns/x', []), /bad socket list/);
  assert.throws(() => sockets('/run/netns/x', ['udp']), /bad protocol/);
  assert.throws(() => sockets('/run/netns/x', [['udp', '127.0.0.11']]), /bad port/);
  await assert.rejects(sockets('/run/netns/berth-no-such-ns', [['udp', '127.0.0.11', 53]]), /open namespace/);
});
