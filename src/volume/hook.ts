// The volume service's part in a container's life: plan mounts at create
// (creating volumes), mount them at start, release at stop and remove.
import { MountPlanner, type MountPoint } from './mounts';
import type { VolumeService } from './service';
import type { ContainerHook, ContainerRecord } from '../container/types';
import type { OciSpec } from '../host/runtime/spec-types';
import { putMount } from '../host/runtime/spec';

/** The planned mount points a container record keeps (record.extra.mountPoints). */
function mountPointsOf(c: ContainerRecord): MountPoint[] {
  return (c.extra?.mountPoints as MountPoint[] | undefined) ?? [];
}

export class VolumeHook implements ContainerHook {
  readonly planner: MountPlanner;

  constructor(
    private readonly volumes: VolumeService,
    /** Mount points of another container (for --volumes-from), by id or name. */
    private readonly mountsOf: (ref: string) => MountPoint[] | undefined,
  ) {
    this.planner = new MountPlanner(volumes);
  }

  async onCreate(c: ContainerRecord): Promise<void> {
    const cfg = c.config;
    const hc = c.hostConfig;
    const imageVolumes = Object.keys(c.imageConfig?.Volumes ?? {});
    const mps = this.planner.plan(
      c.id,
      {
        binds: hc.Binds ?? [],
        mounts: hc.Mounts ?? [],
        tmpfs: hc.Tmpfs ?? {},
        volumesFrom: hc.VolumesFrom ?? [],
        volumes: [...new Set([...imageVolumes, ...Object.keys(cfg.Volumes ?? {})])],
      },
      this.mountsOf,
    );
    c.extra.mountPoints = mps;
    c.mounts = MountPlanner.toJson(mps);
  }

  async beforeStart(c: ContainerRecord, spec: OciSpec, bundle: { dir: string; rootfs: string }): Promise<void> {
    const mps = mountPointsOf(c);
    const id = c.id;
    try {
      for (const m of await this.planner.ociMounts(id, mps, bundle.rootfs)) putMount(spec, m);
    } catch (e) {
      await this.volumes.deactivate(id).catch(() => {});
      throw e;
    }
  }

  async afterStop(c: ContainerRecord): Promise<void> {
    await this.volumes.deactivate(c.id);
  }

  async onRemove(c: ContainerRecord, opts: { removeVolumes: boolean }): Promise<void> {
    await this.planner.release(c.id, mountPointsOf(c), opts.removeVolumes);
  }
}
