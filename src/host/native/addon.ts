// The native addon (native/fsroot, built by node-gyp at `npm ci`): the system
// calls Node has no binding for, used by the confined filesystem helper
// (fsroot/) and the overlay storage driver (storage/overlay2.ts).
import fs from 'node:fs';
import path from 'node:path';

export interface FsRootNative {
  /** chroot(2) then chdir("/"). */
  chroot(dir: string): void;
  /** PR_SET_PDEATHSIG = SIGKILL: the helper dies with berthd. */
  pdeathsig(): void;
  /** openat2(rootFd, p, flags) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS; returns the fd. */
  openInRoot(rootFd: number, p: string, flags: number): number;
  /** mount(src, dst, MS_BIND | MS_REC). */
  bind(src: string, dst: string): void;
  remountReadonly(dst: string): void;
  /** The xattrs of the path itself (a symlink is not followed). */
  lxattrs(p: string): Array<[string, Buffer]>;
  /** mount("overlay", target, "overlay", 0, options); options under one page. */
  mountOverlay(options: string, target: string): void;
  /** umount2(target, detach ? MNT_DETACH : 0). */
  umount(target: string, detach: boolean): void;
  /** The same two on libuv's pool (absent from an addon built before them); errors carry `code`. */
  mountOverlayAsync?(options: string, target: string): Promise<void>;
  umountAsync?(target: string, detach: boolean): Promise<void>;
  /**
   * Layer extraction on libuv's pool (layer-io.c; absent from an older
   * addon): a new file (O_CREAT|O_EXCL|O_NOFOLLOW) with `data`, owner, mode
   * and mtime set on its descriptor; a symlink with its owner and mtime.
   * Errors carry `code`.
   */
  /** Several of those in order in one pool job: [path, data | link target, mode, uid, gid, mtimeSec, mtimeNsec]; a failure has `index`. */
  createBatchAsync?(items: Array<[string, Buffer | string, number, number, number, number, number]>): Promise<void>;
  /**
   * commit-copy.c (absent from an older addon): a sha256 fed, in order, by
   * jobs on the pool whose ops are tar bytes (a Buffer, hashed) or a file
   * body [src, dst, size, mode, uid, gid, mtimeSec, mtimeNsec] (hashed and
   * copied into a new file). One job at a time per handle; a failure has `code` and `index`.
   */
  tarHashNew?(): Sha256Handle;
  tarCopyAsync?(h: Sha256Handle, ops: Array<Buffer | [string, string, number, number, number, number, number, number]>): Promise<void>;
  tarHashDigest?(h: Sha256Handle): string;
  /**
   * fs-batch.c (absent from an older addon): directories and small files
   * made in order in one pool job (see FsBatchOp); the first failure stops
   * it and rejects with `code` and `index`.
   */
  fsBatchAsync?(ops: FsBatchOp[]): Promise<void>;
  /**
   * layer-sink.c (absent from an older addon): a pulled layer's bytes in
   * one pool job per batch — appended to the blob file `fd` and hashed,
   * gunzipped (a plain tar passes as is) and the tar hashed. See the C file.
   */
  layerSinkNew?(fd: number, noCheck?: boolean): LayerSinkHandle;
  layerSinkRunAsync?(h: LayerSinkHandle, fresh: Buffer[], last: boolean, maxOut: number): Promise<LayerSinkResult>;
  layerSinkClose?(h: LayerSinkHandle): void;
  /**
   * The sink's two chains as separate jobs that run side by side: the blob
   * file write and hash, and the gunzip and tar hash (noCheck: gzip's own
   * CRC-32 not checked, the digests cover the bytes).
   */
  layerSinkWriteAsync?(h: LayerSinkHandle, fresh: Buffer[], last: boolean): Promise<{ blob?: string }>;
  layerSinkGunzipAsync?(h: LayerSinkHandle, fresh: Buffer[], last: boolean, maxOut: number): Promise<LayerSinkResult>;
  /**
   * tar-extract.c (absent from an older addon): a layer tar extracted into
   * an empty root on the pool, one job per batch of input; `layerDir` ''
   * makes no tar-split; `thread`: files made by a second thread. See the C
   * file and storage/native-extract.ts.
   */
  tarExtractNew?(root: string, layerDir: string, thread: boolean): TarExtractHandle;
  tarExtractRunAsync?(h: TarExtractHandle, chunks: Buffer[], last: boolean): Promise<TarExtractResult>;
  tarExtractClose?(h: TarExtractHandle): void;
  /**
   * netlink.c (absent from an older addon): sockets made and bound inside the
   * network namespace at `ns` (tcp ones listening), on a thread that entered
   * it; non-blocking, close-on-exec fds for Node to adopt. Errors carry `code`.
   */
  socketsIn?(ns: string, specs: Array<['udp' | 'tcp', string, number]>): Promise<number[]>;
}

/** An opaque native extraction. */
export type TarExtractHandle = { readonly __tarExtract: unique symbol };

export interface TarExtractResult {
  /** [entry, xattr name, error ('' when its namespace is unknown)] of attributes not applied. */
  warnings: Array<[string, string, string]>;
  /** With `last`: the sum of regular file sizes, and the tar-split file's bytes (uncompressed). */
  size?: number;
  split?: Buffer;
}

/** An opaque native layer sink. */
export type LayerSinkHandle = { readonly __layerSink: unique symbol };

export interface LayerSinkResult {
  /** Tar bytes made by this job. */
  out: Buffer[];
  /** Input bytes queued and not yet gunzipped. */
  held: number;
  /** Input bytes gunzipped so far. */
  consumed: number;
  /** The blob's sha256 (hex), from the first `last` run on. */
  blob?: string;
  /** The tar's sha256 (hex) and size, once it is complete. */
  tar?: string;
  tarSize?: number;
}

/**
 * One op of fsBatchAsync: [0, dir, mode, existOk] mkdir; [1, path, data, mode]
 * a new file (O_EXCL, no symlink followed); [2, path, data, mode] written to
 * path.tmp and renamed over path; [3, path, target] a symlink; [4, path, source]
 * a new empty file with source bind-mounted on it (gone again on failure);
 * [5, path] a lazy unmount (not mounted is fine) and unlink.
 */
export type FsBatchOp =
  | [0, string, number, boolean]
  | [1 | 2, string, string | Buffer, number]
  | [3 | 4, string, string]
  | [5, string];

/** An opaque native sha256 state. */
export type Sha256Handle = { readonly __sha256: unique symbol };

/** dist/src/host/fsroot (or src/host/fsroot under ts-node) → the repository root. */
function addonPath(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'native', 'fsroot', 'build', 'Release', 'fsroot.node');
    if (fs.existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  throw new Error('native/fsroot is not built: run `npm ci` (or `npm run build:native`)');
}

let loaded: FsRootNative | undefined;

export function fsrootNative(): FsRootNative {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a native addon, loaded lazily
  return (loaded ??= require(addonPath()) as FsRootNative);
}

const features = new Map<string, unknown>();

/**
 * The addon when it has every function in `names` and the environment does
 * not turn the feature off (`<offSwitch>=0`), else undefined: an older addon,
 * no addon built, or a switch set to compare both paths. Decided once per
 * feature (the switch is read at first use).
 */
export function addonWith<K extends keyof FsRootNative>(offSwitch: string, names: readonly K[]): Required<Pick<FsRootNative, K>> | undefined {
  const key = `${offSwitch}:${names.join(',')}`;
  if (!features.has(key)) {
    let n: FsRootNative | undefined;
    if (process.env[offSwitch] !== '0') {
      try {
        n = fsrootNative();
      } catch {
        /* not built */
      }
    }
    features.set(key, n && names.every((k) => typeof n![k] === 'function') ? n : undefined);
  }
  return features.get(key) as Required<Pick<FsRootNative, K>> | undefined;
}

/** fs-batch.c's fsBatchAsync, unless BERTH_FS_BATCH=0 (or an older addon): then Node's calls. */
export function fsBatchNative() {
  return addonWith('BERTH_FS_BATCH', ['fsBatchAsync']);
}

/** Linux open(2) flags Node's fs.constants lacks. */
export const O_PATH = 0o10000000;

/** A program built with the addon (native/fsroot/build/Release/<name>), or undefined when it is not built. */
export function nativeProgramPath(name: string): string | undefined {
  try {
    const p = path.join(path.dirname(addonPath()), name);
    fs.accessSync(p, fs.constants.X_OK);
    return p;
  } catch {
    return undefined;
  }
}
