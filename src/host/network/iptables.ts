// iptables plumbing. The daemon owns a few chains (named from its prefix) and
// rewrites all of their rules in one `iptables-restore --noflush` run, which
// flushes and refills just the declared chains atomically: the rules always
// equal the state, also after a crash. Jumps from the built-in chains are
// added once and removed at shutdown.
import { execHost } from '../exec';

export interface ChainSet {
  /** Chain name → rules (arguments after `-A <chain>`), per table. */
  filter: Record<string, string[]>;
  nat: Record<string, string[]>;
  /** Before connection tracking: what it need not see (NOTRACK). */
  raw?: Record<string, string[]>;
}

export type Table = 'filter' | 'nat' | 'raw';

export interface Jump {
  table: Table;
  chain: string;
  args: string[];
}

export async function applyChains(set: ChainSet): Promise<void> {
  let text = '';
  for (const table of ['filter', 'nat', 'raw'] as const) {
    const chains = set[table];
    if (!chains) continue;
    text += `*${table}\n`;
    for (const c of Object.keys(chains)) text += `:${c} - [0:0]\n`;
    for (const [c, rules] of Object.entries(chains)) for (const r of rules) text += `-A ${c} ${r}\n`;
    text += 'COMMIT\n';
  }
  await execHost('iptables-restore', ['--noflush', '-w', '5'], { input: text, timeout: 20_000 });
}

export async function ensureJump(j: Jump): Promise<void> {
  const check = await execHost('iptables', ['-w', '5', '-t', j.table, '-C', j.chain, ...j.args], { allowFailure: true });
  if (check.code === 0) return;
  await execHost('iptables', ['-w', '5', '-t', j.table, '-I', j.chain, '1', ...j.args]);
}

export async function removeJump(j: Jump): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const r = await execHost('iptables', ['-w', '5', '-t', j.table, '-D', j.chain, ...j.args], { allowFailure: true });
    if (r.code !== 0) return;
  }
}

export async function deleteChain(table: string, chain: string): Promise<void> {
  await execHost('iptables', ['-w', '5', '-t', table, '-F', chain], { allowFailure: true });
  await execHost('iptables', ['-w', '5', '-t', table, '-X', chain], { allowFailure: true });
}

/** All rules of a table as `iptables -S` prints them (for leak checks). */
export async function listRules(table: string): Promise<string> {
  return (await execHost('iptables', ['-w', '5', '-t', table, '-S'])).stdout;
}
