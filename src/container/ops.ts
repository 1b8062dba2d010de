// Operations on a running container besides its lifecycle: pause/unpause
// (the runtime's freezer), stats (cgroup samples → Docker's JSON), top (ps),
// and update (resources live through the runtime, restart policy).
import type { ContainerService } from './service';
import type { ContainerRecord } from './types';
import { Conflict, InvalidParameter } from '../util/errors';
import { resources } from '../host/runtime/spec';
import type { RawStats } from '../host/cgroups/stats';
import { top, type TopResult } from '../host/process/top';
import { toDockerStats, type DockerStats } from './stats';
import { applyUpdate } from './config';
import { checkUpdateBody } from './wire-types';

export class OpsService {
  constructor(private readonly containers: ContainerService) {}

  private get runtime() {
    return this.containers.runtime;
  }

  async pause(ref: string): Promise<void> {
    const c = this.containers.get(ref);
    await this.containers.setPaused(c, true, () => {
      if (!c.state.Running) throw new Conflict(`Container ${c.id} is not running`);
      if (c.state.Paused) throw new Conflict(`Container ${c.id} is already paused`);
      if (c.state.Restarting) throw new Conflict(`Container ${c.id} is restarting, wait until the container is running`);
    });
  }

  async unpause(ref: string): Promise<void> {
    const c = this.containers.get(ref);
    await this.containers.setPaused(c, false, () => {
      if (!c.state.Paused) throw new Conflict(`Container ${c.id} is not paused`);
    });
  }

  sample(c: ContainerRecord): RawStats | undefined {
    if (!c.state.Running) return undefined;
    return this.runtime.stats(c.id, c.state.Pid);
  }

  /**
   * Streams stats every second (`stream`), or answers once: with one-shot at
   * once (no precpu), else after a second so the CLI can compute CPU %.
   */
  async stats(ref: string, o: { stream: boolean; oneShot: boolean }, emit: (s: DockerStats) => void, closed: Promise<void>): Promise<void> {
    const c = this.containers.get(ref);
    const net = c.hostConfig.NetworkMode !== 'none' && c.hostConfig.NetworkMode !== 'host';
    let gone = false;
    void closed.then(() => (gone = true));
    const sleep = (ms: number) => new Promise<void>((r) => { const t = setTimeout(r, ms); void closed.then(() => { clearTimeout(t); r(); }); });
    if (!o.stream) {
      if (o.oneShot || !c.state.Running) {
        emit(toDockerStats(c.id, c.name, this.sample(c), undefined, net));
        return;
      }
      const prev = this.sample(c);
      await sleep(1000);
      emit(toDockerStats(c.id, c.name, this.sample(this.containers.get(c.id)), prev, net));
      return;
    }
    let prev: RawStats | undefined;
    while (!gone) {
      let cur: RawStats | undefined;
      try {
        cur = this.sample(this.containers.get(c.id));
      } catch {
        return; // removed
      }
      emit(toDockerStats(c.id, c.name, cur, prev, net));
      prev = cur;
      await sleep(1000);
    }
  }

  async top(ref: string, psArgs?: string): Promise<TopResult> {
    const c = this.containers.get(ref);
    if (!c.state.Running) throw new Conflict(`Container ${c.id} is not running`);
    if (c.state.Restarting) throw new Conflict(`Container ${c.id} is restarting, wait until the container is running`);
    const pids = this.runtime.pids(c.id);
    return top(pids.length ? pids : [c.state.Pid], psArgs || '-ef');
  }

  /** POST /containers/{id}/update: resources (live through the runtime) and the restart policy. */
  async update(ref: string, body: any): Promise<{ Warnings: string[] }> {
    const c = this.containers.get(ref);
    if (!body || typeof body !== 'object') throw new InvalidParameter('config cannot be empty');
    checkUpdateBody(body);
    const warnings: string[] = [];
    await this.containers.withLock(c.id, async () => {
      if (c.state.Status === 'removing' || c.state.Dead) throw new Conflict(`Container ${c.id} is marked for removal and cannot be "update".`);
      const { next, resourcesChanged, warnings: w } = applyUpdate(c.hostConfig, body);
      warnings.push(...w);
      if (c.state.Running && resourcesChanged) await this.runtime.update(c.id, resources(next));
      c.hostConfig = next;
      this.containers.persist(c);
    });
    this.containers.publish(c, 'update');
    return { Warnings: warnings };
  }
}
