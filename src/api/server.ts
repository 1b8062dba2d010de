// HTTP front door: version prefixes, routing, JSON errors, upgrades.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { Ctx, API_VERSION, MIN_API_VERSION } from './context';
import type { Router } from './router';
import { statusOf, messageOf } from '../util/errors';
import { log } from '../util/log';

// Docker's router takes any `/v{version:[0-9.]+}` prefix (`/v1/version` is "too old", not 404).
const VERSION_PREFIX = /^\/v([0-9.]+)(\/.*)$/;

/** Docker's versions.compare: dotted numbers, a missing part counts as 0. */
function cmpVersion(a: string, b: string): number {
  const as = a.split('.');
  const bs = b.split('.');
  for (let i = 0; i < Math.max(as.length, bs.length); i++) {
    const d = (parseInt(as[i] ?? '0', 10) || 0) - (parseInt(bs[i] ?? '0', 10) || 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function versionAtLeast(v: string, min: string): boolean {
  return cmpVersion(v, min) >= 0;
}

/**
 * Holds a request before its route runs while the daemon finishes something
 * it answered early (a swarm init: SwarmService.gate); undefined: go on.
 */
export type RequestGate = (method: string, path: string) => Promise<void> | undefined;

export function createApiServer(router: Router, serverHeader: string, gate?: RequestGate): http.Server {
  const server = http.createServer({ keepAlive: true });
  server.keepAliveTimeout = 0;

  const dispatch = async (req: http.IncomingMessage, res: http.ServerResponse, socket: Duplex, head: Buffer | undefined, upgraded: boolean) => {
    const url = new URL(req.url ?? '/', 'http://berth');
    let path = url.pathname;
    let version = API_VERSION;
    const m = VERSION_PREFIX.exec(path);
    if (m) {
      version = m[1];
      path = m[2];
    }
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Server', serverHeader);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    const started = Date.now();
    const fail = (status: number, message: string) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = Buffer.from(JSON.stringify({ message }) + '\n');
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
      res.end(body);
    };
    if (m && cmpVersion(version, API_VERSION) > 0) {
      return fail(400, `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
    }
    if (m && cmpVersion(version, MIN_API_VERSION) < 0) {
      return fail(400, `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
    }
    let route: ReturnType<Router['match']>;
    try {
      route = router.match(req.method ?? 'GET', path);
    } catch (err) {
      return fail(statusOf(err), messageOf(err));
    }
    if (route === undefined) return fail(404, 'page not found');
    if (route === 'method') return fail(405, 'method not allowed');
    const ctx = new Ctx(req, res, upgraded, socket, head, path, version, url.searchParams);
    ctx.params = route.params;
    try {
      const held = gate?.(req.method ?? 'GET', path);
      if (held) await held;
      await route.handler(ctx);
    } catch (err) {
      const status = statusOf(err);
      if (status >= 500) log.error('request failed', { method: req.method, path, err: messageOf(err), stack: (err as Error)?.stack });
      fail(status, messageOf(err));
    } finally {
      log.debug('request', { method: req.method, url: req.url, ms: Date.now() - started });
    }
  };

  // whatever escapes dispatch still gets an answer (a request must never hang)
  const guarded = (req: http.IncomingMessage, res: http.ServerResponse, socket: Duplex, head: Buffer | undefined, upgraded: boolean) => {
    dispatch(req, res, socket, head, upgraded).catch((err) => {
      log.error('request failed', { method: req.method, url: req.url, err: messageOf(err) });
      if (res.headersSent) { res.destroy(); return; }
      const body = Buffer.from(JSON.stringify({ message: messageOf(err) }) + '\n');
      res.writeHead(statusOf(err), { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
      res.end(body);
    });
  };

  server.on('request', (req, res) => {
    guarded(req, res, req.socket, undefined, false);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const res = new http.ServerResponse(req);
    res.assignSocket(socket as any);
    res.shouldKeepAlive = false;
    socket.on('error', () => socket.destroy());
    guarded(req, res, socket, head, true);
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  });
  return server;
}
