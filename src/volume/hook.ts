// The volume service's part in a container's life: plan mounts at create
// (creating volumes), mount them at start, release at stop and remove.
import { MountPlanner, type MountPoint } from './mounts';
import type { VolumeService } from './service';
import { putMount } from '../network/hook';

export class VolumeHook {
  readonly planner: MountPlanner;

  constructor(
    private readonly volumes: VolumeService,
    /** Mount points of another container (for --volumes-from), by id or name. */
    private readonly mountsOf: (ref: string) => MountPoint[] | undefined,
  ) {
    this.planner = new MountPlanner(volumes);
  }

  async onCreate(c: any): Promise<void> {
    const cfg = c.config ?? c.Config ?? {};
    const hc = c.hostConfig ?? c.HostConfig ?? {};
    const imageVolumes = Object.keys(c.imageConfig?.Volumes ?? {});
    const mps = this.planner.plan(
      c.id ?? c.Id,
      {
        binds: hc.Binds ?? [],
        mounts: hc.Mounts ?? [],
        tmpfs: hc.Tmpfs ?? {},
        volumesFrom: hc.VolumesFrom ?? [],
        volumes: [...new Set([...imageVolumes, ...Object.keys(cfg.Volumes ?? {})])],
      },
      this.mountsOf,
    );
    (c.extra ??= {}).mountPoints = mps;
    c.mounts = MountPlanner.toJson(mps);
  }

  async beforeStart(c: any, spec: any, bundle: { dir: string; rootfs: string }): Promise<void> {
    const mps: MountPoint[] = (c.extra?.mountPoints as MountPoint[]) ?? [];
    const id = c.id ?? c.Id;
    try {
      for (const m of await this.planner.ociMounts(id, mps, bundle.rootfs)) putMount(spec, m);
    } catch (e) {
      await this.volumes.deactivate(id).catch(() => {});
      throw e;
    }
  }

  async afterStop(c: any): Promise<void> {
    await this.volumes.deactivate(c.id ?? c.Id);
  }

  async onRemove(c: any, opts: { removeVolumes: boolean }): Promise<void> {
    await this.planner.release(c.id ?? c.Id, (c.extra?.mountPoints as MountPoint[]) ?? [], opts.removeVolumes);
  }
}
