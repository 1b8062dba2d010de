// Wiring a hijacked attach/exec stream to the terminal: output (raw for a
// TTY, demultiplexed otherwise), stdin (raw mode on a TTY, half-close at
// EOF) and terminal resizes.
import type { Duplex } from 'node:stream';
import type { CommandContext } from './registry';
import { Demuxer, type Frame, STDERR, SYSTEMERR, type Hijack } from '../client';

export interface StreamOptions {
  tty: boolean;
  /** Forward our stdin into the stream. */
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** Copy a hijacked stream to our stdout/stderr (and stdin into it); resolves when the output ends. */
export function pumpStreams(ctx: CommandContext, h: Hijack, o: StreamOptions): Promise<void> {
  const sock: Duplex = h.socket;
  return new Promise((resolve, reject) => {
    let done = false;
    const restore: Array<() => void> = [];
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      for (const r of restore) r();
      if (err) reject(err);
      else resolve();
    };
    if (o.stdin) {
      const input = ctx.stdin;
      if (o.tty && input.isTTY && input.setRawMode) {
        input.setRawMode(true);
        restore.push(() => input.setRawMode!(false));
      }
      const onData = (b: Buffer) => { if (!sock.destroyed) sock.write(b); };
      const onEnd = () => {
        // Half-close: the container sees EOF on stdin but we keep reading its output.
        if (!sock.destroyed && typeof (sock as any).end === 'function') (sock as any).end();
      };
      input.on('data', onData);
      input.on('end', onEnd);
      input.resume();
      restore.push(() => {
        input.off('data', onData);
        input.off('end', onEnd);
        input.pause();
        (input as any).unref?.();
      });
    }
    let sysErr = '';
    const write = (stream: number, data: Buffer) => {
      if (stream === STDERR) { if (o.stderr) ctx.stderr.write(data); }
      else if (stream === SYSTEMERR) sysErr += data.toString();
      else if (o.stdout) ctx.stdout.write(data);
    };
    const end = () => finish(sysErr ? new Error(sysErr.trim()) : undefined);
    if (o.tty) {
      // Our terminal still maps \n to \r\n (libuv's raw mode keeps ONLCR, docker's clears OPOST);
      // the container's pty already did, so turn its \r\n back into \n for a terminal.
      const fixCrlf = !!(ctx.stdout as { isTTY?: boolean }).isTTY && o.stdin && !!ctx.stdin.isTTY;
      let heldCr = false;
      const onTty = (b: Buffer) => {
        if (!fixCrlf) return write(1, b);
        let t = (heldCr ? '\r' : '') + b.toString('latin1');
        heldCr = t.endsWith('\r');
        if (heldCr) t = t.slice(0, -1);
        write(1, Buffer.from(t.replace(/\r\n/g, '\n'), 'latin1'));
      };
      if (h.head.length) onTty(h.head);
      sock.on('data', onTty);
      sock.on('end', end);
      sock.on('close', end);
    } else {
      const d = new Demuxer();
      d.on('data', (f: Frame) => write(f.stream, f.data));
      d.on('end', end);
      d.on('error', (e) => finish(e));
      if (h.head.length) d.write(h.head);
      sock.on('data', (b: Buffer) => d.write(b));
      sock.on('end', () => d.end());
      sock.on('close', () => d.end());
    }
    sock.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? end() : finish(e)));
  });
}

/** Keep the container's TTY the size of ours. */
export function watchResize(ctx: CommandContext, resize: (h: number, w: number) => Promise<void>): () => void {
  const out = ctx.stdout as NodeJS.WriteStream;
  if (!out.isTTY) return () => {};
  const send = () => { resize(out.rows ?? 24, out.columns ?? 80).catch(() => {}); };
  send();
  out.on('resize', send);
  return () => out.off('resize', send);
}
