// The overlay rows' floor: the same VXLAN data path built from bare kernel
// devices, no engine, no netfilter rules. Two "hosts" (namespaces) joined by
// one veth pair (a wire: real hosts have a NIC and a switch, not a Linux
// bridge with the root namespace's hooks); on each a bridge and a VXLAN
// device (VNI 42, UDP 4789, static FDB and ARP entries as the engines program
// them, MTU 1450); three "containers": a and c on host A's bridge (the bridge
// limit), b on host B (across the VXLAN). iperf3 in those namespaces times
// 1 GiB over each path. What an engine's overlay costs beyond this is the
// engine's; what this costs beyond the bridge is the kernel's encapsulation
// and two more namespace hops on this machine.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

async function sh(cmd: string, args: string[]): Promise<string> {
  return (await exec(cmd, args, { timeout: 30_000 })).stdout;
}

/**
 * An iperf3 `-n 1G` sample's time: the receiver's seconds, scaled to 1 GiB
 * (its count ends a little short of what was sent: its last interval).
 * Less than 0.9 GiB received is a failed sample.
 */
export function gibSeconds(sum: { bytes?: number; seconds?: number } | undefined): number {
  const bytes = Number(sum?.bytes);
  const seconds = Number(sum?.seconds);
  if (!(bytes >= 0.9 * 2 ** 30) || !(seconds > 0)) throw new Error(`iperf3 received ${sum?.bytes ?? 'nothing'} bytes, not 1 GiB`);
  return (seconds * 2 ** 30) / bytes;
}

export interface VxlanFloor {
  /** Seconds for 1 GiB container a → b across the bare VXLAN (receiver's time). */
  overlay(): Promise<number>;
  /** Seconds for 1 GiB container a → c on host A's bridge. */
  bridge(): Promise<number>;
  destroy(): Promise<void>;
}

export async function vxlanFloor(tag = `bfl${process.pid % 1000}`): Promise<VxlanFloor> {
  const ns = { a: `${tag}ha`, b: `${tag}hb`, ca: `${tag}ca`, cb: `${tag}cb`, cc: `${tag}cc` };
  const destroy = async () => {
    for (const n of Object.values(ns)) await sh('ip', ['netns', 'delete', n]).catch(() => undefined);
  };
  await destroy();
  try {
    for (const n of Object.values(ns)) {
      await sh('ip', ['netns', 'add', n]);
      await sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    }
    await sh('ip', ['link', 'add', `${tag}u`, 'netns', ns.a, 'type', 'veth', 'peer', 'name', `${tag}v`, 'netns', ns.b]);
    const under = { a: '192.168.231.1', b: '192.168.231.2' };
    for (const [h, dev] of [['a', `${tag}u`], ['b', `${tag}v`]] as const) {
      const n = ns[h];
      await sh('ip', ['-n', n, 'addr', 'add', `${under[h]}/24`, 'dev', dev]);
      await sh('ip', ['-n', n, 'link', 'set', dev, 'up']);
      await sh('ip', ['-n', n, 'link', 'add', 'br0', 'type', 'bridge']);
      await sh('ip', ['-n', n, 'link', 'set', 'br0', 'mtu', '1450', 'up']);
      await sh('ip', ['-n', n, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', under[h], 'dstport', '4789', 'nolearning', 'udpcsum']);
      await sh('ip', ['-n', n, 'link', 'set', 'vx0', 'mtu', '1450', 'master', 'br0', 'up']);
    }
    const addr = { ca: '10.231.0.2', cb: '10.231.0.3', cc: '10.231.0.4' };
    const mac: Record<string, string> = {};
    for (const [c, h] of [['ca', 'a'], ['cb', 'b'], ['cc', 'a']] as const) {
      await sh('ip', ['link', 'add', `${tag}${c}`, 'netns', ns[h], 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[c]]);
      await sh('ip', ['-n', ns[h], 'link', 'set', `${tag}${c}`, 'mtu', '1450', 'master', 'br0', 'up']);
      await sh('ip', ['-n', ns[c], 'link', 'set', 'eth0', 'mtu', '1450', 'up']);
      await sh('ip', ['-n', ns[c], 'addr', 'add', `${addr[c]}/24`, 'dev', 'eth0']);
      mac[c] = /link\/ether ([0-9a-f:]+)/.exec(await sh('ip', ['-n', ns[c], 'link', 'show', 'eth0']))![1];
    }
    // the remote container's MAC behind the VXLAN, on both sides; its ARP entry in the container
    for (const [h, peer, remote] of [['a', 'cb', under.b], ['b', 'ca', under.a]] as const) {
      await sh('bridge', ['-n', ns[h], 'fdb', 'add', mac[peer], 'dev', 'vx0', 'dst', remote, 'self', 'permanent']);
      await sh('bridge', ['-n', ns[h], 'fdb', 'add', mac[peer], 'dev', 'vx0', 'master', 'static']);
    }
    await sh('ip', ['-n', ns.ca, 'neigh', 'add', addr.cb, 'lladdr', mac.cb, 'dev', 'eth0', 'nud', 'permanent']);
    await sh('ip', ['-n', ns.cb, 'neigh', 'add', addr.ca, 'lladdr', mac.ca, 'dev', 'eth0', 'nud', 'permanent']);
  } catch (err) {
    await destroy();
    throw err;
  }
  const iperf = async (server: string, to: string): Promise<number> => {
    const srv = exec('ip', ['netns', 'exec', server, 'iperf3', '-s', '-1', '-p', '5201'], { timeout: 60_000 }).catch(() => undefined);
    let last = '';
    for (let i = 0; i < 20; i++) {
      const r = await exec('ip', ['netns', 'exec', ns.ca, 'iperf3', '-c', to, '-p', '5201', '-n', '1G', '-J'], { timeout: 60_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
      const sum = (JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bytes: number; seconds: number } }; error?: string });
      if (sum.end?.sum_received) {
        await srv;
        return gibSeconds(sum.end.sum_received);
      }
      last = sum.error ?? r.stdout.slice(-200);
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`iperf3 on the bare lab did not connect: ${last}`);
  };
  return {
    overlay: () => iperf(ns.cb, '10.231.0.3'),
    bridge: () => iperf(ns.cc, '10.231.0.4'),
    destroy,
  };
}
