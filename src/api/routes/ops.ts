// pause/unpause, stats, top, update: parse, call the ops service, encode.
import type { Router } from '../router';
import type { ContainerService } from '../../container/service';
import type { OpsService } from '../../container/ops';
import type { ArchiveService } from '../../container/archive';

/** What the pause/stats/top/update routes call (moby's stateBackend, monitorBackend). */
export interface OpsBackend {
  ops: Pick<OpsService, 'pause' | 'unpause' | 'top' | 'update' | 'stats'>;
  containers: Pick<ContainerService, 'get'>;
}

/** What the archive routes call (moby's copyBackend). */
export type ArchiveBackend = Pick<ArchiveService, 'stat' | 'get' | 'put'>;

export function registerOpsRoutes(r: Router, b: OpsBackend): void {
  const svc = b.ops;

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
    await ctx.requireJson();
    ctx.send(200, await svc.update(ctx.params.id, await ctx.json()));
  });

  r.get('/containers/:id/stats', async (ctx) => {
    b.containers.get(ctx.params.id); // 404 before the stream starts
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

/** X-Docker-Container-Path-Stat: base64 of the JSON stat, as Docker sends it. */
function statHeader(s: unknown): string {
  return Buffer.from(JSON.stringify(s)).toString('base64');
}

export function registerArchiveRoutes(r: Router, svc: ArchiveBackend): void {

  r.head('/containers/:id/archive', async (ctx) => {
    const st = await svc.stat(ctx.params.id, ctx.str('path') ?? '');
    ctx.send(200, undefined, { 'X-Docker-Container-Path-Stat': statHeader(st), 'Content-Type': 'application/json' });
  });

  r.get('/containers/:id/archive', async (ctx) => {
    const { stat, tar } = await svc.get(ctx.params.id, ctx.str('path') ?? '');
    const res = ctx.stream(200, 'application/x-tar', { 'X-Docker-Container-Path-Stat': statHeader(stat) });
    tar.on('error', () => res.destroy());
    res.on('close', () => tar.destroy());
    tar.pipe(res);
  });

  r.put('/containers/:id/archive', async (ctx) => {
    await svc.put(ctx.params.id, ctx.str('path') ?? '', ctx.req, {
      noOverwriteDirNonDir: ctx.bool('noOverwriteDirNonDir'),
      copyUIDGID: ctx.bool('copyUIDGID'),
    });
    ctx.send(200);
  });
}
