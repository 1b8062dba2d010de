// The depends_on graph: cycle detection with compose-go's message, and a
// parallel walk that starts each service once everything it depends on is
// done (up) or once everything depending on it is done (down), as
// compose's InDependencyOrder / InReverseDependencyOrder.
import { ComposeError } from './errors';
import type { ServiceConfig } from './types';

function deps(s: ServiceConfig, within: Record<string, unknown>): string[] {
  const out = Object.keys(s.depends_on ?? {}).filter((d) => d in within);
  const nm = s.network_mode;
  if (nm?.startsWith('service:') && nm.slice(8) in within && !out.includes(nm.slice(8))) out.push(nm.slice(8));
  return out;
}

/** Only the services whose container must exist before this one is created: namespaces shared, links, volumes_from. */
function createDeps(s: ServiceConfig, within: Record<string, unknown>): string[] {
  const refs = [s.network_mode, s.ipc, s.pid].filter((m): m is string => typeof m === 'string' && m.startsWith('service:')).map((m) => m.slice(8));
  for (const l of (s.links ?? []) as string[]) refs.push(l.split(':')[0]);
  for (const v of (s.volumes_from ?? []) as string[]) if (!v.startsWith('container:')) refs.push(v.split(':')[0]);
  return [...new Set(refs)].filter((d) => d in within);
}

export function checkCycles(services: Record<string, ServiceConfig>): void {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string) => {
    if (state.get(n) === 2) return;
    if (state.get(n) === 1) {
      const from = stack.indexOf(n);
      throw new ComposeError(`dependency cycle detected: ${[...stack.slice(from), n].join(' -> ')}`);
    }
    state.set(n, 1);
    stack.push(n);
    for (const d of deps(services[n], services)) visit(d);
    stack.pop();
    state.set(n, 2);
  };
  for (const n of Object.keys(services).sort()) visit(n);
}

/**
 * Run `fn` for every service in `names`, in parallel where the graph allows.
 * reverse: dependents first (stop/remove). edges 'create': only what creating a
 * container needs of another (depends_on orders starting, not creating). The first failure stops new work
 * and is thrown once the running ones finish.
 */
export async function walk(services: Record<string, ServiceConfig>, names: string[], fn: (name: string) => Promise<void>, reverse = false, edges: 'depends_on' | 'create' = 'depends_on'): Promise<void> {
  const set = new Set(names);
  const sub: Record<string, ServiceConfig> = {};
  for (const n of names) sub[n] = services[n];
  const before = new Map<string, string[]>();
  for (const n of names) before.set(n, []);
  for (const n of names) {
    for (const d of (edges === 'create' ? createDeps : deps)(services[n], sub)) {
      if (!set.has(d)) continue;
      // forward: d before n; reverse: n before d
      if (reverse) before.get(d)!.push(n);
      else before.get(n)!.push(d);
    }
  }
  const done = new Map<string, Promise<void>>();
  let failed: unknown;
  const run = (n: string): Promise<void> => {
    let p = done.get(n);
    if (p) return p;
    p = (async () => {
      await Promise.all(before.get(n)!.map(run));
      if (failed) return;
      try {
        await fn(n);
      } catch (e) {
        failed ??= e;
      }
    })();
    done.set(n, p);
    return p;
  };
  await Promise.all(names.map(run));
  if (failed) throw failed;
}
