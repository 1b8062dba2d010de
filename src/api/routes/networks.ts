// /networks: thin handlers over the network service.
import type { Router } from '../router';
import type { Daemon } from '../../daemon/daemon';
import { InvalidParameter } from '../../util/errors';

export function registerNetworkRoutes(r: Router, d: Daemon): void {
  r.get('/networks', (ctx) => {
    ctx.send(200, d.networks.list(ctx.filters()).map((n) => d.networks.toJson(n, false)));
  });
  r.post('/networks/create', async (ctx) => {
    await ctx.requireJson();
    const body = await ctx.json();
    if (!body || typeof body !== 'object') throw new InvalidParameter('network name is required');
    ctx.send(201, await d.networks.create(body));
  });
  r.post('/networks/prune', async (ctx) => {
    ctx.send(200, { NetworksDeleted: await d.networks.prune(ctx.filters()) });
  });
  r.get('/networks/:id', (ctx) => {
    ctx.send(200, d.networks.toJson(d.networks.inspectLookup(ctx.params.id)));
  });
  r.delete('/networks/:id', async (ctx) => {
    await d.networks.remove(ctx.params.id);
    ctx.send(204);
  });
  r.post('/networks/:id/connect', async (ctx) => {
    await ctx.requireJson();
    const body = (await ctx.json()) ?? {};
    await d.networks.connectContainer(ctx.params.id, String(body.Container ?? ''), body.EndpointConfig ?? {});
    ctx.send(200);
  });
  r.post('/networks/:id/disconnect', async (ctx) => {
    await ctx.requireJson();
    const body = (await ctx.json()) ?? {};
    await d.networks.disconnectContainer(ctx.params.id, String(body.Container ?? ''), !!body.Force);
    ctx.send(200);
  });
}
