// Which commands the resident CLI server answers. Only those whose output
// cannot differ from the normal path (`node bin/berth`): no stdin, no
// prompt, no terminal handling (none of these looks at isTTY or the window
// size), no TLS flags (certificate files, and Node's CA set is fixed at
// start-up). Read-only commands, and state commands that print names.
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

/** `ps`: a container listing (the server may warm its formatting in the next workers). */
export type Verdict = { ok: true; kind?: 'ps' } | { ok: false; reason: string };

/**
 * `build`'s flags as src/cli/commands/image/build.ts defines them (a test
 * keeps the lists equal): long name → short letter or ''. A flag not here
 * (one added later) makes the command "not served", never misparsed.
 */
export const BUILD_VALUE_FLAGS = new Map([['add-host', ''], ['build-arg', ''], ['file', 'f'], ['iidfile', ''], ['label', ''], ['network', ''], ['platform', ''], ['tag', 't'], ['target', '']]);
export const BUILD_BOOL_FLAGS = new Map([['force-rm', ''], ['no-cache', ''], ['pull', ''], ['quiet', 'q'], ['rm', '']]);

/** A command's flags a served request may use: long name → short letter or ''. */
export interface FlagSpec { value: Map<string, string>; bool: Map<string, string> }

/**
 * Walks `args` with only the flags of `spec` (one short flag per word, no
 * `--`): the flags with their values and the positional arguments, or a
 * reason not to serve. Anything unusual is left to the normal path, which
 * prints the same as it always did.
 */
function walkFlags(args: string[], spec: FlagSpec): { flags: Array<[string, string]>; positional: string[] } | { no: string } {
  const shortValue = new Map([...spec.value].filter(([, s]) => s).map(([l, s]) => [s, l]));
  const shortBool = new Set([...spec.bool.values()].filter(Boolean));
  const flags: Array<[string, string]> = [];
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    let value: string | undefined;
    let name: string;
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (spec.bool.has(name)) continue;
      if (!spec.value.has(name)) return { no: `flag ${a}` };
      value = eq >= 0 ? a.slice(eq + 1) : args[++i];
    } else if (a.startsWith('-') && a.length > 1) {
      if (a.length === 2 && shortBool.has(a[1])) continue;
      const long = shortValue.get(a[1]);
      if (!long) return { no: `flag ${a}` };
      name = long;
      value = a.length > 2 ? a.slice(a[2] === '=' ? 3 : 2) : args[++i];
    } else {
      positional.push(a);
      continue;
    }
    if (value === undefined) return { no: `flag ${a} without a value` };
    flags.push([name, value]);
  }
  return { flags, positional };
}

/**
 * `build` is served for a context directory: not `-` (stdin), not a URL,
 * no `-f -`, and no --iidfile (a file written with the server's umask).
 */
function buildServable(args: string[], cwd: string | undefined): Verdict {
  const no = (reason: string): Verdict => ({ ok: false, reason: `build: ${reason}` });
  if (!cwd || !cwd.startsWith('/')) return no('no absolute cwd');
  const w = walkFlags(args, { value: BUILD_VALUE_FLAGS, bool: BUILD_BOOL_FLAGS });
  if ('no' in w) return no(w.no);
  for (const [name, value] of w.flags) {
    if (name === 'file' && value === '-') return no('Dockerfile from stdin');
    if (name === 'iidfile') return no('--iidfile');
  }
  if (w.positional.some((a) => a === '-' || /^[a-z][a-z0-9+.-]*:\/\//i.test(a) || a.startsWith('git@'))) return no('context from stdin or a URL');
  return w.positional.length === 1 ? { ok: true } : no('argument count');
}

const m = (entries: Array<[string, string]> = []) => new Map(entries);
/**
 * Commands that change state and only print names or ids: no stdin, no
 * prompt, no terminal, no files. Their flags as their commands define
 * them (a test keeps each a subset); `start` only without flags (-a/-i
 * attach a terminal). Keyed by group and subcommand; TOP_FORMS maps the
 * top-level forms.
 */
export const STATE_COMMANDS: Record<string, FlagSpec> = {
  'container rm': { value: m(), bool: m([['force', 'f'], ['link', 'l'], ['volumes', 'v']]) },
  'container stop': { value: m([['signal', 's'], ['time', 't'], ['timeout', '']]), bool: m() },
  'container restart': { value: m([['signal', 's'], ['time', 't'], ['timeout', '']]), bool: m() },
  'container kill': { value: m([['signal', 's']]), bool: m() },
  'container start': { value: m(), bool: m() },
  'container pause': { value: m(), bool: m() },
  'container unpause': { value: m(), bool: m() },
  'container rename': { value: m(), bool: m() },
  'image rm': { value: m(), bool: m([['force', 'f'], ['no-prune', '']]) },
  'image tag': { value: m(), bool: m() },
  'volume rm': { value: m(), bool: m([['force', 'f']]) },
};
const STATE_ALIASES: Record<string, string> = { 'container remove': 'container rm', 'image remove': 'image rm', 'image rmi': 'image rm', 'volume remove': 'volume rm' };
const TOP_FORMS: Record<string, string> = {
  rm: 'container rm', stop: 'container stop', restart: 'container restart', kill: 'container kill', start: 'container start',
  pause: 'container pause', unpause: 'container unpause', rename: 'container rename', rmi: 'image rm', tag: 'image tag',
};

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
  const state = TOP_FORMS[rest[0]] ?? (rest.length > 1 ? STATE_ALIASES[`${rest[0]} ${rest[1]}`] ?? `${rest[0]} ${rest[1]}` : undefined);
  if (state && STATE_COMMANDS[state]) {
    const w = walkFlags(rest.slice(TOP_FORMS[rest[0]] ? 1 : 2), STATE_COMMANDS[state]);
    return 'no' in w ? { ok: false, reason: `${state}: ${w.no}` } : { ok: true };
  }
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
  if (cmd === 'ps' || (rest[0] === 'container' && (cmd === 'ls' || cmd === 'list'))) return { ok: true, kind: 'ps' };
  // logs --follow waits for more; its end (^C) belongs to the terminal.
  if (cmd === 'logs' && args.some((a) => a === '--follow' || a.startsWith('--follow=') || /^-[a-zA-Z]*f/.test(a))) return { ok: false, reason: 'logs --follow' };
  return { ok: true };
}
