// Internal load balancing of swarm service VIPs. Docker programs IPVS in each
// container's namespace; this kernel has no IPVS, so the default backend is
// iptables: in each client container's own namespace, a `BERTH-VIP` chain of
// the nat table's OUTPUT DNATs a new connection to a VIP to one backend
// chosen by `statistic --mode random` (probabilities 1/n, 1/(n-1), … 1, so
// every backend is equally likely). Replies are un-NATed by the client's own
// conntrack, so no SNAT and no per-node load-balancer address are needed.
// Another backend (IPVS where the kernel has it, nftables numgen) implements
// the same interface.
import { execHost } from '../host/exec';
import { netnsPath } from '../host/network/ip';

/** One VIP and the task addresses behind it. */
export interface VipTable { vip: string; backends: string[] }

export interface VipBalancer {
  /** Makes namespace `netns` balance exactly these VIPs (an empty list removes them). */
  apply(netns: string, tables: VipTable[]): Promise<void>;
  /** The namespace went (its rules went with it). */
  forget(netns: string): void;
}

const CHAIN = 'BERTH-VIP';

/** The iptables-restore input for one namespace (exported for tests). */
export function vipRules(tables: VipTable[], withJump: boolean): string {
  const out = ['*nat', `:${CHAIN} - [0:0]`];
  if (withJump) out.push(`-I OUTPUT 1 -j ${CHAIN}`);
  for (const t of [...tables].sort((a, b) => a.vip.localeCompare(b.vip))) {
    const b = [...t.backends].sort();
    b.forEach((ip, i) => {
      const left = b.length - i;
      const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(8)}` : '';
      out.push(`-A ${CHAIN} -d ${t.vip}/32${stat} -j DNAT --to-destination ${ip}`);
    });
  }
  out.push('COMMIT', '');
  return out.join('\n');
}

export class IptablesBalancer implements VipBalancer {
  /** What each namespace has now (the rules text), so a sync that changes nothing runs nothing. */
  private readonly applied = new Map<string, string>();

  async apply(netns: string, tables: VipTable[]): Promise<void> {
    const key = vipRules(tables, false);
    const had = this.applied.get(netns);
    if (had === key) return;
    if (had === undefined && tables.every((t) => t.backends.length === 0)) return;
    await execHost('nsenter', [`--net=${netnsPath(netns)}`, 'iptables-restore', '--noflush'], {
      input: vipRules(tables, had === undefined),
      timeout: 15_000,
    });
    this.applied.set(netns, key);
  }

  forget(netns: string): void {
    this.applied.delete(netns);
  }
}
