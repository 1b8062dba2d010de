// The managed-plugin API, answered for a daemon that has no plugins: `docker
// plugin ls` and SDK plugin calls get Docker's empty list and not-found errors
// instead of 404 "page not found".
import type { Router } from '../router';
import { NotFound } from '../../util/errors';
import { Filters } from '../../common/filters';

export function registerPluginRoutes(r: Router): void {
  r.get('/plugins', (ctx) => {
    new Filters(ctx.filters()).validate(['capability', 'enable']);
    ctx.send(200, []);
  });
  // moby's plugin store: a reference or id prefix nobody owns → errNotFound(name as given).
  const notFound = (name: string) => new NotFound(`plugin ${JSON.stringify(name)} not found`);
  r.get('/plugins/*name/json', (ctx) => { throw notFound(ctx.params.name); });
  r.delete('/plugins/*name', (ctx) => { throw notFound(ctx.params.name); });
  r.post('/plugins/*name/enable', (ctx) => { throw notFound(ctx.params.name); });
  r.post('/plugins/*name/disable', (ctx) => { throw notFound(ctx.params.name); });
  r.post('/plugins/*name/set', (ctx) => { throw notFound(ctx.params.name); });
}
