// The overlay2 storage driver. Read-only layers live in layers/ (LayerStore);
// a container's writable layer is containers/<id>/{upper,work,merged} plus a
// `lower` file naming its lower chain IDs (bottom → top). Lifecycle:
//   createRw → mount ⇄ unmount → removeRw
// or, off a removal's critical path, trashRw (one rename into trash/) and
// later removeTrashed; sweepTrash finishes what a crash left in trash/.
// with changes()/diffTar() for `docker diff`/commit and exportTar() for export.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execHost, HostExecError } from '../exec';
import { NotFound, SystemError } from '../../util/errors';
import { LayerStore, EMPTY_LOWER } from './layers';
import { fsBatchNative, fsrootNative, type FsRootNative, type FsBatchOp } from '../native/addon';
import { packDir } from './tar-pack';

export interface Change { Path: string; Kind: 0 | 1 | 2 }

/** A small new file in a container's directory, made with its writable layer (createRw). */
export interface RwFile { path: string; data: string }

export class Overlay2 {
  readonly layers: LayerStore;
  readonly containersDir: string;
  /** Writable layers already given up (renamed here whole), still to be unmounted and deleted. */
  readonly trashDir: string;

  constructor(readonly root: string) {
    this.layers = new LayerStore(path.join(root, 'layers'));
    this.containersDir = path.join(root, 'containers');
    this.trashDir = path.join(root, 'trash');
  }

  async init(): Promise<void> {
    await this.layers.init();
    await fsp.mkdir(this.containersDir, { recursive: true, mode: 0o710 });
    await fsp.mkdir(this.trashDir, { recursive: true, mode: 0o700 });
  }

  layerPath(chainId: string): string {
    return this.layers.path(chainId);
  }

  private dir(id: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw new NotFound(`invalid container layer id: ${id}`);
    return path.join(this.containersDir, id);
  }

  /** Upper dir of a container (for volume copy-up and the like). */
  upperPath(id: string): string { return path.join(this.dir(id), 'upper'); }
  mergedPath(id: string): string { return path.join(this.dir(id), 'merged'); }
  /** The container's init layer, or undefined for layers made before there was one. */
  initPath(id: string): string | undefined {
    const p = path.join(this.dir(id), 'init');
    return fs.existsSync(p) ? p : undefined;
  }

  /** Lower chain IDs (bottom → top) recorded for a container layer. */
  lowers(id: string): string[] {
    try {
      return fs.readFileSync(path.join(this.dir(id), 'lower'), 'utf8').split('\n').filter(Boolean);
    } catch {
      throw new NotFound(`no such container layer: ${id}`);
    }
  }

  /** Every chain ID some container layer stands on (so image delete keeps them). */
  chainIdsInUse(): Set<string> {
    const used = new Set<string>();
    let names: string[] = [];
    try { names = fs.readdirSync(this.containersDir); } catch { return used; }
    for (const n of names) {
      try {
        for (const c of fs.readFileSync(path.join(this.containersDir, n, 'lower'), 'utf8').split('\n')) if (c) used.add(c);
      } catch { /* not a container layer */ }
    }
    return used;
  }

  /**
   * The writable layer's directories, the init layer and the `lower` file,
   * plus `files` (new files in the container's directory, e.g. its /etc
   * files): one pool job through the addon (a create was ~17 file-system
   * round trips in a row), else Node's calls. On failure what was made is
   * removed again.
   */
  async createRw(id: string, chainIds: string[], files: RwFile[] = []): Promise<void> {
    const d = this.dir(id);
    for (const c of chainIds) {
      if (!this.layers.exists(c)) throw new NotFound(`layer ${c} does not exist`);
    }
    for (const f of files) {
      if (path.dirname(f.path) !== d) throw new SystemError(`${f.path} is not in the container's directory`);
    }
    const lower = chainIds.join('\n') + '\n';
    const batch = fsBatchNative();
    /** Of `files`, those this call made (a failure removes only them, never a file that was there). */
    let made: RwFile[] = [];
    try {
      if (batch) {
        const ops = rwLayerOps(this.containersDir, d, lower, files);
        try {
          await batch.fsBatchAsync(ops);
        } catch (e) {
          const failed = (e as { index?: number }).index ?? ops.length;
          made = files.filter((_f, i) => ops.length - files.length + i < failed);
          throw e;
        }
        return;
      }
      await fsp.mkdir(d, { recursive: true, mode: 0o710 });
      const results = await Promise.allSettled([
        (async () => {
          for (const sub of ['upper', 'work', 'merged']) await fsp.mkdir(path.join(d, sub), { recursive: true, mode: 0o755 });
          await makeInitLayer(path.join(d, 'init'));
          const tmp = path.join(d, 'lower.tmp');
          await fsp.writeFile(tmp, lower);
          await fsp.rename(tmp, path.join(d, 'lower'));
        })(),
        ...files.map((f) => fsp.writeFile(f.path, f.data, { mode: 0o644, flag: 'wx' })),
      ]);
      made = files.filter((_f, i) => results[i + 1].status === 'fulfilled');
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    } catch (e) {
      for (const sub of ['upper', 'work', 'merged', 'init', 'lower', 'lower.tmp']) await fsp.rm(path.join(d, sub), { recursive: true, force: true });
      for (const f of made) await fsp.rm(f.path, { force: true });
      throw e;
    }
  }

  /**
   * Whether `p` (a layer's `merged` dir) is a mount point. An overlay mount
   * has its own anonymous device, so `st_dev` differing from the parent's
   * answers it with two lstat calls; /proc/self/mountinfo (hundreds of KB on
   * a busy host, read several times per container start and removal) is
   * only read when a stat fails for another reason than a missing path.
   */
  private isMounted(p: string): boolean {
    try {
      return fs.lstatSync(p).dev !== fs.lstatSync(path.dirname(p)).dev;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    }
    let info = '';
    try { info = fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return false; }
    for (const line of info.split('\n')) {
      const f = line.split(' ');
      if (f[4] && unescapeMount(f[4]) === p) return true;
    }
    return false;
  }

  async mount(id: string): Promise<string> {
    const d = this.dir(id);
    const merged = path.join(d, 'merged');
    if (this.isMounted(merged)) return merged;
    const lowers = this.lowers(id);
    // overlay wants the top-most lower first; relative short paths from the
    // layers dir keep the option under one page for 100+ layers.
    const rel = path.relative(this.layers.dir, d);
    const tops = lowers.slice().reverse().map((c) => this.layers.shortLower(c));
    // the init layer sits right under the upper dir (layers made before it existed have none)
    if (fs.existsSync(path.join(d, 'init'))) tops.unshift(`${rel}/init`);
    const lowerOpt = tops.length ? tops.join(':') : EMPTY_LOWER;
    const opts = `lowerdir=${lowerOpt},upperdir=${rel}/upper,workdir=${rel}/work`;
    if (opts.length > 4000) throw new SystemError(`too many layers to mount (${lowers.length})`);
    // the system call itself when the absolute form fits a page: a spawned
    // `mount` costs berthd a fork per container (the relative form needs the
    // program's own working directory, so it stays for very deep images)
    const abs = (p: string) => path.join(this.layers.dir, p);
    const absOpts = `lowerdir=${tops.length ? tops.map(abs).join(':') : abs(EMPTY_LOWER)},upperdir=${d}/upper,workdir=${d}/work`;
    const native = absOpts.length < 4000 ? nativeMounts() : undefined;
    try {
      if (native?.mountOverlayAsync) await native.mountOverlayAsync(absOpts, merged);
      else if (native) native.mountOverlay(absOpts, merged);
      else await execHost('mount', ['-t', 'overlay', 'overlay', '-o', opts, merged], { cwd: this.layers.dir, timeout: 60_000 });
    } catch (e) {
      if (this.isMounted(merged)) return merged;
      throw new SystemError(`error mounting overlay for ${id}: ${e instanceof HostExecError ? e.stderr.trim() : (e as Error).message}`);
    }
    return merged;
  }

  async unmount(id: string): Promise<void> {
    await this.unmountAt(path.join(this.dir(id), 'merged'));
  }

  private async unmountAt(merged: string): Promise<void> {
    for (let i = 0; i < 5 && this.isMounted(merged); i++) {
      if ((await this.umountOnce(merged, false)) === 'done') continue;
      if (i < 4) { await new Promise((res) => setTimeout(res, 100 * (i + 1))); continue; }
      // still busy: detach it lazily, as a last resort
      await this.umountOnce(merged, true).catch(() => undefined);
    }
  }

  /** One unmount try, by system call (or the program without the addon): 'busy' when the kernel says so; other failures throw. */
  private async umountOnce(merged: string, lazy: boolean): Promise<'done' | 'busy'> {
    const native = nativeMounts();
    if (native) {
      try {
        if (native.umountAsync) await native.umountAsync(merged, lazy);
        else native.umount(merged, lazy);
        return 'done';
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EBUSY') return 'busy';
        if (code === 'EINVAL' || code === 'ENOENT') return 'done'; // not a mount point (any more)
        throw new SystemError(`error unmounting ${merged}: ${(e as Error).message}`);
      }
    }
    const r = await execHost('umount', lazy ? ['-l', merged] : [merged], { allowFailure: true, timeout: 30_000 });
    if (r.code === 0 || !this.isMounted(merged)) return 'done';
    if (/busy/i.test(r.stderr)) return 'busy';
    if (/not mounted|no mount point/i.test(r.stderr)) return 'done';
    throw new SystemError(`error unmounting ${merged}: ${r.stderr.trim()}`);
  }

  async removeRw(id: string): Promise<void> {
    const d = this.dir(id);
    if (!fs.existsSync(d)) return;
    await this.unmount(id);
    // In parallel: each is its own tree of pool round trips.
    await Promise.all(['merged', 'upper', 'work', 'init', 'lower', 'lower.tmp'].map((sub) => fsp.rm(path.join(d, sub), { recursive: true, force: true })));
  }

  /**
   * Gives up a container's writable layer in one rename (a mounted overlay
   * moves with its parent directory): from here on nothing counts it as a
   * container layer (chainIdsInUse, a new layer of the same id). Returns
   * false when there was none. removeTrashed(id) deletes it.
   */
  async trashRw(id: string): Promise<boolean> {
    try {
      await fsp.rename(this.dir(id), path.join(this.trashDir, id));
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return false;
      // A trash entry of that id already (a removal a crash interrupted): finish that one first.
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        await this.removeTrashed(id);
        return this.trashRw(id);
      }
      throw e;
    }
  }

  private trashPath(name: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new NotFound(`invalid trash entry: ${name}`);
    return path.join(this.trashDir, name);
  }

  /** Unmounts one trash entry's overlay (the entry stays). */
  async unmountTrashed(name: string): Promise<void> {
    await this.unmountAt(path.join(this.trashPath(name), 'merged'));
  }

  /**
   * Unmounts and deletes one trash entry (absent: nothing to do). `keepEntry`:
   * delete what is in it and leave the empty directory (it still stands for
   * work not done yet).
   */
  async removeTrashed(name: string, keepEntry = false): Promise<void> {
    const d = this.trashPath(name);
    if (!fs.existsSync(d)) return;
    await this.unmountAt(path.join(d, 'merged'));
    await Promise.all(['merged', 'upper', 'work', 'init', 'lower', 'lower.tmp'].map((sub) => fsp.rm(path.join(d, sub), { recursive: true, force: true })));
    if (!keepEntry) return fsp.rm(d, { recursive: true, force: true });
    for (const n of await fsp.readdir(d)) await fsp.rm(path.join(d, n), { recursive: true, force: true });
  }

  /** Entries left in the trash (by a crash or a stop during background removal). */
  trashed(): string[] {
    try { return fs.readdirSync(this.trashDir); } catch { return []; }
  }

  async changes(id: string): Promise<Change[]> {
    const d = this.dir(id);
    const upper = path.join(d, 'upper');
    const lowerDirs = [path.join(d, 'init'), ...this.lowers(id).map((c) => this.layers.path(c))];
    const out: Change[] = [];
    const inLower = async (rel: string): Promise<boolean> => {
      for (const l of lowerDirs) {
        try { await fsp.lstat(path.join(l, rel)); return true; } catch { /* next */ }
      }
      return false;
    };
    const walk = async (dir: string, rel: string): Promise<void> => {
      let names: string[];
      try { names = (await fsp.readdir(dir)).sort(); } catch { return; }
      for (const n of names) {
        const r = `${rel}/${n}`;
        const full = path.join(dir, n);
        const st = await fsp.lstat(full);
        if (st.isCharacterDevice() && st.rdev === 0) {
          out.push({ Path: r, Kind: 2 });
          continue;
        }
        out.push({ Path: r, Kind: (await inLower(r)) ? 0 : 1 });
        if (st.isDirectory()) await walk(full, r);
      }
    };
    await walk(upper, '');
    return out;
  }

  /** The container's upper dir (what diffTar packs). */
  upperDir(id: string): string {
    return path.join(this.dir(id), 'upper');
  }

  diffTar(id: string): NodeJS.ReadableStream {
    return packDir(path.join(this.dir(id), 'upper'), { overlay: true });
  }

  /** A plain walk of the host-side mount: berthd's `docker export` uses host/fsroot (confined to the rootfs) instead. */
  async exportTar(id: string): Promise<NodeJS.ReadableStream> {
    const merged = await this.mount(id);
    return packDir(merged, { overlay: false });
  }
}

/** The init layer's entries (createRw's batch and makeInitLayer agree on them). */
const INIT_DIRS = ['dev', 'dev/pts', 'dev/shm', 'proc', 'sys', 'etc'];
const INIT_FILES = ['.dockerenv', 'etc/resolv.conf', 'etc/hosts', 'etc/hostname', 'dev/console'];

/**
 * Docker's init layer: empty mount points for what the runtime mounts over
 * (/proc, /sys, /dev/*, /etc/{hosts,hostname,resolv.conf}) plus /.dockerenv
 * and /etc/mtab, so runc never creates them in the upper dir and they never
 * show in `docker diff` or a commit.
 */
async function makeInitLayer(dir: string): Promise<void> {
  for (const sub of INIT_DIRS) await fsp.mkdir(path.join(dir, sub), { recursive: true, mode: 0o755 });
  for (const f of INIT_FILES) {
    await fsp.writeFile(path.join(dir, f), '', { mode: 0o755 });
  }
  await fsp.symlink('/proc/mounts', path.join(dir, 'etc/mtab'));
}

/** fsBatchAsync's ops for createRw: the same entries, modes and order as Node's path. */
function rwLayerOps(containersDir: string, d: string, lower: string, files: RwFile[]): FsBatchOp[] {
  const init = path.join(d, 'init');
  return [
    [0, containersDir, 0o710, true],
    [0, d, 0o710, true],
    [0, path.join(d, 'upper'), 0o755, false],
    [0, path.join(d, 'work'), 0o755, false],
    [0, path.join(d, 'merged'), 0o755, false],
    [0, init, 0o755, false],
    ...INIT_DIRS.map((sub): FsBatchOp => [0, path.join(init, sub), 0o755, false]),
    ...INIT_FILES.map((f): FsBatchOp => [1, path.join(init, f), '', 0o755]),
    [3, path.join(init, 'etc/mtab'), '/proc/mounts'],
    [2, path.join(d, 'lower'), lower, 0o644],
    ...files.map((f): FsBatchOp => [1, f.path, f.data, 0o644]),
  ];
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o) => String.fromCharCode(parseInt(o, 8)));
}

let mounts: FsRootNative | null | undefined;
/** The addon's mount calls, or null (the programs are used) when it cannot load. */
function nativeMounts(): FsRootNative | undefined {
  if (mounts === undefined) {
    try {
      const n = fsrootNative();
      mounts = typeof n.mountOverlay === 'function' && typeof n.umount === 'function' ? n : null;
    } catch {
      mounts = null;
    }
  }
  return mounts ?? undefined;
}
