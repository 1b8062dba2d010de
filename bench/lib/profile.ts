// Summary of V8 CPU profiles (node --cpu-prof) written by berthd: where its
// on-CPU time went, by function and by source file (self time).
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const m = /\/(dist\/.*|node_modules\/.*)$/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return url;
  return url || '(native)';
}

function table(title: string, rows: [string, number][], totalMs: number, top = 25): string {
  const out = [`### ${title}`, '', '| self ms | % of on-CPU | where |', '|---:|---:|---|'];
  for (const [k, v] of rows.slice(0, top)) out.push(`| ${v.toFixed(1)} | ${((100 * v) / totalMs).toFixed(1)} | ${k.replace(/\|/g, '\\|')} |`);
  return out.join('\n');
}

/** Markdown summary of every *.cpuprofile in `dir`, or undefined when there is none. */
export function summarizeProfiles(dir: string): string | undefined {
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return undefined;
  }
  if (!files.length) return undefined;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  // Self time charged to the nearest Berth function on the stack: which of our
  // calls made node spend the time (e.g. spawn, lstat) on its behalf.
  const byOwn = new Map<string, number>();
  let wallMs = 0;
  let idleMs = 0;
  let totalMs = 0;
  for (const f of files) {
    const p = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CpuProfile;
    wallMs += (p.endTime - p.startTime) / 1000;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const ownFrame = (id: number): string => {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const cf = nodes.get(cur)!.callFrame;
        if (cf.url.includes('/dist/src/')) return `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
      }
      return '(no Berth frame: node internals, GC, timers)';
    };
    const self = new Map<number, number>();
    p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000));
    for (const [id, ms] of self) {
      const cf = nodes.get(id)!.callFrame;
      if (cf.functionName === '(idle)') {
        idleMs += ms;
        continue;
      }
      totalMs += ms;
      const file = shortUrl(cf.url);
      const fn = `${cf.functionName || '(anonymous)'} ${file}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
      byFn.set(fn, (byFn.get(fn) ?? 0) + ms);
      byFile.set(file, (byFile.get(file) ?? 0) + ms);
      const own = ownFrame(id);
      byOwn.set(own, (byOwn.get(own) ?? 0) + ms);
    }
  }
  const sort = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return [
    `## berthd CPU profile (${files.length} file${files.length > 1 ? 's' : ''})`,
    '',
    `Profiled wall time ${(wallMs / 1000).toFixed(1)} s, on-CPU ${(totalMs / 1000).toFixed(2)} s, idle ${(idleMs / 1000).toFixed(1)} s.`,
    '',
    table('By source file (self time)', sort(byFile), totalMs, 20),
    '',
    table('By function (self time)', sort(byFn), totalMs, 30),
    '',
    table('Charged to the nearest Berth function on the stack', sort(byOwn), totalMs, 30),
    '',
  ].join('\n');
}

if (require.main === module) {
  const s = summarizeProfiles(process.argv[2] ?? '.');
  process.stdout.write(s ?? 'no .cpuprofile files\n');
}
