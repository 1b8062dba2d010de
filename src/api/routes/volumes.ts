// /volumes: thin handlers over the volume service.
import type { Router } from '../router';
import type { Daemon } from '../../daemon/daemon';

export function registerVolumeRoutes(r: Router, d: Daemon): void {
  r.get('/volumes', (ctx) => {
    ctx.send(200, { Volumes: d.volumes.list(ctx.filters()).map((v) => d.volumes.toJson(v)), Warnings: null });
  });
  r.post('/volumes/create', async (ctx) => {
    await ctx.requireJson();
    const body = (await ctx.json()) ?? {};
    ctx.send(201, d.volumes.toJson(d.volumes.create(body)));
  });
  r.post('/volumes/prune', async (ctx) => {
    ctx.send(200, await d.volumes.prune(ctx.filters()));
  });
  r.get('/volumes/:name', (ctx) => {
    ctx.send(200, d.volumes.toJson(d.volumes.get(ctx.params.name)));
  });
  r.delete('/volumes/:name', async (ctx) => {
    await d.volumes.remove(ctx.params.name, ctx.bool('force'));
    ctx.send(204);
  });
}
