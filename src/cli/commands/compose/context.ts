// What every `berth compose` subcommand gets: the global compose flags
// (-f, -p, --project-directory, --env-file, --profile, --progress, --ansi),
// the engine client, a progress writer and a lazy project loader.
import type { EngineClient } from '../../../client';
import type { CommandContext } from '../../registry';
import type { FlagDef, Parsed } from '../../flags';
import { loadProject } from '../../../compose/loader';
import { ComposeError } from '../../../compose/errors';
import { Progress, type ProgressMode } from '../../../compose/progress';
import type { Project } from '../../../compose/types';

export interface ComposeContext {
  ctx: CommandContext;
  client: EngineClient;
  global: Parsed['flags'];
  progress: Progress;
  /** The colour decision for log prefixes (--ansi, --no-color, a terminal). */
  color: boolean;
  /** Load the project; `services` named on the command line are enabled whatever their profiles. */
  load(services?: string[]): Project;
  /** The project name without needing a compose file (-p, COMPOSE_PROJECT_NAME), else from the files. */
  projectName(): string;
  /** The project, or (no compose file but -p / COMPOSE_PROJECT_NAME given) an empty model: label-only mode. */
  loadOrEmpty(): Project;
}

export interface ComposeCommand {
  name: string;
  aliases?: string[];
  usage: string;
  short: string;
  flags?: FlagDef[];
  /** false: flags stop at the first positional (exec, run). */
  interspersed?: boolean;
  args?: { min?: number; max?: number };
  run(c: ComposeContext, p: Parsed): Promise<number | void>;
}

export function makeContext(ctx: CommandContext, global: Parsed['flags']): ComposeContext {
  const stderr = ctx.stderr as NodeJS.WriteStream;
  const mode = (global.progress || 'auto') as ProgressMode;
  const ansi = global.ansi || 'auto';
  const tty = !!(ctx.stdout as NodeJS.WriteStream).isTTY;
  const progress = new Progress((s) => ctx.stderr.write(s), ansi === 'never' && mode === 'auto' ? 'plain' : mode, !!stderr.isTTY, { width: () => stderr.columns ?? 80 });
  let project: Project | undefined;
  const c: ComposeContext = {
    ctx,
    get client() { return ctx.client; },
    global,
    progress,
    color: ansi === 'always' || (ansi === 'auto' && tty && !process.env.NO_COLOR),
    load(services?: string[]) {
      if (project) return project;
      project = loadProject({
        files: global.file,
        projectDirectory: global['project-directory'] || undefined,
        projectName: global['project-name'] || undefined,
        envFiles: global['env-file'],
        profiles: global.profile,
        services,
      });
      for (const w of project.warnings) progress.warn(w);
      return project;
    },
    loadOrEmpty() {
      try {
        return c.load();
      } catch (e) {
        const name = global['project-name'] || process.env.COMPOSE_PROJECT_NAME;
        if (!(e instanceof ComposeError) || !/^no configuration file provided/.test(e.message) || !name) throw e;
        return { name, workingDir: process.cwd(), configFiles: [], envFiles: [], environment: {}, services: {}, disabled: {}, networks: {}, volumes: {}, secrets: {}, configs: {}, extensions: {}, warnings: [] };
      }
    },
    projectName() {
      if (global['project-name']) return global['project-name'];
      if (process.env.COMPOSE_PROJECT_NAME) return process.env.COMPOSE_PROJECT_NAME;
      return c.load().name;
    },
  };
  return c;
}
