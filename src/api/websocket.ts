// RFC 6455 upgrade of an API request (the `ws` library does handshake and
// framing), for /containers/{id}/attach/ws.
import { PassThrough, type Readable } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Ctx } from './context';
import { InvalidParameter } from '../util/errors';

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

export interface WsConn {
  /** Payloads of the client's messages, as one byte stream (stdin). */
  input: Readable;
  /** One message per chunk: binary frames, or text frames for old API versions. */
  write(b: Buffer): void;
  end(): void;
  closed: Promise<void>;
}

/** Answers the handshake; a request that is not a websocket handshake is a 400 before anything is written. */
export async function acceptWebSocket(ctx: Ctx, binary: boolean): Promise<WsConn> {
  const h = ctx.req.headers;
  if (!ctx.upgraded || String(h.upgrade ?? '').toLowerCase() !== 'websocket' || !h['sec-websocket-key']) {
    throw new InvalidParameter('websocket: the client is not using the websocket protocol');
  }
  ctx.res.detachSocket(ctx.socket as any);
  const ws = await new Promise<WebSocket>((resolve) => wss.handleUpgrade(ctx.req, ctx.socket as any, ctx.head ?? Buffer.alloc(0), resolve));
  const input = new PassThrough();
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    input.write(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer));
  });
  ws.once('close', () => input.end());
  ws.on('error', () => ws.terminate());
  return {
    input,
    write: (b) => { if (ws.readyState === ws.OPEN) ws.send(b, { binary }); },
    end: () => { if (ws.readyState === ws.OPEN) ws.close(1000); },
    closed,
  };
}
