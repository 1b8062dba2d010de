// A small method + path-pattern router. Patterns use `:name` segments; a
// trailing `*name` captures the rest (image names contain slashes).
import type { Ctx } from './context';
import { InvalidParameter } from '../util/errors';

/** A path segment decoded; a bad %-escape is a 400 as in Go's URL parser, never an exception out of routing. */
function decodePathParam(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    const bad = /%(?![0-9a-fA-F]{2}).{0,2}/.exec(s)?.[0] ?? s;
    throw new InvalidParameter(`invalid URL escape ${JSON.stringify(bad)}`);
  }
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

interface Route {
  method: string;
  re: RegExp;
  names: string[];
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): void {
    const names: string[] = [];
    const re = pattern
      .split('/')
      .map((seg) => {
        if (seg.startsWith(':')) {
          names.push(seg.slice(1));
          return '([^/]+)';
        }
        if (seg.startsWith('*')) {
          names.push(seg.slice(1));
          return '(.+)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    this.routes.push({ method, re: new RegExp(`^${re}$`), names, handler });
  }

  get(p: string, h: Handler): void { this.add('GET', p, h); }
  head(p: string, h: Handler): void { this.add('HEAD', p, h); }
  post(p: string, h: Handler): void { this.add('POST', p, h); }
  put(p: string, h: Handler): void { this.add('PUT', p, h); }
  delete(p: string, h: Handler): void { this.add('DELETE', p, h); }

  /** The handler and params for a request, or 'method' if only the method is wrong. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'method' | undefined {
    let pathMatched = false;
    // HEAD falls back to the GET route when no HEAD route is registered.
    for (const want of method === 'HEAD' ? ['HEAD', 'GET'] : [method]) {
      for (const r of this.routes) {
        const m = r.re.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== want) continue;
        const params: Record<string, string> = {};
        r.names.forEach((n, i) => (params[n] = decodePathParam(m[i + 1])));
        return { handler: r.handler, params };
      }
    }
    return pathMatched ? 'method' : undefined;
  }
}
