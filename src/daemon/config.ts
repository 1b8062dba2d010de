// berthd's settings: flags, with embedded defaults so `berthd` alone works.
import { mergeLogConfig } from '../container/logs-driver';

export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  pidfile: string;
  logLevel: string;
  defaultRuntime: string;
  /** OCI runtimes by name (HostConfig.Runtime): runc, crun and each --add-runtime name=path. */
  runtimes: Record<string, string>;
  /** Name of the default bridge interface (Docker's docker0). */
  bridge: string;
  /** CIDR of the default bridge (gateway address/prefix), as dockerd's --bip. */
  bip: string;
  /** dockerd's --ipv6 and --fixed-cidr-v6: IPv6 on the default bridge. */
  ipv6: boolean;
  fixedCidrV6?: string;
  /** Prefix of our iptables chains, so test daemons never share rules. */
  chainPrefix: string;
  /** Registries reached over plain HTTP. */
  insecureRegistries: string[];
  /** Concurrent layer downloads/uploads. */
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCaCert?: string;
  tlsVerify: boolean;
  debug?: boolean;
  /** daemon.json (config-file.ts); the default path may be absent. */
  configFile: string;
  /** --validate: check the config file and exit. */
  validate: boolean;
  /** --cleanup: remove this data root's host objects and exit. */
  cleanup: boolean;
  /** Keep containers running when the daemon stops (Docker's live-restore; on by default here). */
  liveRestore: boolean;
  /** Engine labels shown by /info. */
  labels: string[];
  /** Default log driver of new containers and its options (dockerd's --log-driver/--log-opt). */
  logDriver: string;
  logOpts: Record<string, string>;
}

export function defaultConfig(): DaemonConfig {
  return {
    hosts: [],
    dataRoot: '/var/lib/berth',
    execRoot: '/run/berth',
    pidfile: '',
    logLevel: 'info',
    defaultRuntime: 'runc',
    runtimes: { runc: 'runc', crun: 'crun' },
    bridge: 'berth0',
    bip: '172.29.0.1/16',
    ipv6: false,
    chainPrefix: 'BERTH',
    insecureRegistries: [],
    maxConcurrentDownloads: 3,
    maxConcurrentUploads: 5,
    tlsVerify: false,
    configFile: DEFAULT_CONFIG_FILE,
    validate: false,
    cleanup: false,
    liveRestore: true,
    labels: [],
    logDriver: 'json-file',
    logOpts: {},
  };
}

export const DEFAULT_CONFIG_FILE = '/etc/berth/daemon.json';

/** Short and old flag names → the canonical long name (for the config file's conflict check). */
export const FLAG_ALIASES: Record<string, string> = { '-H': '--host', '-p': '--pidfile', '-l': '--log-level', '-b': '--bridge', '--graph': '--data-root', '-D': '--debug' };

const USAGE = `Usage:	berthd [OPTIONS]

A self-sufficient runtime for containers.

Options:
  -H, --host list                     Daemon socket(s) to connect to (default unix:///run/berth/berth.sock)
      --data-root string              Root directory of persistent state (default "/var/lib/berth")
      --exec-root string              Root directory for execution state files (default "/run/berth")
  -p, --pidfile string                Path to use for daemon PID file (default "<exec-root>/berthd.pid")
  -l, --log-level string              Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")
      --add-runtime runtime           Register an additional OCI compatible runtime (name=path)
      --default-runtime string        Default OCI runtime for containers (default "runc")
  -b, --bridge string                 Name of the default bridge interface (default "berth0")
      --bip string                    Bridge address and prefix of the default bridge (default "172.29.0.1/16")
      --ipv6                          Enable IPv6 networking on the default bridge (needs --fixed-cidr-v6)
      --fixed-cidr-v6 string          IPv6 subnet of the default bridge
      --iptables-chain-prefix string  Prefix of the daemon's iptables chains (default "BERTH")
      --insecure-registry list        Registries reached over plain HTTP
      --max-concurrent-downloads int  Max concurrent downloads per pull (default 3)
      --max-concurrent-uploads int    Max concurrent uploads per push (default 5)
      --log-driver string             Default driver for container logs (default "json-file")
      --log-opt map                   Default log driver options for containers (default map[])
      --tlscert string                TLS certificate for tcp:// hosts
      --tlskey string                 TLS key for tcp:// hosts
      --tlscacert string              Trust certs signed only by this CA
      --tlsverify                     Require and verify client certificates
      --config-file string            Daemon configuration file (default "/etc/berth/daemon.json")
      --validate                      Validate the daemon configuration and exit
      --cleanup                       Remove this data root's bridges, iptables chains, netns, mounts and cgroups, then exit
  -D, --debug                         Enable debug mode (log level debug)
      --live-restore                  Keep containers running when the daemon stops (default true)
      --label list                    Set key=value labels to the daemon
  -v, --version                       Print version information and quit
  -h, --help                          Print usage
`;

export class FlagError extends Error {}

/** Parses berthd's command line (pflag style: --a=b, --a b, -H b). */
export function parseDaemonArgs(argv: string[]): DaemonConfig | 'help' | 'version' {
  const c = defaultConfig();
  const valueFlags: Record<string, (v: string) => void> = {
    '-H': (v) => c.hosts.push(v),
    '--host': (v) => c.hosts.push(v),
    '--data-root': (v) => (c.dataRoot = v),
    '--graph': (v) => (c.dataRoot = v),
    '--exec-root': (v) => (c.execRoot = v),
    '-p': (v) => (c.pidfile = v),
    '--pidfile': (v) => (c.pidfile = v),
    '-l': (v) => (c.logLevel = v),
    '--log-level': (v) => (c.logLevel = v),
    '--default-runtime': (v) => (c.defaultRuntime = v),
    '--add-runtime': (v) => addRuntime(c, v),
    '-b': (v) => (c.bridge = v),
    '--bridge': (v) => (c.bridge = v),
    '--bip': (v) => (c.bip = v),
    '--fixed-cidr-v6': (v) => (c.fixedCidrV6 = v),
    '--iptables-chain-prefix': (v) => (c.chainPrefix = v),
    '--insecure-registry': (v) => c.insecureRegistries.push(v),
    '--max-concurrent-downloads': (v) => (c.maxConcurrentDownloads = toInt(v)),
    '--max-concurrent-uploads': (v) => (c.maxConcurrentUploads = toInt(v)),
    '--log-driver': (v) => (c.logDriver = v),
    '--log-opt': (v) => {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new FlagError(`invalid argument "${v}" for "--log-opt" flag: invalid key value pair format`);
      c.logOpts[v.slice(0, eq)] = v.slice(eq + 1);
    },
    '--tlscert': (v) => (c.tlsCert = v),
    '--tlskey': (v) => (c.tlsKey = v),
    '--tlscacert': (v) => (c.tlsCaCert = v),
    '--config-file': (v) => (c.configFile = v),
    '--label': (v) => c.labels.push(v),
  };
  const boolFlags: Record<string, (b: boolean) => void> = {
    '--tlsverify': (b) => (c.tlsVerify = b),
    '--tls': () => {},
    '--ipv6': (b) => (c.ipv6 = b),
    '--validate': (b) => (c.validate = b),
    '--cleanup': (b) => (c.cleanup = b),
    '-D': (b) => (c.debug = b),
    '--debug': (b) => (c.debug = b),
    '--live-restore': (b) => (c.liveRestore = b),
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      inline = a.slice(eq + 1);
      a = a.slice(0, eq);
    } else if (/^-[A-Za-z]./.test(a) && !a.startsWith('--')) {
      inline = a.slice(2);
      a = a.slice(0, 2);
    }
    if (a === '-h' || a === '--help') return 'help';
    if (a === '-v' || a === '--version') return 'version';
    const setBool = boolFlags[a];
    if (setBool) {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new FlagError(`invalid argument "${inline}" for "${a}" flag: strconv.ParseBool: parsing "${inline}": invalid syntax`);
      setBool(inline === undefined || inline === 'true');
      continue;
    }
    const set = valueFlags[a];
    if (!set) throw new FlagError(`unknown flag: ${argv[i]}\n\n${USAGE}`);
    const v = inline ?? argv[++i];
    if (v === undefined) throw new FlagError(`flag needs an argument: ${a}`);
    set(v);
  }
  if (!(c.defaultRuntime in c.runtimes)) throw new FlagError(`specified default runtime '${c.defaultRuntime}' does not exist`);
  if (c.debug) c.logLevel = 'debug';
  try {
    mergeLogConfig(undefined, { Type: c.logDriver, Config: c.logOpts });
  } catch (e) {
    throw new FlagError(`failed to set log opts: ${(e as Error).message}`);
  }
  if (c.ipv6 && !c.fixedCidrV6) throw new FlagError('--ipv6 needs --fixed-cidr-v6: berthd has no default IPv6 pool');
  if (c.hosts.length === 0) c.hosts.push(`unix://${c.execRoot}/berth.sock`);
  if (!c.pidfile) c.pidfile = `${c.execRoot}/berthd.pid`;
  return c;
}

/** dockerd's --add-runtime name=path (the stock name is taken). */
function addRuntime(c: DaemonConfig, v: string): void {
  const eq = v.indexOf('=');
  if (eq <= 0 || eq === v.length - 1) throw new FlagError(`invalid argument "${v}" for "--add-runtime" flag: runtime must be in the form name=path`);
  const name = v.slice(0, eq);
  if (name === 'runc') throw new FlagError(`runtime name 'runc' is reserved`);
  c.runtimes[name] = v.slice(eq + 1);
}

/**
 * dockerd's /info Warnings for API hosts: tcp:// without TLS, or TLS without
 * client verification, is root access for anyone who can connect.
 */
export function apiWarnings(c: DaemonConfig): string[] {
  const attack = `
         Access to the remote API is equivalent to root access on the host. Refer
         to the 'Docker daemon attack surface' section in the documentation for
         more information: https://docs.docker.com/go/attack-surface/`;
  const out: string[] = [];
  for (const h of c.hosts) {
    if (!h.startsWith('tcp://')) continue;
    const addr = h.slice('tcp://'.length);
    if (!(c.tlsCert && c.tlsKey)) out.push(`WARNING: API is accessible on http://${addr} without encryption.${attack}`);
    else if (!c.tlsVerify) out.push(`WARNING: API is accessible on https://${addr} without TLS client verification.${attack}`);
  }
  return out;
}

function toInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new FlagError(`invalid argument "${v}": must be a positive integer`);
  return n;
}

export { USAGE as DAEMON_USAGE };
