// Which commands the resident CLI server answers. Only those whose output
// cannot differ from the normal path (`node bin/berth`): read-only, no
// stdin, no file paths (a worker thread shares the server's cwd), no
// terminal handling (none of these looks at isTTY or the window size), no
// TLS flags (certificate files, and Node's CA set is fixed at start-up).
// Everything else gets "not served" and the client runs Node as before.

/** group → subcommands served; '' is the group's own top-level form. */
const SERVED: Record<string, string[]> = {
  container: ['ls', 'ps', 'list', 'inspect', 'port', 'top', 'logs'],
  image: ['ls', 'list', 'inspect'],
  network: ['ls', 'list', 'inspect'],
  volume: ['ls', 'list', 'inspect'],
  system: ['info'],
};
/** Top-level forms. */
const TOP = new Set(['ps', 'images', 'inspect', 'info', 'version', 'port', 'top', 'logs']);

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

/** Whether argv (after `berth`) with this environment may be answered by a worker. */
export function servable(argv: string[], env: Record<string, string>): Verdict {
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
  // logs --follow waits for more; its end (^C) belongs to the terminal.
  if (cmd === 'logs' && args.some((a) => a === '--follow' || a.startsWith('--follow=') || /^-[a-zA-Z]*f/.test(a))) return { ok: false, reason: 'logs --follow' };
  return { ok: true };
}
