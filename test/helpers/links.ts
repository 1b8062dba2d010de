// One bridge endpoint scenario on the host plumbing (src/host/network/ip.ts),
// run by network-links.test.ts in-process (rtnetlink through the addon) and
// as a child with BERTH_NETLINK=0 (the `ip` programs): both must leave the
// kernel in the same state. Run as a script it prints that state as JSON.
import { execFileSync } from 'node:child_process';
import * as ip from '../../src/host/network/ip';

export interface LinkState {
  /** Inside the namespace: interfaces (name, mtu, mac, up, addresses) and routes. */
  inside: unknown;
  /** The host ends: mtu, master, up. */
  host: unknown;
  /** After attach + detach of a second endpoint. */
  afterDetach: string[];
  /** Left over after teardown: links and namespaces of the scenario. */
  leftover: string[];
  /** Message of the failed start on a missing bridge, and what it left. */
  failure: { message: string; leftover: string[] };
}

function ipJson(args: string[]): Array<Record<string, unknown>> {
  return JSON.parse(execFileSync('ip', ['-j', ...args]).toString() || '[]') as Array<Record<string, unknown>>;
}

function leftovers(tag: string): string[] {
  return [...ip.listLinks(), ...ip.listNetns()].filter((n) => n.includes(tag));
}

/** `tag`: 6 characters unique to the caller, in every name made here. */
export async function scenario(tag: string): Promise<LinkState> {
  const bridge = `${tag}br`;
  const ns = `${tag}ns`;
  const subnet = 10 + (parseInt(tag.slice(-2), 16) % 200);
  const v4 = (h: number) => `10.${subnet}.77.${h}`;
  const v6 = (h: number) => `fd00:${subnet}:77::${h}`;
  await ip.ensureBridge(bridge, `${v4(1)}/24`, 1500, `${v6(1)}/64`);
  try {
    const s = await ip.beginNetns(ns, [
      { netns: ns, bridge, hostIf: `${tag}va`, ifName: 'eth0', addrCidr: `${v4(2)}/24`, mac: '02:42:0a:4d:00:02', gateway: v4(1), addr6Cidr: `${v6(2)}/64`, gateway6: v6(1), extraAddrs: ['169.254.7.7/16', 'fe80::7/64'], mtu: 1450 },
      { netns: ns, bridge, hostIf: `${tag}vb`, ifName: 'eth1', addrCidr: `${v4(3)}/24`, mac: '02:42:0a:4d:00:03' },
    ]);
    const err = await s.inside;
    if (err) throw err;
    const inside = {
      links: ipJson(['-n', ns, 'addr']).map((l) => ({
        name: l.ifname,
        mtu: l.mtu,
        mac: l.address,
        up: (l.flags as string[]).includes('UP'),
        addrs: (l.addr_info as Array<Record<string, unknown>>).filter((a) => a.scope !== 'link' || a.local === 'fe80::7').map((a) => `${String(a.local)}/${String(a.prefixlen)}`).sort(),
      })),
      routes: [...ipJson(['-n', ns, 'route']), ...ipJson(['-n', ns, '-6', 'route'])].filter((r) => r.dst === 'default').map((r) => `${String(r.gateway)} ${String(r.dev)} ${String(r.protocol ?? '')}`).sort(),
    };
    const host = [`${tag}va`, `${tag}vb`].map((n) => {
      const l = ipJson(['link', 'show', 'dev', n])[0];
      return { mtu: l.mtu, master: l.master, up: (l.flags as string[]).includes('UP') };
    });
    await ip.attachVeth({ netns: ns, bridge, hostIf: `${tag}vc`, ifName: 'eth2', addrCidr: `${v4(4)}/24`, mac: '02:42:0a:4d:00:04' });
    await ip.detachVeth(`${tag}vc`, ns, 'eth2');
    const afterDetach = ipJson(['-n', ns, 'link']).map((l) => String(l.ifname)).sort();
    await ip.teardownNetns(ns, [`${tag}va`, `${tag}vb`]);
    const leftover = leftovers(tag).filter((n) => n !== bridge);
    let message = '';
    try {
      // (by rtnetlink the pair is made in the half that overlaps runc create: setupNetns awaits both and cleans up)
      await ip.setupNetns(`${tag}nx`, [{ netns: `${tag}nx`, bridge: `${tag}no`, hostIf: `${tag}vx`, ifName: 'eth0', addrCidr: `${v4(5)}/24`, mac: '02:42:0a:4d:00:05' }]);
    } catch (e) {
      message = (e as Error).message;
    }
    return { inside, host, afterDetach, leftover, failure: { message, leftover: leftovers(tag).filter((n) => n !== bridge) } };
  } finally {
    await ip.teardownNetns(ns, [`${tag}va`, `${tag}vb`, `${tag}vc`]);
    await ip.deleteLink(bridge);
  }
}

if (require.main === module) {
  scenario(process.argv[2]).then(
    (s) => process.stdout.write(JSON.stringify(s)),
    (e: Error) => {
      process.stderr.write(String(e.stack));
      process.exit(1);
    },
  );
}
