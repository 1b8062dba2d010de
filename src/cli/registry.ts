// The command registry. How to add commands (network, volume, exec, build,
// compose owners):
//
//   1. Write src/cli/commands/<group>/<name>.ts exporting a `Command`:
//        export const lsCommand: Command = {
//          name: 'ls', aliases: ['list'], usage: '[OPTIONS]', short: 'List networks',
//          flags: [{ name: 'quiet', short: 'q', type: 'bool', usage: 'Only display IDs' }],
//          args: { max: 0 },
//          async run(ctx, { flags, args }) { ... ctx.client.networkList() ...; return 0; },
//        };
//   2. Register it in src/cli/commands/<group>/index.ts, lazily, so that
//      `berth ps` does not load (compile) every other command's module:
//        registerGroup('network', 'Manage networks', [
//          lazy('ls', () => import('./ls').then((m) => m.lsCommand), ['list']), ...]);
//      lazy() takes the name and aliases (for lookup; test/cli-unit checks
//      they match the module's); the module is required on dispatch, help
//      or completion. A plain Command object is accepted too (eager).
//        registerShortcut('ps', 'container', 'ls');   // top-level short forms, if any
//   3. Import that index once from src/cli/commands/index.ts, or, for a
//      group with no top-level short forms, declare it there lazily so its
//      index is loaded only when the group is used:
//        registerLazyGroup('network', 'Manage networks', () => import('./network'));
//
// Commands talk to the daemon only through ctx.client (src/client). Throw
// CliError/StatusError for a specific exit code; ApiError from the client is
// printed as "Error response from daemon: <message>" (exit 1, or the
// command's errorCode, e.g. 125 for run/create).
import type { Readable, Writable } from 'node:stream';
import type { EngineClient } from '../client';
import type { FlagDef, Parsed } from './flags';

export interface CommandContext {
  /** The connected client (created on first use, version negotiated lazily). */
  readonly client: EngineClient;
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable;
  stdin: Readable & { isTTY?: boolean; setRawMode?: (b: boolean) => unknown };
  /** "berth run", for messages. */
  commandPath: string;
  /** Program name ("berth"). */
  prog: string;
  out(s: string): void;
  err(s: string): void;
}

export interface Command {
  name: string;
  aliases?: string[];
  /** Text after the command path in the Usage line. */
  usage: string;
  short: string;
  flags?: FlagDef[];
  /** false: flags stop at the first positional (run, create, exec). */
  interspersed?: boolean;
  args?: { min?: number; max?: number };
  /** Exit code for daemon errors and usage errors (125 for run/create). */
  errorCode?: number;
  run(ctx: CommandContext, p: Parsed): Promise<number | void>;
}

/** A command known by name until it is needed: load() requires its module. */
export interface LazyCommand {
  name: string;
  aliases?: string[];
  load(): Promise<Command>;
}

/** What the registry holds: a loaded command or a lazy one. */
export type CommandEntry = Command | LazyCommand;

export interface Group {
  name: string;
  short: string;
  commands: CommandEntry[];
  /** For a lazy group: loads the module that registers its commands. */
  load?: () => Promise<unknown>;
}

/** An error that carries the exit status to use; the message is printed unless empty. */
export class StatusError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
    this.name = 'StatusError';
  }
}

/** A plain CLI error: printed as is, exit 1 unless told. */
export class CliError extends StatusError {
  constructor(message: string, code = 1) {
    super(message, code);
    this.name = 'CliError';
  }
}

export const groups = new Map<string, Group>();
/** Top-level command name → [group, command]. */
export const shortcuts = new Map<string, [string, string]>();
/** Top-level commands that are not in a group (version, info, events, login, ...). */
export const topLevel = new Map<string, CommandEntry>();

/** A registry entry whose module is loaded only when the command is used. */
export function lazy(name: string, load: () => Promise<Command>, aliases?: string[]): LazyCommand {
  let loaded: Promise<Command> | undefined;
  return { name, aliases, load: () => (loaded ??= load()) };
}

/** The full command (flags, usage, run) behind an entry. */
export function loadCommand(e: CommandEntry): Promise<Command> {
  return 'load' in e ? e.load() : Promise.resolve(e);
}

export function registerGroup(name: string, short: string, commands: CommandEntry[]): void {
  const g = groups.get(name);
  if (g) g.commands.push(...commands);
  else groups.set(name, { name, short, commands: [...commands] });
}

/** A group whose index module is loaded (and registers its commands) on first use. */
export function registerLazyGroup(name: string, short: string, load: () => Promise<unknown>): void {
  groups.set(name, { name, short, commands: [], load });
}

/** The group with its commands registered (loading a lazy group's module). */
export async function loadGroup(name: string): Promise<Group | undefined> {
  const g = groups.get(name);
  if (g?.load) {
    const load = g.load;
    g.load = undefined;
    await load();
  }
  return g;
}

export function registerShortcut(name: string, group: string, command: string): void {
  shortcuts.set(name, [group, command]);
}

export function registerTopLevel(cmd: CommandEntry): void {
  topLevel.set(cmd.name, cmd);
  for (const a of cmd.aliases ?? []) topLevel.set(a, cmd);
}

export function findInGroup(group: string, name: string): CommandEntry | undefined {
  return groups.get(group)?.commands.find((c) => c.name === name || (c.aliases ?? []).includes(name));
}
