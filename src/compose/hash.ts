// com.docker.compose.config-hash: sha256 of the service's normalised config
// without what Compose v2 leaves out (build, pull_policy, scale,
// deploy.replicas, depends_on, profiles), so scaling or rebuilding does not
// recreate. The JSON is ours (keys sorted), not compose-go's struct order, so
// the value differs from Docker's Compose for the same file.
import { createHash } from 'node:crypto';
import type { ServiceConfig } from './types';

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = canonical(x);
    }
    return out;
  }
  return v;
}

export function serviceHash(s: ServiceConfig): string {
  const o: Record<string, unknown> = { ...s };
  delete o.build;
  delete o.pull_policy;
  delete o.scale;
  delete o.depends_on;
  delete o.profiles;
  if (s.deploy) {
    const d = { ...s.deploy };
    delete d.replicas;
    o.deploy = d;
  }
  return createHash('sha256').update(JSON.stringify(canonical(o))).digest('hex');
}
