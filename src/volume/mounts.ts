// A container's mounts: parsing -v/--mount/--tmpfs/--volumes-from and the
// image's VOLUMEs into Docker's MountPoint records at create, and turning
// them into OCI mounts at start (activating option volumes, copying image
// content into new empty volumes).
import fs from 'node:fs';
import path from 'node:path';
import { InvalidParameter, NotFound } from '../util/errors';
import { copyUp } from '../host/volume/mount';
import { resolveInRoot } from '../host/rootfs';
import type { VolumeService } from './service';

export interface MountPoint {
  Type: 'volume' | 'bind' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Not shown by inspect: how to mount. */
  anonymous?: boolean;
  noCopy?: boolean;
  tmpfsOptions?: string[];
  bindOptions?: string[];
}

export interface MountRequest {
  binds: string[];
  mounts: any[];
  tmpfs: Record<string, string>;
  volumesFrom: string[];
  /** Config.Volumes (includes the image's VOLUMEs). */
  volumes: string[];
}

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function checkDest(dest: string, type: string): string {
  if (!dest.startsWith('/')) throw new InvalidParameter(`invalid mount config for type "${type}": invalid mount path: '${dest}' mount path must be absolute`);
  const clean = path.posix.normalize(dest);
  if (clean === '/') throw new InvalidParameter(`invalid specification: destination can't be '/'`);
  return clean.replace(/\/$/, '');
}

/** `-v src:dst[:mode]` or `-v dst` (one Bind entry). */
function parseBind(spec: string): MountPoint {
  // moby's linuxSplitRawSpec: an empty first field (":/x") is not an anonymous volume
  if (spec.startsWith(':')) throw new InvalidParameter(`invalid volume specification: '${spec}'`);
  const parts = spec.split(':');
  let src = '';
  let dst: string;
  let mode = '';
  if (parts.length === 1) dst = parts[0];
  else if (parts.length === 2) {
    if (parts[1].startsWith('/')) [src, dst] = parts;
    else [dst, mode] = parts;
  } else if (parts.length === 3) [src, dst, mode] = parts;
  else throw new InvalidParameter(`invalid volume specification: '${spec}'`);
  if (!dst) throw new InvalidParameter(`invalid volume specification: '${spec}'`);
  const modes = mode ? mode.split(',') : [];
  let rw = true;
  let prop = '';
  let noCopy = false;
  for (const m of modes) {
    if (m === 'ro') rw = false;
    else if (m === 'rw') rw = true;
    else if (PROPAGATIONS.includes(m)) prop = m;
    else if (m === 'nocopy') noCopy = true;
    else if (m === 'z' || m === 'Z' || m === 'consistent' || m === 'cached' || m === 'delegated') continue;
    else throw new InvalidParameter(`invalid mode: ${m}`);
  }
  if (!src) {
    return { Type: 'volume', Name: '', Source: '', Destination: checkDest(dst, 'volume'), Driver: 'local', Mode: mode, RW: rw, Propagation: '', anonymous: true, noCopy };
  }
  if (src.startsWith('/')) {
    return { Type: 'bind', Source: path.posix.normalize(src), Destination: checkDest(dst, 'bind'), Mode: mode, RW: rw, Propagation: prop || 'rprivate', bindOptions: ['create'] };
  }
  if (!VOLUME_NAME.test(src)) {
    throw new InvalidParameter(`create ${src}: "${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  return { Type: 'volume', Name: src, Source: '', Destination: checkDest(dst, 'volume'), Driver: 'local', Mode: mode, RW: rw, Propagation: '', noCopy };
}

/** One HostConfig.Mounts entry (--mount). */
function parseMount(m: any): MountPoint {
  const type = m?.Type;
  const target = m?.Target ?? m?.Destination ?? '';
  if (!target) throw new InvalidParameter(`invalid mount config for type "${type}": field Target must not be empty`);
  const rw = !m.ReadOnly;
  if (type === 'bind') {
    const src = m.Source ?? '';
    if (!src) throw new InvalidParameter('invalid mount config for type "bind": field Source must not be empty');
    if (m.VolumeOptions) throw new InvalidParameter('invalid mount config for type "bind": field VolumeOptions must not be specified');
    if (!src.startsWith('/')) throw new InvalidParameter(`invalid mount config for type "bind": invalid mount path: '${src}' mount path must be absolute`);
    if (!fs.existsSync(src)) throw new InvalidParameter(`invalid mount config for type "bind": bind source path does not exist: ${src}`);
    const prop = m.BindOptions?.Propagation || 'rprivate';
    return { Type: 'bind', Source: src, Destination: checkDest(target, 'bind'), Mode: '', RW: rw, Propagation: prop, bindOptions: m.BindOptions?.NonRecursive ? ['bind'] : [] };
  }
  if (type === 'volume') {
    const name = m.Source ?? '';
    if (name && !VOLUME_NAME.test(name)) throw new InvalidParameter(`invalid mount config for type "volume": invalid volume name: '${name}'`);
    return {
      Type: 'volume', Name: name, Source: '', Destination: checkDest(target, 'volume'), Driver: m.VolumeOptions?.DriverConfig?.Name || 'local',
      Mode: 'z', RW: rw, Propagation: '', anonymous: !name, noCopy: !!m.VolumeOptions?.NoCopy,
      bindOptions: m.VolumeOptions?.Labels ? [JSON.stringify(m.VolumeOptions.Labels)] : undefined,
    };
  }
  if (type === 'tmpfs') {
    if (m.Source) throw new InvalidParameter('invalid mount config for type "tmpfs": field Source must not be specified');
    const opts = ['nosuid', 'nodev', 'noexec'];
    if (m.TmpfsOptions?.SizeBytes) opts.push(`size=${m.TmpfsOptions.SizeBytes}`);
    if (m.TmpfsOptions?.Mode) opts.push(`mode=${Number(m.TmpfsOptions.Mode).toString(8)}`);
    if (!rw) opts.push('ro');
    return { Type: 'tmpfs', Source: '', Destination: checkDest(target, 'tmpfs'), Mode: '', RW: rw, Propagation: '', tmpfsOptions: opts };
  }
  throw new InvalidParameter(`invalid mount config for type "${type}": mount type unknown`);
}

export class MountPlanner {
  constructor(private readonly volumes: VolumeService) {}

  /**
   * At create: the container's mount points, creating the volumes they need.
   * `fromContainer` gives another container's mount points (--volumes-from).
   * On failure, volumes made here are removed again.
   */
  plan(containerId: string, req: MountRequest, fromContainer: (ref: string) => MountPoint[] | undefined): MountPoint[] {
    const out = new Map<string, MountPoint>();
    const add = (m: MountPoint, explicit: boolean) => {
      if (explicit && out.has(m.Destination) && out.get(m.Destination)!.Type !== 'volume') {
        throw new InvalidParameter(`Duplicate mount point: ${m.Destination}`);
      }
      out.set(m.Destination, m);
    };
    // Lowest precedence first: image/config volumes, then --volumes-from, then -v, --mount, --tmpfs.
    for (const v of req.volumes) {
      const dest = checkDest(v, 'volume');
      add({ Type: 'volume', Name: '', Source: '', Destination: dest, Driver: 'local', Mode: '', RW: true, Propagation: '', anonymous: true }, false);
    }
    for (const vf of req.volumesFrom) {
      const [ref, mode] = vf.split(':');
      const mps = fromContainer(ref);
      if (!mps) throw new NotFound(`No such container: ${ref}`);
      if (mode && mode !== 'ro' && mode !== 'rw') throw new InvalidParameter(`invalid mode for volumes-from: ${mode}`);
      for (const m of mps) add({ ...m, anonymous: false, RW: mode === 'ro' ? false : mode === 'rw' ? true : m.RW, Mode: mode || m.Mode }, false);
    }
    const seen = new Set<string>();
    const explicit = (m: MountPoint) => {
      if (seen.has(m.Destination)) throw new InvalidParameter(`Duplicate mount point: ${m.Destination}`);
      seen.add(m.Destination);
      add(m, false);
    };
    for (const b of req.binds) explicit(parseBind(b));
    for (const m of req.mounts) explicit(parseMount(m));
    for (const [dest, opts] of Object.entries(req.tmpfs ?? {})) {
      const o = ['nosuid', 'nodev', 'noexec', ...(opts ? opts.split(',') : [])];
      explicit({ Type: 'tmpfs', Source: '', Destination: checkDest(dest, 'tmpfs'), Mode: opts, RW: !o.includes('ro'), Propagation: '', tmpfsOptions: o });
    }
    const made: string[] = [];
    try {
      for (const m of out.values()) {
        if (m.Type === 'volume') {
          if (m.Driver && m.Driver !== 'local') throw new NotFound(`error looking up volume plugin ${m.Driver}: plugin "${m.Driver}" not found`);
          const existed = m.Name ? !!this.volumes.find(m.Name) : false;
          let labels: Record<string, string> | undefined;
          if (m.bindOptions?.length) labels = JSON.parse(m.bindOptions[0]);
          const v = this.volumes.create({ Name: m.Name || undefined, Labels: labels });
          if (!existed) made.push(v.name);
          m.Name = v.name;
          m.Source = this.volumes.mountpoint(v.name);
          m.bindOptions = undefined;
        } else if (m.Type === 'bind' && m.bindOptions?.includes('create')) {
          // -v creates a missing source directory, as Docker does.
          if (!fs.existsSync(m.Source)) fs.mkdirSync(m.Source, { recursive: true, mode: 0o755 });
          m.bindOptions = [];
        }
      }
      for (const m of out.values()) if (m.Type === 'volume') this.volumes.addRef(containerId, m.Name!);
    } catch (e) {
      this.volumes.dropRefs(containerId);
      for (const n of made) void this.volumes.remove(n, true);
      throw e;
    }
    return [...out.values()];
  }

  /** At start: OCI mounts, with option volumes mounted and new volumes filled from the image. */
  async ociMounts(containerId: string, mps: MountPoint[], rootfs: string): Promise<Array<{ destination: string; type: string; source: string; options: string[] }>> {
    const out: Array<{ destination: string; type: string; source: string; options: string[] }> = [];
    for (const m of mps) {
      if (m.Type === 'tmpfs') {
        out.push({ destination: m.Destination, type: 'tmpfs', source: 'tmpfs', options: m.tmpfsOptions ?? ['nosuid', 'nodev', 'noexec'] });
        continue;
      }
      let source = m.Source;
      if (m.Type === 'volume') {
        source = await this.volumes.activate(m.Name!, containerId);
        if (!m.noCopy && rootfs) await copyUp(resolveInRoot(rootfs, m.Destination), source);
      } else if (!fs.existsSync(source)) {
        throw new InvalidParameter(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
      }
      const opts = [m.bindOptions?.includes('bind') ? 'bind' : 'rbind', m.Propagation || 'rprivate'];
      if (!m.RW) opts.push('ro');
      out.push({ destination: m.Destination, type: 'bind', source, options: opts });
    }
    // Parents before children, so a nested mount is not hidden.
    out.sort((a, b) => a.destination.split('/').length - b.destination.split('/').length);
    return out;
  }

  /** Docker's Mounts array for inspect. */
  static toJson(mps: MountPoint[]): any[] {
    return mps.map((m) =>
      m.Type === 'volume'
        ? { Type: 'volume', Name: m.Name, Source: m.Source, Destination: m.Destination, Driver: m.Driver ?? 'local', Mode: m.Mode, RW: m.RW, Propagation: '' }
        : m.Type === 'bind'
          ? { Type: 'bind', Source: m.Source, Destination: m.Destination, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation }
          : { Type: 'tmpfs', Source: '', Destination: m.Destination, Mode: m.Mode, RW: m.RW, Propagation: '' },
    );
  }

  /** At remove: drop references; with `rm -v`, remove the anonymous volumes nobody else uses. */
  async release(containerId: string, mps: MountPoint[], removeVolumes: boolean): Promise<void> {
    await this.volumes.deactivate(containerId);
    this.volumes.dropRefs(containerId);
    if (!removeVolumes) return;
    for (const m of mps) {
      if (m.Type !== 'volume' || !m.Name) continue;
      const v = this.volumes.find(m.Name);
      if (!v || !('com.docker.volume.anonymous' in v.labels)) continue;
      if (this.volumes.users(m.Name).length) continue;
      await this.volumes.remove(m.Name).catch(() => {});
    }
  }
}
