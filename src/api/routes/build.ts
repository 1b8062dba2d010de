// POST /build (classic builder, JSON-lines progress), /build/prune, /build/cancel.
import type { Router } from '../router';
import { InvalidParameter, messageOf } from '../../util/errors';
import { BuildStepError, type BuildOptions, type BuilderService } from '../../builder/service';

/** What the build routes call (moby's router/build backend). */
export type BuildBackend = Pick<BuilderService, 'validateTag' | 'prepare' | 'prune'>;

function jsonMap(raw: string | undefined, what: string): Record<string, any> {
  if (!raw) return {};
  try {
    const v = JSON.parse(raw);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch { /* fall through */ }
  throw new InvalidParameter(`failed to parse ${what}: ${raw}`);
}

function jsonList(raw: string | undefined, what: string): string[] {
  if (!raw) return [];
  try {
    const v = JSON.parse(raw);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch { /* fall through */ }
  throw new InvalidParameter(`failed to parse ${what}: ${raw}`);
}

export function registerBuildRoutes(r: Router, svc: BuildBackend): void {
  r.post('/build', async (ctx) => {
    if (ctx.str('remote')) throw new InvalidParameter('building from a remote URL is not supported');
    const opts: BuildOptions = {
      dockerfile: ctx.str('dockerfile') || 'Dockerfile',
      tags: ctx.query.getAll('t').filter(Boolean),
      buildArgs: jsonMap(ctx.str('buildargs'), 'buildargs'),
      noCache: ctx.bool('nocache'),
      rm: ctx.bool('rm', true),
      forceRm: ctx.bool('forcerm'),
      pull: ctx.bool('pull'),
      quiet: ctx.bool('q'),
      labels: jsonMap(ctx.str('labels'), 'labels'),
      target: ctx.str('target') || undefined,
      networkMode: ctx.str('networkmode') || undefined,
      // moby reads every `extrahosts` value (the docker CLI and docker-py repeat the parameter)
      extraHosts: ctx.query.getAll('extrahosts').flatMap((h) => h.split(',')).filter(Boolean),
      cacheFrom: jsonList(ctx.str('cachefrom'), 'cachefrom'),
    };
    for (const t of opts.tags) svc.validateTag(t);
    const prepared = await svc.prepare(ctx.req, opts);
    const res = ctx.stream(200, 'application/json');
    // Lines written in one turn of the event loop leave in one chunk: a
    // cached build writes ~30 lines without waiting for anything, and one
    // chunked write each cost a syscall and a read on the client's side.
    let corked = false;
    const write = (o: unknown) => {
      if (res.writableEnded || res.destroyed) return;
      if (!corked) {
        corked = true;
        res.cork();
        setImmediate(() => {
          corked = false;
          res.uncork();
        });
      }
      res.write(JSON.stringify(o) + '\r\n');
    };
    // The client went away: stop the build (its RUN container is killed).
    const onGone = () => {
      if (!res.writableFinished) prepared.cancel();
    };
    res.on('close', onGone);
    ctx.req.socket.on('close', onGone);
    try {
      await prepared.run({ stream: (s) => write({ stream: s }), aux: (v) => write({ aux: v }) });
    } catch (e) {
      const message = messageOf(e);
      const code = e instanceof BuildStepError ? e.code : undefined;
      write({ errorDetail: code !== undefined ? { code, message } : { message }, error: message });
    }
    res.end();
  });

  r.post('/build/prune', (ctx) => {
    ctx.send(200, svc.prune());
  });

  r.post('/build/cancel', (ctx) => {
    ctx.send(200);
  });
}
