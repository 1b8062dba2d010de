// `docker exec` processes. Without a TTY: one `runc exec` in the
// foreground, its stdio on pipes the daemon holds (the lean path). With a
// TTY: a conmon in exec mode (`--exec --exec-attach -t`), which receives the
// pty from runc's console socket and serves it on its attach socket, as
// podman drives it: conmon waits on the start pipe until we are connected to
// the attach socket, so no output is written before anyone reads it.
// Resizes go straight to the exec process's pty (its fd 0) with `stty -F`.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { execHost } from '../exec';
import { connectAttach, attachSocketPath, type AttachConn } from './attach';

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

/** What a TTY exec through conmon needs besides runc's options. */
export interface ConmonExecOptions extends ExecSpawnOptions {
  conmon: string;
  /** runc's absolute path (conmon's -r). */
  runtimePath: string;
  execId: string;
  /** The exec's own directory: conmon's bundle dir (ctl fifo, exit file, attach link target). */
  dir: string;
  /** conmon's --socket-dir-path (the attach socket is <it>/<execId[:16]>/attach). */
  socketDir: string;
}

/**
 * A TTY exec under conmon. Protocol (conmon's _OCI_* pipes): the start pipe
 * is written once to let conmon go on, conmon reports on the attach pipe
 * when its attach socket listens, we connect and write the start pipe again
 * (conmon then runs `runc exec -t`), the sync pipe reports the pid and, at
 * the end, the exit code. Output arrives on the socket (one stream byte,
 * then data); the socket closes after conmon has drained the pty.
 */
export function spawnConmonExec(o: ConmonExecOptions): ExecProcess {
  const cuuid = o.execId.slice(0, 16);
  const args = [
    '--api-version', '1', '-c', o.containerId, '-u', cuuid, '-r', o.runtimePath, '-b', o.dir, '-p', o.pidFile,
    '--exit-dir', o.dir, '--socket-dir-path', o.socketDir, '-l', 'none', '--log-level', 'error',
    '--runtime-arg', '--root', '--runtime-arg', o.root,
    ...(o.logFile ? ['--runtime-arg', '--log', '--runtime-arg', o.logFile, '--runtime-arg', '--log-format', '--runtime-arg', 'json'] : []),
    '--conmon-pidfile', path.join(o.dir, 'conmon.pid'), '--no-sync-log',
    '-e', '--exec-attach', '--exec-process-spec', o.processPath, '-t', '--leave-stdin-open',
  ];
  if (o.stdin) args.push('-i');
  const child = spawn(o.conmon, args, {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' },
    cwd: o.dir,
  });
  const fds = child.stdio as unknown as Array<Readable & Writable>;
  const sync: Readable = fds[3];
  const start: Writable = fds[4];
  const attachPipe: Readable = fds[5];
  for (const s of [sync, start, attachPipe]) s.on('error', () => {});
  const stdout = new PassThrough();
  let conn: AttachConn | undefined;
  const pendingIn: Buffer[] = [];
  let inEnded = false;
  const stdin = o.stdin ? new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (conn) conn.write(chunk);
      else pendingIn.push(chunk);
      cb();
    },
    final(cb) {
      inEnded = true;
      cb();
    },
  }) : undefined;
  stdin?.on('error', () => {});
  // Messages of the sync pipe: {"data": N, "message"?: "..."} per line.
  const syncMsgs: Array<{ data: number; message?: string }> = [];
  let syncBuf = '';
  sync.on('data', (b: Buffer) => {
    syncBuf += b.toString();
    let nl: number;
    while ((nl = syncBuf.indexOf('\n')) >= 0) {
      try { syncMsgs.push(JSON.parse(syncBuf.slice(0, nl))); } catch { /* not JSON */ }
      syncBuf = syncBuf.slice(nl + 1);
    }
  });
  const syncEnded = new Promise<void>((r) => { sync.once('end', () => r()); sync.once('close', () => r()); });
  let attachLine = '';
  let connecting = false;
  attachPipe.on('data', (b: Buffer) => {
    attachLine += b.toString();
    if (connecting || !attachLine.includes('\n')) return;
    connecting = true;
    connectAttach(attachSocketPath(o.socketDir, o.execId)).then((c) => {
      conn = c;
      c.onData((_stream, data) => stdout.write(data));
      c.onClose(() => stdout.end());
      for (const b2 of pendingIn.splice(0)) c.write(b2);
      if (inEnded) c.end();
      start.write('1');
    }, () => {
      stdout.end();
      try { child.kill('SIGKILL'); } catch { /* gone */ }
    });
  });
  start.write('0');
  const exited = (async () => {
    await syncEnded;
    // The first message is the pid (> 0), the last the exit code; a failure
    // is a negative number, or no second message at all.
    const last = syncMsgs.length >= 2 ? syncMsgs[syncMsgs.length - 1] : undefined;
    if (!conn) stdout.end();
    if (last && last.data >= 0) return last.data;
    return 255;
  })();
  return { stdin, stdout, exited, child };
}

/** An exec without a TTY: `runc exec` in the foreground on our pipes (a TTY goes through spawnConmonExec). */
export function spawnExec(o: ExecSpawnOptions): ExecProcess {
  if (o.tty) throw new Error('spawnExec: a TTY exec goes through conmon');
  const runcArgs = ['--root', o.root, ...(o.logFile ? ['--log', o.logFile, '--log-format', 'json'] : []), 'exec', '--process', o.processPath, '--pid-file', o.pidFile, o.containerId];
  const stdinMode = o.stdin ? 'pipe' : 'ignore';
  const child: ChildProcess = spawn(o.runc, runcArgs, { stdio: [stdinMode, 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
  return pipedExec(child);
}

/** An exec program (runc exec, berth-exec) running in the foreground on our pipes; it exits with the process's status. */
export function pipedExec(child: ChildProcess): ExecProcess {
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(126));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + (SIGNUMS[signal] ?? 9) : 255)));
  });
  child.stdin?.on('error', () => {});
  return { stdin: child.stdin ?? undefined, stdout: child.stdout!, stderr: child.stderr!, exited, child };
}

// Linux capability numbers (linux/capability.h), to keep what the host lacks out
// of a --privileged exec (capset would fail with EPERM).
export const CAP_NUMBERS: Record<string, number> = {
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

/** Sets the window size of the terminal a process has on fd 0 (its pty slave). */
export async function resizePty(pid: number, height: number, width: number): Promise<void> {
  if (!pid) return;
  await execHost('stty', ['-F', `/proc/${pid}/fd/0`, 'rows', String(height), 'cols', String(width)], { timeout: 5000, allowFailure: true });
}
