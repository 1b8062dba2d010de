// /networks: thin handlers over the network service.
import type { Router } from '../router';
import type { NetworkService } from '../../network/service';
import { InvalidParameter } from '../../util/errors';

/** What the network routes call (moby's router/network backend). */
export type NetworkBackend = Pick<NetworkService,
  'list' | 'toJson' | 'create' | 'prune' | 'inspectLookup' | 'remove' | 'connectContainer' | 'disconnectContainer'>;

export function registerNetworkRoutes(r: Router, svc: NetworkBackend): void {
  r.get('/networks', (ctx) => {
    ctx.send(200, svc.list(ctx.filters()).map((n) => svc.toJson(n, false)));
  });
  r.post('/networks/create', async (ctx) => {
    await ctx.requireJson();
    const body = await ctx.json();
    if (!body || typeof body !== 'object') throw new InvalidParameter('network name is required');
    ctx.send(201, await svc.create(body));
  });
  r.post('/networks/prune', async (ctx) => {
    ctx.send(200, { NetworksDeleted: await svc.prune(ctx.filters()) });
  });
  r.get('/networks/:id', (ctx) => {
    ctx.send(200, svc.toJson(svc.inspectLookup(ctx.params.id), true, ctx.bool('verbose')));
  });
  r.delete('/networks/:id', async (ctx) => {
    await svc.remove(ctx.params.id);
    ctx.send(204);
  });
  r.post('/networks/:id/connect', async (ctx) => {
    await ctx.requireJson();
    const body = (await ctx.json()) ?? {};
    await svc.connectContainer(ctx.params.id, String(body.Container ?? ''), body.EndpointConfig ?? {});
    ctx.send(200);
  });
  r.post('/networks/:id/disconnect', async (ctx) => {
    await ctx.requireJson();
    const body = (await ctx.json()) ?? {};
    await svc.disconnectContainer(ctx.params.id, String(body.Container ?? ''), !!body.Force);
    ctx.send(200);
  });
}
