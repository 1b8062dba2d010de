// How RUN steps get a container: create from the step's image, start with
// output captured, wait for the exit code, then diff/remove. Implemented on
// ContainerService in runner-containers.ts.
import type { RunSpec } from './backend';

export interface ContainerRunner {
  run(spec: RunSpec, created: (containerId: string) => void): Promise<number>;
  /** Uncompressed tar of the container's changes (its upper layer). */
  diffTar(containerId: string): Promise<NodeJS.ReadableStream>;
  remove(containerId: string): Promise<void>;
}
