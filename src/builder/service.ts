// The builder service: one build = unpack the context, plan the Dockerfile,
// then stream the steps. Everything a build makes on the side (context dir,
// temp files, intermediate containers) is removed when it ends, whatever
// happened; images it made stay (they are the cache).
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db';
import { BuildCache } from './cache';
import { BuildContext } from './context';
import { Build, BuildStepError, type BuildOptions, type BuildSink } from './executor';
import type { BuilderBackend, ImageRecord } from './backend';
import { parseTagged } from '../image/reference';

export { BuildStepError, type BuildOptions, type BuildSink };

/** A started build: planning succeeded; run() streams and resolves with the image. */
export interface PreparedBuild {
  run(sink: BuildSink): Promise<ImageRecord>;
  cancel(): void;
  /** Drop the context if run() is never called. */
  dispose(): void;
}

export class BuilderService {
  readonly cache: BuildCache;
  private readonly tmpRoot: string;

  constructor(db: Db, private readonly backend: BuilderBackend, dataRoot: string) {
    this.cache = new BuildCache(db);
    this.tmpRoot = path.join(dataRoot, 'builder');
  }

  async init(): Promise<void> {
    // Leftovers of builds interrupted by a crash.
    fs.rmSync(this.tmpRoot, { recursive: true, force: true });
    fs.mkdirSync(this.tmpRoot, { recursive: true, mode: 0o700 });
    await this.backend.recover?.();
  }

  /**
   * Unpacks the context and plans the build. Errors here (bad tar, bad
   * Dockerfile, unknown target) come before any output, so the API answers
   * them as plain HTTP errors, as Docker does.
   */
  async prepare(body: Readable, opts: BuildOptions): Promise<PreparedBuild> {
    const dir = path.join(this.tmpRoot, `context-${randomBytes(8).toString('hex')}`);
    let ctx: BuildContext | undefined;
    try {
      ctx = await BuildContext.fromTar(body, dir);
      const dockerfile = opts.dockerfile || 'Dockerfile';
      const ignore = ctx.applyDockerignore([dockerfile, '.dockerignore']);
      let sink: BuildSink = { stream() {}, aux() {} };
      const proxy: BuildSink = { stream: (s) => sink.stream(s), aux: (v) => sink.aux(v) };
      const build = new Build(this.backend, this.cache, ctx, opts, proxy);
      // The client always sends these two; once read, they go if .dockerignore excludes them.
      for (const f of [dockerfile, '.dockerignore']) {
        if (ignore?.matches(f)) ctx.removePath(f);
      }
      const c = ctx;
      return {
        run: async (s) => {
          sink = s;
          try {
            return await build.run();
          } finally {
            c.remove();
          }
        },
        cancel: () => build.cancel(),
        dispose: () => c.remove(),
      };
    } catch (e) {
      if (ctx) ctx.remove();
      else fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** `-t` values must be valid references before anything is built. */
  validateTag(t: string): void {
    parseTagged(t);
  }

  /** POST /build/prune: forget cache records (the images stay until pruned as images). */
  prune(): { CachesDeleted: string[] | null; SpaceReclaimed: number } {
    this.cache.clear();
    return { CachesDeleted: null, SpaceReclaimed: 0 };
  }
}
