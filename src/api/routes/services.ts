// /services and /tasks (swarm mode, part 2): thin handlers over the manager's
// service API (src/swarm/services.ts). Logs of services and tasks are served
// elsewhere (the agent's side).
import type { Router } from '../router';
import type { Ctx } from '../context';

type Json = Record<string, unknown>;

/** What the service and task routes need of the daemon. */
export interface ServicesBackend {
  createService(spec: Json | undefined): Promise<Json>;
  listServices(filters: Record<string, string[]>, withStatus: boolean): Promise<Json[]>;
  inspectService(ref: string, insertDefaults: boolean): Promise<Json>;
  updateService(ref: string, version: number | undefined, spec: Json | undefined, rollback: string | undefined): Promise<Json>;
  removeService(ref: string): Promise<void>;
  listTasks(filters: Record<string, string[]>): Promise<Json[]>;
  inspectTask(ref: string): Promise<Json>;
  /** Throws dockerd's 503 unless this node is an active manager. */
  requireManager(): void;
}

const version = (ctx: Ctx): number | undefined => {
  const v = ctx.query.get('version');
  return v === null || v === '' ? undefined : Number(v);
};

export function registerServiceRoutes(r: Router, s: ServicesBackend): void {
  r.post('/services/create', async (ctx) => {
    await ctx.requireJson();
    ctx.send(201, await s.createService(await ctx.json<Json>()));
  });
  r.get('/services', async (ctx) => ctx.send(200, await s.listServices(ctx.filters(), ctx.bool('status'))));
  r.get('/services/:id', async (ctx) => ctx.send(200, await s.inspectService(ctx.params.id, ctx.bool('insertDefaults'))));
  r.post('/services/:id/update', async (ctx) => {
    await ctx.requireJson();
    ctx.send(200, await s.updateService(ctx.params.id, version(ctx), await ctx.json<Json>(), ctx.str('rollback')));
  });
  r.delete('/services/:id', async (ctx) => {
    await s.removeService(ctx.params.id);
    ctx.send(200);
  });
  r.get('/tasks', async (ctx) => ctx.send(200, await s.listTasks(ctx.filters())));
  r.get('/tasks/:id', async (ctx) => ctx.send(200, await s.inspectTask(ctx.params.id)));
}
