// `docker exec`: exec instances live in memory (as in Docker) with their
// config; start runs one runtime exec (ContainerRuntime.exec) whose
// output is sent to the client as Docker frames (raw when TTY), and whose
// exit code inspect reports.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { EventBus } from '../events/bus';
import type { ContainerService } from './service';
import { Conflict, InvalidParameter, NotFound } from '../util/errors';
import { newId } from '../util/ids';
import { within } from '../util/within';
import { resolveUser } from '../host/runtime/users';
import { ALL_CAPS, containerEnv } from '../host/runtime/spec';
import { resizePty, hostHasCaps } from '../host/runtime/exec';
import type { ExecProcess } from '../host/runtime/runtime';
import type { OciProcess, OciSpec } from '../host/runtime/spec-types';
import { frame } from './logs';
import { DetachFilter, parseDetachKeys, DEFAULT_DETACH_KEYS } from './attach';

export interface ExecConfig {
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Tty: boolean;
  Env: string[];
  Cmd: string[];
  Privileged: boolean;
  User: string;
  WorkingDir: string;
  DetachKeys: string;
  ConsoleSize?: [number, number] | null;
}

interface ExecRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  dir: string;
  proc?: ExecProcess;
}

/** What the route gives start when the client attached (hijacked connection). */
export interface ExecIo {
  input: Readable;
  output: Writable;
  end(): void;
  closed: Promise<void>;
}

export class ExecService {
  private readonly execs = new Map<string, ExecRecord>();
  private readonly root: string;

  constructor(private readonly containers: ContainerService, private readonly events: EventBus, execRoot: string) {
    this.root = path.join(execRoot, 'exec');
  }

  private get(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw new NotFound(`No such exec instance: ${id}`);
    return e;
  }

  private runningContainer(ref: string) {
    const c = this.containers.get(ref);
    if (c.state.Paused) throw new Conflict(`Container ${c.id} is paused, unpause the container before exec`);
    if (c.state.Restarting) throw new Conflict(`Container ${c.id} is restarting, wait until the container is running`);
    if (!c.state.Running) throw new Conflict(`Container ${c.id} is not running`);
    return c;
  }

  async create(ref: string, body: any): Promise<{ Id: string }> {
    const c = this.runningContainer(ref);
    if (!body || typeof body !== 'object') throw new InvalidParameter('config cannot be empty in order to create an exec');
    const cmd = Array.isArray(body.Cmd) ? body.Cmd.map(String) : typeof body.Cmd === 'string' ? [body.Cmd] : [];
    if (!cmd.length) throw new InvalidParameter('No exec command specified');
    if (body.DetachKeys) parseDetachKeys(String(body.DetachKeys));
    const config: ExecConfig = {
      AttachStdin: !!body.AttachStdin,
      AttachStdout: !!body.AttachStdout,
      AttachStderr: !!body.AttachStderr,
      Tty: !!body.Tty,
      Env: Array.isArray(body.Env) ? body.Env.map(String) : [],
      Cmd: cmd,
      Privileged: !!body.Privileged,
      User: body.User ? String(body.User) : '',
      WorkingDir: body.WorkingDir ? String(body.WorkingDir) : '',
      DetachKeys: body.DetachKeys ? String(body.DetachKeys) : '',
      ConsoleSize: Array.isArray(body.ConsoleSize) ? body.ConsoleSize : null,
    };
    const id = newId();
    const e: ExecRecord = { id, containerId: c.id, config, running: false, started: false, exitCode: null, pid: 0, dir: path.join(this.root, id) };
    // The process spec is written once, here: start is then one runtime exec.
    const proc = this.processSpec(c.id, config);
    await fsp.mkdir(e.dir, { recursive: true, mode: 0o700 });
    await fsp.writeFile(path.join(e.dir, 'process.json'), JSON.stringify(proc));
    this.execs.set(id, e);
    this.events.publish('container', `exec_create: ${cmd.join(' ')}`, c.id, this.attrs(c.id, { execID: id }));
    return { Id: id };
  }

  private attrs(cid: string, extra: Record<string, string>): Record<string, string> {
    try {
      const c = this.containers.get(cid);
      return { ...(c.config.Labels ?? {}), image: c.config.Image, name: c.name, ...extra };
    } catch {
      return extra;
    }
  }

  /** The container's own process (from its bundle) adjusted by the exec config. */
  private processSpec(cid: string, x: ExecConfig): OciProcess {
    const c = this.containers.get(cid);
    const spec: OciSpec | undefined = this.containers.runtime.spec(cid);
    if (!spec) throw new Conflict(`Container ${cid} is not running`);
    const base = spec.process!;
    const rootfs = spec.root?.path ?? '';
    let user = base.user;
    let home = '/';
    if (x.User) {
      const u = resolveUser(rootfs, x.User, (c.hostConfig.GroupAdd ?? []).map(String));
      user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
      home = u.home;
    } else {
      home = (base.env.find((v) => v.startsWith('HOME=')) ?? 'HOME=/').slice(5);
    }
    const env = new Map<string, string>();
    for (const v of [...base.env.filter((v) => !v.startsWith('HOME=') || !x.User), ...x.Env]) env.set(v.split('=')[0], v);
    let envList = [...env.values()];
    envList = containerEnv(envList, c.config.Hostname, home, x.Tty);
    const all = hostHasCaps(ALL_CAPS);
    const caps = x.Privileged ? { bounding: all, effective: all, permitted: all } : base.capabilities;
    return {
      terminal: x.Tty,
      user,
      args: x.Cmd,
      env: envList,
      cwd: x.WorkingDir || base.cwd || '/',
      ...(caps ? { capabilities: caps } : {}),
      ...(base.rlimits ? { rlimits: base.rlimits } : {}),
      noNewPrivileges: x.Privileged ? false : !!base.noNewPrivileges,
      ...(base.oomScoreAdj ? { oomScoreAdj: base.oomScoreAdj } : {}),
    };
  }

  inspect(id: string): Record<string, unknown> {
    const e = this.get(id);
    if (e.running && !e.pid) e.pid = e.proc?.pid() ?? 0;
    return {
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: e.config.DetachKeys,
      ExitCode: e.exitCode,
      ID: e.id,
      OpenStderr: e.config.AttachStderr,
      OpenStdin: e.config.AttachStdin,
      OpenStdout: e.config.AttachStdout,
      ProcessConfig: {
        arguments: e.config.Cmd.slice(1),
        entrypoint: e.config.Cmd[0],
        privileged: e.config.Privileged,
        tty: e.config.Tty,
        ...(e.config.User ? { user: e.config.User } : {}),
      },
      Running: e.running,
      Pid: e.running ? e.pid : 0,
    };
  }

  /** Validates before the route commits to an answer (errors must keep their status). */
  checkStart(id: string): void {
    const e = this.get(id);
    if (e.running) throw new Conflict(`Error: Exec command ${id} is already running`);
    if (e.started) throw new Conflict(`Error: Exec command ${id} has already run`);
    this.runningContainer(e.containerId);
  }

  /**
   * Runs the exec. Detached (`io` absent): returns once it is started.
   * Attached: streams until the process exits or the client detaches.
   */
  async start(id: string, io?: ExecIo, o: { tty?: boolean } = {}): Promise<void> {
    this.checkStart(id);
    const e = this.get(id);
    const c = this.containers.get(e.containerId);
    // As moby: exec create's Tty gives the process a terminal; exec start's
    // Tty decides the stream (raw, else Docker's frames, a TTY's output all stdout).
    const tty = e.config.Tty;
    const raw = !!o.tty;
    e.started = true;
    e.running = true;
    const proc = this.containers.runtime.exec(c.id, {
      execId: e.id,
      dir: e.dir,
      processPath: path.join(e.dir, 'process.json'),
      tty,
      stdin: !!io && e.config.AttachStdin,
      startErrors: true,
    });
    e.proc = proc;
    this.events.publish('container', `exec_start: ${e.config.Cmd.join(' ')}`, c.id, this.attrs(c.id, { execID: id }));
    const write = (stream: 'stdout' | 'stderr', b: Buffer) => {
      if (!io || (io.output as any).destroyed) return;
      if (stream === 'stdout' && !e.config.AttachStdout) return;
      if (stream === 'stderr' && !e.config.AttachStderr) return;
      io.output.write(raw ? b : frame(stream, b));
    };
    // Output is held until the runtime has started the process: before
    // that it can only be the runtime's own error, which Docker replaces by
    // its "OCI runtime exec failed" line and exit code 126.
    let held: Array<['stdout' | 'stderr', Buffer]> | undefined = [];
    const release = () => {
      clearInterval(poll);
      if (!held) return;
      const h = held;
      held = undefined;
      for (const [s, b] of h) write(s, b);
    };
    const out = (stream: 'stdout' | 'stderr', b: Buffer) => {
      if (held && proc.started()) release();
      if (held) held.push([stream, b]);
      else write(stream, b);
    };
    const poll: NodeJS.Timeout = setInterval(() => { if (proc.started()) release(); }, 20);
    proc.stdout.on('data', (b: Buffer) => out('stdout', b));
    proc.stderr?.on('data', (b: Buffer) => out('stderr', b));
    const outputsDone = Promise.all([streamEnd(proc.stdout), proc.stderr ? streamEnd(proc.stderr) : Promise.resolve()]);
    const done = Promise.all([proc.exited, outputsDone]).then(async ([exitCode]) => {
      clearInterval(poll);
      let code = exitCode;
      const startErr = code === 255 ? proc.startError() : undefined;
      if (startErr) {
        // moby: a failed exec start is exit code 126, its error written to the client's stdout.
        code = 126;
        held = undefined;
        write('stdout', Buffer.from(`OCI runtime exec failed: ${startErr}: unknown\r\n`));
      } else {
        release();
      }
      e.exitCode = code;
      e.running = false;
      e.pid = 0;
      e.proc = undefined;
      this.events.publish('container', 'exec_die', c.id, this.attrs(c.id, { execID: id, exitCode: String(code) }));
      await fsp.rm(e.dir, { recursive: true, force: true }).catch(() => {});
      await proc.release();
      // Finished execs are kept a while for inspect, then dropped.
      setTimeout(() => this.execs.delete(id), 5 * 60_000).unref();
      return code;
    });
    if (e.config.ConsoleSize && tty) void this.waitPidThenResize(e, e.config.ConsoleSize[0], e.config.ConsoleSize[1]);
    if (!io) return;
    let detached = false;
    const detach = new Promise<void>((resolve) => {
      if (proc.stdin) {
        const filter = new DetachFilter(parseDetachKeys(e.config.DetachKeys || DEFAULT_DETACH_KEYS), () => {
          detached = true;
          resolve();
        });
        io.input.on('data', (b: Buffer) => {
          const data = tty ? filter.push(b) : b;
          if (data.length && !detached) proc.stdin!.write(data);
        });
        // As Docker: a TTY's stdin stays open when the client goes (it may have detached on its side).
        io.input.on('end', () => { if (!detached && !tty) proc.stdin!.end(); });
        // Reading the request body paused the connection; a 'data' listener alone does not resume it.
        io.input.resume();
      } else {
        io.input.resume();
      }
      io.input.on('error', () => {});
    });
    await Promise.race([done, detach, io.closed]);
    io.end();
  }

  private async waitPidThenResize(e: ExecRecord, h: number, w: number): Promise<void> {
    for (let i = 0; i < 100 && e.running; i++) {
      const pid = e.proc?.pid() ?? 0;
      if (pid) {
        e.pid = pid;
        await resizePty(pid, h, w);
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async resize(id: string, h: number, w: number): Promise<void> {
    const e = this.get(id);
    if (!e.running) throw new Conflict(`Exec ${id} is not running`);
    if (!e.config.Tty) return;
    await this.waitPidThenResize(e, h, w);
  }

  /**
   * One health probe: `cmd` run like an exec (no client), its output (at most
   * 4 KiB) and exit code; killed after `timeoutMs` (exit code -1, Docker's text).
   */
  async runProbe(cid: string, cmd: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
    const c = this.runningContainer(cid);
    const config: ExecConfig = {
      AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, Env: [], Cmd: cmd, Privileged: false,
      User: '', WorkingDir: '', DetachKeys: '',
    };
    const dir = path.join(this.root, `probe-${newId().slice(0, 16)}`);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      await fsp.writeFile(path.join(dir, 'process.json'), JSON.stringify(this.processSpec(c.id, config)));
      const proc = this.containers.runtime.exec(c.id, {
        execId: path.basename(dir), dir, processPath: path.join(dir, 'process.json'), tty: false, stdin: false,
      });
      let output = '';
      const take = (b: Buffer) => { if (output.length < 4096) output += b.toString().slice(0, 4096 - output.length); };
      proc.stdout.on('data', take);
      proc.stderr?.on('data', take);
      const res = await within(proc.exited, timeoutMs);
      if (res === undefined) {
        proc.kill();
        return { code: -1, output: `Health check exceeded timeout (${timeoutMs / 1000}s)` };
      }
      return { code: res, output };
    } finally {
      await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
    }
  }
}

function streamEnd(s: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (s.readableEnded || s.destroyed) return resolve();
    s.once('end', () => resolve());
    s.once('close', () => resolve());
  });
}
