// berthd's settings: flags, with embedded defaults so `berthd` alone works.

export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  pidfile: string;
  logLevel: string;
  defaultRuntime: string;
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
}

export function defaultConfig(): DaemonConfig {
  return {
    hosts: [],
    dataRoot: '/var/lib/berth',
    execRoot: '/run/berth',
    pidfile: '',
    logLevel: 'info',
    defaultRuntime: 'runc',
    bridge: 'berth0',
    bip: '172.29.0.1/16',
    ipv6: false,
    chainPrefix: 'BERTH',
    insecureRegistries: [],
    maxConcurrentDownloads: 3,
    maxConcurrentUploads: 5,
    tlsVerify: false,
  };
}

const USAGE = `Usage:	berthd [OPTIONS]

A self-sufficient runtime for containers.

Options:
  -H, --host list                     Daemon socket(s) to connect to (default unix:///run/berth/berth.sock)
      --data-root string              Root directory of persistent state (default "/var/lib/berth")
      --exec-root string              Root directory for execution state files (default "/run/berth")
  -p, --pidfile string                Path to use for daemon PID file (default "<exec-root>/berthd.pid")
  -l, --log-level string              Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")
      --default-runtime string        Default OCI runtime for containers (default "runc")
  -b, --bridge string                 Name of the default bridge interface (default "berth0")
      --bip string                    Bridge address and prefix of the default bridge (default "172.29.0.1/16")
      --ipv6                          Enable IPv6 networking on the default bridge (needs --fixed-cidr-v6)
      --fixed-cidr-v6 string          IPv6 subnet of the default bridge
      --iptables-chain-prefix string  Prefix of the daemon's iptables chains (default "BERTH")
      --insecure-registry list        Registries reached over plain HTTP
      --max-concurrent-downloads int  Max concurrent downloads per pull (default 3)
      --max-concurrent-uploads int    Max concurrent uploads per push (default 5)
      --tlscert string                TLS certificate for tcp:// hosts
      --tlskey string                 TLS key for tcp:// hosts
      --tlscacert string              Trust certs signed only by this CA
      --tlsverify                     Require and verify client certificates
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
    '-b': (v) => (c.bridge = v),
    '--bridge': (v) => (c.bridge = v),
    '--bip': (v) => (c.bip = v),
    '--fixed-cidr-v6': (v) => (c.fixedCidrV6 = v),
    '--iptables-chain-prefix': (v) => (c.chainPrefix = v),
    '--insecure-registry': (v) => c.insecureRegistries.push(v),
    '--max-concurrent-downloads': (v) => (c.maxConcurrentDownloads = toInt(v)),
    '--max-concurrent-uploads': (v) => (c.maxConcurrentUploads = toInt(v)),
    '--tlscert': (v) => (c.tlsCert = v),
    '--tlskey': (v) => (c.tlsKey = v),
    '--tlscacert': (v) => (c.tlsCaCert = v),
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
    if (a === '--tlsverify') {
      c.tlsVerify = inline === undefined ? true : inline === 'true';
      continue;
    }
    if (a === '--tls') continue;
    if (a === '--ipv6') {
      c.ipv6 = inline === undefined ? true : inline === 'true';
      continue;
    }
    const set = valueFlags[a];
    if (!set) throw new FlagError(`unknown flag: ${argv[i]}\n\n${USAGE}`);
    const v = inline ?? argv[++i];
    if (v === undefined) throw new FlagError(`flag needs an argument: ${a}`);
    set(v);
  }
  if (c.ipv6 && !c.fixedCidrV6) throw new FlagError('--ipv6 needs --fixed-cidr-v6: berthd has no default IPv6 pool');
  if (c.hosts.length === 0) c.hosts.push(`unix://${c.execRoot}/berth.sock`);
  if (!c.pidfile) c.pidfile = `${c.execRoot}/berthd.pid`;
  return c;
}

function toInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new FlagError(`invalid argument "${v}": must be a positive integer`);
  return n;
}

export { USAGE as DAEMON_USAGE };
