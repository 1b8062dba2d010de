// Spec additions for --device and --init, as Docker makes them: a host
// device node appears in the container with a cgroup rule allowing it;
// --init runs the static tini from Debian's `tini` package as pid 1
// (mounted read-only at /sbin/docker-init, Docker's path).
import fs from 'node:fs';
import { InvalidParameter } from '../../util/errors';
import type { OciSpec } from './spec-types';

type OciDevice = NonNullable<NonNullable<OciSpec['linux']>['devices']>[number];

export interface DeviceMapping { PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }

const INIT_CANDIDATES = ['/usr/bin/tini-static', '/usr/bin/catatonit', '/usr/libexec/podman/catatonit'];

function majorOf(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
}
function minorOf(rdev: number): number {
  return Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
}

export function applyDevices(spec: OciSpec, devices: DeviceMapping[] | null | undefined, privileged: boolean): void {
  if (!devices?.length) return;
  const linux = spec.linux!;
  linux.devices = linux.devices ?? [];
  const rules = (linux.resources!.devices = linux.resources!.devices ?? []);
  for (const dm of devices) {
    const host = dm.PathOnHost;
    const perms = dm.CgroupPermissions || 'rwm';
    if (!/^[rwm]{1,3}$/.test(perms)) throw new InvalidParameter(`invalid device mode: ${perms}`);
    let st: fs.Stats;
    try {
      st = fs.statSync(host);
    } catch (e) {
      throw new InvalidParameter(`error gathering device information while adding custom device "${host}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    if (!st.isCharacterDevice() && !st.isBlockDevice()) throw new InvalidParameter(`error gathering device information while adding custom device "${host}": not a device node`);
    const type = st.isCharacterDevice() ? 'c' : 'b';
    const major = majorOf(st.rdev);
    const minor = minorOf(st.rdev);
    linux.devices.push({ path: dm.PathInContainer || host, type, major, minor, fileMode: st.mode & 0o777, uid: 0, gid: 0 });
    if (!privileged) rules.push({ allow: true, type, major, minor, access: perms });
  }
}

export function applyInit(spec: OciSpec, init: boolean | null | undefined): void {
  if (!init) return;
  const bin = INIT_CANDIDATES.find((p) => fs.existsSync(p));
  if (!bin) throw new InvalidParameter('no init binary on this host (install Debian tini)');
  spec.mounts!.push({ destination: '/sbin/docker-init', type: 'bind', source: bin, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  spec.process!.args = ['/sbin/docker-init', '--', ...spec.process!.args];
}

/** --privileged: every device node of the host, as Docker (devices.HostDevices) gives it. */
export function applyHostDevices(spec: OciSpec, privileged: boolean): void {
  if (!privileged) return;
  const linux = spec.linux!;
  const have = new Set((linux.devices ?? []).map((x) => x.path));
  const out: OciDevice[] = [];
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = `${dir}/${n}`;
      if (['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/console'].includes(p)) continue;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory() && depth < 3) walk(p, depth + 1);
      else if ((st.isCharacterDevice() || st.isBlockDevice()) && !have.has(p)) {
        out.push({ path: p, type: st.isCharacterDevice() ? 'c' : 'b', major: majorOf(st.rdev), minor: minorOf(st.rdev), fileMode: st.mode & 0o777, uid: st.uid, gid: st.gid });
      }
    }
  };
  walk('/dev', 0);
  linux.devices = [...(linux.devices ?? []), ...out];
}

// Docker's --device-cgroup-rule grammar: "<type> <major>:<minor> <access>".
const CGROUP_RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** One --device-cgroup-rule as an OCI devices entry (an omitted number is a wildcard), or Docker's 400. */
export function parseDeviceCgroupRule(rule: string): { allow: true; type: string; major?: number; minor?: number; access: string } {
  const m = CGROUP_RULE.exec(rule);
  if (!m) throw new InvalidParameter(`invalid device cgroup rule format: '${rule}'`);
  return {
    allow: true,
    type: m[1],
    ...(m[2] === '*' ? {} : { major: Number(m[2]) }),
    ...(m[3] === '*' ? {} : { minor: Number(m[3]) }),
    access: m[4],
  };
}

/** HostConfig.DeviceCgroupRules added to the devices cgroup (privileged containers already allow all). */
export function applyDeviceCgroupRules(spec: OciSpec, rules: string[] | null | undefined, privileged: boolean): void {
  if (!rules?.length || privileged) return;
  const list = (spec.linux!.resources!.devices = spec.linux!.resources!.devices ?? []);
  for (const r of rules) list.push(parseDeviceCgroupRule(r));
}
