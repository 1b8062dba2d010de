// Image endpoints: list, inspect, history, tag, delete, prune, import
// (create?fromSrc), load, save (get), search. Pull (create?fromImage) is
// handed to the distribution service when there is one.
import type { Router } from '../router';
import type { Ctx } from '../context';
import type { Daemon } from '../../daemon/daemon';
import { InvalidParameter, SystemError, messageOf } from '../../util/errors';
import { importImage, loadArchive, saveArchive } from '../../image/archive';
import { handlePull } from './distribution';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

function jsonLines(ctx: Ctx) {
  const res = ctx.stream(200, 'application/json');
  return {
    write: (m: object) => res.write(JSON.stringify(m) + '\n'),
    end: () => res.end(),
  };
}

/** The body stream or, for `fromSrc=<url>`, the downloaded tar. */
function fetchUrl(url: string, redirects = 5): Promise<Readable> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try { u = new URL(url); } catch { return reject(new InvalidParameter(`invalid import source: ${url}`)); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return reject(new InvalidParameter(`unsupported import source: ${url}`));
    const req = (u.protocol === 'https:' ? https : http).get(u, (res) => {
      const code = res.statusCode ?? 0;
      if (code >= 300 && code < 400 && res.headers.location && redirects > 0) {
        res.resume();
        fetchUrl(new URL(res.headers.location, u).href, redirects - 1).then(resolve, reject);
        return;
      }
      if (code !== 200) {
        res.resume();
        return reject(new SystemError(`error downloading ${url}: HTTP ${code}`));
      }
      resolve(res);
    });
    req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => reject(new SystemError(`error downloading ${url}: ${e.message}`)));
  });
}

/**
 * After a failed upload, read (and drop) the rest of the body so the client
 * sees our error instead of a broken pipe. Bounded in time.
 */
async function drained<T>(ctx: Ctx, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    const req = ctx.req;
    if (!req.readableEnded && !req.destroyed) {
      req.unpipe();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 30_000);
        req.on('end', () => { clearTimeout(t); resolve(); });
        req.on('error', () => { clearTimeout(t); resolve(); });
        req.resume();
      });
    }
    throw e;
  }
}

export function registerImageRoutes(r: Router, d: Daemon): void {
  const svc = d.images;

  r.get('/images/json', (ctx) => {
    const filters = ctx.filters();
    const legacy = ctx.str('filter');
    if (legacy) filters.reference = [...(filters.reference ?? []), legacy];
    ctx.send(200, svc.list({ all: ctx.bool('all'), digests: ctx.bool('digests'), filters, sharedSize: ctx.bool('shared-size') }));
  });

  r.get('/images/search', () => {
    throw new SystemError('image search is not supported yet');
  });

  r.get('/images/get', (ctx) => {
    const names = ctx.query.getAll('names').flatMap((n) => n.split(',')).filter(Boolean);
    if (names.length === 0) throw new InvalidParameter('no images specified');
    const tarStream = saveArchive(svc, names);
    const res = ctx.stream(200, 'application/x-tar');
    (tarStream as Readable).on('error', () => res.destroy());
    res.on('close', () => (tarStream as Readable).destroy()); // a client that leaves stops the save
    (tarStream as Readable).pipe(res);
  });

  r.post('/images/load', async (ctx) => {
    const quiet = ctx.bool('quiet');
    let lines: string[];
    try {
      lines = await drained(ctx, () => loadArchive(svc, ctx.req, path.join(d.config.dataRoot, 'blobs', 'tmp')));
    } catch (e) {
      // moby's postImagesLoad answers 200 and writes any load error into the
      // JSON stream (streamformatter.FormatError); SDKs raise ImageLoadError on it.
      const out = jsonLines(ctx);
      out.write({ errorDetail: { message: messageOf(e) }, error: messageOf(e) });
      out.end();
      return;
    }
    const out = jsonLines(ctx);
    for (const l of lines) out.write({ stream: `${l}\n` });
    void quiet;
    out.end();
  });

  r.post('/images/create', async (ctx) => {
    const fromImage = ctx.str('fromImage');
    const fromSrc = ctx.str('fromSrc');
    if (fromImage) {
      // Pull belongs to the distribution service (errors before progress are plain HTTP errors there).
      if (!d.distribution) throw new SystemError('pull is not supported yet');
      await handlePull(ctx, d);
      return;
    }
    if (!fromSrc) throw new InvalidParameter('fromImage or fromSrc is required');
    const img = await drained(ctx, async () => {
      const input = fromSrc === '-' ? ctx.req : await fetchUrl(fromSrc);
      return importImage(svc, input, {
        source: fromSrc,
        repo: ctx.str('repo') || undefined,
        tag: ctx.str('tag') || undefined,
        message: ctx.str('message') || undefined,
        changes: ctx.query.getAll('changes').flatMap((c) => c.split('\n')),
      });
    });
    const out = jsonLines(ctx);
    out.write({ status: img.id });
    out.end();
  });

  r.post('/images/prune', async (ctx) => {
    ctx.send(200, await svc.prune(ctx.filters()));
  });

  r.get('/images/*name/json', (ctx) => ctx.send(200, svc.inspect(ctx.params.name)));

  r.get('/images/*name/history', (ctx) => ctx.send(200, svc.history(ctx.params.name)));

  r.get('/images/*name/get', (ctx) => {
    const tarStream = saveArchive(svc, [ctx.params.name]);
    const res = ctx.stream(200, 'application/x-tar');
    (tarStream as Readable).on('error', () => res.destroy());
    res.on('close', () => (tarStream as Readable).destroy()); // a client that leaves stops the save
    (tarStream as Readable).pipe(res);
  });

  r.post('/images/*name/tag', (ctx) => {
    const repo = ctx.str('repo');
    if (!repo) throw new InvalidParameter('repository name must have at least one component');
    const tag = ctx.str('tag');
    svc.tag(ctx.params.name, tag ? `${repo}:${tag}` : repo);
    ctx.send(201);
  });

  r.delete('/images/*name', async (ctx) => {
    ctx.send(200, await svc.remove(ctx.params.name, ctx.bool('force'), !ctx.bool('noprune')));
  });
}
