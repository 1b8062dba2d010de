// Which commands the resident CLI server answers. Only those whose output
// cannot differ from the normal path (`node bin/berth`): no stdin, no
// terminal handling (none of these looks at isTTY or the window size), no
// TLS flags (certificate files, and Node's CA set is fixed at start-up).
// A worker thread shares the server's cwd, so file paths are served only
// by `build`, which resolves them against the client's (absolute) cwd
// before touching the filesystem (worker.ts gives it process.cwd()).
// Everything else gets "not served" and the client runs Node as before.

/** group → subcommands served; '' is the group's own top-level form. */
const SERVED: Record<string, string[]> = {
  container: ['ls', 'ps', 'list', 'inspect', 'port', 'top', 'logs'],
  image: ['ls', 'list', 'inspect', 'build'],
  network: ['ls', 'list', 'inspect'],
  volume: ['ls', 'list', 'inspect'],
  system: ['info'],
};
/** Top-level forms. */
const TOP = new Set(['ps', 'images', 'inspect', 'info', 'version', 'port', 'top', 'logs', 'build']);

/** Global flags that take a value, and the ones without; anything else is not served. */
const GLOBAL_VALUE = new Set(['-H', '--host', '-c', '--context', '-l', '--log-level']);
const GLOBAL_BOOL = new Set(['-D', '--debug', '-v', '--version']);

/**
 * Environment variables the Node process reads once at start-up (time
 * zone, locale, Node's own options): a worker cannot take the client's,
 * so a request is served only when they equal the server's.
 */
export const PROCESS_WIDE_ENV = /^(TZ|LANG|LANGUAGE|LC_[A-Z]+|NODE_[A-Z_]+|UV_[A-Z_]+|OPENSSL_[A-Z_]+|SSL_CERT_(FILE|DIR))$/;

/** Client-side variables that name files: served only when absolute. */
const PATH_ENV = ['DOCKER_CONFIG', 'DOCKER_CERT_PATH', 'HOME'];

export type Verdict = { ok: true } | { ok: false; reason: string };

/**
 * `build`'s flags as src/cli/commands/image/build.ts defines them (a test
 * keeps the lists equal): long name → short letter or ''. A flag not here
 * (one added later) makes the command "not served", never misparsed.
 */
export const BUILD_VALUE_FLAGS = new Map([['add-host', ''], ['build-arg', ''], ['file', 'f'], ['iidfile', ''], ['label', ''], ['network', ''], ['platform', ''], ['tag', 't'], ['target', '']]);
export const BUILD_BOOL_FLAGS = new Map([['force-rm', ''], ['no-cache', ''], ['pull', ''], ['quiet', 'q'], ['rm', '']]);

/**
 * `build` is served for a context directory: not `-` (stdin), not a URL,
 * no `-f -`, and no --iidfile (a file written with the server's umask).
 * Anything unusual (combined short flags, `--`, a usage error) is left to
 * the normal path, which prints the same as it always did.
 */
function buildServable(args: string[], cwd: string | undefined): Verdict {
  const no = (reason: string): Verdict => ({ ok: false, reason: `build: ${reason}` });
  if (!cwd || !cwd.startsWith('/')) return no('no absolute cwd');
  const shortValue = new Map([...BUILD_VALUE_FLAGS].filter(([, s]) => s).map(([l, s]) => [s, l]));
  let positional = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    let name: string;
    let value: string | undefined;
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (BUILD_BOOL_FLAGS.has(name)) continue;
      if (!BUILD_VALUE_FLAGS.has(name)) return no(`flag ${a}`);
      value = eq >= 0 ? a.slice(eq + 1) : args[++i];
    } else if (a.startsWith('-') && a.length > 1) {
      if (a === '-q') continue;
      const long = shortValue.get(a[1]);
      if (!long) return no(`flag ${a}`);
      name = long;
      value = a.length > 2 ? a.slice(a[2] === '=' ? 3 : 2) : args[++i];
    } else {
      if (a === '-' || /^[a-z][a-z0-9+.-]*:\/\//i.test(a) || a.startsWith('git@')) return no('context from stdin or a URL');
      positional++;
      continue;
    }
    if (value === undefined) return no(`flag ${a} without a value`);
    if (name === 'file' && value === '-') return no('Dockerfile from stdin');
    if (name === 'iidfile') return no('--iidfile');
  }
  return positional === 1 ? { ok: true } : no('argument count');
}

/** Whether argv (after `berth`) with this environment and cwd may be answered by a worker. */
export function servable(argv: string[], env: Record<string, string>, cwd?: string): Verdict {
  if (env.DOCKER_TLS_VERIFY || env.DOCKER_TLS) return { ok: false, reason: 'tls' };
  for (const k of PATH_ENV) if (env[k] !== undefined && env[k] !== '' && !env[k].startsWith('/')) return { ok: false, reason: `relative ${k}` };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') break;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (GLOBAL_BOOL.has(name) && eq < 0) continue;
    if (GLOBAL_VALUE.has(name)) {
      if (eq < 0 || !a.startsWith('--')) i++;
      continue;
    }
    return { ok: false, reason: `global flag ${a}` };
  }
  const rest = argv.slice(i);
  if (rest.length === 0) return { ok: true }; // help or --version
  let cmd: string;
  let args: string[];
  if (SERVED[rest[0]]) {
    if (rest.length === 1) return { ok: true }; // the group's help
    cmd = rest[1];
    if (!SERVED[rest[0]].includes(cmd)) return { ok: false, reason: `${rest[0]} ${cmd}` };
    args = rest.slice(2);
  } else if (TOP.has(rest[0])) {
    cmd = rest[0];
    args = rest.slice(1);
  } else {
    return { ok: false, reason: rest[0] };
  }
  if (cmd === 'build') return buildServable(args, cwd);
  // logs --follow waits for more; its end (^C) belongs to the terminal.
  if (cmd === 'logs' && args.some((a) => a === '--follow' || a.startsWith('--follow=') || /^-[a-zA-Z]*f/.test(a))) return { ok: false, reason: 'logs --follow' };
  return { ok: true };
}
