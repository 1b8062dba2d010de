// `docker exec` processes: one `runc exec` per exec, in the foreground, its
// stdio on pipes the daemon holds (no conmon, no shell: the lean path).
// A TTY exec needs a pty on runc's side: runc only proxies a terminal when
// its own stdio is one, so `script` (util-linux) gives it one and runc
// copies between that and the container's pty. Resizes go straight to the
// exec process's pty (its fd 0) with `stty -F`.
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { execHost } from '../exec';

export interface ExecSpawnOptions {
  runc: string;
  root: string;
  containerId: string;
  /** The process.json (OCI process) runc runs. */
  processPath: string;
  pidFile: string;
  tty: boolean;
  /** false: stdin is /dev/null. */
  stdin: boolean;
  /** runc's own log (JSON lines): tells a failure to start the process from the process's exit. */
  logFile?: string;
}

export interface ExecProcess {
  stdin?: Writable;
  stdout: Readable;
  /** Absent for a TTY exec (one stream). */
  stderr?: Readable;
  /** Resolves with the exit code (runc passes the process's own). */
  exited: Promise<number>;
  child: ChildProcess;
}

export function spawnExec(o: ExecSpawnOptions): ExecProcess {
  const runcArgs = ['--root', o.root, ...(o.logFile ? ['--log', o.logFile, '--log-format', 'json'] : []), 'exec', '--process', o.processPath, '--pid-file', o.pidFile, o.containerId];
  let child: ChildProcess;
  const stdinMode = o.stdin ? 'pipe' : 'ignore';
  if (o.tty) {
    // Paths and ids are [A-Za-z0-9/._-]; quote anyway for the shell script runs.
    const cmd = [o.runc, ...runcArgs].map(shq).join(' ');
    child = spawn('script', ['-q', '-f', '-e', '-c', cmd, '/dev/null'], {
      // Always a pipe: at EOF on its stdin script would send the pty an EOF (ending a shell).
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', SHELL: '/bin/sh', TERM: 'xterm' },
    });
  } else {
    child = spawn(o.runc, runcArgs, { stdio: [stdinMode, 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
  }
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(126));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + (SIGNUMS[signal] ?? 9) : 255)));
  });
  child.stdin?.on('error', () => {});
  return { stdin: child.stdin ?? undefined, stdout: child.stdout!, stderr: o.tty ? undefined : child.stderr!, exited, child };
}

// Linux capability numbers (linux/capability.h), to keep what the host lacks out
// of a --privileged exec (capset would fail with EPERM).
const CAP_NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_DAC_READ_SEARCH: 2, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6,
  CAP_SETUID: 7, CAP_SETPCAP: 8, CAP_LINUX_IMMUTABLE: 9, CAP_NET_BIND_SERVICE: 10, CAP_NET_BROADCAST: 11, CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13, CAP_IPC_LOCK: 14, CAP_IPC_OWNER: 15, CAP_SYS_MODULE: 16, CAP_SYS_RAWIO: 17, CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19, CAP_SYS_PACCT: 20, CAP_SYS_ADMIN: 21, CAP_SYS_BOOT: 22, CAP_SYS_NICE: 23, CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25, CAP_SYS_TTY_CONFIG: 26, CAP_MKNOD: 27, CAP_LEASE: 28, CAP_AUDIT_WRITE: 29, CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31, CAP_MAC_OVERRIDE: 32, CAP_MAC_ADMIN: 33, CAP_SYSLOG: 34, CAP_WAKE_ALARM: 35, CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37, CAP_PERFMON: 38, CAP_BPF: 39, CAP_CHECKPOINT_RESTORE: 40,
};

let hostBounding: bigint | undefined;

/** The capabilities in `caps` that this host (our bounding set) has. */
export function hostHasCaps(caps: string[]): string[] {
  if (hostBounding === undefined) {
    try {
      const m = /CapBnd:\s*([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
      hostBounding = m ? BigInt(`0x${m[1]}`) : -1n;
    } catch {
      hostBounding = -1n;
    }
  }
  const bnd = hostBounding;
  if (bnd === -1n) return caps;
  return caps.filter((c) => CAP_NUMBERS[c] === undefined || ((bnd >> BigInt(CAP_NUMBERS[c])) & 1n) === 1n);
}

const SIGNUMS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * runc's error when it could not start the process (it then exits 255 and
 * logged at level error), else undefined: the exit code is the process's.
 */
export function runcStartError(logFile: string): string | undefined {
  let text = '';
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  let msg: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line) as { level?: string; msg?: string };
      if (j.level === 'error' || j.level === 'fatal') msg = j.msg ?? msg;
    } catch { /* not JSON */ }
  }
  return msg;
}

export function readPidFile(p: string): number {
  try {
    return Number(fs.readFileSync(p, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

/**
 * A TTY exec has two ptys: script's (runc's stdio) and the container's. runc
 * copies the outer size to the inner one at start and on SIGWINCH, so the
 * outer one is resized too (else runc's first copy could undo ours).
 */
export async function resizeExecTty(scriptPid: number | undefined, pid: number, height: number, width: number): Promise<void> {
  if (scriptPid) {
    try {
      const kids = fs.readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      if (kids[0]) await resizePty(Number(kids[0]), height, width);
    } catch { /* script gone */ }
  }
  await resizePty(pid, height, width);
}

/** Sets the window size of the terminal a process has on fd 0 (its pty slave). */
export async function resizePty(pid: number, height: number, width: number): Promise<void> {
  if (!pid) return;
  await execHost('stty', ['-F', `/proc/${pid}/fd/0`, 'rows', String(height), 'cols', String(width)], { timeout: 5000, allowFailure: true });
}
