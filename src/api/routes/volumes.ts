// /volumes: thin handlers over the volume service.
import type { Router } from '../router';
import type { VolumeService } from '../../volume/service';

/** What the volume routes call (moby's router/volume backend). */
export type VolumeBackend = Pick<VolumeService, 'list' | 'toJson' | 'create' | 'prune' | 'get' | 'remove'>;

export function registerVolumeRoutes(r: Router, svc: VolumeBackend): void {
  r.get('/volumes', (ctx) => {
    ctx.send(200, { Volumes: svc.list(ctx.filters()).map((v) => svc.toJson(v)), Warnings: null });
  });
  r.post('/volumes/create', async (ctx) => {
    await ctx.requireJson();
    const body = (await ctx.json()) ?? {};
    ctx.send(201, svc.toJson(svc.create(body)));
  });
  r.post('/volumes/prune', async (ctx) => {
    ctx.send(200, await svc.prune(ctx.filters()));
  });
  r.get('/volumes/:name', (ctx) => {
    ctx.send(200, svc.toJson(svc.get(ctx.params.name)));
  });
  r.delete('/volumes/:name', async (ctx) => {
    await svc.remove(ctx.params.name, ctx.bool('force'));
    ctx.send(204);
  });
}
