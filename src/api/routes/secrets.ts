// /secrets and /configs (swarm mode, part 2): thin handlers over the
// manager's secret API (src/swarm/secrets.ts).
import type { Router } from '../router';
import type { Ctx } from '../context';

type Json = Record<string, unknown>;
type Kind = 'secrets' | 'configs';

/** What the secret and config routes need of the daemon. */
export interface SecretsBackend {
  create(kind: Kind, spec: Json | undefined): Promise<Json>;
  list(kind: Kind, filters: Record<string, string[]>): Promise<Json[]>;
  inspect(kind: Kind, ref: string): Promise<Json>;
  update(kind: Kind, ref: string, version: number | undefined, spec: Json | undefined): Promise<void>;
  remove(kind: Kind, ref: string): Promise<void>;
  /** Throws dockerd's 503 unless this node is an active manager (before the body is read). */
  requireManager(): void;
}

const version = (ctx: Ctx): number | undefined => {
  const v = ctx.query.get('version');
  return v === null || v === '' ? undefined : Number(v);
};

export function registerSecretRoutes(r: Router, s: SecretsBackend): void {
  for (const kind of ['secrets', 'configs'] as const) {
    r.get(`/${kind}`, async (ctx) => ctx.send(200, await s.list(kind, ctx.filters())));
    r.post(`/${kind}/create`, async (ctx) => {
      s.requireManager();
      await ctx.requireJson();
      ctx.send(201, await s.create(kind, await ctx.json<Json>()));
    });
    r.get(`/${kind}/:id`, async (ctx) => ctx.send(200, await s.inspect(kind, ctx.params.id)));
    r.post(`/${kind}/:id/update`, async (ctx) => {
      await s.update(kind, ctx.params.id, version(ctx), await ctx.json<Json>());
      ctx.send(200);
    });
    r.delete(`/${kind}/:id`, async (ctx) => {
      await s.remove(kind, ctx.params.id);
      ctx.send(204);
    });
  }
}
