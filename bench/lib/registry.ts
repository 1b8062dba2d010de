// The workload registry: every module under bench/workloads/ that exports
// `workload` (or `workloads`) is picked up, so adding a row means adding one file.
import fs from 'node:fs';
import path from 'node:path';
import type { Workload } from './bench';

export function loadWorkloads(dir = path.join(__dirname, '..', 'workloads')): Workload[] {
  const out: Workload[] = [];
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.js')) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- workloads are found at run time
    const mod = require(path.join(dir, f)) as { workload?: Workload; workloads?: Workload[] };
    if (mod.workload) out.push(mod.workload);
    if (mod.workloads) out.push(...mod.workloads);
  }
  const names = new Set<string>();
  for (const w of out) {
    if (names.has(w.name)) throw new Error(`two workloads are named ${w.name}`);
    names.add(w.name);
  }
  return out.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
}
