// Image endpoints: list, inspect, history, tag, delete, prune, import
// (create?fromSrc), load, save (get), search. Pull (create?fromImage) goes to
// the distribution service.
import type { Router } from '../router';
import type { Ctx } from '../context';
import { InvalidParameter, SystemError, messageOf } from '../../util/errors';
import type { ImageService } from '../../image/service';
import type { ImportOptions } from '../../image/archive';
import type { ImageRecord } from '../../image/types';
import type { DistributionService } from '../../distribution/service';
import { authOf, withProgress } from './progress';
import type { Readable } from 'node:stream';

/** What the image routes call (moby's router/image backend). */
export interface ImageBackend {
  images: Pick<ImageService, 'list' | 'inspect' | 'history' | 'tag' | 'remove' | 'prune'>;
  /** docker load: the archive's report lines ("Loaded image: ..."). */
  load(input: NodeJS.ReadableStream): Promise<string[]>;
  /** docker save: a docker-archive tar of `names`. */
  save(names: string[]): NodeJS.ReadableStream;
  /** docker import: `opts.source` "-" reads `body`, a URL is downloaded. */
  importImage(body: NodeJS.ReadableStream, opts: ImportOptions): Promise<ImageRecord>;
  pull: DistributionService['pull'];
}

function jsonLines(ctx: Ctx) {
  const res = ctx.stream(200, 'application/json');
  return {
    write: (m: object) => res.write(JSON.stringify(m) + '\n'),
    end: () => res.end(),
  };
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

export function registerImageRoutes(r: Router, b: ImageBackend): void {
  const svc = b.images;

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
    const tarStream = b.save(names);
    const res = ctx.stream(200, 'application/x-tar');
    (tarStream as Readable).on('error', () => res.destroy());
    res.on('close', () => (tarStream as Readable).destroy()); // a client that leaves stops the save
    (tarStream as Readable).pipe(res);
  });

  r.post('/images/load', async (ctx) => {
    const quiet = ctx.bool('quiet');
    let lines: string[];
    try {
      lines = await drained(ctx, () => b.load(ctx.req));
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
      await withProgress(ctx, (sink) => b.pull(
        { fromImage, tag: ctx.str('tag') || undefined, platform: ctx.str('platform') || undefined, auth: authOf(ctx) },
        sink,
      ));
      return;
    }
    if (!fromSrc) throw new InvalidParameter('fromImage or fromSrc is required');
    const img = await drained(ctx, () => b.importImage(ctx.req, {
      source: fromSrc,
      repo: ctx.str('repo') || undefined,
      tag: ctx.str('tag') || undefined,
      message: ctx.str('message') || undefined,
      changes: ctx.query.getAll('changes').flatMap((c) => c.split('\n')),
    }));
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
    const tarStream = b.save([ctx.params.name]);
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
