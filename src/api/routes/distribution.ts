// Registry-facing routes: push, login (/auth) and manifest inspection.
// Pull arrives through POST /images/create?fromImage= (images.ts), which
// hands it to d.distribution.pull.
import type { Router } from '../router';
import type { Ctx } from '../context';
import type { Daemon } from '../../daemon/daemon';
import { InvalidParameter, messageOf } from '../../util/errors';
import { decodeRegistryAuth, type AuthConfig } from '../../distribution/auth';
import type { JSONMessage, ProgressSink } from '../../distribution/progress';

/** A JSON-lines sink that sends headers on its first message, so errors before any progress are plain HTTP errors. */
function lazyJsonLines(ctx: Ctx): ProgressSink & { started(): boolean; end(): void } {
  let res: ReturnType<Ctx['stream']> | undefined;
  return {
    write(m: JSONMessage) {
      if (!res) res = ctx.stream(200, 'application/json');
      res.write(JSON.stringify(m) + '\n');
    },
    started: () => !!res,
    end: () => res?.end(),
  };
}

function authOf(ctx: Ctx): AuthConfig | undefined {
  const h = ctx.req.headers['x-registry-auth'];
  return decodeRegistryAuth(Array.isArray(h) ? h[0] : h);
}

/**
 * POST /images/create?fromImage=... as Docker answers it: errors found before
 * any progress (bad reference, manifest unknown, access denied) are plain
 * HTTP errors (404, 401, ...); later ones go into the JSON stream. images.ts
 * may call this for its fromImage branch.
 */
export async function handlePull(ctx: Ctx, d: Daemon): Promise<void> {
  const sink = lazyJsonLines(ctx);
  try {
    await d.distribution.pull(
      { fromImage: ctx.str('fromImage') ?? '', tag: ctx.str('tag') || undefined, platform: ctx.str('platform') || undefined, auth: authOf(ctx) },
      sink,
    );
  } catch (e) {
    if (!sink.started()) throw e;
    sink.write({ errorDetail: { message: messageOf(e) }, error: messageOf(e) });
  }
  sink.end();
}

export function registerDistributionRoutes(r: Router, d: Daemon): void {
  r.post('/images/*name/push', async (ctx) => {
    const sink = lazyJsonLines(ctx);
    try {
      await d.distribution.push(ctx.params.name, ctx.str('tag') || undefined, authOf(ctx), sink);
    } catch (e) {
      if (!sink.started()) throw e;
      sink.write({ errorDetail: { message: messageOf(e) }, error: messageOf(e) });
    }
    sink.end();
  });

  r.post('/auth', async (ctx) => {
    const body = await ctx.json<AuthConfig>();
    if (!body || typeof body !== 'object') throw new InvalidParameter('invalid auth configuration: empty body');
    ctx.send(200, await d.distribution.login(body));
  });

  r.get('/distribution/*name/json', async (ctx) => {
    ctx.send(200, await d.distribution.inspect(ctx.params.name, authOf(ctx)));
  });
}
