// Runs a parsed Dockerfile with classic-builder semantics: one image per
// step, a layer only for steps that change the filesystem (RUN in a real
// container, COPY/ADD/WORKDIR written directly as a layer tar), metadata
// steps as `empty_layer` history entries, a per-step cache, multi-stage
// builds that only build what the target needs, and Docker's classic output.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { BerthError, InvalidParameter } from '../util/errors';
import { shortId } from '../util/ids';
import type { BuilderBackend, ImageConfig, ImageRecord } from './backend';
import { BuildContext, cleanRel, scopedResolve } from './context';
import tar from 'tar-stream';
import { pipeline } from 'node:stream/promises';
import { parseDockerfile, DockerfileParseError, type Node } from './parser';
import { Lexer, type Env } from './lex';
import { splitStages, resolveBases, neededStages, stageRef, type Stage } from './stages';
import { BuildCache, stableJson } from './cache';
import { writeCopyLayer, resolveOwner, type Source, type Owner } from './copy';
import { hasGlob } from '../common/dockerignore';
import { formatGoDuration, parseGoDuration } from '../common/time';
import { familiarString, parseTagged } from '../image/reference';

export interface BuildOptions {
  dockerfile: string;
  tags: string[];
  buildArgs: Record<string, string | null>;
  noCache: boolean;
  rm: boolean;
  forceRm: boolean;
  pull: boolean;
  quiet: boolean;
  labels: Record<string, string>;
  target?: string;
  networkMode?: string;
  extraHosts: string[];
  /** --cache-from: local images whose history may stand in for steps. */
  cacheFrom?: string[];
}

/** Where progress goes: Docker's JSON-lines messages. */
export interface BuildSink {
  stream(text: string): void;
  aux(v: unknown): void;
}

/** A step failed: the stream gets errorDetail with the code (RUN's exit code). */
export class BuildStepError extends BerthError {
  constructor(message: string, readonly code?: number) {
    super(message, 500);
  }
}

const DEFAULT_SHELL = ['/bin/sh', '-c'];
/** Build args Docker accepts without an ARG and keeps out of history. */
const BUILTIN_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);

interface StageState {
  stage: Stage;
  image?: ImageRecord; // undefined while on scratch before the first step
  config: ImageConfig;
  author?: string;
  /** ARGs declared in this stage with their values (undefined: declared, no value). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

export class Build {
  private readonly escape: string;
  private readonly stages: Stage[];
  private readonly metaArgs: Node[];
  private readonly meta: Env = new Map();
  private readonly toBuild: number[];
  private readonly target: number;
  private readonly results = new Map<number, ImageRecord | undefined>();
  private readonly usedArgs = new Set<string>();
  private step = 0;
  private total = 0;
  private readonly lx: Lexer;
  private readonly abort = new AbortController();
  private readonly containers = new Set<string>();
  /** --cache-from images found locally (moby skips, with a warning, those it cannot find). */
  private cacheSources: ImageRecord[] = [];

  /** Parse and plan; throws (before any output) on a bad Dockerfile or target. */
  constructor(
    private readonly backend: BuilderBackend,
    private readonly cache: BuildCache,
    private readonly ctx: BuildContext,
    private readonly opts: BuildOptions,
    private readonly out: BuildSink,
  ) {
    let text: string;
    try {
      text = ctx.readFile(opts.dockerfile || 'Dockerfile').toString('utf8');
    } catch {
      throw new InvalidParameter(`Cannot locate specified Dockerfile: ${opts.dockerfile || 'Dockerfile'}`);
    }
    const parsed = parseDockerfile(text);
    if (parsed.nodes.length === 0) throw new InvalidParameter('the Dockerfile (Dockerfile) cannot be empty');
    this.escape = parsed.escape;
    this.lx = new Lexer(this.escape);
    const split = splitStages(parsed.nodes);
    this.metaArgs = split.metaArgs;
    for (const n of this.metaArgs) {
      for (const w of n.args) {
        const { name, value } = this.argWord(w, this.meta);
        const v = this.opts.buildArgs[name] ?? value;
        if (v !== undefined && v !== null) this.meta.set(name, v);
        this.usedArgs.add(name);
      }
    }
    this.stages = resolveBases(split.stages, this.meta, this.escape);
    if (opts.target) {
      const t = this.stages.findIndex((s) => s.name === opts.target!.toLowerCase());
      if (t < 0) throw new InvalidParameter(`failed to reach build target ${opts.target} in Dockerfile`);
      this.target = t;
    } else this.target = this.stages.length - 1;
    this.toBuild = neededStages(this.stages, this.target, this.meta, this.escape);
    // --label adds LABEL steps to the target stage, as the classic builder does.
    const labelKeys = Object.keys(opts.labels).sort();
    this.total = this.metaArgs.length + this.toBuild.reduce((n, i) => n + 1 + this.stages[i].commands.length, 0) + labelKeys.length;
  }

  cancel(): void {
    this.abort.abort();
  }

  /** Run the build; returns the final image. Streams progress to the sink. */
  async run(): Promise<ImageRecord> {
    const q = this.opts.quiet;
    try {
      for (const ref of this.opts.cacheFrom ?? []) {
        const img = this.backend.findImage(ref);
        if (img) this.cacheSources.push(img);
      }
      for (const n of this.metaArgs) this.stepHeader(n);
      let last: ImageRecord | undefined;
      for (const i of this.toBuild) {
        last = await this.runStage(this.stages[i], i === this.target);
        this.results.set(i, last);
      }
      if (!last) throw new BuildStepError('No image was generated. Is your Dockerfile empty?');
      const unused = Object.keys(this.opts.buildArgs).filter((a) => !this.usedArgs.has(a) && !BUILTIN_ARGS.has(a)).sort();
      if (unused.length && !q) {
        this.out.stream(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
      }
      this.out.aux({ ID: last.id });
      if (q) this.out.stream(`${last.id}\n`);
      else this.out.stream(`Successfully built ${shortId(last.id)}\n`);
      for (const t of this.opts.tags) {
        await this.backend.tagImage(last.id, t);
        if (!q) this.out.stream(`Successfully tagged ${familiarString(parseTagged(t))}\n`);
      }
      return last;
    } finally {
      // Whatever happened, leave no build containers behind unless --rm=false.
      if (this.opts.rm || this.opts.forceRm) {
        for (const c of [...this.containers]) await this.removeContainer(c);
      }
    }
  }

  private stepHeader(n: Node): void {
    this.step++;
    if (!this.opts.quiet) this.out.stream(`Step ${this.step}/${this.total} : ${n.original}\n`);
  }

  private say(s: string): void {
    if (!this.opts.quiet) this.out.stream(s);
  }

  private async runStage(stage: Stage, isTarget: boolean): Promise<ImageRecord | undefined> {
    this.stepHeader(stage.from);
    const st: StageState = { stage, config: {}, args: new Map(), cmdSet: false };
    const baseIdx = stageRef(this.stages, stage.base, stage.index);
    let onbuild: string[] = [];
    if (baseIdx >= 0) {
      const img = this.results.get(baseIdx);
      if (img) this.adoptBase(st, img);
    } else if (stage.base.toLowerCase() !== 'scratch') {
      const img = await this.getImage(stage.base, this.opts.pull);
      this.adoptBase(st, img);
      onbuild = img.config.config?.OnBuild ?? [];
    }
    if (st.image) this.say(` ---> ${shortId(st.image.id)}\n`);
    // Like the classic builder, every stage has a PATH for its RUN steps.
    if (!(st.config.Env ?? []).some((e) => e.startsWith('PATH='))) {
      st.config.Env = [...(st.config.Env ?? []), 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
    }
    if (onbuild.length) {
      this.say(`# Executing ${onbuild.length} build trigger${onbuild.length > 1 ? 's' : ''}\n`);
      st.config.OnBuild = [];
      for (const t of onbuild) {
        const node = parseDockerfile(t).nodes[0];
        if (!node) continue;
        await this.dispatch(st, node);
      }
    }
    st.config.OnBuild = st.config.OnBuild?.length ? st.config.OnBuild : null;
    for (const n of stage.commands) {
      this.stepHeader(n);
      await this.dispatch(st, n);
    }
    if (isTarget) {
      for (const k of Object.keys(this.opts.labels).sort()) {
        const original = `LABEL ${JSON.stringify(k)}=${JSON.stringify(this.opts.labels[k])}`;
        this.step++;
        this.say(`Step ${this.step}/${this.total} : ${original}\n`);
        st.config.Labels = { ...(st.config.Labels ?? {}), [k]: this.opts.labels[k] };
        await this.metaStep(st, `LABEL ${k}=${this.opts.labels[k]}`);
      }
    }
    // A bare `FROM scratch` stage makes no image (COPY --from it finds nothing).
    return st.image;
  }

  private adoptBase(st: StageState, img: ImageRecord): void {
    st.image = img;
    st.config = JSON.parse(JSON.stringify(img.config.config ?? {}));
    st.config.OnBuild = null;
  }

  private async getImage(ref: string, pull: boolean): Promise<ImageRecord> {
    const local = pull ? undefined : this.backend.findImage(ref);
    if (local) return local;
    try {
      return await this.backend.pullImage(ref, (l) => this.say(l));
    } catch (e) {
      const again = this.backend.findImage(ref);
      if (again) return again;
      throw e;
    }
  }

  // ---- environment -------------------------------------------------------

  private envMap(st: StageState): Env {
    const m: Env = new Map();
    for (const [k, v] of st.args) if (v !== undefined) m.set(k, v);
    for (const e of st.config.Env ?? []) {
      const i = e.indexOf('=');
      if (i > 0) m.set(e.slice(0, i), e.slice(i + 1));
    }
    return m;
  }

  /** Build args in effect for RUN (declared ARGs with values, not shadowed by ENV), sorted. */
  private runArgs(st: StageState): string[] {
    const envKeys = new Set((st.config.Env ?? []).map((e) => e.split('=')[0]));
    const out: string[] = [];
    for (const [k, v] of st.args) if (v !== undefined && !envKeys.has(k)) out.push(`${k}=${v}`);
    return out.sort();
  }

  private word(st: StageState, w: string): string {
    try {
      return this.lx.processWord(w, this.envMap(st));
    } catch (e) {
      throw new BuildStepError((e as Error).message);
    }
  }

  private argWord(w: string, env: Env): { name: string; value?: string } {
    const eq = w.indexOf('=');
    if (eq < 0) return { name: w };
    return { name: w.slice(0, eq), value: this.lx.processWord(w.slice(eq + 1), env) };
  }

  private flags(n: Node, allowed: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of n.flags) {
      const m = /^--([a-zA-Z-]+)(?:=([\s\S]*))?$/.exec(f);
      if (!m || !allowed.includes(m[1])) throw new DockerfileParseError(n.startLine, `unknown flag: ${f.split('=')[0].slice(2)}`);
      out[m[1]] = m[2] ?? 'true';
    }
    return out;
  }

  // ---- steps ---------------------------------------------------------------

  private async dispatch(st: StageState, n: Node): Promise<void> {
    if (this.abort.signal.aborted) throw new BuildStepError('build canceled');
    const name = n.cmd.toUpperCase();
    switch (n.cmd) {
      case 'run':
        return this.run_(st, n);
      case 'copy':
      case 'add':
        return this.copy(st, n);
      case 'workdir': {
        this.flags(n, []);
        if (!n.args[0]) throw new DockerfileParseError(n.startLine, 'WORKDIR requires exactly one argument');
        let dir = this.word(st, n.args[0]);
        if (!dir.startsWith('/')) dir = path.posix.join(st.config.WorkingDir || '/', dir);
        dir = path.posix.normalize(dir);
        st.config.WorkingDir = dir;
        return this.workdir(st, dir);
      }
      case 'env': {
        this.flags(n, []);
        const env = [...(st.config.Env ?? [])];
        const parts: string[] = [];
        // All values of one ENV see the environment from before it (`ENV a=x b=$a` uses the old a).
        for (let i = 0; i < n.args.length; i += 2) {
          const k = this.word(st, n.args[i]);
          const v = this.word(st, n.args[i + 1]);
          const idx = env.findIndex((e) => e.split('=')[0] === k);
          if (idx >= 0) env[idx] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
          parts.push(`${k}=${v}`);
        }
        st.config.Env = env;
        return this.metaStep(st, `ENV ${parts.join(' ')}`);
      }
      case 'label': {
        this.flags(n, []);
        const labels = { ...(st.config.Labels ?? {}) };
        const parts: string[] = [];
        for (let i = 0; i < n.args.length; i += 2) {
          const k = this.word(st, n.args[i]);
          const v = this.word(st, n.args[i + 1]);
          labels[k] = v;
          parts.push(`${k}=${v}`);
        }
        st.config.Labels = labels;
        return this.metaStep(st, `LABEL ${parts.join(' ')}`);
      }
      case 'arg': {
        this.flags(n, []);
        const parts: string[] = [];
        for (const w of n.args) {
          const { name: k, value } = this.argWord(w, this.envMap(st));
          this.usedArgs.add(k);
          let v: string | undefined = this.opts.buildArgs[k] ?? value;
          if (v === undefined && this.meta.has(k)) v = this.meta.get(k);
          st.args.set(k, v ?? undefined);
          parts.push(value !== undefined ? `${k}=${value}` : k);
        }
        return this.metaStep(st, `ARG ${parts.join(' ')}`);
      }
      case 'cmd':
      case 'entrypoint': {
        this.flags(n, []);
        const cmd = n.json ? n.args : n.args.length ? [...(st.config.Shell ?? DEFAULT_SHELL), n.args[0]] : [];
        if (n.cmd === 'cmd') {
          st.config.Cmd = cmd;
          st.cmdSet = true;
        } else {
          st.config.Entrypoint = cmd.length ? cmd : null;
          if (!st.cmdSet) st.config.Cmd = null;
        }
        return this.metaStep(st, `${name} ${goQuoteList(cmd)}`);
      }
      case 'shell': {
        this.flags(n, []);
        st.config.Shell = n.args;
        return this.metaStep(st, `SHELL [${n.args.join(' ')}]`);
      }
      case 'expose': {
        this.flags(n, []);
        const ports = { ...(st.config.ExposedPorts ?? {}) };
        // moby records the words as written (after expansion, which may split
        // one word into several): `EXPOSE 9000`, not the port keys `9000/tcp`.
        const words: string[] = [];
        for (const w of n.args) {
          for (const word of this.word(st, w).split(/\s+/).filter(Boolean)) {
            for (const p of expandPorts(word, n.startLine)) ports[p] = {};
            words.push(word);
          }
        }
        st.config.ExposedPorts = ports;
        return this.metaStep(st, `EXPOSE ${words.join(' ')}`);
      }
      case 'volume': {
        this.flags(n, []);
        const vols = { ...(st.config.Volumes ?? {}) };
        const added: string[] = [];
        for (const w of n.args) {
          const v = this.word(st, w).trim();
          if (!v) throw new BuildStepError('VOLUME specified can not be an empty string');
          vols[v] = {};
          added.push(v);
        }
        st.config.Volumes = vols;
        return this.metaStep(st, `VOLUME [${added.join(' ')}]`);
      }
      case 'user': {
        this.flags(n, []);
        st.config.User = this.word(st, n.args[0] ?? '');
        return this.metaStep(st, `USER ${st.config.User}`);
      }
      case 'stopsignal': {
        this.flags(n, []);
        const sig = this.word(st, n.args[0] ?? '');
        if (!/^(SIG)?[A-Z0-9+-]+$/.test(sig)) throw new BuildStepError(`Invalid signal: ${sig}`);
        st.config.StopSignal = sig;
        return this.metaStep(st, `STOPSIGNAL ${sig}`);
      }
      case 'maintainer': {
        st.author = n.args[0] ?? '';
        return this.metaStep(st, `MAINTAINER ${st.author}`);
      }
      case 'onbuild': {
        const trig = n.args[0];
        st.config.OnBuild = [...(st.config.OnBuild ?? []), trig];
        return this.metaStep(st, `ONBUILD ${trig}`);
      }
      case 'healthcheck': {
        const f = this.flags(n, ['interval', 'timeout', 'start-period', 'start-interval', 'retries']);
        if (n.args[0] === 'NONE') st.config.Healthcheck = { Test: ['NONE'] };
        else {
          const hc: NonNullable<ImageConfig['Healthcheck']> = {
            Test: n.json ? ['CMD', ...n.args.slice(1)] : ['CMD-SHELL', n.args[1]],
          };
          if (f.interval) hc.Interval = goDuration('interval', f.interval, n.startLine);
          if (f.timeout) hc.Timeout = goDuration('timeout', f.timeout, n.startLine);
          if (f['start-period']) hc.StartPeriod = goDuration('start-period', f['start-period'], n.startLine);
          if (f['start-interval']) hc.StartInterval = goDuration('start-interval', f['start-interval'], n.startLine);
          if (f.retries) {
            const r = Number(f.retries);
            if (!Number.isInteger(r) || r < 0) throw new DockerfileParseError(n.startLine, `invalid retries: ${f.retries}`);
            hc.Retries = r;
          }
          st.config.Healthcheck = hc;
        }
        return this.metaStep(st, `HEALTHCHECK ${goHealthcheck(st.config.Healthcheck!)}`);
      }
      default:
        throw new DockerfileParseError(n.startLine, `unknown instruction: ${name}`);
    }
  }

  /** Metadata-only step: a new image with an empty_layer history entry, no container, no layer. */
  private async metaStep(st: StageState, comment: string): Promise<void> {
    const createdBy = `/bin/sh -c #(nop)  ${comment}`;
    await this.commitStep(st, createdBy, { kind: 'meta' }, async () =>
      this.backend.createImage({
        parent: st.image,
        config: this.finalConfig(st),
        containerConfig: this.containerConfig(st, createdBy),
        history: { created_by: createdBy, empty_layer: true },
        author: st.author,
      }),
    );
  }

  private finalConfig(st: StageState): ImageConfig {
    const c: ImageConfig = JSON.parse(JSON.stringify(st.config));
    if (c.OnBuild && c.OnBuild.length === 0) c.OnBuild = null;
    return c;
  }

  private containerConfig(st: StageState, createdBy: string): ImageConfig {
    const c = this.finalConfig(st);
    c.Cmd = [...DEFAULT_SHELL, createdBy.replace(/^\/bin\/sh -c /, '')];
    return c;
  }

  /**
   * Shared cache-or-make logic: a hit prints "Using cache"; a miss calls make().
   * The key covers the parent, what the step does and the resulting config.
   */
  private async commitStep(st: StageState, createdBy: string, extra: unknown, make: () => Promise<ImageRecord>): Promise<void> {
    const parent = st.image?.id ?? '';
    const key = BuildCache.key({ createdBy, extra, config: this.finalConfig(st), author: st.author ?? '' });
    if (!this.opts.noCache) {
      const hit = this.cache.get(parent, key);
      let img = hit ? this.backend.findImage(hit) : undefined;
      if (this.opts.cacheFrom?.length) {
        // moby's imageCache: with --cache-from, a local hit counts only when it
        // is an ancestor of a source; otherwise the sources' histories decide.
        if (img && !this.cacheSources.some((src) => this.isAncestor(img!.id, src))) img = undefined;
        if (!img) img = await this.fromCacheSources(st, createdBy);
      }
      if (img) {
        st.image = img;
        this.say(` ---> Using cache\n ---> ${shortId(img.id)}\n`);
        return;
      }
    }
    const img = await make();
    this.cache.put(parent, key, img.id);
    st.image = img;
    this.say(` ---> ${shortId(img.id)}\n`);
  }

  /** Whether `id` is a (strict) ancestor of `of` through the parent links. */
  private isAncestor(id: string, of: ImageRecord): boolean {
    let p = of.parent;
    for (let i = 0; p && i < 1000; i++) {
      if (p === id) return true;
      p = this.backend.findImage(p)?.parent ?? '';
    }
    return false;
  }

  /**
   * moby's classic builder with --cache-from: a source whose history starts
   * with the current image's history and layers, and whose next entry was
   * made by this very step, stands in for it: the source itself when that is
   * its last entry, else an image restored from the parent plus that entry
   * (and its layer). The first miss turns the sources off for the rest.
   */
  private async fromCacheSources(st: StageState, createdBy: string): Promise<ImageRecord | undefined> {
    const parent = st.image;
    const ph = parent?.config.history ?? [];
    const pd = parent?.config.rootfs?.diff_ids ?? [];
    for (const t of this.cacheSources) {
      const th = t.config.history ?? [];
      const td = t.config.rootfs?.diff_ids ?? [];
      if (th.length === 0) continue;
      if (parent && (ph.length || pd.length)) {
        if (ph.length >= th.length || pd.length > td.length) continue;
        if (!ph.every((h, i) => stableJson(h) === stableJson(th[i]))) continue;
        if (!pd.every((dd, i) => dd === td[i])) continue;
      }
      if (th[ph.length]?.created_by !== createdBy) continue;
      if (th.length - 1 === ph.length) return t;
      const img = await this.backend.restoreCached(parent, t, ph.length, this.finalConfig(st));
      this.cacheSources = [t];
      return img;
    }
    this.cacheSources = [];
    return undefined;
  }

  private async workdir(st: StageState, dir: string): Promise<void> {
    const createdBy = `/bin/sh -c #(nop) WORKDIR ${dir}`;
    // The parent is part of the key, so whether the directory existed is too:
    // look at the filesystem only on a cache miss.
    await this.commitStep(st, createdBy, { kind: 'workdir' }, async () => {
      const tmp = this.backend.tempDir('workdir');
      try {
        const file = path.join(tmp, 'layer.tar');
        const made = await this.backend.withRootfs(st.image, (root) => writeDirLayer(dir, root, file));
        return await this.backend.createImage({
          parent: st.image,
          layerTar: made ? file : undefined,
          config: this.finalConfig(st),
          containerConfig: this.containerConfig(st, createdBy),
          history: made ? { created_by: createdBy } : { created_by: createdBy, empty_layer: true },
          author: st.author,
        });
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    });
  }

  private async run_(st: StageState, n: Node): Promise<void> {
    const f = this.flags(n, ['network', 'mount', 'security']);
    if (!st.image) throw new BuildStepError('Please provide a source image with `from` prior to run');
    let cmd: string[];
    if (n.json) cmd = n.args;
    else {
      let script = n.args[0] ?? '';
      if (n.heredocs.length) {
        const only = n.heredocs.length === 1 && /^<<-?["']?[A-Za-z0-9_.-]+["']?$/.test(script.trim());
        script = only ? n.heredocs[0].content : script + '\n' + n.heredocs.map((h) => h.content + h.name + '\n').join('');
      }
      cmd = [...(st.config.Shell ?? DEFAULT_SHELL), script];
    }
    const args = this.runArgs(st);
    const cmdLine = cmd.join(' ');
    const createdBy = args.length ? `|${args.length} ${args.join(' ')} ${cmdLine}` : cmdLine;
    const network = f.network ?? this.opts.networkMode;
    // `--network default` (what `berth build` sends) and no network (the
    // docker CLI's default) are the same RUN: one cache key for both.
    const keyNetwork = network === 'default' ? undefined : network;
    await this.commitStep(st, createdBy, { kind: 'run', cmd, network: keyNetwork }, async () => {
      let cid = '';
      // Output chunks may split a UTF-8 character; decode across them.
      const dec = new StringDecoder('utf8');
      const decErr = new StringDecoder('utf8');
      const code = await this.backend.run(
        {
          image: st.image!.id,
          cmd,
          env: [...(st.config.Env ?? []), ...args],
          workingDir: st.config.WorkingDir || undefined,
          user: st.config.User || undefined,
          network,
          extraHosts: this.opts.extraHosts,
          // moby's streamformatter.NewStderrWriter: stderr text in bright red
          onOutput: (b, stderr) => {
            const text = (stderr ? decErr : dec).write(b);
            if (text) this.say(stderr ? `\x1b[91m${text}\x1b[0m` : text);
          },
          signal: this.abort.signal,
          config: { ...this.finalConfig(st), Cmd: cmd, Env: [...(st.config.Env ?? []), ...args] },
        },
        (id) => {
          cid = id;
          this.containers.add(id);
          this.say(` ---> Running in ${shortId(id)}\n`);
        },
      );
      const tail = dec.end();
      if (tail) this.say(tail);
      const errTail = decErr.end();
      if (errTail) this.say(`\x1b[91m${errTail}\x1b[0m`);
      if (code !== 0) {
        throw new BuildStepError(`The command '${cmdLine}' returned a non-zero code: ${code}`, code);
      }
      const img = await this.backend.commit(cid, {
        parent: st.image,
        config: this.finalConfig(st),
        containerConfig: { ...this.finalConfig(st), Cmd: cmd },
        history: { created_by: createdBy },
        author: st.author,
        containerId: cid,
      });
      if (this.opts.rm) await this.removeContainer(cid);
      return img;
    });
  }

  private async removeContainer(id: string): Promise<void> {
    if (!this.containers.has(id)) return;
    this.containers.delete(id);
    try {
      await this.backend.removeContainer(id);
      this.say(`Removing intermediate container ${shortId(id)}\n`);
    } catch (e) {
      this.say(`Error removing intermediate container ${shortId(id)}: ${(e as Error).message}\n`);
    }
  }

  private async copy(st: StageState, n: Node): Promise<void> {
    const isAdd = n.cmd === 'add';
    const name = n.cmd.toUpperCase();
    const f = this.flags(n, isAdd ? ['chown', 'chmod', 'checksum', 'keep-git-dir', 'link'] : ['from', 'chown', 'chmod', 'link', 'parents', 'exclude']);
    if (n.args.length < 2 && !(n.heredocs.length && n.args.length >= 2)) {
      throw new DockerfileParseError(n.startLine, `${name} requires at least two arguments, but only one was provided. Destination could not be determined.`);
    }
    const words = n.args.map((w) => this.word(st, w));
    let dest = words[words.length - 1];
    const srcWords = words.slice(0, -1);
    if (!dest.startsWith('/')) {
      const wd = st.config.WorkingDir || '/';
      dest = path.posix.join(wd, dest) + (dest.endsWith('/') || dest === '.' ? '/' : '');
    }
    let chmod: number | undefined;
    if (f.chmod) {
      if (!/^[0-7]{3,4}$/.test(f.chmod)) throw new BuildStepError(`invalid chmod parameter: ${f.chmod}`);
      chmod = parseInt(f.chmod, 8);
    }
    const fromRef = f.from !== undefined ? this.word(st, f.from) : undefined;
    let fromImage: ImageRecord | undefined;
    let fromScratch = false;
    if (fromRef !== undefined) {
      const si = stageRef(this.stages, fromRef, st.stage.index);
      if (si >= 0) {
        fromImage = this.results.get(si);
        if (!fromImage) fromScratch = true;
      } else if (fromRef.toLowerCase() === st.stage.name || /^[0-9]+$/.test(fromRef)) {
        throw new BuildStepError(`invalid from flag value ${fromRef}: refers to current build stage`);
      } else {
        try {
          fromImage = await this.getImage(fromRef, false);
        } catch (e) {
          throw new BuildStepError(`invalid from flag value ${fromRef}: ${(e as Error).message}`);
        }
      }
    }
    // Made on a cache miss only: a cached COPY touches no disk but the context.
    let tmp: string | undefined;
    try {
      const run = async (srcRoot: string | undefined) => {
        // Collect sources and their checksums (content only, no mtimes).
        const sources: Source[] = [];
        const sums: string[] = [];
        const heredocNames = new Set(n.heredocs.map((h) => h.name));
        for (const [i, w] of srcWords.entries()) {
          const raw = n.args[i];
          const hd = n.heredocs.find((h) => `<<${h.name}` === raw.replace(/^<<-/, '<<').replace(/["']/g, ''));
          if (hd && heredocNames.has(hd.name)) {
            const data = Buffer.from(hd.expand ? this.lx.processHeredoc(hd.content, this.envMap(st)) : hd.content);
            sources.push({ kind: 'data', name: hd.name, data, mode: 0o644, mtime: new Date(0) });
            sums.push('data:' + sha(data));
            continue;
          }
          if (isAdd && /^https?:\/\//.test(w)) {
            const got = await fetchUrl(w);
            sources.push({ kind: 'data', name: got.name, data: got.data, mode: 0o600, mtime: got.mtime });
            sums.push('url:' + sha(got.data));
            continue;
          }
          if (/^(git@|git:\/\/)/.test(w) || (isAdd && /^[a-z]+:\/\//.test(w))) throw new BuildStepError(`${name} failed: unsupported source ${w}`);
          if (srcRoot === undefined) {
            // COPY --from a scratch stage: nothing exists there.
            throw new BuildStepError(`${name} failed: file not found in build context or excluded by .dockerignore: stat ${cleanRel(w)}: file does not exist`);
          }
          const sctx = fromRef !== undefined ? new BuildContext(srcRoot) : this.ctx;
          const matches = sctx.sources(w);
          if (matches.length === 0) {
            if (hasGlob(w)) throw new BuildStepError(`${name} failed: no source files were specified`);
            throw new BuildStepError(`${name} failed: file not found in build context or excluded by .dockerignore: stat ${cleanRel(w)}: file does not exist`);
          }
          for (const m of matches) {
            const abs = sctx.resolve(m);
            sources.push({ kind: 'path', abs, name: m });
            sums.push(`${sctx.isDir(m) ? 'dir' : 'file'}:${sctx.checksum(m)}`);
          }
        }
        if (sources.length > 1 && !dest.endsWith('/')) {
          throw new BuildStepError(`When using ${name} with more than one source file, the destination must be a directory and end with a /`);
        }
        const srcHash = sums.length === 1 ? sums[0] : `multi:${sha(sums.join('\n'))}`;
        const createdBy = `/bin/sh -c #(nop) ${name} ${srcHash} in ${dest} `;
        // Names matter too: `COPY a /d/` and `COPY b /d/` with equal contents make different files.
        const names = sources.map((x) => (x.kind === 'path' ? path.posix.basename(x.name) : x.name));
        await this.commitStep(st, createdBy, { kind: n.cmd, chown: f.chown ?? '', chmod: chmod ?? null, names }, async () => {
          // A miss reads its sources from disk: a context kept in memory goes there now.
          if (fromRef === undefined && sources.some((x) => x.kind === 'path')) this.ctx.materialize();
          tmp = this.backend.tempDir(n.cmd);
          const file = path.join(tmp, 'layer.tar');
          await this.backend.withRootfs(st.image, async (root) => {
            const owner: Owner | undefined = f.chown ? resolveOwner(this.word(st, f.chown), root) : undefined;
            await writeCopyLayer({ sources, dest, rootfs: root, owner, chmod, extractArchives: isAdd, cmdName: name }, file);
          });
          return this.backend.createImage({
            parent: st.image,
            layerTar: file,
            config: this.finalConfig(st),
            containerConfig: this.containerConfig(st, createdBy),
            history: { created_by: createdBy },
            author: st.author,
          });
        });
      };
      if (fromRef !== undefined && !fromScratch) await this.backend.withRootfs(fromImage, run);
      else if (fromScratch) await run(undefined);
      else await run(this.ctx.root);
    } finally {
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
}

function sha(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Layer with the missing directories of dir (0755, root-owned); false when none were missing. */
async function writeDirLayer(dir: string, rootfs: string, file: string): Promise<boolean> {
  const pack = tar.pack();
  const done = pipeline(pack as any, fs.createWriteStream(file));
  const parts = cleanRel(dir).split('/').filter(Boolean);
  let made = false;
  for (let i = 1; i <= parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    let exists = false;
    try {
      exists = fs.statSync(scopedResolve(rootfs, rel)).isDirectory();
    } catch { /* missing */ }
    if (exists) continue;
    const real = path.relative(rootfs, scopedResolve(rootfs, rel));
    pack.entry({ name: real + '/', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: new Date() });
    made = true;
  }
  pack.finalize();
  await done;
  return made;
}

// moby's classic builder writes its history with Go's fmt verbs: CMD and
// ENTRYPOINT with %q of a []string (`["sh" "-c" "x"]`), SHELL and VOLUME with
// %v (`[/bin/sh -c]`), HEALTHCHECK with %q of the *HealthConfig, which Go
// prints as `&{["CMD" "x"] "5s" "0s" "0s" '\x02'}` (durations via String(),
// the retry count as a quoted rune). Odd, but that is what history shows.

/** Go's %q of a []string. */
function goQuoteList(xs: string[]): string {
  return '[' + xs.map((x) => JSON.stringify(x)).join(' ') + ']';
}

/** Go's %q of an int: a quoted rune literal. */
function goQuoteRune(n: number): string {
  if (n >= 0x20 && n < 0x7f) return n === 0x27 ? "'\\''" : n === 0x5c ? "'\\\\'" : `'${String.fromCharCode(n)}'`;
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };
  if (named[n]) return `'${named[n]}'`;
  if (n < 0x80) return `'\\x${n.toString(16).padStart(2, '0')}'`;
  return n < 0x10000 ? `'\\u${n.toString(16).padStart(4, '0')}'` : `'\\U${n.toString(16).padStart(8, '0')}'`;
}

function goHealthcheck(h: NonNullable<ImageConfig['Healthcheck']>): string {
  const d = (v: number | undefined) => `"${formatGoDuration(v ?? 0)}"`;
  return `&{${goQuoteList(h.Test ?? [])} ${d(h.Interval)} ${d(h.Timeout)} ${d(h.StartPeriod)} ${goQuoteRune(h.Retries ?? 0)}}`;
}

/** EXPOSE words: `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, ... */
function expandPorts(w: string, line: number): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
  if (!m) throw new DockerfileParseError(line, `Invalid containerPort: ${w}`);
  const a = Number(m[1]);
  const b = m[2] ? Number(m[2]) : a;
  if (a < 1 || b > 65535 || b < a) throw new DockerfileParseError(line, `Invalid port range: ${w}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const out: string[] = [];
  for (let p = a; p <= b; p++) out.push(`${p}/${proto}`);
  return out;
}

/** A HEALTHCHECK flag's Go duration in nanoseconds, as moby's parseOptInterval (0, or at least 1ms). */
function goDuration(name: string, s: string, line: number): number {
  let ns: number;
  try {
    ns = Number(parseGoDuration(s));
  } catch (e) {
    throw new DockerfileParseError(line, (e as Error).message);
  }
  if (ns !== 0 && ns < 1e6) throw new DockerfileParseError(line, `Interval ${JSON.stringify(name)} cannot be less than 1ms`);
  return ns;
}

async function fetchUrl(url: string): Promise<{ name: string; data: Buffer; mtime: Date }> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    throw new BuildStepError(`failed to GET ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new BuildStepError(`failed to GET ${url} with status ${res.status} ${res.statusText}`);
  const data = Buffer.from(await res.arrayBuffer());
  const lm = res.headers.get('last-modified');
  let name = path.posix.basename(new URL(url).pathname);
  if (!name) throw new BuildStepError(`cannot determine filename from url: ${url}`);
  name = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return { name, data, mtime: lm ? new Date(lm) : new Date() };
}

