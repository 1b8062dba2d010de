// STUB — to be implemented by the container owner.
import type { Db } from '../store/db';
import type { EventBus } from '../events/bus';
import type { Overlay2 } from '../host/storage/overlay2';
import type { ImageService } from '../image/service';
import type { DaemonConfig } from '../daemon/config';

export interface ContainerServiceDeps {
  db: Db;
  events: EventBus;
  storage: Overlay2;
  images: ImageService;
  config: DaemonConfig;
}

export interface ContainerCounts { total: number; running: number; paused: number; stopped: number }

export class ContainerService {
  constructor(readonly deps: ContainerServiceDeps) {}
  /** Load records, reconcile with conmon exit files, restart what policies say. */
  async init(): Promise<void> {}
  /** Daemon is stopping: stop watching; containers keep running under conmon. */
  async shutdown(): Promise<void> {}
  counts(): ContainerCounts { return { total: 0, running: 0, paused: 0, stopped: 0 }; }
}
