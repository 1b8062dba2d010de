// docker run/create flags and their translation into the create body
// (Config + HostConfig + NetworkingConfig), as docker/cli's opts/parse.go does.
import fs from 'node:fs';
import type { FlagDef, Parsed } from '../../flags';
import { FlagError, keyValue } from '../../flags';
import { CliError } from '../../registry';
import type { ContainerCreateBody } from '../../../client';

export const containerFlags: FlagDef[] = [
  { name: 'add-host', type: 'list', usage: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'annotation', type: 'list', usage: 'Add an annotation to the container (passed through to the OCI runtime)' },
  { name: 'attach', short: 'a', type: 'list', usage: 'Attach to STDIN, STDOUT or STDERR' },
  { name: 'blkio-weight', type: 'int', usage: 'Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)', valueName: 'uint16' },
  { name: 'cap-add', type: 'list', usage: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'list', usage: 'Drop Linux capabilities' },
  { name: 'cgroup-parent', type: 'string', usage: 'Optional parent cgroup for the container' },
  { name: 'cgroupns', type: 'string', usage: 'Cgroup namespace to use (host|private)' },
  { name: 'cidfile', type: 'string', usage: 'Write the container ID to the file' },
  { name: 'cpu-period', type: 'int', usage: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpu-quota', type: 'int', usage: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpu-rt-period', type: 'int', usage: 'Limit CPU real-time period in microseconds' },
  { name: 'cpu-rt-runtime', type: 'int', usage: 'Limit CPU real-time runtime in microseconds' },
  { name: 'cpu-shares', short: 'c', type: 'int', usage: 'CPU shares (relative weight)' },
  { name: 'cpus', type: 'string', usage: 'Number of CPUs', valueName: 'decimal' },
  { name: 'cpuset-cpus', type: 'string', usage: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'cpuset-mems', type: 'string', usage: 'MEMs in which to allow execution (0-3, 0,1)' },
  { name: 'device', type: 'list', usage: 'Add a host device to the container' },
  { name: 'dns', type: 'list', usage: 'Set custom DNS servers' },
  { name: 'dns-option', type: 'list', usage: 'Set DNS options' },
  { name: 'dns-search', type: 'list', usage: 'Set custom DNS search domains' },
  { name: 'domainname', type: 'string', usage: 'Container NIS domain name' },
  { name: 'entrypoint', type: 'string', usage: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'env', short: 'e', type: 'list', usage: 'Set environment variables' },
  { name: 'env-file', type: 'list', usage: 'Read in a file of environment variables' },
  { name: 'expose', type: 'list', usage: 'Expose a port or a range of ports' },
  { name: 'group-add', type: 'list', usage: 'Add additional groups to join' },
  { name: 'health-cmd', type: 'string', usage: 'Command to run to check health' },
  { name: 'health-interval', type: 'duration', usage: 'Time between running the check (ms|s|m|h) (default 0s)' },
  { name: 'health-retries', type: 'int', usage: 'Consecutive failures needed to report unhealthy' },
  { name: 'health-start-interval', type: 'duration', usage: 'Time between running the check during the start period (ms|s|m|h) (default 0s)' },
  { name: 'health-start-period', type: 'duration', usage: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)' },
  { name: 'health-timeout', type: 'duration', usage: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)' },
  { name: 'hostname', short: 'h', type: 'string', usage: 'Container host name' },
  { name: 'init', type: 'bool', usage: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'interactive', short: 'i', type: 'bool', usage: 'Keep STDIN open even if not attached' },
  { name: 'ip', type: 'string', usage: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'ip6', type: 'string', usage: 'IPv6 address (e.g., 2001:db8::33)' },
  { name: 'link-local-ip', type: 'list', usage: 'Container IPv4/IPv6 link-local addresses' },
  { name: 'ipc', type: 'string', usage: 'IPC mode to use' },
  { name: 'isolation', type: 'string', usage: 'Container isolation technology' },
  { name: 'label', short: 'l', type: 'list', usage: 'Set meta data on a container' },
  { name: 'label-file', type: 'list', usage: 'Read in a line delimited file of labels' },
  { name: 'link', type: 'list', usage: 'Add link to another container' },
  { name: 'log-driver', type: 'string', usage: 'Logging driver for the container' },
  { name: 'log-opt', type: 'list', usage: 'Log driver options' },
  { name: 'mac-address', type: 'string', usage: 'Container MAC address (e.g., 92:d0:c6:0a:29:33)' },
  { name: 'memory', short: 'm', type: 'string', usage: 'Memory limit', valueName: 'bytes' },
  { name: 'memory-reservation', type: 'string', usage: 'Memory soft limit', valueName: 'bytes' },
  { name: 'memory-swap', type: 'string', usage: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", valueName: 'bytes' },
  { name: 'memory-swappiness', type: 'int', usage: 'Tune container memory swappiness (0 to 100)', default: -1 },
  { name: 'mount', type: 'list', usage: 'Attach a filesystem mount to the container', valueName: 'mount' },
  { name: 'name', type: 'string', usage: 'Assign a name to the container' },
  { name: 'net', type: 'string', usage: 'Connect a container to a network', hidden: true },
  { name: 'net-alias', type: 'list', usage: 'Add network-scoped alias for the container', hidden: true },
  { name: 'network', type: 'string', usage: 'Connect a container to a network', valueName: 'network' },
  { name: 'network-alias', type: 'list', usage: 'Add network-scoped alias for the container' },
  { name: 'no-healthcheck', type: 'bool', usage: 'Disable any container-specified HEALTHCHECK' },
  { name: 'oom-kill-disable', type: 'bool', usage: 'Disable OOM Killer' },
  { name: 'oom-score-adj', type: 'int', usage: "Tune host's OOM preferences (-1000 to 1000)" },
  { name: 'pid', type: 'string', usage: 'PID namespace to use' },
  { name: 'pids-limit', type: 'int', usage: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'platform', type: 'string', usage: 'Set platform if server is multi-platform capable' },
  { name: 'privileged', type: 'bool', usage: 'Give extended privileges to this container' },
  { name: 'publish', short: 'p', type: 'list', usage: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', type: 'bool', usage: 'Publish all exposed ports to random ports' },
  { name: 'pull', type: 'string', usage: 'Pull image before creating ("always", "missing", "never")', default: 'missing' },
  { name: 'quiet', short: 'q', type: 'bool', usage: 'Suppress the pull output' },
  { name: 'read-only', type: 'bool', usage: "Mount the container's root filesystem as read only" },
  { name: 'restart', type: 'string', usage: 'Restart policy to apply when a container exits', default: 'no' },
  { name: 'rm', type: 'bool', usage: 'Automatically remove the container and its associated anonymous volumes when it exits' },
  { name: 'runtime', type: 'string', usage: 'Runtime to use for this container' },
  { name: 'security-opt', type: 'list', usage: 'Security Options' },
  { name: 'shm-size', type: 'string', usage: 'Size of /dev/shm', valueName: 'bytes' },
  { name: 'stop-signal', type: 'string', usage: 'Signal to stop the container' },
  { name: 'stop-timeout', type: 'int', usage: 'Timeout (in seconds) to stop a container' },
  { name: 'storage-opt', type: 'list', usage: 'Storage driver options for the container' },
  { name: 'sysctl', type: 'list', usage: 'Sysctl options', valueName: 'map' },
  { name: 'tmpfs', type: 'list', usage: 'Mount a tmpfs directory' },
  { name: 'tty', short: 't', type: 'bool', usage: 'Allocate a pseudo-TTY' },
  { name: 'ulimit', type: 'list', usage: 'Ulimit options', valueName: 'ulimit' },
  { name: 'user', short: 'u', type: 'string', usage: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'userns', type: 'string', usage: 'User namespace to use' },
  { name: 'uts', type: 'string', usage: 'UTS namespace to use' },
  { name: 'volume', short: 'v', type: 'list', usage: 'Bind mount a volume' },
  { name: 'volume-driver', type: 'string', usage: 'Optional volume driver for the container' },
  { name: 'volumes-from', type: 'list', usage: 'Mount volumes from the specified container(s)' },
  { name: 'workdir', short: 'w', type: 'string', usage: 'Working directory inside the container' },
];

/** units.RAMInBytes: "512m", "1.5g", "100kb" → bytes (1024-based). */
export function ramInBytes(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw new FlagError(`invalid argument "${v}" for "${flag}" flag: invalid size: '${v}'`);
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.trunc(Number(m[1]) * mult[m[2].toLowerCase()]);
}

/** KEY=VALUE lines of an env/label file; `KEY` alone takes the value from our environment. */
export function readKvFile(file: string, fromEnv: boolean): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new FlagError(`open ${file}: no such file or directory`);
  }
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    const key = i < 0 ? line : line.slice(0, i);
    if (/\s/.test(key)) throw new FlagError(`variable '${key}' contains whitespaces`);
    if (i < 0 && fromEnv) {
      if (process.env[key] !== undefined) out.push(`${key}=${process.env[key]}`);
    } else out.push(line);
  }
  return out;
}

function envList(p: Parsed): string[] {
  const out: string[] = [];
  for (const f of p.flags['env-file'] as string[]) out.push(...readKvFile(f, true));
  for (const e of p.flags.env as string[]) {
    if (e.startsWith('=')) throw new FlagError(`invalid argument "${e}" for "-e, --env" flag: invalid environment variable: ${e}`);
    if (!e.includes('=')) {
      const v = process.env[e];
      out.push(v === undefined ? e : `${e}=${v}`);
    } else out.push(e);
  }
  return out;
}

interface PortSpec { exposed: Record<string, object>; bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> }

function splitRange(s: string, what: string, raw: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new FlagError(`invalid ${what}: ${raw}`);
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a;
  if (a > 65535 || b > 65535 || b < a) throw new FlagError(`invalid ${what}: ${raw}`);
  return [a, b];
}

/** nat.ParsePortSpecs: [ip:][hostPort:]containerPort[/proto], ranges allowed. */
export function parsePorts(publish: string[], expose: string[]): PortSpec {
  const exposed: Record<string, object> = {};
  const bindings: PortSpec['bindings'] = {};
  for (const raw of publish) {
    let rest = raw;
    let proto = 'tcp';
    const slash = rest.lastIndexOf('/');
    if (slash >= 0) {
      proto = rest.slice(slash + 1).toLowerCase();
      rest = rest.slice(0, slash);
      if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new FlagError(`invalid proto: ${proto}`);
    }
    let ip = '';
    let hostPart = '';
    let ctrPart: string;
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
    if (v6) {
      ip = v6[1];
      const parts = v6[2].split(':');
      if (parts.length !== 2) throw new FlagError(`invalid port format: ${raw}`);
      [hostPart, ctrPart] = parts;
    } else {
      const parts = rest.split(':');
      if (parts.length === 1) ctrPart = parts[0];
      else if (parts.length === 2) [hostPart, ctrPart] = parts;
      else if (parts.length === 3) [ip, hostPart, ctrPart] = parts;
      else throw new FlagError(`invalid port format: ${raw}`);
    }
    if (!ctrPart) throw new FlagError(`no port specified: ${raw}<empty>`);
    const [c0, c1] = splitRange(ctrPart, 'containerPort', ctrPart);
    let h0 = 0;
    let h1 = 0;
    if (hostPart) {
      [h0, h1] = splitRange(hostPart, 'hostPort', hostPart);
      const single = c0 === c1 && h0 !== h1;
      if (!single && h1 - h0 !== c1 - c0) throw new FlagError(`invalid ranges specified for container and host Ports: ${ctrPart} and ${hostPart}`);
    }
    for (let p = c0; p <= c1; p++) {
      const key = `${p}/${proto}`;
      exposed[key] = {};
      let hp = '';
      // One container port and a host range: the daemon picks a free one in the range.
      if (hostPart) hp = c0 === c1 && h0 !== h1 ? `${h0}-${h1}` : String(h0 + (p - c0));
      (bindings[key] ??= []).push({ HostIp: ip, HostPort: hp });
    }
  }
  for (const raw of expose) {
    const [portPart, proto = 'tcp'] = raw.split('/');
    const [a, b] = splitRange(portPart, 'range format for --expose', raw);
    for (let p = a; p <= b; p++) exposed[`${p}/${proto}`] = {};
  }
  return { exposed, bindings };
}

/** --mount type=bind,source=/a,target=/b,readonly → a HostConfig.Mounts entry. */
export function parseMount(spec: string): Record<string, unknown> {
  const m: Record<string, any> = { Type: 'volume' };
  for (const field of spec.split(',')) {
    const i = field.indexOf('=');
    const key = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    const val = i < 0 ? '' : field.slice(i + 1);
    switch (key) {
      case 'type': m.Type = val; break;
      case 'source': case 'src': m.Source = val; break;
      case 'target': case 'destination': case 'dst': m.Target = val; break;
      case 'readonly': case 'ro': m.ReadOnly = i < 0 || val === 'true' || val === '1'; break;
      case 'consistency': m.Consistency = val; break;
      case 'bind-propagation': (m.BindOptions ??= {}).Propagation = val; break;
      case 'bind-nonrecursive': (m.BindOptions ??= {}).NonRecursive = i < 0 || val === 'true'; break;
      case 'volume-nocopy': (m.VolumeOptions ??= {}).NoCopy = i < 0 || val === 'true'; break;
      case 'volume-driver': ((m.VolumeOptions ??= {}).DriverConfig ??= {}).Name = val; break;
      case 'volume-label': {
        const [k, v = ''] = val.split(/=(.*)/s);
        ((m.VolumeOptions ??= {}).Labels ??= {})[k] = v;
        break;
      }
      case 'volume-opt': {
        const [k, v = ''] = val.split(/=(.*)/s);
        (((m.VolumeOptions ??= {}).DriverConfig ??= {}).Options ??= {})[k] = v;
        break;
      }
      case 'tmpfs-size': (m.TmpfsOptions ??= {}).SizeBytes = ramInBytes(val, '--mount'); break;
      case 'tmpfs-mode': (m.TmpfsOptions ??= {}).Mode = parseInt(val, 8); break;
      default: throw new FlagError(`invalid argument "${spec}" for "--mount" flag: unexpected key '${key}' in '${field}'`);
    }
  }
  if (!m.Target) throw new FlagError(`invalid argument "${spec}" for "--mount" flag: target is required`);
  return m;
}

function restartPolicy(v: string): { Name: string; MaximumRetryCount?: number } {
  if (!v) return { Name: 'no' };
  // as docker's ParseRestartPolicy: only the shape is checked here, the
  // daemon judges the name (so its message is the one printed)
  const [name, count] = v.split(':');
  if (name === '' && count !== undefined) throw new FlagError('invalid restart policy format: no policy provided before colon');
  if (count) {
    if (!/^[+-]?\d+$/.test(count)) throw new FlagError(`invalid restart policy format: maximum retry count must be an integer`);
    return { Name: name, MaximumRetryCount: Number(count) };
  }
  return { Name: name };
}

function ulimit(v: string): { Name: string; Soft: number; Hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(v);
  if (!m) throw new FlagError(`invalid argument "${v}" for "--ulimit" flag: invalid ulimit argument: ${v}`);
  const soft = Number(m[2]);
  const hard = m[3] !== undefined ? Number(m[3]) : soft;
  if (soft > hard) throw new FlagError(`invalid argument "${v}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: m[1], Soft: soft, Hard: hard };
}

function device(v: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = v.split(':');
  const src = parts[0];
  let dst = src;
  let perms = 'rwm';
  if (parts.length === 2) {
    if (/^[rwm]+$/.test(parts[1])) perms = parts[1];
    else dst = parts[1];
  } else if (parts.length === 3) {
    dst = parts[1];
    perms = parts[2];
  } else if (parts.length > 3) throw new FlagError(`invalid device specification: ${v}`);
  return { PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms };
}

export interface CreateRequest {
  name?: string;
  platform?: string;
  body: ContainerCreateBody;
  /** Ordered command after the image. */
  image: string;
}

/** Turn parsed run/create flags (+ IMAGE [COMMAND] [ARG...]) into the create request. */
export function buildCreate(p: Parsed, detached: boolean): CreateRequest {
  const f = p.flags;
  const [image, ...cmd] = p.args;
  const attach = f.attach as string[];
  for (const a of attach) if (!['stdin', 'stdout', 'stderr'].includes(a.toLowerCase())) throw new FlagError(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  if (detached && attach.length) throw new CliError('conflicting options: cannot specify both --attach and --detach');
  const want = (s: string) => attach.map((a) => a.toLowerCase()).includes(s);
  let attachStdin = false;
  let attachStdout = false;
  let attachStderr = false;
  if (!detached) {
    if (attach.length) {
      attachStdin = want('stdin');
      attachStdout = want('stdout');
      attachStderr = want('stderr');
    } else {
      attachStdout = true;
      attachStderr = true;
      attachStdin = !!f.interactive;
    }
  }
  const ports = parsePorts(f.publish, f.expose);
  const labels: Record<string, string> = {};
  for (const file of f['label-file'] as string[]) Object.assign(labels, keyValue(readKvFile(file, false)));
  Object.assign(labels, keyValue(f.label));

  const volumes: Record<string, object> = {};
  const binds: string[] = [];
  for (const v of f.volume as string[]) {
    if (!v) throw new FlagError('invalid empty volume spec');
    if (v.includes(':')) binds.push(v);
    else volumes[v] = {};
  }
  const tmpfs: Record<string, string> = {};
  for (const t of f.tmpfs as string[]) {
    const i = t.indexOf(':');
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  const sysctls: Record<string, string> = keyValue(f.sysctl);
  const storageOpt: Record<string, string> = keyValue(f['storage-opt']);
  const logOpts: Record<string, string> = keyValue(f['log-opt']);

  let entrypoint: string[] | undefined;
  if (f.entrypoint) entrypoint = [f.entrypoint];
  else if (p.changed.has('entrypoint')) entrypoint = [''];

  let healthcheck: Record<string, unknown> | undefined;
  const hc = ['health-cmd', 'health-interval', 'health-timeout', 'health-start-period', 'health-start-interval', 'health-retries'].some((k) => p.changed.has(k));
  if (f['no-healthcheck']) {
    if (hc) throw new FlagError('--no-healthcheck conflicts with --health-* options');
    healthcheck = { Test: ['NONE'] };
  } else if (hc) {
    const ns = (ms: number) => Math.round(ms * 1e6);
    healthcheck = {
      Test: f['health-cmd'] ? ['CMD-SHELL', f['health-cmd']] : undefined,
      Interval: ns(f['health-interval']),
      Timeout: ns(f['health-timeout']),
      StartPeriod: ns(f['health-start-period']),
      StartInterval: ns(f['health-start-interval']),
      Retries: f['health-retries'],
    };
  }

  const network: string = f.network || f.net || 'default';
  const aliases = [...(f['network-alias'] as string[]), ...(f['net-alias'] as string[])];
  const endpoints: Record<string, unknown> = {};
  const linkLocal = (f['link-local-ip'] ?? []) as string[];
  if (aliases.length || f.ip || f.ip6 || linkLocal.length || (f['mac-address'] && network !== 'default')) {
    const ep: Record<string, unknown> = {};
    if (aliases.length) ep.Aliases = aliases;
    if (f.ip || f.ip6 || linkLocal.length) {
      ep.IPAMConfig = { IPv4Address: f.ip || undefined, IPv6Address: f.ip6 || undefined, LinkLocalIPs: linkLocal.length ? linkLocal : undefined };
    }
    endpoints[network] = ep;
  }

  const bytes = (name: string, flag: string) => (f[name] ? ramInBytes(f[name], flag) : 0);
  let memorySwap = 0;
  if (f['memory-swap']) memorySwap = f['memory-swap'] === '-1' ? -1 : ramInBytes(f['memory-swap'], '--memory-swap');
  let nanoCpus = 0;
  if (f.cpus) {
    const n = Number(f.cpus);
    if (!Number.isFinite(n) || n < 0) throw new FlagError(`invalid argument "${f.cpus}" for "--cpus" flag: failed to parse ${f.cpus} as a rational number`);
    nanoCpus = Math.round(n * 1e9);
  }

  const hostConfig: Record<string, unknown> = {
    Binds: binds.length ? binds : null,
    ContainerIDFile: f.cidfile,
    LogConfig: { Type: f['log-driver'], Config: logOpts },
    NetworkMode: network,
    PortBindings: ports.bindings,
    RestartPolicy: restartPolicy(f.restart),
    AutoRemove: !!f.rm,
    VolumeDriver: f['volume-driver'],
    VolumesFrom: (f['volumes-from'] as string[]).length ? f['volumes-from'] : null,
    ConsoleSize: [0, 0],
    Annotations: (f.annotation as string[]).length ? keyValue(f.annotation) : undefined,
    CapAdd: (f['cap-add'] as string[]).length ? f['cap-add'] : null,
    CapDrop: (f['cap-drop'] as string[]).length ? f['cap-drop'] : null,
    CgroupnsMode: f.cgroupns,
    Dns: f.dns,
    DnsOptions: f['dns-option'],
    DnsSearch: f['dns-search'],
    ExtraHosts: (f['add-host'] as string[]).length ? (f['add-host'] as string[]).map((h) => h.replace(/^([^:=]+)=/, '$1:')) : null,
    GroupAdd: (f['group-add'] as string[]).length ? f['group-add'] : null,
    IpcMode: f.ipc,
    Cgroup: '',
    Links: (f.link as string[]).length ? f.link : null,
    OomScoreAdj: f['oom-score-adj'],
    PidMode: f.pid,
    Privileged: !!f.privileged,
    PublishAllPorts: !!f['publish-all'],
    ReadonlyRootfs: !!f['read-only'],
    SecurityOpt: (f['security-opt'] as string[]).length ? f['security-opt'] : null,
    StorageOpt: Object.keys(storageOpt).length ? storageOpt : undefined,
    Tmpfs: Object.keys(tmpfs).length ? tmpfs : undefined,
    UTSMode: f.uts,
    UsernsMode: f.userns,
    ShmSize: bytes('shm-size', '--shm-size'),
    Sysctls: Object.keys(sysctls).length ? sysctls : undefined,
    Runtime: f.runtime || undefined,
    Isolation: f.isolation,
    CpuShares: f['cpu-shares'],
    Memory: bytes('memory', '-m, --memory'),
    NanoCpus: nanoCpus,
    CgroupParent: f['cgroup-parent'],
    BlkioWeight: f['blkio-weight'],
    CpuPeriod: f['cpu-period'],
    CpuQuota: f['cpu-quota'],
    CpuRealtimePeriod: f['cpu-rt-period'],
    CpuRealtimeRuntime: f['cpu-rt-runtime'],
    CpusetCpus: f['cpuset-cpus'],
    CpusetMems: f['cpuset-mems'],
    Devices: (f.device as string[]).map(device),
    MemoryReservation: bytes('memory-reservation', '--memory-reservation'),
    MemorySwap: memorySwap,
    MemorySwappiness: p.changed.has('memory-swappiness') ? f['memory-swappiness'] : null,
    OomKillDisable: p.changed.has('oom-kill-disable') ? !!f['oom-kill-disable'] : null,
    PidsLimit: p.changed.has('pids-limit') ? f['pids-limit'] : null,
    Ulimits: (f.ulimit as string[]).map(ulimit),
    Mounts: (f.mount as string[]).length ? (f.mount as string[]).map(parseMount) : undefined,
    Init: p.changed.has('init') ? !!f.init : null,
  };
  const body: ContainerCreateBody = {
    Hostname: f.hostname,
    Domainname: f.domainname,
    User: f.user,
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    ExposedPorts: Object.keys(ports.exposed).length ? ports.exposed : undefined,
    Tty: !!f.tty,
    OpenStdin: !!f.interactive,
    StdinOnce: !!f.interactive && attachStdin,
    Env: envList(p),
    Cmd: cmd.length ? cmd : undefined,
    Healthcheck: healthcheck,
    Image: image,
    Volumes: Object.keys(volumes).length ? volumes : undefined,
    WorkingDir: f.workdir,
    Entrypoint: entrypoint,
    MacAddress: f['mac-address'] || undefined,
    Labels: labels,
    StopSignal: f['stop-signal'] || undefined,
    StopTimeout: p.changed.has('stop-timeout') ? f['stop-timeout'] : undefined,
    HostConfig: hostConfig,
    NetworkingConfig: { EndpointsConfig: endpoints },
  };
  if (f.restart && f.restart !== 'no' && f.rm) throw new FlagError('conflicting options: cannot specify both --restart and --rm');
  return { name: f.name || undefined, platform: f.platform || undefined, body, image };
}
