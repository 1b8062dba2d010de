// up, create, down, start, stop, restart, kill, pause, unpause, rm, build,
// pull, push, scale, wait: Compose v2's flags and exit codes.
import { CliError, StatusError } from '../../registry';
import { FlagError } from '../../flags';
import { up, targetServices, type ProjectContainer, type UpOptions } from '../../../compose/up';
import * as life from '../../../compose/lifecycle';
import { buildService, ensureImages, imageName, pullService } from '../../../compose/images';
import { LogPrinter, pipeOutput } from '../../../compose/logs';
import { containerName, projectContainers } from '../../../compose/state';
import { shortName } from '../../../compose/labels';
import type { ComposeCommand, ComposeContext } from './context';
import type { Parsed } from '../../flags';

function parseScale(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of list) {
    const [n, v] = s.split('=');
    if (!n || v === undefined || !/^\d+$/.test(v)) throw new FlagError(`invalid argument "${s}" for "--scale" flag: expected SERVICE=NUM`);
    out[n] = Number(v);
  }
  return out;
}

const timeoutFlag = { name: 'timeout', short: 't', type: 'int' as const, usage: 'Specify a shutdown timeout in seconds' };
const t = (p: Parsed) => (p.changed.has('timeout') ? p.flags.timeout as number : undefined);

const createFlags = [
  { name: 'build', type: 'bool' as const, usage: 'Build images before starting containers' },
  { name: 'no-build', type: 'bool' as const, usage: "Don't build an image, even if it's policy" },
  { name: 'pull', type: 'string' as const, usage: 'Pull image before running ("always"|"missing"|"never")', default: 'policy' },
  { name: 'force-recreate', type: 'bool' as const, usage: "Recreate containers even if their configuration and image haven't changed" },
  { name: 'no-recreate', type: 'bool' as const, usage: "If containers already exist, don't recreate them. Incompatible with --force-recreate." },
  { name: 'remove-orphans', type: 'bool' as const, usage: 'Remove containers for services not defined in the Compose file' },
  { name: 'scale', type: 'list' as const, usage: 'Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.' },
  { name: 'quiet-pull', type: 'bool' as const, usage: 'Pull without printing progress information' },
];

function upOptions(p: Parsed): UpOptions {
  const f = p.flags;
  if (f.build && f['no-build']) throw new CliError('--build and --no-build are incompatible');
  if (f['force-recreate'] && f['no-recreate']) throw new CliError('--force-recreate and --no-recreate are incompatible');
  if (!['policy', 'always', 'missing', 'never', 'build'].includes(f.pull)) throw new CliError(`invalid --pull option "${f.pull}"`);
  return {
    services: p.args,
    build: f.build, noBuild: f['no-build'], pull: f.pull,
    forceRecreate: f['force-recreate'], noRecreate: f['no-recreate'], removeOrphans: f['remove-orphans'] || /^(1|true)$/i.test(process.env.COMPOSE_REMOVE_ORPHANS ?? ''),
    scale: parseScale(f.scale), noDeps: f['no-deps'], timeout: t(p),
  };
}

export const upCommand: ComposeCommand = {
  name: 'up',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'Create and start containers',
  flags: [
    ...createFlags,
    { name: 'detach', short: 'd', type: 'bool', usage: 'Detached mode: Run containers in the background' },
    { name: 'no-deps', type: 'bool', usage: "Don't start linked services" },
    { name: 'no-start', type: 'bool', usage: "Don't start the services after creating them" },
    { name: 'wait', type: 'bool', usage: 'Wait for services to be running|healthy. Implies detached mode.' },
    { name: 'wait-timeout', type: 'int', usage: 'Maximum duration in seconds to wait for the project to be running|healthy' },
    { name: 'abort-on-container-exit', type: 'bool', usage: 'Stops all containers if any container was stopped. Incompatible with -d' },
    { name: 'exit-code-from', type: 'string', usage: 'Return the exit code of the selected service container. Implies --abort-on-container-exit' },
    { name: 'no-color', type: 'bool', usage: 'Produce monochrome output' },
    { name: 'no-log-prefix', type: 'bool', usage: "Don't print prefix in logs" },
    { name: 'attach-dependencies', type: 'bool', usage: 'Automatically attach to log output of dependent services' },
    timeoutFlag,
  ],
  async run(c, p) {
    const f = p.flags;
    const o = upOptions(p);
    const detach = f.detach || f.wait;
    if (detach && (f['abort-on-container-exit'] || f['exit-code-from'])) throw new CliError('--abort-on-container-exit and --detach are incompatible');
    o.noStart = f['no-start'];
    o.wait = f.wait;
    o.waitTimeoutMs = f['wait-timeout'] ? f['wait-timeout'] * 1000 : undefined;
    o.buildOutput = (s) => {
      // the builder's own lines would be overwritten by a live progress block
      c.progress.end();
      c.ctx.stderr.write(s);
    };
    const project = c.load(p.args);
    if (detach || o.noStart) {
      await up(c.client, c.progress, project, o);
      return 0;
    }
    return attachedUp(c, project, o, p);
  },
};

/** `up` without -d: stream every container's output until they all exit; Ctrl-C stops the project. */
async function attachedUp(c: ComposeContext, project: ReturnType<ComposeContext['load']>, o: UpOptions, p: Parsed): Promise<number> {
  const f = p.flags;
  const printer = new LogPrinter((s) => c.ctx.stdout.write(s), { color: c.color && !f['no-color'], prefix: !f['no-log-prefix'] });
  const exitFrom: string | undefined = f['exit-code-from'] || undefined;
  if (exitFrom && !project.services[exitFrom]) throw new CliError(`no such service: ${exitFrom}`);
  const abort = f['abort-on-container-exit'] || !!exitFrom;
  const streams: Promise<void>[] = [];
  let containers: ProjectContainer[] = [];
  let exitCode = 0;
  let stopping: Promise<void> | undefined;
  // a Ctrl-C while containers are still starting must wait for the starts to be
  // recorded, or the stop sees them not yet running and leaves them up
  let started: Promise<unknown> = Promise.resolve();
  const stopAll = () => (stopping ??= started.catch(() => {}).then(() => life.stop(c.client, c.progress, project, containers.map((x) => x.service), o.timeout)).catch(() => {}));
  // only the named services are attached (their dependencies run quietly), as Compose does
  const attachTo = new Set(p.args.length && !f['attach-dependencies'] ? p.args : targetServices(project, p.args, o.noDeps));
  // starting steps are not drawn live: the logs follow them, as in Compose
  c.progress.attached = true;
  o.beforeStart = async (all) => {
    c.progress.end();
    containers = all;
    const shown = all.filter((x) => attachTo.has(x.service));
    const label = (x: ProjectContainer) => (project.services[x.service].container_name ?? shortName({ 'com.docker.compose.service': x.service, 'com.docker.compose.container-number': String(x.number) }, x.name));
    printer.register(shown.map(label));
    c.ctx.stdout.write(`Attaching to ${shown.map(label).join(', ')}\n`);
    for (const x of shown) {
      const h = await c.client.containerAttach(x.id, { stream: true, stdout: true, stderr: true });
      const name = label(x);
      streams.push(pipeOutput(h.socket as any, !!project.services[x.service].tty, h.head, printer.sink(name)).then(async () => {
        const info = await c.client.containerInspect(x.id).catch(() => undefined);
        const code = info?.State?.ExitCode ?? 0;
        printer.info(name, `${name} exited with code ${code}`);
        if (exitFrom ? x.service === exitFrom : abort && !stopping) exitCode = code;
        if (abort && !stopping) {
          c.ctx.stdout.write('Aborting on container exit...\n');
          await stopAll();
        }
      }));
    }
  };
  let interrupted = 0;
  const onSigint = () => {
    interrupted++;
    if (interrupted === 1) {
      c.ctx.stderr.write('Gracefully stopping... (press Ctrl+C again to force)\n');
      stopAll();
    } else {
      for (const x of containers) c.client.containerKill(x.id).catch(() => {});
    }
  };
  process.on('SIGINT', onSigint);
  try {
    started = up(c.client, c.progress, project, o);
    await started;
    await Promise.all(streams);
    if (stopping) await stopping;
  } finally {
    process.off('SIGINT', onSigint);
  }
  return interrupted ? 130 : exitCode;
}

export const createCommand: ComposeCommand = {
  name: 'create',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'Creates containers for a service',
  flags: createFlags,
  async run(c, p) {
    const o = upOptions(p);
    o.noStart = true;
    await up(c.client, c.progress, c.load(p.args), o);
  },
};

export const downCommand: ComposeCommand = {
  name: 'down',
  usage: '[OPTIONS] [SERVICES]',
  short: 'Stop and remove containers, networks',
  flags: [
    { name: 'volumes', short: 'v', type: 'bool', usage: 'Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers' },
    { name: 'rmi', type: 'string', usage: 'Remove images used by services. "local" remove only images that don\'t have a custom tag ("local"|"all")' },
    { name: 'remove-orphans', type: 'bool', usage: 'Remove containers for services not defined in the Compose file' },
    timeoutFlag,
  ],
  async run(c, p) {
    const rmi = p.flags.rmi;
    if (rmi && rmi !== 'local' && rmi !== 'all') throw new CliError(`invalid value for --rmi: ${rmi}`);
    await life.down(c.client, c.progress, c.loadOrEmpty(), { volumes: p.flags.volumes, removeOrphans: p.flags['remove-orphans'], rmi: rmi || undefined, timeout: t(p) });
  },
};

const simple = (name: string, short: string, fn: (c: ComposeContext, p: Parsed) => Promise<void>, flags: ComposeCommand['flags'] = []): ComposeCommand => ({
  name, usage: '[SERVICE...]', short, flags, async run(c, p) { await fn(c, p); },
});

export const startCommand = simple('start', 'Start services', async (c, p) => life.start(c.client, c.progress, c.load(p.args), p.args));
export const stopCommand = simple('stop', 'Stop services', async (c, p) => life.stop(c.client, c.progress, c.load(), p.args, t(p)), [timeoutFlag]);
export const restartCommand = simple('restart', 'Restart service containers', async (c, p) => life.restart(c.client, c.progress, c.load(), p.args, t(p)), [timeoutFlag, { name: 'no-deps', type: 'bool', usage: "Don't restart dependent services" }]);
export const pauseCommand = simple('pause', 'Pause services', async (c, p) => life.pause(c.client, c.progress, c.load(), p.args, false));
export const unpauseCommand = simple('unpause', 'Unpause services', async (c, p) => life.pause(c.client, c.progress, c.load(), p.args, true));
export const killCommand = simple('kill', 'Force stop service containers', async (c, p) => life.kill(c.client, c.progress, c.load(), p.args, p.flags.signal), [
  { name: 'signal', short: 's', type: 'string', usage: 'SIGNAL to send to the container', default: 'SIGKILL' },
  { name: 'remove-orphans', type: 'bool', usage: 'Remove containers for services not defined in the Compose file' },
]);

export const rmCommand: ComposeCommand = {
  name: 'rm',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'Removes stopped service containers',
  flags: [
    { name: 'force', short: 'f', type: 'bool', usage: "Don't ask to confirm removal" },
    { name: 'stop', short: 's', type: 'bool', usage: 'Stop the containers, if required, before removing' },
    { name: 'volumes', short: 'v', type: 'bool', usage: 'Remove any anonymous volumes attached to containers' },
  ],
  async run(c, p) {
    const project = c.load();
    const list = await life.removable(c.client, project, p.args, p.flags.stop, true);
    if (!list.length) {
      c.ctx.stderr.write('No stopped containers\n');
      return 0;
    }
    if (!p.flags.force) {
      // the container commands' module is loaded only to ask
      const { confirm } = await import('../../confirm');
      const ok = await confirm(c.ctx, `Going to remove ${list.map(containerName).join(', ')}`);
      if (!ok) return 0;
    }
    await life.rm(c.client, c.progress, list, { stop: p.flags.stop, volumes: p.flags.volumes });
  },
};

export const buildCommand: ComposeCommand = {
  name: 'build',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'Build or rebuild services',
  flags: [
    { name: 'no-cache', type: 'bool', usage: 'Do not use cache when building the image' },
    { name: 'pull', type: 'bool', usage: 'Always attempt to pull a newer version of the image' },
    { name: 'build-arg', type: 'list', usage: 'Set build-time variables for services' },
    { name: 'quiet', short: 'q', type: 'bool', usage: "Don't print anything to STDOUT" },
  ],
  async run(c, p) {
    const project = c.load(p.args);
    const names = (p.args.length ? p.args : Object.keys(project.services)).filter((n) => project.services[n].build);
    const buildArgs: Record<string, string> = {};
    for (const a of p.flags['build-arg'] as string[]) { const i = a.indexOf('='); if (i > 0) buildArgs[a.slice(0, i)] = a.slice(i + 1); else if (process.env[a] !== undefined) buildArgs[a] = process.env[a]!; }
    for (const n of names) {
      await buildService(c.client, c.progress, project, project.services[n], { noCache: p.flags['no-cache'], pull: p.flags.pull, buildArgs, output: p.flags.quiet ? undefined : (s) => c.ctx.stdout.write(s) });
    }
  },
};

export const pullCommand: ComposeCommand = {
  name: 'pull',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'Pull service images',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Pull without printing progress information' },
    { name: 'ignore-pull-failures', type: 'bool', usage: 'Pull what it can and ignores images with pull failures' },
    { name: 'ignore-buildable', type: 'bool', usage: 'Ignore images that can be built' },
  ],
  async run(c, p) {
    const project = c.load(p.args);
    const names = p.args.length ? p.args : Object.keys(project.services);
    let failed: unknown;
    await Promise.all(names.map(async (n) => {
      const s = project.services[n];
      if (!s) throw new CliError(`no such service: ${n}`);
      if (s.build && (!s.image || p.flags['ignore-buildable'])) { c.progress.event('', n, 'Skipped'); return; }
      try {
        await pullService(c.client, c.progress, s, imageName(project, s));
      } catch (e) {
        if (p.flags['ignore-pull-failures']) c.progress.warn((e as Error).message);
        else failed ??= e;
      }
    }));
    if (failed) throw failed;
  },
};

export const pushCommand: ComposeCommand = {
  name: 'push',
  usage: '[OPTIONS] [SERVICE...]',
  short: 'Push service images',
  flags: [{ name: 'ignore-push-failures', type: 'bool', usage: 'Push what it can and ignores images with push failures' }, { name: 'quiet', short: 'q', type: 'bool', usage: 'Push without printing progress information' }],
  async run(c, p) {
    const project = c.load(p.args);
    for (const n of p.args.length ? p.args : Object.keys(project.services)) {
      const s = project.services[n];
      if (!s?.image) continue;
      c.progress.event('', n, 'Pushing');
      const ref = s.image;
      const colon = ref.lastIndexOf(':');
      const [name, tag] = colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
      for await (const m of await c.client.imagePush(name, { tag })) {
        if (m.error || m.errorDetail?.message) {
          if (p.flags['ignore-push-failures']) break;
          throw new CliError(m.errorDetail?.message || m.error || '');
        }
      }
      c.progress.event('', n, 'Pushed');
    }
  },
};

export const scaleCommand: ComposeCommand = {
  name: 'scale',
  usage: '[SERVICE=REPLICAS...]',
  short: 'Scale services',
  flags: [{ name: 'no-deps', type: 'bool', usage: "Don't start linked services" }],
  args: { min: 1 },
  async run(c, p) {
    const scale = parseScale(p.args);
    await up(c.client, c.progress, c.load(Object.keys(scale)), { services: Object.keys(scale), scale, noRecreate: true, noDeps: p.flags['no-deps'] });
  },
};

export const waitCommand: ComposeCommand = {
  name: 'wait',
  usage: 'SERVICE [SERVICE...] [OPTIONS]',
  short: 'Block until the first service container stops',
  flags: [{ name: 'down-project', type: 'bool', usage: 'Drops project when the first container stops' }],
  args: { min: 1 },
  async run(c, p) {
    const project = c.load();
    const list = await projectContainers(c.client, project.name, { services: p.args });
    if (!list.length) throw new CliError('no containers for project "' + project.name + '"');
    const first = await Promise.race(list.map((x) => c.client.containerWait(x.Id)));
    if (p.flags['down-project']) await life.down(c.client, c.progress, project, {});
    if (first.StatusCode !== 0) throw new StatusError('', first.StatusCode);
  },
};

export { ensureImages };
