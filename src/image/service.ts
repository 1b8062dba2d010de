// STUB — to be implemented by the image owner.
import type { Db } from '../store/db';
import type { EventBus } from '../events/bus';
import type { Overlay2 } from '../host/storage/overlay2';

export interface ImageServiceDeps {
  db: Db;
  events: EventBus;
  storage: Overlay2;
  dataRoot: string;
}

export class ImageService {
  constructor(readonly deps: ImageServiceDeps) {}
  async init(): Promise<void> {}
  count(): number { return 0; }
}
