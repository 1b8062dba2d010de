// Host state the two engines leave behind, read and removed by the harness:
// process trees and their memory, mounts, bridges, network namespaces and
// iptables rules. Cleanup is synchronous and best-effort, so it can also run
// from an exit handler after Ctrl-C.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { quiet } from './proc';

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
}

export function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      // comm may hold spaces and parentheses: the fields after it start at the last ')'.
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(name), ppid, comm, cmdline });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** Resident set size and proportional set size of one process, in KiB. */
export function memoryOf(pid: number): { rssKiB: number; pssKiB: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)/m.exec(status);
    let pss: RegExpExecArray | null = null;
    try {
      pss = /^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    } catch {
      /* older kernels have no smaps_rollup */
    }
    if (!rss) return undefined;
    return { rssKiB: Number(rss[1]), pssKiB: pss ? Number(pss[1]) : NaN };
  } catch {
    return undefined;
  }
}

/** pid and its descendants, not descending into processes `stop` matches. */
export function processTree(procs: ProcInfo[], root: number, stop: (p: ProcInfo) => boolean): ProcInfo[] {
  const byParent = new Map<number, ProcInfo[]>();
  for (const p of procs) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const self = procs.find((p) => p.pid === root);
  if (!self) return [];
  const out: ProcInfo[] = [self];
  for (let i = 0; i < out.length; i++) {
    for (const c of byParent.get(out[i].pid) ?? []) if (!stop(c)) out.push(c);
  }
  return out;
}

/** SIGKILLs every process whose command line mentions `marker` (a private tmp root). */
export function killByMarker(marker: string): void {
  // The root itself or a path under it, never a longer name that starts the same.
  const esc = marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`(^|[\\s=])${esc}(/|\\s|$)`);
  for (const p of listProcs()) {
    if (p.pid !== process.pid && re.test(p.cmdline)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

/** Lazily unmounts everything at or under `dir`, deepest first. */
export function unmountUnder(dir: string): void {
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) quiet('umount', ['-l', m]);
}

/** Deletes runc containers whose state lives under `dir` (any depth up to 5). */
export function deleteRuncContainers(dir: string): void {
  const walk = (d: string, depth: number): void => {
    if (depth > 5) return;
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isFile() && e.name === 'state.json') quiet('runc', ['--root', path.dirname(d), 'delete', '--force', path.basename(d)]);
      else if (e.isDirectory()) walk(path.join(d, e.name), depth + 1);
    }
  };
  walk(dir, 0);
}

/** Names of the network interfaces in this network namespace. */
export function linkNames(): string[] {
  const names: string[] = [];
  for (const line of quiet('ip', ['-o', 'link', 'show']).split('\n')) {
    const m = /^\d+:\s+([^:@]+)/.exec(line);
    if (m) names.push(m[1]);
  }
  return names;
}

export function deleteLinksMatching(match: (name: string) => boolean): void {
  for (const name of linkNames()) if (match(name)) quiet('ip', ['link', 'delete', name]);
}

export function deleteNetnsMatching(match: (name: string) => boolean): void {
  for (const line of quiet('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0];
    if (name && match(name)) quiet('ip', ['netns', 'delete', name]);
  }
}

/** Splits an iptables-save rule into argv, honouring double quotes. */
function ruleArgs(rule: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rule))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return out;
}

/**
 * Removes rules that jump to one of our chains or mention one of our
 * interfaces, then flushes and deletes our chains, in the filter, nat and raw tables.
 */
export function removeIptables(isOurChain: (chain: string) => boolean, interfaces: string[]): void {
  for (const table of ['filter', 'nat', 'raw']) {
    const lines = quiet('iptables-save', ['-t', table]).split('\n');
    for (const line of lines) {
      if (!line.startsWith('-A ')) continue;
      const args = ruleArgs(line);
      const chain = args[1];
      if (isOurChain(chain)) continue; // goes away with the chain
      const jumps = args.some((a, i) => (args[i - 1] === '-j' || args[i - 1] === '-g') && isOurChain(a));
      const iface = args.some((a, i) => (args[i - 1] === '-i' || args[i - 1] === '-o') && interfaces.includes(a));
      if (jumps || iface) quiet('iptables', ['-w', '5', '-t', table, '-D', ...args.slice(1)]);
    }
    const chains = lines.map((l) => /^:(\S+)/.exec(l)?.[1]).filter((c): c is string => !!c && isOurChain(c));
    for (const c of chains) quiet('iptables', ['-w', '5', '-t', table, '-F', c]);
    for (const c of chains) quiet('iptables', ['-w', '5', '-t', table, '-X', c]);
  }
}

/** Rules keep their duplicates: two engines may add the same rule (`-A FORWARD -j DOCKER-USER`). */
export type IptablesSnapshot = Record<'filter' | 'nat', { chains: Set<string>; rules: string[] }>;

/** The chains and rules (iptables-save lines) of the filter and nat tables now. */
export function iptablesSnapshot(): IptablesSnapshot {
  const snap = {} as IptablesSnapshot;
  for (const table of ['filter', 'nat'] as const) {
    const lines = quiet('iptables-save', ['-t', table]).split('\n');
    snap[table] = {
      chains: new Set(lines.map((l) => /^:(\S+)/.exec(l)?.[1]).filter((c): c is string => !!c)),
      rules: lines.filter((l) => l.startsWith('-A ')),
    };
  }
  return snap;
}

/**
 * Removes what one engine whose chain names are shared with others (dockerd's
 * DOCKER*) put into iptables, and nothing else: every rule that names one of
 * its `interfaces` or an address of its `subnets` (/24 prefixes like
 * "10.213.5."); and, only when `since` is given and `othersAlive` is false, the
 * rules and chains that appeared after `since` (then no other engine can be
 * using them). Rules and chains that existed before stay whatever they are.
 */
export function removeOwnIptables(interfaces: string[], subnets: string[], since: IptablesSnapshot | undefined, othersAlive: boolean): void {
  const inSubnet = (a: string) => subnets.some((s) => a.replace(/[/:].*$/, '').startsWith(s));
  for (const table of ['filter', 'nat'] as const) {
    const now = iptablesSnapshot()[table];
    // Only Docker's own chain names: another engine (a test berthd, say) may add
    // rules and chains of its own meanwhile, and those are never ours.
    const dockers = (c: string | undefined) => !!c && c.startsWith('DOCKER');
    const newChains = since && !othersAlive ? [...now.chains].filter((c) => !since[table].chains.has(c) && dockers(c)) : [];
    // How many copies of each rule were there before: those copies are not ours.
    const before = new Map<string, number>();
    for (const l of since?.[table].rules ?? []) before.set(l, (before.get(l) ?? 0) + 1);
    for (const line of now.rules) {
      const older = (before.get(line) ?? 0) > 0;
      if (older) before.set(line, before.get(line)! - 1);
      const args = ruleArgs(line);
      if (newChains.includes(args[1])) continue; // goes with the chain
      const mine = args.some((a, i) => {
        const flag = args[i - 1];
        return ((flag === '-i' || flag === '-o') && interfaces.includes(a)) || ((flag === '-s' || flag === '-d' || flag === '--to-destination') && inSubnet(a));
      });
      const jump = args[args.indexOf('-j') + 1];
      const appeared = !!since && !othersAlive && !older && (dockers(args[1]) || (args.includes('-j') && dockers(jump)));
      if (mine || appeared) quiet('iptables', ['-w', '5', '-t', table, '-D', ...args.slice(1)]);
    }
    for (const c of newChains) quiet('iptables', ['-w', '5', '-t', table, '-F', c]);
    for (const c of newChains) quiet('iptables', ['-w', '5', '-t', table, '-X', c]);
  }
}

/** The policy of a built-in filter chain, e.g. FORWARD → ACCEPT. */
export function chainPolicy(chain: string): string | undefined {
  return /^-P \S+ (\S+)/m.exec(quiet('iptables', ['-w', '5', '-S', chain]))?.[1];
}

/** Picks a free /21 in 10.213.x.0 not used by any interface. */
export function freeSubnet(seed: number): string {
  // A /21 (2,046 addresses): the scale workload runs 1,000 containers on one bridge.
  const used = quiet('ip', ['-o', '-4', 'addr', 'show']);
  for (let i = 0; i < 31; i++) {
    const b = ((seed + i) % 31) * 8;
    if (Array.from({ length: 8 }, (_, k) => ` 10.213.${b + k}.`).every((net) => !used.includes(net))) return `10.213.${b}.1/21`;
  }
  throw new Error('no free 10.213.x.0/21 subnet for a bench bridge');
}

/**
 * Writes back what a removal left, drops the clean page cache and reads each
 * of `inputs` back into it. On ext4 without a journal (this machine's root)
 * an inode allocation skips every free inode freed in the last 60 s (360 s
 * while its inode-table block is dirty) whose block is cached, a buffer
 * lookup each: `tar -x` of the ~9,000-entry rootfs took 3–8 s right after the
 * previous one's removal and 0.6 s otherwise. Dropping the cache helps only
 * in part (an allocation reads its block back, and its neighbours' times
 * with it), so rows that extract trees remove nothing between samples.
 */
export function settleRemovals(...inputs: string[]): void {
  execFileSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
  for (const f of inputs) execFileSync('cat', [f], { stdio: ['ignore', 'ignore', 'inherit'] });
}
