// /swarm and /nodes (swarm mode, src/swarm/); services and tasks are in
// services.ts, secrets and configs in secrets.ts.
import type { Router } from '../router';
import type { Ctx } from '../context';
import { NO_SWARM, NOT_MANAGER } from '../../swarm/errors';
import type { InitRequest, JoinApiRequest, NodeSpecInput } from '../../swarm/service';

export { NO_SWARM, NOT_MANAGER as NO_MANAGER };

/** What the swarm routes need of the daemon. */
export interface SwarmBackend {
  inspect(): Promise<Record<string, unknown>>;
  initSwarm(req: InitRequest): Promise<string>;
  join(req: JoinApiRequest): Promise<void>;
  leave(force: boolean): Promise<void>;
  update(version: number | undefined, spec: Record<string, unknown> | undefined, flags: { rotateWorkerToken: boolean; rotateManagerToken: boolean; rotateManagerUnlockKey: boolean }): Promise<void>;
  unlockKey(): Promise<{ UnlockKey: string }>;
  unlock(): Promise<void>;
  listNodes(filters: Record<string, string[]>): Promise<Array<Record<string, unknown>>>;
  inspectNode(ref: string): Promise<Record<string, unknown>>;
  updateNode(ref: string, version: number | undefined, spec: NodeSpecInput): Promise<void>;
  removeNode(ref: string, force: boolean): Promise<void>;
  /** Throws dockerd's 503 unless this node is an active manager. */
  requireManager(): void;
}

const version = (ctx: Ctx) => {
  const v = ctx.query.get('version');
  return v === null ? undefined : Number(v);
};

export function registerSwarmRoutes(r: Router, s: SwarmBackend): void {
  r.get('/swarm', async (ctx) => ctx.send(200, await s.inspect()));
  r.post('/swarm/init', async (ctx) => ctx.send(200, await s.initSwarm((await ctx.json<InitRequest>()) ?? {})));
  r.post('/swarm/join', async (ctx) => {
    await s.join((await ctx.json<JoinApiRequest>()) ?? {});
    ctx.send(200);
  });
  r.post('/swarm/leave', async (ctx) => {
    await s.leave(ctx.bool('force'));
    ctx.send(200);
  });
  r.post('/swarm/update', async (ctx) => {
    await s.update(version(ctx), await ctx.json<Record<string, unknown>>(), {
      rotateWorkerToken: ctx.bool('rotateWorkerToken'),
      rotateManagerToken: ctx.bool('rotateManagerToken'),
      rotateManagerUnlockKey: ctx.bool('rotateManagerUnlockKey'),
    });
    ctx.send(200);
  });
  r.get('/swarm/unlockkey', async (ctx) => ctx.send(200, await s.unlockKey()));
  r.post('/swarm/unlock', async (ctx) => {
    await s.unlock();
    ctx.send(200);
  });

  r.get('/nodes', async (ctx) => ctx.send(200, await s.listNodes(ctx.filters())));
  r.get('/nodes/:id', async (ctx) => ctx.send(200, await s.inspectNode(ctx.params.id)));
  r.post('/nodes/:id/update', async (ctx) => {
    await s.updateNode(ctx.params.id, version(ctx), (await ctx.json<NodeSpecInput>()) ?? {});
    ctx.send(200);
  });
  r.delete('/nodes/:id', async (ctx) => {
    await s.removeNode(ctx.params.id, ctx.bool('force'));
    ctx.send(200);
  });
}
