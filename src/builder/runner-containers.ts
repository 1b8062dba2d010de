// ContainerRunner on ContainerService: a RUN step is an ordinary container
// (so networks, volumes and the OCI spec are the same as `docker run`),
// created with the step's config and an empty entrypoint, attached before it
// starts so no output is missed, and waited for.
import type { ContainerService } from '../container/service';
import type { Overlay2 } from '../host/storage/overlay2';
import type { RunSpec } from './backend';
import type { ContainerRunner } from './runner';
import { within } from '../util/within';

export class ServiceRunner implements ContainerRunner {
  constructor(private readonly containers: ContainerService, private readonly storage: Overlay2) {}

  async run(spec: RunSpec, created: (containerId: string) => void): Promise<number> {
    const { Id: id } = await this.containers.create({
      Image: spec.image,
      Cmd: spec.cmd,
      Entrypoint: [''],
      Env: spec.env,
      WorkingDir: spec.workingDir ?? '',
      User: spec.user ?? '',
      AttachStdout: true,
      AttachStderr: true,
      Labels: {},
      HostConfig: {
        NetworkMode: spec.network && spec.network !== 'default' ? spec.network : 'default',
        ExtraHosts: spec.extraHosts?.length ? spec.extraHosts : null,
      },
    });
    created(id);
    let closeAttach!: () => void;
    const closed = new Promise<void>((r) => (closeAttach = r));
    const deframe = new Deframer(spec.onOutput);
    const attached = this.containers
      .attach(id, { stdout: true, stderr: true, logs: true }, { write: (b) => deframe.push(b), end: () => {} }, closed)
      .catch(() => undefined);
    let ended = false;
    // Cancelled: kill until it is down (a kill racing the start may miss), bounded.
    const onAbort = () => {
      void (async () => {
        for (let i = 0; i < 50 && !ended; i++) {
          await this.containers.kill(id, 'SIGKILL').catch(() => undefined);
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
    };
    spec.signal?.addEventListener('abort', onAbort);
    try {
      // Cancelled while the container was being made: never start it.
      if (spec.signal?.aborted) return 137;
      await this.containers.start(id);
      const w = await this.containers.wait(id, 'not-running');
      ended = true;
      // The attach ends at the exit; bound the wait for its last bytes anyway.
      await within(attached, 5000);
      return w.StatusCode;
    } finally {
      ended = true;
      closeAttach();
      spec.signal?.removeEventListener('abort', onAbort);
    }
  }

  async diffTar(containerId: string): Promise<NodeJS.ReadableStream> {
    return this.storage.diffTar(containerId);
  }

  async remove(containerId: string): Promise<void> {
    await this.containers.remove(containerId, { force: true, volumes: true });
  }
}

/** Docker's 8-byte stream frames (non-TTY attach) → the payload bytes. */
class Deframer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly out: (b: Buffer, stderr: boolean) => void) {}

  push(b: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, b]) : b;
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      this.out(this.buf.subarray(8, 8 + size), this.buf[0] === 2);
      this.buf = this.buf.subarray(8 + size);
    }
  }
}
