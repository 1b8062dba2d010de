// Read-only layers: layers/<chain-id-hex>/diff, each extracted exactly once.
// Extraction goes to layers/tmp-<rand>/diff and is renamed into place, so a
// layer directory that exists is complete. Concurrent applies of the same
// chain ID share one extraction. Short links layers/l/<12 hex> → ../<hex>/diff
// keep the overlay lowerdir= option short enough for 100+ layers.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { PassThrough, Readable, Transform, type Writable } from 'node:stream';
import { peek, replay } from '../../util/peek';
import { InvalidParameter } from '../../util/errors';
import { poolDigestCounter } from './pool-digest';
import { applyTar } from './tar-apply';
import { TarStall } from './stall-watch';
import { hasSplit, regenerateTar, SplitRecorder } from './tar-split';
import { hasFreshChunks } from './tar-pack';
import { cloneAvailable, cloneUpper, CloneUnsupported } from './upper-clone';
import type { LayerSink } from './layer-sink';
import { log } from '../../util/log';

const SHORT = 12;
export const EMPTY_LOWER = 'empty';

export function hexOf(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new InvalidParameter(`invalid digest: ${digest}`);
  return m[1];
}

/** chainID(n) = sha256(chainID(n-1) + " " + diffID(n)); chainID(0) = diffID(0). */
export function chainIdsOf(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    if (out.length === 0) out.push(d);
    else out.push(`sha256:${createHash('sha256').update(`${out[out.length - 1]} ${d}`).digest('hex')}`);
  }
  return out;
}

export interface StagedTar {
  /**
   * Uncompressed tar file (caller deletes it); undefined when the bytes
   * were only extracted as they passed (`prepared`), not kept.
   */
  file?: string;
  diffId: string;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
  /** Extracted while staged (see ImageService.stageLayer), not yet placed. */
  prepared?: PreparedLayer;
}

/**
 * Copies a layer stream (plain tar or gzip, detected) into an uncompressed
 * temp file, hashing it: the hash is the layer's diffID. With `tap`, the
 * uncompressed bytes also go there; without `file`, only there.
 */
export async function stageTar(input: NodeJS.ReadableStream, file: string, tap?: Writable): Promise<StagedTar & { file: string }>;
export async function stageTar(input: NodeJS.ReadableStream, file: undefined, tap: Writable): Promise<StagedTar>;
export async function stageTar(input: NodeJS.ReadableStream, file: string | undefined, tap?: Writable): Promise<StagedTar> {
  // Chunks are copied (the first staging had an unexplained "Unexpected end
  // of data" without it) unless they come from our own packer, whose chunks
  // are fresh: for a 100 MB commit the copy was the largest CPU cost
  // (allocating and faulting in 100 MB under load).
  const copy = hasFreshChunks(input) ? (b: Buffer) => b : (b: Buffer) => Buffer.from(b);
  const it = (input as Readable)[Symbol.asyncIterator]();
  const first = await it.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : copy(first.value as Buffer);
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield copy(n.value as Buffer);
    }
  }
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) {
    throw new InvalidParameter('unsupported layer compression: bzip2');
  }
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    throw new InvalidParameter('unsupported layer compression: xz');
  }
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) {
    throw new InvalidParameter('unsupported layer compression: zstd');
  }
  const gz = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const counter = poolDigestCounter();
  const stages: any[] = [Readable.from(rest())];
  if (gz) stages.push(zlib.createGunzip());
  stages.push(counter.stream);
  if (!file && !tap) throw new Error('stageTar: neither a file nor a tap');
  if (file) {
    if (tap) stages.push(teeTo(tap));
    stages.push(fs.createWriteStream(file, { mode: 0o600 }));
  } else {
    stages.push(tap);
  }
  try {
    await (pipeline as any)(...stages);
    tap?.end();
  } catch (e) {
    tap?.destroy(e as Error);
    if (file) await fsp.rm(file, { force: true });
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_')) throw new InvalidParameter(`invalid gzip layer: ${(e as Error).message}`);
    throw e;
  }
  return { file, diffId: counter.digest(), tarSize: counter.size() };
}

/**
 * Passes every chunk on and also writes it to `tap` (with its backpressure),
 * until `tap` is destroyed — a failed extraction must not stall the copy.
 */
function teeTo(tap: Writable): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (tap.destroyed || tap.writableEnded || tap.write(chunk)) { cb(null, chunk); return; }
      const go = () => { tap.off('drain', go); tap.off('close', go); cb(null, chunk); };
      tap.on('drain', go);
      tap.on('close', go);
    },
  });
}

/**
 * Extracts a layer stream (plain tar or gzip, detected) into a prepared
 * layer dir while hashing it (the diffID), without a staging copy: a pull
 * extracts each layer as its bytes arrive. The caller checks the diffID
 * before placing it.
 */
export async function extractStream(input: NodeJS.ReadableStream, store: LayerStore): Promise<{ prepared: PreparedLayer; diffId: string; tarSize: number }> {
  const counter = poolDigestCounter();
  const head = await peek(input, 2);
  const raw = replay(head);
  const gz = head.head.length >= 2 && head.head[0] === 0x1f && head.head[1] === 0x8b;
  const stages: any[] = [raw];
  if (gz) stages.push(zlib.createGunzip({ chunkSize: 1 << 20 }));
  stages.push(counter.stream);
  // The pipeline feeds applyTar, which reads to the end of the input.
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const fed = (pipeline as any)(...stages, out).catch((e: Error) => {
    out.destroy(e);
    throw (e as NodeJS.ErrnoException).code?.startsWith('Z_') ? new InvalidParameter(`invalid gzip layer: ${e.message}`) : e;
  });
  fed.catch(() => {});
  let prepared: PreparedLayer;
  try {
    prepared = await store.prepare(out);
  } catch (e) {
    raw.destroy();
    await fed.catch(() => {});
    throw e;
  }
  try {
    await fed;
  } catch (e) {
    await store.discard(prepared);
    throw e;
  }
  return { prepared, diffId: counter.digest(), tarSize: counter.size() };
}

/**
 * extractStream for a native layer sink's tar (layer-sink.ts), which is
 * gunzipped and hashed already: the extraction reads it as it comes.
 */
export async function extractSink(sink: LayerSink, store: LayerStore): Promise<{ prepared: PreparedLayer; diffId: string; tarSize: number }> {
  let prepared: PreparedLayer;
  try {
    prepared = await store.prepare(sink.tar);
  } catch (e) {
    sink.tar.destroy();
    throw e;
  }
  try {
    return { prepared, ...(await sink.tarDone) };
  } catch (e) {
    await store.discard(prepared);
    throw e;
  }
}

/**
 * A plain (uncompressed) tar already on disk, e.g. a member of a loaded
 * archive, is its own staging copy: hashed where it is instead of copied,
 * which saves its size in free space. Undefined when it is compressed (the
 * caller stages it with stageTar).
 */
export async function stageInPlace(file: string): Promise<StagedTar | undefined> {
  const head = Buffer.alloc(6);
  const fd = await fsp.open(file, 'r');
  let n = 0;
  try {
    n = (await fd.read(head, 0, 6, 0)).bytesRead;
  } finally {
    await fd.close();
  }
  const magic = head.subarray(0, n);
  const compressed = (magic.length >= 2 && magic[0] === 0x1f && magic[1] === 0x8b)
    || (magic.length >= 3 && magic.subarray(0, 3).equals(Buffer.from('BZh')))
    || (magic.length >= 6 && magic.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])))
    || (magic.length >= 4 && magic.readUInt32LE(0) === 0xfd2fb528);
  if (compressed) return undefined;
  const counter = poolDigestCounter();
  counter.stream.resume();
  await pipeline(fs.createReadStream(file), counter.stream);
  return { file, diffId: counter.digest(), tarSize: counter.size() };
}

/** Saves a tar-split; one that cannot reproduce the tar is left out (the caller keeps the tar instead). */
async function saveSplit(rec: SplitRecorder, what: string): Promise<void> {
  if (!(await rec.save())) log.warn('layer kept without tar-split', { layer: path.basename(what), why: rec.broken });
}

/** A layer extracted into a temp dir of the store, not yet named. */
export interface PreparedLayer {
  dir: string;
  size: number;
}

export class LayerStore {
  private readonly inflight = new Map<string, Promise<{ size: number }>>();

  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    // Root only, as Docker's overlay2 dir: layers hold image-made device
    // nodes and setuid files that no host user may reach.
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await fsp.chmod(this.dir, 0o700);
    await fsp.mkdir(path.join(this.dir, 'l'), { recursive: true, mode: 0o700 });
    await fsp.mkdir(path.join(this.dir, EMPTY_LOWER), { recursive: true, mode: 0o755 });
    // Half-made extractions from a crash are garbage.
    for (const n of await fsp.readdir(this.dir)) {
      if (n.startsWith('tmp-')) await fsp.rm(path.join(this.dir, n), { recursive: true, force: true });
    }
  }

  path(chainId: string): string {
    return path.join(this.dir, hexOf(chainId), 'diff');
  }

  /** Lower path relative to this.dir, short enough for lowerdir=. */
  shortLower(chainId: string): string {
    return `l/${hexOf(chainId).slice(0, SHORT)}`;
  }

  exists(chainId: string): boolean {
    return fs.existsSync(path.join(this.dir, hexOf(chainId)));
  }

  /**
   * Extracts `tarFile` as layer `chainId` unless it already exists. With
   * `split`, also keeps what makes the tar again (tarStream) when it can.
   */
  async apply(chainId: string, tarFile: string, opts: { split?: boolean } = {}): Promise<{ size: number; created: boolean }> {
    const hex = hexOf(chainId);
    const running = this.inflight.get(hex);
    if (running) return { ...(await running), created: false };
    if (this.exists(chainId)) return { size: await this.sizeOf(chainId), created: false };
    const p = this.extract(hex, tarFile, !!opts.split);
    this.inflight.set(hex, p);
    try {
      return { ...(await p), created: true };
    } finally {
      this.inflight.delete(hex);
    }
  }

  private async extract(hex: string, tarFile: string, split: boolean): Promise<{ size: number }> {
    try {
      return await this.extractOnce(hex, tarFile, split);
    } catch (e) {
      if (!(e instanceof TarStall)) throw e;
      // A stalled extraction left only its own temp dir (removed below): start over once.
      log.warn('layer extraction stalled; retrying', { layer: hex });
      return this.extractOnce(hex, tarFile, split);
    }
  }

  private async extractOnce(hex: string, tarFile: string, split: boolean): Promise<{ size: number }> {
    const tmp = path.join(this.dir, `tmp-${randomBytes(8).toString('hex')}`);
    try {
      await fsp.mkdir(path.join(tmp, 'diff'), { recursive: true, mode: 0o755 });
      const rec = split ? new SplitRecorder(tmp) : undefined;
      const { size } = await applyTar(tarFile, path.join(tmp, 'diff'), undefined, rec);
      if (rec) await saveSplit(rec, hex);
      await fsp.writeFile(path.join(tmp, 'size'), String(size));
      await fsp.rename(tmp, path.join(this.dir, hex));
      const link = path.join(this.dir, 'l', hex.slice(0, SHORT));
      await fsp.rm(link, { force: true });
      await fsp.symlink(`../${hex}/diff`, link);
      return { size };
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Extracts a tar stream before its chain ID is known (a pull extracts
   * each layer as it downloads, all at once): into a temp dir that place()
   * moves into place once the caller has verified the bytes, or discard()
   * removes. No stall retry here: the stream cannot be read twice, so the
   * caller falls back to apply() from the stored blob.
   */
  async prepare(input: NodeJS.ReadableStream, opts: { split?: boolean; patient?: boolean } = {}): Promise<PreparedLayer> {
    const tmp = path.join(this.dir, `tmp-${randomBytes(8).toString('hex')}`);
    try {
      await fsp.mkdir(path.join(tmp, 'diff'), { recursive: true, mode: 0o755 });
      const rec = opts.split ? new SplitRecorder(tmp) : undefined;
      const { size } = await applyTar(input, path.join(tmp, 'diff'), undefined, rec, !!opts.patient);
      if (rec) await saveSplit(rec, tmp);
      await fsp.writeFile(path.join(tmp, 'size'), String(size));
      return { dir: tmp, size };
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * A commit's layer from a container's upper dir (upper-clone.ts): made in
   * a temp dir as prepare() would make it from packDir's tar, with its
   * tar-split. Undefined when the clone cannot be used (the caller packs
   * the tar); `entries` 0 means the tar would hold only its end blocks.
   */
  async prepareUpper(upper: string): Promise<{ prepared: PreparedLayer; diffId: string; tarSize: number; entries: number } | undefined> {
    if (!cloneAvailable()) return undefined;
    const tmp = path.join(this.dir, `tmp-${randomBytes(8).toString('hex')}`);
    try {
      await fsp.mkdir(path.join(tmp, 'diff'), { recursive: true, mode: 0o755 });
      const r = await cloneUpper(upper, tmp);
      await fsp.writeFile(path.join(tmp, 'size'), String(r.size));
      return { prepared: { dir: tmp, size: r.size }, diffId: r.diffId, tarSize: r.tarSize, entries: r.entries };
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true });
      if (e instanceof CloneUnsupported) {
        log.info('layer packed as a tar instead of cloned', { why: e.message });
        return undefined;
      }
      throw e;
    }
  }

  /** Moves a prepared extraction into place as `chainId` (discarding it when that layer exists already). */
  async place(chainId: string, prepared: PreparedLayer): Promise<{ size: number; created: boolean }> {
    const hex = hexOf(chainId);
    const running = this.inflight.get(hex);
    if (running) await running.catch(() => {});
    if (this.exists(chainId)) {
      await this.discard(prepared);
      return { size: await this.sizeOf(chainId), created: false };
    }
    try {
      await fsp.rename(prepared.dir, path.join(this.dir, hex));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      await this.discard(prepared); // placed meanwhile by another pull
      return { size: await this.sizeOf(chainId), created: false };
    }
    const link = path.join(this.dir, 'l', hex.slice(0, SHORT));
    await fsp.rm(link, { force: true });
    await fsp.symlink(`../${hex}/diff`, link);
    return { size: prepared.size, created: true };
  }

  /** True when layer `chainId` keeps a tar-split (the tar can be made again from its files). */
  hasSplit(chainId: string): boolean {
    return hasSplit(path.join(this.dir, hexOf(chainId)));
  }

  /** The layer's tar made again from its files (unverified: the caller checks the diffID). */
  tarStream(chainId: string): Readable {
    return regenerateTar(path.join(this.dir, hexOf(chainId)));
  }

  async discard(prepared: PreparedLayer): Promise<void> {
    await fsp.rm(prepared.dir, { recursive: true, force: true });
  }

  async sizeOf(chainId: string): Promise<number> {
    try {
      return Number(await fsp.readFile(path.join(this.dir, hexOf(chainId), 'size'), 'utf8')) || 0;
    } catch {
      return 0;
    }
  }

  async remove(chainId: string): Promise<void> {
    const hex = hexOf(chainId);
    const link = path.join(this.dir, 'l', hex.slice(0, SHORT));
    try {
      if ((await fsp.readlink(link)) === `../${hex}/diff`) await fsp.rm(link, { force: true });
    } catch { /* no link */ }
    // Rename first so a crash mid-delete leaves a tmp- dir, not a half layer.
    const doomed = path.join(this.dir, `tmp-${randomBytes(8).toString('hex')}`);
    try {
      await fsp.rename(path.join(this.dir, hex), doomed);
    } catch {
      return;
    }
    await fsp.rm(doomed, { recursive: true, force: true });
  }
}
