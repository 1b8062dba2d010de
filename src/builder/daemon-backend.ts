// BuilderBackend on the daemon's services: images through ImageService,
// read-only filesystem views through the overlay2 driver, RUN steps through
// ContainerService.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ImageService } from '../image/service';
import type { Overlay2 } from '../host/storage/overlay2';
import { parseTagged, familiarString, fullString } from '../image/reference';
import { NotFound } from '../util/errors';
import { drain, peek, replay } from '../util/peek';
import type { BuilderBackend, NewImage, RunSpec, ImageRecord, ImageConfig } from './backend';
import type { ContainerRunner } from './runner';

export class DaemonBuilderBackend implements BuilderBackend {
  constructor(
    private readonly images: ImageService,
    private readonly storage: Overlay2,
    private readonly runner: ContainerRunner,
    private readonly tmpRoot: string,
    /** Registry pull (distribution service), given a tagged reference; progress as JSON messages. */
    private readonly pull?: (ref: string, sink: { write(m: any): void }) => Promise<void>,
  ) {}

  async recover(): Promise<void> {
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.storage.containersDir);
    } catch { /* none */ }
    for (const n of names) {
      if (!n.startsWith('buildview-')) continue;
      await this.storage.removeRw(n).catch(() => undefined);
      fs.rmSync(path.join(this.storage.containersDir, n), { recursive: true, force: true });
    }
  }

  findImage(refOrId: string): ImageRecord | undefined {
    try {
      return this.images.tryResolve(refOrId);
    } catch {
      return undefined;
    }
  }

  async pullImage(ref: string, progress: (line: string) => void): Promise<ImageRecord> {
    const r = parseTagged(ref);
    if (this.pull) {
      await this.pull(familiarString(r), {
        write: (m) => {
          // The classic builder shows pull status lines, not progress bars.
          if (m?.status && !m.progressDetail?.total) progress(`${m.id ? m.id + ': ' : ''}${m.status}\n`);
        },
      });
      const img = this.images.tryResolve(fullString(r));
      if (img) return img;
    }
    const name = r.path.replace(/^library\//, '');
    throw new NotFound(`pull access denied for ${name}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`);
  }

  async createImage(img: NewImage): Promise<ImageRecord> {
    return this.images.createImage({
      parent: img.parent,
      layerTar: img.layerTar ? fs.createReadStream(img.layerTar) : undefined,
      config: img.config,
      containerConfig: img.containerConfig,
      container: img.containerId,
      history: img.history,
      author: img.author,
    });
  }

  restoreCached(parent: ImageRecord | undefined, source: ImageRecord, index: number, config: ImageConfig): Promise<ImageRecord> {
    return this.images.restoreCached(parent, source, index, config);
  }

  async tagImage(id: string, ref: string): Promise<void> {
    const img = this.images.get(id);
    if (!img) throw new NotFound(`No such image: ${id}`);
    this.images.tagImage(img, parseTagged(ref));
  }

  async withRootfs<T>(image: ImageRecord | undefined, fn: (root: string) => Promise<T>): Promise<T> {
    if (!image || (image.config.rootfs?.diff_ids ?? []).length === 0) {
      const dir = this.tempDir('scratch');
      try {
        return await fn(dir);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    const id = `buildview-${randomBytes(8).toString('hex')}`;
    await this.storage.createRw(id, this.images.chainIds(image));
    try {
      const root = await this.storage.mount(id);
      return await fn(root);
    } finally {
      await this.storage.removeRw(id);
      fs.rmSync(path.join(this.storage.containersDir, id), { recursive: true, force: true });
    }
  }

  run(spec: RunSpec, created: (containerId: string) => void): Promise<number> {
    return this.runner.run(spec, created);
  }

  async commit(containerId: string, img: Omit<NewImage, 'layerTar'>): Promise<ImageRecord> {
    // A step that changed nothing adds no layer (an empty_layer entry), as Docker's commit does.
    const upper = this.storage.upperDir(containerId);
    const has = hasTarEntries(upper);
    const tar = has === false ? undefined : has ? await this.runner.diffTar(containerId) : await nonEmptyTar(await this.runner.diffTar(containerId));
    return this.images.createImage({
      parent: img.parent,
      layerTar: tar,
      layerUpper: tar ? upper : undefined,
      config: img.config,
      containerConfig: img.containerConfig,
      container: containerId,
      history: img.history,
      author: img.author,
    });
  }

  removeContainer(containerId: string): Promise<void> {
    return this.runner.remove(containerId);
  }

  tempDir(prefix: string): string {
    fs.mkdirSync(this.tmpRoot, { recursive: true, mode: 0o700 });
    return fs.mkdtempSync(path.join(this.tmpRoot, `${prefix}-`));
  }
}

/**
 * Whether the tar of an upper dir has entries (sockets are all it leaves
 * out), without reading it; undefined when the dir cannot be read here.
 */
function hasTarEntries(upper: string): boolean | undefined {
  try {
    return fs.readdirSync(upper, { withFileTypes: true }).some((e) => !e.isSocket());
  } catch {
    return undefined;
  }
}

/** The tar stream, or undefined when it has no entries (its first block is the zero end block). */
async function nonEmptyTar(input: NodeJS.ReadableStream): Promise<NodeJS.ReadableStream | undefined> {
  const peeked = await peek(input, 512);
  const head = peeked.head;
  if (head.length < 512 || head.subarray(0, 512).every((b) => b === 0)) {
    await drain(peeked);
    return undefined;
  }
  return replay(peeked);
}
