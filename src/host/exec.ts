// The one way the host layer runs programs: always with a timeout, and a
// failure becomes a HostExecError carrying the program's stderr.
import { spawn } from 'node:child_process';
import { isDebug, log } from '../util/log';

export class HostExecError extends Error {
  constructor(
    readonly program: string,
    readonly args: string[],
    readonly code: number | null,
    readonly stderr: string,
    readonly timedOut = false,
  ) {
    super(
      timedOut
        ? `${program} ${args.join(' ')}: timed out`
        : `${program} ${args.join(' ')}: exit ${code}: ${stderr.trim()}`,
    );
    this.name = 'HostExecError';
  }
}

export interface ExecOptions {
  /** Milliseconds before the program is killed (default 30 s). */
  timeout?: number;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolve even when the exit code is non-zero. */
  allowFailure?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function execHost(program: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const t0 = isDebug() ? performance.now() : 0;
  const p = new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(program, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeout ?? 30_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new HostExecError(program, args, null, e.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (timedOut) return reject(new HostExecError(program, args, code, stderr, true));
      if (code !== 0 && !opts.allowFailure) return reject(new HostExecError(program, args, code, stderr));
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.on('error', () => { /* program may exit before reading its input */ });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
  // Debug logs carry each host program's wall time: the start path's profile.
  if (t0) void p.then(() => trace(program, args, t0), () => trace(program, args, t0));
  return p;
}

function trace(program: string, args: string[], t0: number): void {
  log.debug('host exec', { program, args: args.slice(0, 4).join(' '), ms: Math.round(performance.now() - t0) });
}
