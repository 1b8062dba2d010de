// STUB — to be implemented by the container owner.
import type { Db } from '../store/db';
import type { EventBus } from '../events/bus';
import type { Overlay2 } from '../host/storage/overlay2';
import type { ImageService } from '../image/service';
import type { DaemonConfig } from '../daemon/config';
import type { ContainerHook } from './types';
export type { ContainerHook, ContainerRecord } from './types';

export interface ContainerServiceDeps {
  db: Db;
  events: EventBus;
  storage: Overlay2;
  images: ImageService;
  config: DaemonConfig;
}

export interface ContainerCounts { total: number; running: number; paused: number; stopped: number }

export class ContainerService {
  private readonly hooks: ContainerHook[] = [];
  constructor(readonly deps: ContainerServiceDeps) {}
  /** Network/volume services plug in here (see ContainerHook). */
  addHook(h: ContainerHook): void { this.hooks.push(h); }
  /** Load records, reconcile with conmon exit files, restart what policies say. */
  async init(): Promise<void> {}
  /** Daemon is stopping: stop watching; containers keep running under conmon. */
  async shutdown(): Promise<void> {}
  counts(): ContainerCounts { return { total: 0, running: 0, paused: 0, stopped: 0 }; }
}
