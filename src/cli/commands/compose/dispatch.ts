// The compose subcommands and their dispatch (loaded only when `berth
// compose` runs: the loader's YAML parser is not needed by other commands).
import { CliError, type CommandContext } from '../../registry';
import { FlagSet, HelpRequested, FlagError, type Parsed } from '../../flags';
import { ComposeError } from '../../../compose/errors';
import { makeContext, type ComposeCommand } from './context';
import * as proj from './project';
import * as insp from './inspect';
import * as ex from './exec';
import { pluginCommand, pluginMetadata } from './plugin';
import { composeCpCommand, composeAttachCommand } from './delegate';
import { composeFlags } from './index';

const commands: ComposeCommand[] = [
  composeAttachCommand, proj.buildCommand, insp.configCommand, composeCpCommand, proj.createCommand, proj.downCommand, insp.eventsCommand, ex.execCommand, insp.imagesCommand,
  proj.killCommand, insp.logsCommand, insp.lsCommand, proj.pauseCommand, insp.portCommand, insp.psCommand, proj.pullCommand,
  proj.pushCommand, proj.restartCommand, proj.rmCommand, ex.runCommand, proj.scaleCommand, proj.startCommand, proj.stopCommand,
  insp.topCommand, proj.unpauseCommand, proj.upCommand, insp.versionCommand, proj.waitCommand, pluginCommand,
];

function find(name: string): ComposeCommand | undefined {
  return commands.find((c) => c.name === name || c.aliases?.includes(name));
}

function groupHelp(prog: string): string {
  const w = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `\nUsage:  ${prog} compose [OPTIONS] COMMAND\n\nDefine and run multi-container applications with Docker\n\nOptions:\n${new FlagSet(composeFlags).help()}\n\nCommands:\n${commands.map((c) => `  ${c.name.padEnd(w)}${c.short}`).join('\n')}\n\nRun '${prog} compose COMMAND --help' for more information on a command.\n`;
}

export async function dispatch(ctx: CommandContext, p: Parsed): Promise<number> {
  const [sub, ...rest] = p.args;
  if (!sub) { ctx.out(groupHelp(ctx.prog)); return 0; }
  if (sub === 'docker-cli-plugin-metadata') { ctx.out(pluginMetadata()); return 0; }
  const cmd = find(sub);
  if (!cmd) {
    ctx.err(`unknown docker command: "compose ${sub}"\n`);
    return 1;
  }
  const path = `${ctx.prog} compose ${cmd.name}`;
  let parsed;
  try {
    parsed = new FlagSet(cmd.flags ?? [], cmd.interspersed !== false).parse(rest);
  } catch (e) {
    if (e instanceof HelpRequested) {
      ctx.out(`\nUsage:  ${path} ${cmd.usage}\n\n${cmd.short}\n\nOptions:\n${new FlagSet(cmd.flags ?? []).help()}\n`);
      return 0;
    }
    if (e instanceof FlagError) { ctx.err(`${e.message}\n`); return 1; }
    throw e;
  }
  const n = parsed.args.length;
  if (cmd.args?.min !== undefined && n < cmd.args.min) throw new CliError(`"${path}" requires at least ${cmd.args.min} argument${cmd.args.min === 1 ? '' : 's'}.\nSee '${path} --help'.\n\nUsage:  ${path} ${cmd.usage}\n\n${cmd.short}`);
  if (cmd.args?.max !== undefined && n > cmd.args.max) throw new CliError(`"${path}" accepts no arguments.\nSee '${path} --help'.\n\nUsage:  ${path} ${cmd.usage}\n\n${cmd.short}`);
  // Not a spread: that would call the context's getters (client, stdin) for every command.
  const c = makeContext(Object.assign(Object.create(ctx) as CommandContext, { commandPath: path }), p.flags);
  try {
    const code = await cmd.run(c, parsed);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    // model errors are printed as Compose prints them: the message alone
    if (e instanceof ComposeError) throw new CliError(e.message, e.exitCode);
    throw e;
  } finally {
    // the live progress block is drawn a last time before anything else is printed
    c.progress.end();
  }
}
