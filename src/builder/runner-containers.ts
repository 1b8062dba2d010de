// ContainerRunner on ContainerService: RUN steps run in ordinary containers.
import type { ContainerService } from '../container/service';
import { SystemError } from '../util/errors';
import type { RunSpec } from './backend';
import type { ContainerRunner } from './runner';

export class ServiceRunner implements ContainerRunner {
  constructor(private readonly containers: ContainerService) {}

  async run(_spec: RunSpec, _created: (containerId: string) => void): Promise<number> {
    void this.containers;
    throw new SystemError('RUN is not available: the container service is not ready');
  }

  async diffTar(_id: string): Promise<NodeJS.ReadableStream> {
    throw new SystemError('RUN is not available: the container service is not ready');
  }

  async remove(_id: string): Promise<void> {}
}
