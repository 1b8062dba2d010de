// What the builder needs from the rest of the engine. The executor only sees
// this interface; daemon-backend.ts implements it on the image, container and
// storage services, so the builder never reaches into their internals.
import type { ImageConfig, ImageConfigJSON, HistoryEntry, ImageRecord } from '../image/types';

export interface RunSpec {
  image: string;
  cmd: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  /** `default`, `bridge`, `host`, `none`, or a network name. */
  network?: string;
  extraHosts?: string[];
  /** Stdout/stderr bytes of the command as they come. */
  onOutput(chunk: Buffer, stderr: boolean): void;
  signal?: AbortSignal;
  /** The runtime config the container should carry (classic builder: the step's config). */
  config: ImageConfig;
}

export interface NewImage {
  parent?: ImageRecord;
  /** Uncompressed layer tar (a file path), or none for a metadata-only step. */
  layerTar?: string;
  /** Full config of the new image; rootfs/history are extended by the backend. */
  config: ImageConfig;
  containerConfig?: ImageConfig;
  history: HistoryEntry;
  author?: string;
  /** Marks the backend should set (`container` of the config). */
  containerId?: string;
}

export interface BuilderBackend {
  /** Clean what a crashed build left (filesystem views). */
  recover?(): Promise<void>;
  /** A local image by reference or id, or undefined. */
  findImage(refOrId: string): ImageRecord | undefined;
  /** Fetch an image that is not local (FROM, COPY --from); throws Docker's error when it cannot. */
  pullImage(ref: string, progress: (line: string) => void): Promise<ImageRecord>;
  createImage(img: NewImage): Promise<ImageRecord>;
  /** --cache-from: `parent` plus `source`'s history entry at `index` (and its layer), as an image. */
  restoreCached(parent: ImageRecord | undefined, source: ImageRecord, index: number, config: ImageConfig): Promise<ImageRecord>;
  /** Tag an image (`name:tag`). */
  tagImage(id: string, ref: string): Promise<void>;
  /** A read-only view of an image's filesystem (undefined: scratch) for the duration of fn. */
  withRootfs<T>(image: ImageRecord | undefined, fn: (root: string) => Promise<T>): Promise<T>;
  /** Create and start a container for a RUN step; resolves with its exit code once it ended. */
  run(spec: RunSpec, created: (containerId: string) => void): Promise<number>;
  /** Commit a stopped RUN container as a child of its image. */
  commit(containerId: string, img: Omit<NewImage, 'layerTar'>): Promise<ImageRecord>;
  removeContainer(containerId: string): Promise<void>;
  /** A temp directory under the data root for this build (same filesystem as layers). */
  tempDir(prefix: string): string;
}

export type { ImageConfig, ImageConfigJSON, HistoryEntry, ImageRecord };
