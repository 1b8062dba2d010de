// /containers/* and /commit: parse, call the container service, encode.
import type { Router } from '../router';
import type { Ctx } from '../context';
import type { ContainerService } from '../../container/service';
import type { AttachService } from '../../container/attach';
import type { ArchiveService } from '../../container/archive';
import type { LogManager } from '../../container/logs-manager';
import { InvalidParameter } from '../../util/errors';
import { timestampNs } from '../../common/time';
import { acceptWebSocket } from '../websocket';
import { versionAtLeast } from '../server';

/** A promise that settles when the client goes away. */
function closedOf(ctx: Ctx): Promise<void> {
  return new Promise((resolve) => {
    ctx.res.once('close', () => resolve());
    ctx.socket.once('close', () => resolve());
  });
}

/** What the container routes call (moby's router/container backend). */
export interface ContainerBackend {
  containers: Pick<ContainerService,
    'create' | 'listBody' | 'inspect' | 'get' | 'start' | 'stop' | 'restart' | 'kill' | 'remove' | 'removeLink' |
    'rename' | 'prune' | 'wait' | 'logs' | 'attach' | 'changes' | 'commit'> & {
    logFiles: Pick<LogManager, 'readable' | 'checkReadable'>;
  };
  attach: Pick<AttachService, 'forwardStdin'>;
  archive: Pick<ArchiveService, 'export'>;
}

export function registerContainerRoutes(r: Router, b: ContainerBackend): void {
  const svc = b.containers;

  r.post('/containers/create', async (ctx) => {
    await ctx.requireJson();
    const body = await ctx.json();
    const res = await svc.create(body, ctx.str('name') || undefined);
    ctx.send(201, res);
  });

  r.get('/containers/json', async (ctx) => {
    const limit = ctx.int('limit');
    // berth-fields=Id,Names,…: Berth's own parameter (other engines ignore it), for the berth CLI's `ps`
    const fields = ctx.str('berth-fields')?.split(',').map((k) => k.trim()).filter(Boolean);
    ctx.sendJsonText(200, await svc.listBody({ all: ctx.bool('all'), limit, size: ctx.bool('size'), filters: ctx.filters(), fields: fields?.length ? new Set(fields) : undefined }));
  });

  r.get('/containers/:id/json', async (ctx) => {
    ctx.send(200, await svc.inspect(ctx.params.id, ctx.bool('size')));
  });

  r.post('/containers/:id/start', async (ctx) => {
    await svc.start(ctx.params.id);
    ctx.send(204);
  });

  r.post('/containers/:id/stop', async (ctx) => {
    await svc.stop(ctx.params.id, ctx.int('t'), ctx.str('signal') || undefined);
    ctx.send(204);
  });

  r.post('/containers/:id/restart', async (ctx) => {
    await svc.restart(ctx.params.id, ctx.int('t'), ctx.str('signal') || undefined);
    ctx.send(204);
  });

  r.post('/containers/:id/kill', async (ctx) => {
    await svc.kill(ctx.params.id, ctx.str('signal') || 'SIGKILL');
    ctx.send(204);
  });

  // `*id`: a link name is "/parent/alias" (the docker CLI sends /containers//parent/alias).
  r.delete('/containers/*id', async (ctx) => {
    if (ctx.bool('link')) await svc.removeLink(ctx.params.id);
    else await svc.remove(ctx.params.id, { force: ctx.bool('force'), volumes: ctx.bool('v') });
    ctx.send(204);
  });

  r.post('/containers/:id/rename', async (ctx) => {
    await svc.rename(ctx.params.id, ctx.str('name') ?? '');
    ctx.send(204);
  });

  r.post('/containers/prune', async (ctx) => {
    ctx.send(200, await svc.prune(ctx.filters()));
  });

  r.post('/containers/:id/wait', async (ctx) => {
    const condition = ctx.str('condition') ?? 'not-running';
    // Validate and resolve before committing to 200 (errors must be real statuses).
    svc.get(ctx.params.id);
    if (!['', 'not-running', 'next-exit', 'removed'].includes(condition)) throw new InvalidParameter(`invalid condition: "${condition}"`);
    const ac = new AbortController();
    const p = svc.wait(ctx.params.id, condition, ac.signal);
    const res = ctx.stream(200, 'application/json');
    res.once('close', () => ac.abort());
    const out = await p;
    if (!res.destroyed) res.end(JSON.stringify(out) + '\n');
  });

  r.get('/containers/:id/logs', async (ctx) => {
    const c = svc.get(ctx.params.id);
    const stdout = ctx.bool('stdout');
    const stderr = ctx.bool('stderr');
    if (!stdout && !stderr) throw new InvalidParameter('Bad parameters: you must choose at least one stream');
    const tailRaw = ctx.str('tail');
    const tail = tailRaw === undefined || tailRaw === '' || tailRaw === 'all' ? undefined : Number(tailRaw);
    if (tail !== undefined && !Number.isFinite(tail)) throw new InvalidParameter(`invalid value for "tail": ${tailRaw}`);
    const since = ctx.str('since');
    const until = ctx.str('until');
    const opts = {
      stdout, stderr,
      follow: ctx.bool('follow'),
      timestamps: ctx.bool('timestamps'),
      tail,
      sinceNs: since && since !== '0' ? timestampNs(since) : undefined,
      untilNs: until && until !== '0' ? timestampNs(until) : undefined,
    };
    svc.logFiles.checkReadable(c);
    const ct = c.config.Tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
    const res = ctx.stream(200, ct);
    await svc.logs(c.id, opts, { write: (b) => { if (!res.destroyed) res.write(b); }, end: () => res.end() }, closedOf(ctx));
  });

  r.post('/containers/:id/attach', async (ctx) => {
    const c = svc.get(ctx.params.id);
    const ct = c.config.Tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
    const h = ctx.hijack(ct);
    const closed = new Promise<void>((resolve) => h.onClose(resolve));
    const stream = ctx.bool('stream');
    const logs = ctx.bool('logs');
    let ended: Promise<void> = closed;
    if (stream && ctx.bool('stdin') && c.config.OpenStdin) {
      let onDetach!: () => void;
      const detached = new Promise<void>((resolve) => (onDetach = resolve));
      ended = Promise.race([closed, detached]);
      b.attach.forwardStdin(c.id, h.input, ctx.str('detachKeys'), onDetach, closed);
    } else {
      h.input.on('data', () => {});
      h.input.on('error', () => {});
    }
    if (!stream) {
      // logs=1 alone: what was written so far, then the end.
      const sink = { write: (b: Buffer) => { if (!(h.output as any).destroyed) h.output.write(b); }, end: () => h.end() };
      if (!logs || !svc.logFiles.readable(c)) sink.end();
      else await svc.logs(c.id, { stdout: ctx.bool('stdout'), stderr: ctx.bool('stderr'), follow: false, timestamps: false }, sink, closed);
      return;
    }
    await svc.attach(c.id, { stdout: ctx.bool('stdout'), stderr: ctx.bool('stderr'), logs }, {
      write: (b) => { if (!(h.output as any).destroyed) h.output.write(b); },
      end: () => h.end(),
    }, ended);
  });

  // The websocket attach: never multiplexed (each stream's bytes travel as
  // messages of their own); moby sends binary frames from API 1.42 on, text
  // frames before.
  r.get('/containers/:id/attach/ws', async (ctx) => {
    const c = svc.get(ctx.params.id);
    const ws = await acceptWebSocket(ctx, versionAtLeast(ctx.version, '1.42'));
    const stream = ctx.bool('stream');
    let ended: Promise<void> = ws.closed;
    if (stream && ctx.bool('stdin') && c.config.OpenStdin) {
      let onDetach!: () => void;
      const detached = new Promise<void>((resolve) => (onDetach = resolve));
      ended = Promise.race([ws.closed, detached]);
      b.attach.forwardStdin(c.id, ws.input, ctx.str('detachKeys'), onDetach, ws.closed);
    } else {
      ws.input.resume();
    }
    const o = { stdout: ctx.bool('stdout'), stderr: ctx.bool('stderr'), raw: true };
    const sink = { write: (b: Buffer) => ws.write(b), end: () => ws.end() };
    if (!stream) {
      if (ctx.bool('logs')) await svc.logs(c.id, { ...o, follow: false, timestamps: false }, sink, ws.closed);
      else sink.end();
      return;
    }
    await svc.attach(c.id, { ...o, logs: ctx.bool('logs') }, sink, ended);
  });

  r.get('/containers/:id/changes', async (ctx) => {
    ctx.send(200, await svc.changes(ctx.params.id));
  });

  r.get('/containers/:id/export', async (ctx) => {
    const tar = await b.archive.export(ctx.params.id);
    const res = ctx.stream(200, 'application/x-tar');
    tar.on('error', () => res.destroy());
    res.on('close', () => tar.destroy());
    tar.pipe(res);
  });

  r.post('/commit', async (ctx) => {
    const id = ctx.str('container');
    if (!id) throw new InvalidParameter('No container specified');
    await ctx.requireJson();
    const body = await ctx.json().catch(() => undefined);
    const changes = ctx.query.getAll('changes').flatMap((c) => c.split('\n')).filter((c) => c.trim() !== '');
    const res = await svc.commit(id, {
      repo: ctx.str('repo') || undefined,
      tag: ctx.str('tag') || undefined,
      comment: ctx.str('comment') || undefined,
      author: ctx.str('author') || undefined,
      // Docker: an empty or missing pause means pause (API >= 1.13)
      pause: ctx.str('pause') ? ctx.bool('pause') : true,
      changes,
      config: body && typeof body === 'object' && Object.keys(body).length ? body : undefined,
    });
    ctx.send(201, res);
  });
}
