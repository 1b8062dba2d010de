// Starts the confined filesystem helper (helper.ts) for one archive or export
// request and speaks its small protocol: the request in argv, data on
// stdin/stdout, JSON control lines on fd 3. The helper chroots into `root`
// before it touches a container path, so no path component can lead out of
// the container, whatever the container does meanwhile.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { BerthError, Conflict, InvalidParameter, NotFound, SystemError } from '../../util/errors';

/** A volume or bind mount to make visible inside `root` (a stopped container's). */
export interface BindSpec {
  source: string;
  destination: string;
  rw: boolean;
}

export interface ConfinedRequest {
  op: 'stat' | 'get' | 'put' | 'export';
  /** `/proc/<pid>/root` of a running container (its mounts included), or a mounted rootfs. */
  root: string;
  /** Bind-mounted in a private mount namespace before the chroot. */
  mounts?: BindSpec[];
  args: Record<string, unknown>;
}

export type ControlMessage = { ok?: unknown; done?: boolean; error?: { status: number; message: string } };

function typed(status: number, message: string): BerthError {
  if (status === 400) return new InvalidParameter(message);
  if (status === 404) return new NotFound(message);
  if (status === 409) return new Conflict(message);
  return new SystemError(message);
}

export class ConfinedRun {
  readonly child: ChildProcess;
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** The exit code (or -1 when killed). */
  readonly exited: Promise<number>;
  private readonly queue: ControlMessage[] = [];
  private waiter?: () => void;
  private stderr = '';
  private closed = false;

  constructor(req: ConfinedRequest) {
    const helper = [process.execPath, path.join(__dirname, 'helper.js'), JSON.stringify(req)];
    // A private mount namespace only when there is something to mount in it.
    const argv = req.mounts?.length ? ['unshare', '--mount', '--propagation', 'private', '--', ...helper] : helper;
    // An empty environment: NODE_OPTIONS and the like must not reach a process that works as root inside a container.
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    this.stdin = this.child.stdin!;
    this.stdout = this.child.stdout!;
    // Every stream gets an error handler: a helper that dies mid-write must never take berthd down.
    this.stdin.on('error', () => {});
    this.stdout.on('error', () => {});
    this.child.stderr!.on('error', () => {});
    this.child.stderr!.on('data', (b: Buffer) => { this.stderr = (this.stderr + b.toString()).slice(-2000); });
    const control = this.child.stdio[3] as Readable;
    control.on('error', () => {});
    readline.createInterface({ input: control }).on('line', (l) => {
      try {
        this.queue.push(JSON.parse(l) as ControlMessage);
      } catch {
        return;
      }
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => { this.stderr += e.message; this.closed = true; this.wake(); resolve(-1); });
      this.child.on('close', (code) => { this.closed = true; this.wake(); resolve(code ?? -1); });
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next control message; an `error` message (or a helper that ended without one) is thrown as a typed error. */
  async next(): Promise<ControlMessage> {
    while (!this.queue.length && !this.closed) await new Promise<void>((r) => { this.waiter = r; });
    const m = this.queue.shift();
    if (!m) throw new SystemError(`archive helper failed: ${this.stderr.trim().split('\n').slice(-3).join(' ') || 'no answer'}`);
    if (m.error) throw typed(m.error.status, m.error.message);
    return m;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export function runConfined(req: ConfinedRequest): ConfinedRun {
  return new ConfinedRun(req);
}
