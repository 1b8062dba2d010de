// `berth [OPTIONS] COMMAND`: global flags, command lookup, flag parsing,
// argument checks, and docker's way of printing errors and exit codes.
import { EngineClient, ApiError, ConnectionError } from '../client';
import { FlagSet, FlagError, HelpRequested, type FlagDef } from './flags';
import { TemplateError } from './template';
import { groups, shortcuts, topLevel, findInGroup, loadCommand, loadGroup, StatusError, CliError, type Command, type CommandEntry, type CommandContext } from './registry';
import './commands';
import { BERTH_VERSION } from '../version';
import type { NameKind } from './completion';

// For the resident CLI server's workers (resident/worker.ts): warm a long `ps` ahead.
export { warmPs } from './warmup';

const PROG = 'berth';

const globalFlags: FlagDef[] = [
  { name: 'config', type: 'string', usage: 'Location of client config files', valueName: 'string' },
  { name: 'context', short: 'c', type: 'string', usage: 'Name of the context to use to connect to the daemon' },
  { name: 'debug', short: 'D', type: 'bool', usage: 'Enable debug mode' },
  { name: 'host', short: 'H', type: 'list', usage: 'Daemon socket to connect to' },
  { name: 'log-level', short: 'l', type: 'string', usage: 'Set the logging level ("debug", "info", "warn", "error", "fatal")', default: 'info' },
  { name: 'tls', type: 'bool', usage: 'Use TLS; implied by --tlsverify' },
  { name: 'tlscacert', type: 'string', usage: 'Trust certs signed only by this CA' },
  { name: 'tlscert', type: 'string', usage: 'Path to TLS certificate file' },
  { name: 'tlskey', type: 'string', usage: 'Path to TLS key file' },
  { name: 'tlsverify', type: 'bool', usage: 'Use TLS and verify the remote' },
  { name: 'version', short: 'v', type: 'bool', usage: 'Print version information and quit' },
];

function commandUsageText(path: string, cmd: Command): string {
  const fs = new FlagSet(cmd.flags ?? []);
  const aliases = cmd.aliases?.length ? `\nAliases:\n  ${[path, ...cmd.aliases.map((a) => path.replace(/\S+$/, a))].join(', ')}\n` : '';
  return `\nUsage:  ${path} ${cmd.usage}\n\n${cmd.short}\n${aliases}\nOptions:\n${fs.help()}\n`;
}

async function mainHelp(): Promise<string> {
  const lines: string[] = [];
  lines.push(`\nUsage:  ${PROG} [OPTIONS] COMMAND\n`);
  lines.push('A self-sufficient runtime for containers (Docker-compatible)\n');
  lines.push('Common Commands:');
  const common: Array<[string, string]> = [];
  const seen = new Set<string>();
  for (const [name, [g, c]] of shortcuts) {
    await loadGroup(g);
    const cmd = findInGroup(g, c);
    if (cmd && !seen.has(name)) { common.push([name, (await loadCommand(cmd)).short]); seen.add(name); }
  }
  for (const [name, cmd] of topLevel) if (!seen.has(name) && cmd.name === name) { common.push([name, (await loadCommand(cmd)).short]); seen.add(name); }
  common.sort((a, b) => a[0].localeCompare(b[0]));
  const w = Math.max(...common.map((c) => c[0].length), ...[...groups.keys()].map((g) => g.length)) + 2;
  for (const [n, s] of common) lines.push(`  ${n.padEnd(w)}${s}`);
  lines.push('\nManagement Commands:');
  for (const g of [...groups.values()].sort((a, b) => a.name.localeCompare(b.name))) lines.push(`  ${g.name.padEnd(w)}${g.short}`);
  lines.push('\nGlobal Options:');
  lines.push(new FlagSet(globalFlags).help());
  lines.push(`\nRun '${PROG} COMMAND --help' for more information on a command.\n`);
  return lines.join('\n') + '\n';
}

async function groupHelp(g: string): Promise<string> {
  const grp = (await loadGroup(g))!;
  const cmds = await Promise.all(grp.commands.map(loadCommand));
  const w = Math.max(...cmds.map((c) => c.name.length)) + 2;
  return `\nUsage:  ${PROG} ${g} COMMAND\n\n${grp.short}\n\nCommands:\n${cmds.map((c) => `  ${c.name.padEnd(w)}${c.short}`).join('\n')}\n\nRun '${PROG} ${g} COMMAND --help' for more information on a command.\n`;
}

/** Resolve argv (after global flags) to a command and its path. */
async function lookup(args: string[]): Promise<{ cmd?: CommandEntry; path: string; rest: string[]; group?: string }> {
  const [first, ...rest] = args;
  if (groups.has(first)) {
    await loadGroup(first);
    if (rest.length === 0 || rest[0] === '--help' || rest[0] === '-h' || rest[0] === 'help') return { path: `${PROG} ${first}`, rest: [], group: first };
    const cmd = findInGroup(first, rest[0]);
    if (cmd) return { cmd, path: `${PROG} ${first} ${rest[0]}`, rest: rest.slice(1) };
    return { path: `${PROG} ${first}`, rest, group: first };
  }
  const sc = shortcuts.get(first);
  if (sc) {
    await loadGroup(sc[0]);
    return { cmd: findInGroup(sc[0], sc[1]), path: `${PROG} ${first}`, rest };
  }
  const tl = topLevel.get(first);
  if (tl) return { cmd: tl, path: `${PROG} ${first}`, rest };
  return { path: PROG, rest };
}

export async function main(argv: string[], io: Partial<Pick<CommandContext, 'stdout' | 'stderr' | 'stdin'>> = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const err = (s: string) => stderr.write(s);
  let global;
  try {
    global = new FlagSet(globalFlags, false).parse(argv);
  } catch (e) {
    if (e instanceof HelpRequested) { stdout.write(await mainHelp()); return 0; }
    err(`${(e as Error).message}\nSee '${PROG} --help'.\n`);
    return 125;
  }
  if (global.flags.version) {
    stdout.write(`Berth version ${BERTH_VERSION}, build berth\n`);
    return 0;
  }
  if (global.args.length === 0 || global.args[0] === 'help' && global.args.length === 1) {
    stdout.write(await mainHelp());
    return 0;
  }
  // Hidden, for the completion scripts: `berth __complete <words...> <current>`.
  if (global.args[0] === '__complete') {
    const { complete, daemonNames, hostFromWords } = await import('./completion');
    const words = global.args.slice(1);
    const host = hostFromWords(words) ?? ((global.flags.host as string[])[0] || undefined);
    let client: EngineClient | undefined;
    const names = (k: NameKind) => daemonNames(client ??= new EngineClient({ host }), k);
    const out = await complete(words.length ? words : [''], names, globalFlags);
    stdout.write(out.map((c) => c + '\n').join(''));
    return 0;
  }
  let cmdArgs = global.args;
  if (cmdArgs[0] === 'help') cmdArgs = [...cmdArgs.slice(1), '--help'];
  const found = await lookup(cmdArgs);
  if (found.group && !found.cmd) {
    if (found.rest.length === 0) { stdout.write(await groupHelp(found.group)); return 0; }
    err(`${PROG}: unknown command: ${PROG} ${found.group} ${found.rest[0]}\n\nRun '${PROG} ${found.group} --help' for more information\n`);
    return 1;
  }
  if (!found.cmd) {
    err(`${PROG}: unknown command: ${PROG} ${cmdArgs[0]}\n\nRun '${PROG} --help' for more information\n`);
    return 1;
  }
  const cmd = await loadCommand(found.cmd);
  const path = found.path;
  const errorCode = cmd.errorCode ?? 1;
  let parsed;
  try {
    parsed = new FlagSet(cmd.flags ?? [], cmd.interspersed !== false).parse(found.rest);
  } catch (e) {
    if (e instanceof HelpRequested) { stdout.write(commandUsageText(path, cmd)); return 0; }
    if (e instanceof FlagError) {
      err(`${e.message}\n\nUsage:  ${path} ${cmd.usage}\n\nRun '${path} --help' for more information\n`);
      return 125;
    }
    throw e;
  }
  const n = parsed.args.length;
  const { min, max } = cmd.args ?? {};
  const usageTail = `See '${path} --help'.\n\nUsage:  ${path} ${cmd.usage}\n\n${cmd.short}\n`;
  const plural = (k: number) => (k === 1 ? 'argument' : 'arguments');
  if (min !== undefined && max !== undefined && min === max && n !== min) {
    err(`"${path}" requires exactly ${min} ${plural(min)}.\n${usageTail}`);
    return errorCode;
  }
  if (min !== undefined && n < min) {
    err(`"${path}" requires at least ${min} ${plural(min)}.\n${usageTail}`);
    return errorCode;
  }
  if (max !== undefined && n > max) {
    err(max === 0 ? `"${path}" accepts no arguments.\n${usageTail}` : `"${path}" requires at most ${max} ${plural(max)}.\n${usageTail}`);
    return errorCode;
  }

  let client: EngineClient | undefined;
  const g = global.flags;
  const ctx: CommandContext = {
    get client() {
      if (!client) {
        const host = (g.host as string[]).length ? (g.host as string[])[0] : undefined;
        client = new EngineClient({
          host,
          tls: g.tls || !!g.tlscacert || !!g.tlscert,
          tlsVerify: g.tlsverify,
          caFile: g.tlscacert || undefined,
          certFile: g.tlscert || undefined,
          keyFile: g.tlskey || undefined,
        });
      }
      return client;
    },
    stdout,
    stderr,
    // process.stdin is a getter that builds the stream (for a pipe or a file,
    // an fs.ReadStream: ~10 ms of module loading): only commands that read it pay.
    get stdin() {
      return (io.stdin ?? process.stdin) as CommandContext['stdin'];
    },
    commandPath: path,
    prog: PROG,
    out: (s: string) => { stdout.write(s); },
    err: (s: string) => { stderr.write(s); },
  };
  try {
    const code = await cmd.run(ctx, parsed);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    // A command that shows its help instead (swarm update without flags).
    if (e instanceof HelpRequested) { stdout.write(commandUsageText(path, cmd)); return 0; }
    // a flag value rejected while building the request: docker shows a bad
    // value with the usage line (pflag), other option errors as "docker: ..."
    if (e instanceof FlagError) {
      if (e.message.startsWith('invalid argument "')) err(`${e.message}\n\nUsage:  ${path} ${cmd.usage}\n\nRun '${path} --help' for more information\n`);
      else err(`${PROG}: ${e.message}\n\nRun '${path} --help' for more information\n`);
      return 125;
    }
    return reportError(ctx, e, errorCode);
  }
}

/** Print an error the way docker does and pick the exit code. */
export function reportError(ctx: CommandContext, e: unknown, errorCode: number): number {
  const prefix = errorCode === 125 ? `${PROG}: ` : '';
  const tail = errorCode === 125 ? `\n\nRun '${ctx.commandPath} --help' for more information\n` : '\n';
  if (e instanceof StatusError) {
    if (e.message && e.code === 125 && (errorCode === 125 || e instanceof CliError)) {
      // create and run both print option errors as "docker: ..." with exit 125
      ctx.err(`${PROG}: ${e.message}\n\nRun '${ctx.commandPath} --help' for more information\n`);
      return 125;
    }
    if (e.message) ctx.err(e.message.endsWith('\n') ? e.message : e.message + '\n');
    return e.code;
  }
  if (e instanceof ApiError) {
    ctx.err(`${prefix}Error response from daemon: ${e.message}${tail}`);
    return errorCode;
  }
  if (e instanceof ConnectionError) {
    ctx.err(`${prefix}${e.message}${tail}`);
    return errorCode;
  }
  if (e instanceof TemplateError || e instanceof FlagError) {
    ctx.err(`${e.message}\n`);
    return e instanceof FlagError ? 125 : 1;
  }
  const msg = (e as Error)?.message ?? String(e);
  ctx.err(`${prefix}${msg}${tail}`);
  return errorCode;
}

if (require.main === module || require.main?.filename.endsWith('/bin/berth')) {
  // A closed pipe (berth export | head) ends the command quietly, as it does for docker.
  for (const s of [process.stdout, process.stderr]) s.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Streams (events, logs -f) may hold the loop; once a command is done we are done.
      const flush = () => process.exit(code);
      if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) flush();
      else process.stdout.write('', () => process.stderr.write('', flush));
    },
    (e) => {
      process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
