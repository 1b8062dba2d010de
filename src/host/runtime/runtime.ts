// The container runtime seam: what the container service asks of a runtime,
// task-shaped as containerd's Task (create, start, kill, pause, resume,
// update, exec, stats, state, delete), plus the exit and attach plumbing a
// detached monitor provides. ConmonRuntime (conmon + runc) implements it;
// nothing above src/host/runtime/ knows the OCI runtime's binary, root or
// argv. test/runtime-conformance.test.ts proves an implementation.
import type { Readable, Writable } from 'node:stream';
import type { RawStats } from '../cgroups/stats';
import type { AttachConn } from './attach';
import type { OciResources, OciSpec } from './spec-types';

export type { AttachConn } from './attach';

export interface CreateOptions {
  /** The OCI runtime program for this container (a name on PATH or a path); the default one otherwise. */
  runtime?: string;
  name: string;
  logPath: string;
  tty: boolean;
  stdin: boolean;
  /** Keep the container's stdin open when an attach client leaves (Docker: TTY or not StdinOnce). */
  leaveStdinOpen?: boolean;
}

/**
 * The container's init pid and the pid of the monitor that outlives the
 * daemon (conmon); `ms`: the create's own steps, ms since its call (debug log).
 */
export interface Created { pid: number; conmonPid: number; ms?: Record<string, number> }

export interface RuntimeState {
  status: string;
  pid: number;
  /** The init's start time as the runtime recorded it (clock ticks, /proc/<pid>/stat field 22), if it did. */
  start?: number;
}

export interface ExitInfo { code: number; at: Date }

export interface ExecOptions {
  /** The exec's id (names the runtime's per-exec socket). */
  execId: string;
  /** The exec's own directory, which the runtime may fill (pid file, logs, sockets). */
  dir: string;
  /** The OCI process (JSON) to run. */
  processPath: string;
  tty: boolean;
  /** false: stdin is /dev/null. */
  stdin: boolean;
  /** Keep the runtime's own start errors apart from the process's output (see ExecProcess.startError). */
  startErrors?: boolean;
}

export interface ExecProcess {
  stdin?: Writable;
  stdout: Readable;
  /** Absent for a TTY exec (one stream). */
  stderr?: Readable;
  /** Resolves with the exit code (the process's own, or the runtime's when it could not start it). */
  exited: Promise<number>;
  /** Whether the process has been started (output before that is the runtime's). */
  started(): boolean;
  /** The process's pid once started, else 0. */
  pid(): number;
  /** After exit: the runtime's error when it could not start the process, else undefined. */
  startError(): string | undefined;
  /** Kills the process and what runs it. */
  kill(): void;
  /** Removes what the runtime left outside the exec's directory. */
  release(): Promise<void>;
}

export interface ContainerRuntime {
  /** Makes the runtime's directories. */
  init(): void;
  /** The OCI runtime's commit (`docker info`'s "runc version"); '' when it does not say. */
  commit(): Promise<string>;
  /** The container's cgroup (OCI linux.cgroupsPath): the spec, stats, top and OOM all use this. */
  cgroupPath(id: string): string;
  /** Writes the bundle and creates the container; its process waits for start(). */
  create(id: string, spec: OciSpec, o: CreateOptions): Promise<Created>;
  start(id: string): Promise<void>;
  /** Sends a signal to the container's init; nothing when it is gone. */
  kill(id: string, signal: number): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Live resource changes. */
  update(id: string, r: OciResources): Promise<void>;
  exec(id: string, o: ExecOptions): ExecProcess;
  /** A sample of the container's cgroup (and its init's network namespace); undefined when gone. */
  stats(id: string, pid: number): RawStats | undefined;
  /** The pids in the container's cgroup. */
  pids(id: string): number[];
  /** The runtime's view; undefined when it knows no such container. */
  state(id: string): Promise<RuntimeState | undefined>;
  /** Removes the runtime's state, cgroups, bundle and exit record; no error when already gone. */
  delete(id: string): Promise<void>;
  /** Whether the runtime holds anything (a bundle) for the container. */
  exists(id: string): boolean;
  /** The spec the container was created with (its bundle), if it has one. */
  spec(id: string): OciSpec | undefined;

  /** The exit recorded for the container, if it has exited. */
  readExit(id: string): ExitInfo | undefined;
  /** Ids that have an exit file, in one directory read (the poll's look over every running container). */
  exitFileIds(): Set<string>;
  /** Whether the OOM killer hit the container; read before delete(). */
  oomKilled(id: string): boolean;
  /** Calls onExit(id) when an exit is recorded; poll() every pollMs as a safety net. */
  watch(onExit: (id: string) => void, poll: () => void, pollMs?: number): void;
  stopWatching(): void;
  /** Whether the monitor process `pid` (Created.conmonPid) is still alive. */
  monitorAlive(pid: number | undefined): boolean;

  /** Connects to the container's stdio (stdin in, output packets out). */
  attach(id: string): Promise<AttachConn>;
  /** Resizes the container's TTY. */
  resize(id: string, height: number, width: number): void;
  /** Removes this runtime's (empty) cgroup parent at daemon shutdown. */
  releaseCgroupParent(): void;
}

/** The cgroup parent of a daemon's containers: `berth`, or `berth-<prefix>` for another chain prefix. */
export function cgroupParentOf(chainPrefix: string): string {
  const prefix = (chainPrefix || 'BERTH').toLowerCase();
  return prefix === 'berth' ? 'berth' : `berth-${prefix.replace(/[^a-z0-9_-]/g, '')}`;
}

/** The one place a container's cgroup path is spelled. */
export function cgroupPathOf(parent: string, id: string): string {
  return `/${parent}/${id}`;
}
