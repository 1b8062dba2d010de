// Volumes of the local driver: a directory <data-root>/volumes/<name>/_data,
// optionally with mount options (-o type= device= o=) mounted over it while a
// running container uses it. Which containers use a volume is recorded, so a
// used volume refuses removal and `rm -v` knows the anonymous ones.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db';
import { critical, ensureSchema, refillReserve } from '../store/db';
import { log } from '../util/log';
import { Filters } from '../common/filters';
import type { EventBus } from '../events/bus';
import { Conflict, InvalidParameter, NotFound, SystemError } from '../util/errors';
import { isMounted, mountVolume, unmount } from '../host/volume/mount';

export const ANON_LABEL = 'com.docker.volume.anonymous';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** A name is one directory entry under volumes/ (NAME_MAX); temp and trash names are short, so any valid name can be made and removed. */
const NAME_MAX = 255;

export interface VolumeRecord {
  name: string;
  driver: 'local';
  createdAt: string;
  labels: Record<string, string>;
  options: Record<string, string>;
}

export interface VolumeServiceDeps {
  db: Db;
  events: EventBus;
  dataRoot: string;
}

export class VolumeService {
  private readonly db: Db;
  readonly root: string;
  /** Running users of volumes that have mount options (mounted while > 0). */
  private readonly active = new Map<string, Set<string>>();

  constructor(private readonly deps: VolumeServiceDeps) {
    this.db = deps.db;
    this.root = path.join(deps.dataRoot, 'volumes');
    ensureSchema(
      this.db,
      `CREATE TABLE IF NOT EXISTS volumes (name TEXT PRIMARY KEY, data TEXT NOT NULL);
       CREATE TABLE IF NOT EXISTS volume_refs (
         container_id TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (container_id, name));`,
    );
  }

  async init(): Promise<void> {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o701 });
    // Half-made volume directories (crash during create) have no record: remove them.
    const known = new Set((this.db.prepare('SELECT name FROM volumes').all() as Array<{ name: string }>).map((r) => r.name));
    for (const e of fs.readdirSync(this.root)) {
      const p = path.join(this.root, e);
      if (!known.has(e) && !isMounted(path.join(p, '_data'))) fs.rmSync(p, { recursive: true, force: true });
    }
  }

  async shutdown(): Promise<void> {}

  validName(name: string): void {
    if (name.length === 1) throw new InvalidParameter('volume name is too short, names should be at least two alphanumeric characters');
    if (name.length > NAME_MAX) throw new InvalidParameter(`create ${name.slice(0, 32)}...: volume name is too long (${name.length} characters, at most ${NAME_MAX})`);
    if (!NAME_RE.test(name)) {
      throw new InvalidParameter(
        `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    }
  }

  mountpoint(name: string): string {
    return path.join(this.root, name, '_data');
  }

  find(name: string): VolumeRecord | undefined {
    const row = this.db.prepare('SELECT data FROM volumes WHERE name = ?').get(name) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as VolumeRecord) : undefined;
  }

  get(name: string): VolumeRecord {
    const v = this.find(name);
    if (!v) throw new NotFound(`get ${name}: no such volume`);
    return v;
  }

  all(): VolumeRecord[] {
    return (this.db.prepare('SELECT data FROM volumes ORDER BY name').all() as Array<{ data: string }>).map((r) => JSON.parse(r.data));
  }

  /** Creates a volume; an existing one of the same name is returned as it is (Docker's behaviour). */
  create(req: { Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> } = {}): VolumeRecord {
    const driver = req.Driver || 'local';
    if (driver !== 'local') throw new NotFound(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const anonymous = !req.Name;
    const name = req.Name || randomBytes(32).toString('hex');
    this.validName(name);
    const existing = this.find(name);
    if (existing) return existing;
    const options = { ...(req.DriverOpts ?? {}) };
    for (const k of Object.keys(options)) {
      if (!['type', 'device', 'o', 'size'].includes(k)) throw new InvalidParameter(`invalid option key: "${k}"`);
    }
    if ((options.type || options.device) && !(options.type && options.device) && options.type !== 'tmpfs') {
      throw new InvalidParameter('missing required option: "device"');
    }
    if (options.type === 'none' || /(^|,)bind(,|$)/.test(options.o ?? '')) {
      if (options.device && !fs.existsSync(options.device)) throw new InvalidParameter(`failed to mount local volume: mount ${options.device}: no such file or directory`);
    }
    const v: VolumeRecord = {
      name,
      driver: 'local',
      createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: { ...(req.Labels ?? {}), ...(anonymous ? { [ANON_LABEL]: '' } : {}) },
      options,
    };
    const dir = path.join(this.root, name);
    const tmp = path.join(this.root, `.tmp-${randomBytes(8).toString('hex')}`);
    // A directory without a record is what a failed or interrupted create left: garbage.
    if (fs.existsSync(dir) && !isMounted(path.join(dir, '_data'))) fs.rmSync(dir, { recursive: true, force: true });
    let renamed = false;
    try {
      fs.mkdirSync(path.join(tmp, '_data'), { recursive: true, mode: 0o755 });
      fs.chmodSync(tmp, 0o701);
      this.db.transaction(() => {
        this.db.prepare('INSERT INTO volumes (name, data) VALUES (?, ?)').run(name, JSON.stringify(v));
        fs.renameSync(tmp, dir);
        renamed = true;
      })();
    } catch (e) {
      // The commit can fail after the rename (disk full): take the directory back too.
      fs.rmSync(tmp, { recursive: true, force: true });
      if (renamed && !this.find(name)) fs.rmSync(dir, { recursive: true, force: true });
      throw new SystemError(`create ${name}: ${(e as Error).message}`);
    }
    this.deps.events.publish('volume', 'create', name, { driver: 'local' });
    return v;
  }

  users(name: string): string[] {
    return (this.db.prepare('SELECT container_id FROM volume_refs WHERE name = ?').all(name) as Array<{ container_id: string }>).map(
      (r) => r.container_id,
    );
  }

  addRef(containerId: string, name: string): void {
    this.db.prepare('INSERT OR IGNORE INTO volume_refs VALUES (?, ?)').run(containerId, name);
  }

  /** Drops a container's references; returns the volumes it used. */
  dropRefs(containerId: string): string[] {
    const names = (this.db.prepare('SELECT name FROM volume_refs WHERE container_id = ?').all(containerId) as Array<{ name: string }>).map(
      (r) => r.name,
    );
    // Part of a container's removal, which must work on a full disk.
    critical(this.db, () => this.db.prepare('DELETE FROM volume_refs WHERE container_id = ?').run(containerId));
    return names;
  }

  /** References of containers that do not exist (a crash during create): dropped at start. */
  dropUnknownRefs(known: Set<string>): void {
    const rows = this.db.prepare('SELECT DISTINCT container_id FROM volume_refs').all() as Array<{ container_id: string }>;
    for (const r of rows) if (!known.has(r.container_id)) this.dropRefs(r.container_id);
  }

  async remove(name: string, force = false): Promise<void> {
    const v = this.find(name);
    if (!v) {
      if (force) return;
      throw new NotFound(`get ${name}: no such volume`);
    }
    const users = this.users(name);
    if (users.length) throw new Conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    const dir = path.join(this.root, name);
    await unmount(path.join(dir, '_data'));
    const trash = path.join(this.root, `.rm-${randomBytes(8).toString('hex')}`);
    // Removal must work on a full disk: the record's delete may use the data root's reserve.
    critical(this.db, () => this.db.transaction(() => {
      this.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
      if (fs.existsSync(dir)) fs.renameSync(dir, trash);
    })());
    fs.rmSync(trash, { recursive: true, force: true });
    refillReserve(this.db);
    this.deps.events.publish('volume', 'destroy', name, { driver: 'local' });
  }

  list(filters: Record<string, string[]>): VolumeRecord[] {
    const lf = new Filters(filters).validate(['dangling', 'name', 'label', 'driver', 'label!']);
    const dangling = lf.contains('dangling') ? lf.bool('dangling', false) : undefined;
    return this.all().filter((v) => {
      const f = lf.map;
      if (f.name && !f.name.some((n) => v.name.includes(n))) return false;
      if (f.driver && !f.driver.includes(v.driver)) return false;
      if (!lf.matchLabels(v.labels)) return false;
      return dangling === undefined || dangling === (this.users(v.name).length === 0);
    });
  }

  /** Unused volumes: only anonymous ones unless the `all` filter is set (API ≥ 1.42). */
  async prune(filters: Record<string, string[]>): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const all = new Filters(filters).bool('all', false);
    const f = { ...filters };
    delete f.all;
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.list(f)) {
      if (this.users(v.name).length) continue;
      if (!all && !(ANON_LABEL in v.labels)) continue;
      const size = duBytes(path.join(this.root, v.name, '_data'));
      // One volume that cannot be removed never stops the prune.
      try {
        await this.remove(v.name);
      } catch (e) {
        log.warn('prune: volume remove failed', { name: v.name, err: String(e) });
        continue;
      }
      space += size;
      deleted.push(v.name);
    }
    this.deps.events.publish('volume', 'prune', '', { reclaimed: String(space) });
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }

  toJson(v: VolumeRecord): any {
    return {
      CreatedAt: v.createdAt,
      Driver: v.driver,
      Labels: v.labels,
      Mountpoint: this.mountpoint(v.name),
      Name: v.name,
      Options: Object.keys(v.options).length ? v.options : null,
      Scope: 'local',
    };
  }

  /** /system/df's entry: the volume with UsageData (moby's LocalVolumesSize: size of the data dir, containers referencing it). */
  usageJson(v: VolumeRecord): any {
    return { ...this.toJson(v), UsageData: { RefCount: this.users(v.name).length, Size: duBytes(path.join(this.root, v.name, '_data')) } };
  }

  /** A running container starts using the volume: mount it if it has options. */
  async activate(name: string, containerId: string): Promise<string> {
    const v = this.get(name);
    const mp = this.mountpoint(name);
    if (v.options.type || v.options.device) {
      let set = this.active.get(name);
      if (!set) this.active.set(name, (set = new Set()));
      if (!isMounted(mp)) {
        try {
          await mountVolume(v.options.type ?? '', v.options.device ?? '', v.options.o ?? '', mp);
        } catch (e) {
          throw new SystemError(`error while mounting volume '${mp}': ${(e as Error).message}`);
        }
      }
      set.add(containerId);
    }
    return mp;
  }

  /** A container stopped: unmount option volumes nobody runs with any more. */
  async deactivate(containerId: string): Promise<void> {
    for (const [name, set] of this.active) {
      if (!set.delete(containerId) || set.size) continue;
      this.active.delete(name);
      await unmount(this.mountpoint(name));
    }
  }
}

function duBytes(dir: string): number {
  let total = 0;
  const walk = (d: string, depth: number) => {
    if (depth > 64) return;
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.isFile()) total += fs.lstatSync(p).size;
    }
  };
  walk(dir, 0);
  return total;
}
