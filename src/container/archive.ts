// `docker cp` through the archive API (HEAD/GET/PUT /containers/{id}/archive)
// and `docker export`. The filesystem work runs in a confined helper
// (host/fsroot) that chroots into the container before it resolves any path,
// so a container racing renames against us can never lead it to a host file
// (CVE-2018-15664). What the helper sees is what the container sees: a
// running container's root is /proc/<pid>/root, its volumes and bind mounts
// included; a stopped container's rootfs is mounted for the call and its
// volumes are bind-mounted over it in the helper's private mount namespace,
// as Docker does. Docker's semantics and error texts are kept (host/fsroot/ops.ts).
import { PassThrough, type Readable } from 'node:stream';
import type { ContainerService } from './service';
import type { ContainerRecord } from './types';
import { Conflict } from '../util/errors';
import { runConfined, type BindSpec, type ConfinedRequest } from '../host/fsroot/run';
import type { PathStat } from '../host/fsroot/ops';

export type { PathStat };

type Target = Pick<ConfinedRequest, 'root' | 'mounts'>;

/** The volumes and bind mounts of a container, as its mount points name them. */
function bindsOf(c: ContainerRecord): BindSpec[] {
  return (c.mounts ?? [])
    .filter((m) => (m.Type === 'bind' || m.Type === 'volume') && m.Source && m.Destination)
    .map((m) => ({ source: m.Source, destination: m.Destination, rw: m.RW }));
}

/** Reads and drops the rest of a request body (bounded), so a refused upload gets its answer instead of a reset. */
function drain(s: Readable, ms = 30_000): Promise<void> {
  return new Promise((resolve) => {
    if (s.readableEnded || s.destroyed) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      resolve();
    }
    s.on('end', done);
    s.on('close', done);
    s.on('error', done);
    s.resume();
  });
}

export class ArchiveService {
  constructor(private readonly containers: ContainerService) {}

  /** Runs `fn` with where the helper must confine itself, under the container's lock. */
  private async withTarget<T>(ref: string, fn: (t: Target, c: ContainerRecord) => Promise<T>): Promise<T> {
    const c = this.containers.get(ref);
    if (c.state.Status === 'removing') throw new Conflict(`Container ${c.id} is marked for removal`);
    const storage = this.containers.deps.storage;
    return this.containers.withLock(c.id, async () => {
      const cur = this.containers.get(c.id);
      if (cur.state.Running && cur.state.Pid > 0) return fn({ root: `/proc/${cur.state.Pid}/root` }, cur);
      const root = await storage.mount(c.id);
      try {
        return await fn({ root, mounts: bindsOf(cur) }, cur);
      } finally {
        if (!this.containers.get(c.id).state.Running) await storage.unmount(c.id).catch(() => {});
      }
    });
  }

  async stat(ref: string, p: string): Promise<PathStat> {
    return this.withTarget(ref, async (t, c) => {
      const run = runConfined({ op: 'stat', ...t, args: { path: p, container: c.name } });
      run.stdin.end();
      try {
        return (await run.next()).ok as PathStat;
      } finally {
        run.kill();
        await run.exited;
      }
    });
  }

  /** The tar of `p` and its stat. The stream is produced while the container is held. */
  async get(ref: string, p: string): Promise<{ stat: PathStat; tar: Readable; done: Promise<void> }> {
    let resolveReady!: (v: { stat: PathStat; tar: Readable; done: Promise<void> }) => void;
    let rejectReady!: (e: unknown) => void;
    const ready = new Promise<{ stat: PathStat; tar: Readable; done: Promise<void> }>((res, rej) => { resolveReady = res; rejectReady = rej; });
    const done = this.withTarget(ref, async (t, c) => {
      const run = runConfined({ op: 'get', ...t, args: { path: p, container: c.name } });
      run.stdin.end();
      try {
        const stat = (await run.next()).ok as PathStat;
        const out = new PassThrough();
        // The client may leave early: then stop the helper and let go of the container.
        out.once('close', () => run.kill());
        run.stdout.pipe(out);
        resolveReady({ stat, tar: out, done });
        // A failure after the first byte can only break the stream (as on Docker).
        const end = await run.next().catch((e: Error) => e);
        if (end instanceof Error) out.destroy(end);
      } finally {
        await run.exited;
      }
    }).catch((e) => { rejectReady(e); throw e; });
    done.catch(() => {});
    return ready;
  }

  /** Extracts `tarStream` into the directory `p`. */
  async put(ref: string, p: string, tarStream: Readable, o: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    await this.withTarget(ref, async (t, c) => {
      const run = runConfined({
        op: 'put',
        ...t,
        args: {
          path: p,
          container: c.name,
          ...o,
          readonlyRootfs: !!c.hostConfig.ReadonlyRootfs,
          mounts: (c.mounts ?? []).map((m) => ({ destination: m.Destination, rw: m.RW })),
        },
      });
      const aborted = () => run.kill();
      tarStream.on('error', aborted);
      tarStream.pipe(run.stdin);
      try {
        await run.next();
      } catch (e) {
        tarStream.unpipe(run.stdin);
        run.kill();
        await drain(tarStream);
        throw e;
      } finally {
        tarStream.off('error', aborted);
        tarStream.on('error', () => {});
        run.kill();
        await run.exited;
      }
    });
    this.containers.publish(this.containers.get(ref), 'extract-to-dir');
  }

  /**
   * `docker export`: the container's own filesystem (volumes are not in it, as
   * on Docker), from the rootfs mount; a stopped container's is mounted for the call.
   */
  async export(ref: string): Promise<Readable> {
    const c = this.containers.get(ref);
    if (c.state.Status === 'removing') throw new Conflict(`Container ${c.id} is marked for removal`);
    const storage = this.containers.deps.storage;
    let resolveReady!: (r: Readable) => void;
    let rejectReady!: (e: unknown) => void;
    const ready = new Promise<Readable>((res, rej) => { resolveReady = res; rejectReady = rej; });
    const work = async (): Promise<void> => {
      const root = await storage.mount(c.id);
      try {
        const run = runConfined({ op: 'export', root, args: {} });
        run.stdin.end();
        try {
          await run.next();
          const out = new PassThrough();
          out.once('close', () => run.kill());
          run.stdout.pipe(out);
          resolveReady(out);
          const end = await run.next().catch((e: Error) => e);
          if (end instanceof Error) out.destroy(end);
        } finally {
          await run.exited;
        }
      } finally {
        if (!this.containers.get(c.id).state.Running) await storage.unmount(c.id).catch(() => {});
      }
    };
    // A stopped container is held for the export, so a start cannot race the unmount.
    const done = c.state.Running ? work() : this.containers.withLock(c.id, work);
    done.catch((e) => rejectReady(e));
    const out = await ready;
    this.containers.publish(c, 'export');
    return out;
  }
}
