// conmon's attach socket: SOCK_SEQPACKET at <socket-dir>/<cuuid>/attach
// (a symlink to the bundle keeps the path short). What we write is the
// container's stdin; packets from conmon start with one byte naming the
// stream (2 stdout, 3 stderr). Closing our side closes the container's
// stdin unless conmon runs with --leave-stdin-open.
// Resizes of a TTY container go through conmon's `ctl` fifo in the bundle:
// lines "<type> <height> <width>\n", type 1 = resize.
import fs from 'node:fs';
import path from 'node:path';
import { SeqpacketSocket } from 'node-unix-socket';

/** Largest packet conmon reads in one go (its buffer is 8192 bytes, one kept for NUL). */
const MAX_PACKET = 8000;

export interface AttachConn {
  write(b: Buffer): void;
  /** Half-close: the container's stdin sees EOF (when conmon closes it). */
  end(): void;
  destroy(): void;
  onData(fn: (stream: number, data: Buffer) => void): void;
  onClose(fn: () => void): void;
}

export function attachSocketPath(socketDir: string, id: string): string {
  return path.join(socketDir, id.slice(0, 16), 'attach');
}

export function connectAttach(socketPath: string): Promise<AttachConn> {
  return new Promise((resolve, reject) => {
    const s = new SeqpacketSocket();
    let settled = false;
    s.on('error', (e: Error) => {
      if (!settled) {
        settled = true;
        reject(e);
      }
    });
    try {
      s.connect(socketPath, () => {
        settled = true;
        resolve({
          write: (b) => {
            for (let off = 0; off < b.length; off += MAX_PACKET) {
              try {
                s.write(b.subarray(off, Math.min(b.length, off + MAX_PACKET)));
              } catch { /* closed */ }
            }
          },
          end: () => { try { s.end(); } catch { /* closed */ } },
          destroy: () => { try { s.destroy(); } catch { /* closed */ } },
          onData: (fn) => s.on('data', (b: Buffer) => { if (b.length) fn(b[0], b.subarray(1)); }),
          onClose: (fn) => { s.once('close', fn); s.once('end', fn); },
        });
      });
    } catch (e) {
      settled = true;
      reject(e);
    }
  });
}

/** Writes a resize request to conmon's ctl fifo (non-blocking; ignored if conmon is gone). */
export function resizeViaConmon(bundleDir: string, height: number, width: number): void {
  const p = path.join(bundleDir, 'ctl');
  let fd: number | undefined;
  try {
    fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.writeSync(fd, `1 ${height} ${width}\n`);
  } catch { /* no reader: container gone */ } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
