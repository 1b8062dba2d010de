// Command lines of `berth registry serve` and `berth registry gc`, kept here
// so the CLI's command files only delegate.
import { RegistryServer } from './server';
import { garbageCollect } from './gc';
import { goDurationMs } from '../common/time';

export const REGISTRY_USAGE = `Usage:  berth registry COMMAND

Run and maintain a registry server (OCI distribution spec)

Commands:
  serve       Serve a registry from a root directory
  gc          Remove blobs no manifest references

serve options:
      --root string       Storage directory (default "/var/lib/berth-registry")
      --addr string       Address to listen on (default "127.0.0.1:5000")
      --htpasswd string   htpasswd file (bcrypt entries) for basic auth
      --realm string      Basic auth realm (default "Registry Realm")
      --tls-cert string   TLS certificate file
      --tls-key string    TLS key file
  -v, --verbose           Log every request

gc options:
      --root string       Storage directory (default "/var/lib/berth-registry")
      --dry-run           Only print what would be removed
      --delete-untagged   Also remove manifests no tag reaches
      --grace duration    Keep anything newer than this (default 1h; e.g. 0s, 30m)
`;

export class RegistryUsageError extends Error {}

function parseFlags(argv: string[], bools: string[]): { flags: Record<string, string | boolean>; rest: string[] } {
  const flags: Record<string, string | boolean> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-')) {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const key = (eq > 0 ? a.slice(0, eq) : a).replace(/^-+/, '');
    if (bools.includes(key)) {
      flags[key] = eq > 0 ? a.slice(eq + 1) !== 'false' : true;
      continue;
    }
    const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new RegistryUsageError(`flag needs an argument: ${a}`);
    flags[key] = v;
  }
  return { flags, rest };
}

/** A Go duration in milliseconds; a bare number is seconds. */
function parseDuration(s: string): number {
  const v = s.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  let ms = -1;
  try {
    ms = goDurationMs(v);
  } catch { /* reported below */ }
  if (ms < 0) throw new RegistryUsageError(`invalid duration: ${s}`);
  return ms;
}

const SERVE_FLAGS = ['root', 'addr', 'htpasswd', 'realm', 'tls-cert', 'tls-key', 'verbose', 'v'];
const GC_FLAGS = ['root', 'dry-run', 'delete-untagged', 'grace'];

/** Runs `registry <sub> ...`; resolves when gc ends, never for serve (until a signal). */
export async function runRegistryCommand(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const [sub, ...args] = argv;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    out(REGISTRY_USAGE);
    return 0;
  }
  if (sub === 'serve') {
    const { flags } = parseFlags(args, ['verbose', 'v', 'help', 'h']);
    if (flags.help || flags.h) {
      out(REGISTRY_USAGE);
      return 0;
    }
    for (const k of Object.keys(flags)) if (!SERVE_FLAGS.includes(k)) throw new RegistryUsageError(`unknown flag: --${k}`);
    if (!!flags['tls-cert'] !== !!flags['tls-key']) throw new RegistryUsageError('--tls-cert and --tls-key go together');
    const srv = new RegistryServer({
      root: String(flags.root ?? '/var/lib/berth-registry'),
      addr: String(flags.addr ?? '127.0.0.1:5000'),
      htpasswd: flags.htpasswd ? String(flags.htpasswd) : undefined,
      realm: flags.realm ? String(flags.realm) : undefined,
      tlsCert: flags['tls-cert'] ? String(flags['tls-cert']) : undefined,
      tlsKey: flags['tls-key'] ? String(flags['tls-key']) : undefined,
      verbose: !!(flags.verbose || flags.v),
    });
    const addr = await srv.start();
    out(`registry listening on ${addr} (${flags['tls-cert'] ? 'https' : 'http'})\n`);
    await new Promise<void>((resolve) => {
      const stop = () => void srv.close().then(resolve);
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    return 0;
  }
  if (sub === 'gc' || sub === 'garbage-collect') {
    const { flags } = parseFlags(args, ['dry-run', 'delete-untagged', 'help', 'h']);
    if (flags.help || flags.h) {
      out(REGISTRY_USAGE);
      return 0;
    }
    for (const k of Object.keys(flags)) if (!GC_FLAGS.includes(k)) throw new RegistryUsageError(`unknown flag: --${k}`);
    const r = await garbageCollect(String(flags.root ?? '/var/lib/berth-registry'), {
      dryRun: !!flags['dry-run'],
      deleteUntagged: !!flags['delete-untagged'],
      graceMs: flags.grace !== undefined ? parseDuration(String(flags.grace)) : undefined,
      log: (l) => out(l + '\n'),
    });
    out(
      `${flags['dry-run'] ? 'would delete' : 'deleted'} ${r.blobsDeleted.length} blobs (${r.bytesFreed} bytes), ` +
        `${r.manifestsDeleted.length} manifests, ${r.uploadsDeleted} stale uploads\n`,
    );
    return 0;
  }
  throw new RegistryUsageError(`unknown registry command: ${sub}\n\n${REGISTRY_USAGE}`);
}

// Runnable on its own too: `node dist/src/registry/cli.js serve ...`.
if (require.main === module) {
  runRegistryCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`berth registry: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
