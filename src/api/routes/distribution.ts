// Registry-facing routes: push, login (/auth) and manifest inspection.
// Pull arrives through POST /images/create?fromImage= (images.ts).
import type { Router } from '../router';
import { InvalidParameter } from '../../util/errors';
import type { AuthConfig } from '../../distribution/auth';
import type { DistributionService } from '../../distribution/service';
import { authOf, withProgress } from './progress';

/** What the distribution routes call (moby's router/distribution backend). */
export type DistributionBackend = Pick<DistributionService, 'push' | 'login' | 'inspect'>;

export function registerDistributionRoutes(r: Router, b: DistributionBackend): void {
  r.post('/images/*name/push', async (ctx) => {
    await withProgress(ctx, (sink) => b.push(ctx.params.name, ctx.str('tag') || undefined, authOf(ctx), sink));
  });

  r.post('/auth', async (ctx) => {
    const body = await ctx.json<AuthConfig>();
    if (!body || typeof body !== 'object') throw new InvalidParameter('invalid auth configuration: empty body');
    ctx.send(200, await b.login(body));
  });

  r.get('/distribution/*name/json', async (ctx) => {
    ctx.send(200, await b.inspect(ctx.params.name, authOf(ctx)));
  });
}
