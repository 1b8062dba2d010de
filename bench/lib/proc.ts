// Running host programs from the harness: every call is bounded in time, and
// timed with a monotonic clock from spawn to exit (what a user waits for).
import fs from 'node:fs';
import os from 'node:os';
import { spawn, execFileSync } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeout?: number;
  input?: string;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timeout = opts.timeout ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${timeout} ms`));
    }, timeout);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : -1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        ms,
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** The most telling line of a failed command's output, for a report cell. */
export function failureText(r: RunResult): string {
  const lines = (r.stderr.trim() || r.stdout.trim() || `exit code ${r.code}`)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^DEPRECATED|legacy builder|BuildKit|docs\.docker\.com|^See '/.test(l));
  const line =
    lines.find((l) => /Error response from daemon|^docker: |^Error/.test(l)) ??
    lines.find((l) => /error|fail|no such|not implemented|unknown|denied|invalid/i.test(l)) ??
    lines[0] ??
    `exit code ${r.code}`;
  return line.replace(/\s+/g, ' ').slice(0, 160);
}

/** Runs a program synchronously for cleanup; never throws, returns stdout or ''. */
export function quiet(cmd: string, args: string[], timeout = 15_000): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout }).toString();
  } catch {
    return '';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true, at most `timeout` ms. */
export async function waitFor(what: string, timeout: number, check: () => Promise<boolean> | boolean, every = 50): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Runs `fn` over items with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Busy CPU time of the whole machine so far, in clock ticks (/proc/stat: all but idle and iowait). */
function busyTicks(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
}

/**
 * Waits (bounded) until the machine is quiet: less than `share` of its CPUs
 * busy over a 200 ms window. A sample that times the data path must not also
 * time what an engine does in the background after the previous step (an
 * engine that answers `rm` before its teardown, another that tears down first).
 */
export async function settled(timeout = 5000, share = 0.15): Promise<boolean> {
  const windowMs = 200;
  const ticksPerMs = 100 / 1000; // USER_HZ
  const quiet = share * os.cpus().length * ticksPerMs * windowMs;
  for (const t0 = performance.now(); performance.now() - t0 < timeout; ) {
    const b0 = busyTicks();
    await sleep(windowMs);
    if (busyTicks() - b0 < quiet) return true;
  }
  return false;
}
