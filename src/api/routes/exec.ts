// /containers/{id}/exec and /exec/*: parse, call the exec service, encode.
import type { Router } from '../router';
import type { Ctx } from '../context';
import type { ExecService } from '../../container/exec';
import type { AttachService } from '../../container/attach';
import { InvalidParameter } from '../../util/errors';

/**
 * The JSON body of an upgraded request: Node hands everything after the
 * headers to us as the upgraded stream, so the body is its first
 * Content-Length bytes; what follows is stdin and goes back to the stream.
 */
async function upgradeBody(ctx: Ctx): Promise<any> {
  if (!ctx.upgraded) return ctx.json();
  const len = Number(ctx.req.headers['content-length'] ?? 0);
  if (!len) return undefined;
  let buf: Buffer = ctx.head ?? Buffer.alloc(0);
  const sock = ctx.socket;
  while (buf.length < len) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (b: Buffer) => { cleanup(); resolve(b); };
      const onEnd = () => { cleanup(); resolve(null); };
      const cleanup = () => { sock.off('data', onData); sock.off('end', onEnd); sock.off('close', onEnd); sock.pause(); };
      sock.on('data', onData);
      sock.once('end', onEnd);
      sock.once('close', onEnd);
      sock.resume();
    });
    if (!chunk) break;
    buf = Buffer.concat([buf, chunk]);
  }
  (ctx as { head: Buffer | undefined }).head = buf.subarray(len);
  const text = buf.subarray(0, len).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidParameter(`invalid character in JSON body: ${(e as Error).message}`);
  }
}

/** What the exec routes call (moby's router/container execBackend). */
export interface ExecBackend {
  execs: Pick<ExecService, 'create' | 'checkStart' | 'start' | 'resize' | 'inspect'>;
  /** POST /containers/{id}/resize: the container's own TTY. */
  attach: Pick<AttachService, 'resize'>;
}

export function registerExecRoutes(r: Router, b: ExecBackend): void {
  const svc = b.execs;

  r.post('/containers/:id/exec', async (ctx) => {
    await ctx.requireJson();
    const body = await ctx.json();
    ctx.send(201, await svc.create(ctx.params.id, body));
  });

  r.post('/exec/:id/start', async (ctx) => {
    const body = (await upgradeBody(ctx)) ?? {};
    svc.checkStart(ctx.params.id);
    if (body.Detach) {
      await svc.start(ctx.params.id, undefined, { tty: !!body.Tty });
      ctx.send(200);
      return;
    }
    // The start body's Tty, not the exec's, decides raw or framed (moby's postContainerExecStart).
    const tty = !!body.Tty;
    const h = ctx.hijack(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    const closed = new Promise<void>((resolve) => h.onClose(resolve));
    await svc.start(ctx.params.id, { input: h.input, output: h.output, end: () => h.end(), closed }, { tty: !!body.Tty });
  });

  r.post('/exec/:id/resize', async (ctx) => {
    const h = ctx.int('h') ?? 0;
    const w = ctx.int('w') ?? 0;
    await svc.resize(ctx.params.id, h, w);
    ctx.send(200);
  });

  r.post('/containers/:id/resize', async (ctx) => {
    b.attach.resize(ctx.params.id, ctx.int('h') ?? 0, ctx.int('w') ?? 0);
    ctx.send(200);
  });

  r.get('/exec/:id/json', async (ctx) => {
    ctx.send(200, svc.inspect(ctx.params.id));
  });
}
