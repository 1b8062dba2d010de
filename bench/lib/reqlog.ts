// Per-endpoint time from berthd's debug log ({"msg":"request","method","url","ms"}
// lines): which API calls a CLI command makes and how long each takes in the daemon.
import fs from 'node:fs';
import { summarize } from './stats';

/** /v1.43/containers/3f2a.../start?x=1 → POST /containers/{id}/start */
export function endpointOf(method: string, url: string): string {
  const p = url
    .split('?')[0]
    .replace(/^\/v\d+\.\d+/, '')
    .replace(/\/[0-9a-f]{12,64}(?=\/|$)/g, '/{id}')
    .replace(/^\/(containers|exec|images)\/(?!json$|create$|load$|prune$)[^/]+(?=\/|$)/, '/$1/{id}');
  return `${method} ${p}`;
}

export function summarizeRequestLog(file: string): string | undefined {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const by = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    if (!line.includes('"request"')) continue;
    try {
      const o = JSON.parse(line) as { msg?: string; method?: string; url?: string; ms?: number };
      if (o.msg !== 'request' || !o.method || !o.url || typeof o.ms !== 'number') continue;
      const k = endpointOf(o.method, o.url);
      by.set(k, [...(by.get(k) ?? []), o.ms]);
    } catch {
      /* not JSON */
    }
  }
  if (!by.size) return undefined;
  const rows = [...by.entries()]
    .map(([k, v]) => ({ k, s: summarize(v)!, total: v.reduce((a, b) => a + b, 0) }))
    .sort((a, b) => b.total - a.total);
  const out = ['### Time in berthd per API endpoint (debug log)', '', '| endpoint | calls | median ms | max ms | total ms |', '|---|---:|---:|---:|---:|'];
  for (const r of rows) out.push(`| ${r.k} | ${r.s.n} | ${r.s.median.toFixed(0)} | ${r.s.max.toFixed(0)} | ${r.total.toFixed(0)} |`);
  return out.join('\n') + '\n';
}
