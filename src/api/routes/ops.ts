// pause/unpause, stats, top, update: parse, call the ops service, encode.
import type { Router } from '../router';
import type { Daemon } from '../../daemon/daemon';

export function registerOpsRoutes(r: Router, d: Daemon): void {
  const svc = d.ops;

  r.post('/containers/:id/pause', async (ctx) => {
    await svc.pause(ctx.params.id);
    ctx.send(204);
  });

  r.post('/containers/:id/unpause', async (ctx) => {
    await svc.unpause(ctx.params.id);
    ctx.send(204);
  });

  r.get('/containers/:id/top', async (ctx) => {
    ctx.send(200, await svc.top(ctx.params.id, ctx.str('ps_args')));
  });

  r.post('/containers/:id/update', async (ctx) => {
    ctx.send(200, await svc.update(ctx.params.id, await ctx.json()));
  });

  r.get('/containers/:id/stats', async (ctx) => {
    d.containers.get(ctx.params.id); // 404 before the stream starts
    const stream = ctx.bool('stream', true);
    const res = ctx.stream(200, 'application/json');
    const closed = new Promise<void>((resolve) => {
      res.once('close', () => resolve());
      ctx.socket.once('close', () => resolve());
    });
    await svc.stats(ctx.params.id, { stream, oneShot: ctx.bool('one-shot') }, (s) => {
      if (!res.destroyed) res.write(JSON.stringify(s) + '\n');
    }, closed);
    if (!res.destroyed) res.end();
  });
}
