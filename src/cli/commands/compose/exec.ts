// exec (in a service's running container) and run (a one-off container of a
// service, `<project>-<service>-run-<id>`, labelled oneoff=True).
import { randomBytes } from 'node:crypto';
import { CliError, StatusError } from '../../registry';
import { projectContainers, containerName } from '../../../compose/state';
import { L } from '../../../compose/labels';
import { up } from '../../../compose/up';
import { ensureImages, imageName } from '../../../compose/images';
import { ensureNetworks, ensureVolumes, usedResources } from '../../../compose/resources';
import { toCreateBody } from '../../../compose/convert';
import { serviceHash } from '../../../compose/hash';
import { injectFiles } from '../../../compose/secrets';
import { parseVolumeShort, parsePortShort, shellSplit } from '../../../compose/normalize';
import type { ComposeCommand } from './context';

export const execCommand: ComposeCommand = {
  name: 'exec',
  usage: '[OPTIONS] SERVICE COMMAND [ARGS...]',
  short: 'Execute a command in a running container',
  interspersed: false,
  args: { min: 2 },
  flags: [
    { name: 'detach', short: 'd', type: 'bool', usage: 'Detached mode: Run command in the background' },
    { name: 'env', short: 'e', type: 'list', usage: 'Set environment variables' },
    { name: 'index', type: 'int', default: 1, usage: 'Index of the container if service has multiple replicas' },
    { name: 'no-TTY', short: 'T', type: 'bool', usage: 'Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY.' },
    { name: 'interactive', short: 'i', type: 'bool', default: true, usage: 'Keep STDIN open even if not attached' },
    { name: 'privileged', type: 'bool', usage: 'Give extended privileges to the process' },
    { name: 'user', short: 'u', type: 'string', usage: 'Run the command as this user' },
    { name: 'workdir', short: 'w', type: 'string', usage: 'Path to workdir directory for this command' },
  ],
  async run(c, p) {
    const [svc, ...cmd] = p.args;
    const project = c.load();
    if (!project.services[svc]) throw new CliError(`no such service: ${svc}`);
    const list = (await projectContainers(c.client, project.name, { services: [svc] })).filter((x) => x.State === 'running');
    const x = list.find((y) => Number(y.Labels?.[L.number]) === p.flags.index);
    if (!x) throw new CliError(list.length ? `service "${svc}" is not running container #${p.flags.index}` : `service "${svc}" is not running`);
    const tty = !p.flags['no-TTY'] && !!c.ctx.stdin.isTTY && !p.flags.detach;
    const stdin = !!p.flags.interactive && !p.flags.detach;
    const { Id } = await c.client.execCreate(x.Id, {
      User: p.flags.user || '', Privileged: !!p.flags.privileged, Tty: tty, AttachStdin: stdin, AttachStdout: !p.flags.detach, AttachStderr: !p.flags.detach,
      Env: p.flags.env, WorkingDir: p.flags.workdir || '', Cmd: cmd,
    });
    if (p.flags.detach) { await c.client.execStartDetached(Id, { Tty: tty }); return 0; }
    const h = await c.client.execStart(Id, { Detach: false, Tty: tty });
    // the stream plumbing is loaded by the commands that attach, not by every compose command
    const { pumpStreams, watchResize } = await import('../../attach');
    const stop = tty ? watchResize(c.ctx, (hh, ww) => c.client.execResize(Id, hh, ww)) : () => {};
    try {
      await pumpStreams(c.ctx, h, { tty, stdin, stdout: true, stderr: true });
    } finally {
      stop();
    }
    const info = await c.client.execInspect(Id);
    const code = typeof info.ExitCode === 'number' ? info.ExitCode : 0;
    if (code !== 0) throw new StatusError('', code);
    return 0;
  },
};

export const runCommand: ComposeCommand = {
  name: 'run',
  usage: '[OPTIONS] SERVICE [COMMAND] [ARGS...]',
  short: 'Run a one-off command on a service',
  interspersed: false,
  args: { min: 1 },
  flags: [
    { name: 'detach', short: 'd', type: 'bool', usage: 'Run container in background and print container ID' },
    { name: 'rm', type: 'bool', usage: 'Automatically remove the container when it exits' },
    { name: 'env', short: 'e', type: 'list', usage: 'Set environment variables' },
    { name: 'no-deps', type: 'bool', usage: "Don't start linked services" },
    { name: 'entrypoint', type: 'string', usage: 'Override the entrypoint of the image' },
    { name: 'name', type: 'string', usage: 'Assign a name to the container' },
    { name: 'user', short: 'u', type: 'string', usage: 'Run as specified username or uid' },
    { name: 'workdir', short: 'w', type: 'string', usage: 'Working directory inside the container' },
    { name: 'volume', short: 'v', type: 'list', usage: 'Bind mount a volume' },
    { name: 'publish', short: 'p', type: 'list', usage: "Publish a container's port(s) to the host" },
    { name: 'service-ports', short: 'P', type: 'bool', usage: "Run command with all service's ports enabled and mapped to the host" },
    { name: 'no-TTY', short: 'T', type: 'bool', usage: 'Disable pseudo-TTY allocation (default: auto-detected)' },
    { name: 'interactive', short: 'i', type: 'bool', default: true, usage: 'Keep STDIN open even if not attached' },
    { name: 'build', type: 'bool', usage: 'Build image before starting container' },
    { name: 'label', short: 'l', type: 'list', usage: 'Add or override a label' },
    { name: 'quiet-pull', type: 'bool', usage: 'Pull without printing progress information' },
    { name: 'remove-orphans', type: 'bool', usage: 'Remove containers for services not defined in the Compose file' },
  ],
  async run(c, p) {
    const [svc, ...cmd] = p.args;
    const project = c.load([svc]);
    const base = project.services[svc];
    if (!base) throw new CliError(`no such service: ${svc}`);
    const deps = Object.keys(base.depends_on ?? {}).filter((d) => project.services[d]);
    if (!p.flags['no-deps'] && deps.length) await up(c.client, c.progress, project, { services: deps, noRecreate: false });
    const s = { ...base };
    if (cmd.length) s.command = cmd;
    if (p.changed.has('entrypoint')) s.entrypoint = p.flags.entrypoint ? shellSplit(p.flags.entrypoint) : [''];
    if (p.flags.user) s.user = p.flags.user;
    if (p.flags.workdir) s.working_dir = p.flags.workdir;
    if (p.flags.env.length) {
      s.environment = { ...(s.environment ?? {}) };
      for (const e of p.flags.env as string[]) { const i = e.indexOf('='); s.environment[i < 0 ? e : e.slice(0, i)] = i < 0 ? null : e.slice(i + 1); }
    }
    if (p.flags.volume.length) s.volumes = [...(s.volumes ?? []), ...(p.flags.volume as string[]).map((v, i) => parseVolumeShort(v, project.workingDir, `--volume[${i}]`))];
    s.ports = p.flags['service-ports'] ? s.ports : (p.flags.publish as string[]).flatMap((x, i) => parsePortShort(x, `--publish[${i}]`));
    if (p.flags.label.length) s.labels = { ...(s.labels ?? {}), ...Object.fromEntries((p.flags.label as string[]).map((l) => { const i = l.indexOf('='); return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)]; })) };
    delete s.restart;
    if (s.deploy) s.deploy = { ...s.deploy, restart_policy: undefined };
    const used = usedResources(project, [svc]);
    await ensureNetworks(c.client, c.progress, project, used.networks);
    await ensureVolumes(c.client, c.progress, project, used.volumes);
    const ids = await ensureImages(c.client, c.progress, project, [svc], { build: p.flags.build });
    const tty = !p.flags['no-TTY'] && !!c.ctx.stdin.isTTY && !p.flags.detach;
    const stdin = !!p.flags.interactive && !p.flags.detach;
    const body = toCreateBody({ project, service: s, number: 1, oneoff: true, imageRef: imageName(project, s), imageId: ids[svc], hash: serviceHash(base, project) });
    body.Tty = tty;
    body.OpenStdin = stdin;
    body.StdinOnce = stdin;
    body.AttachStdin = stdin;
    body.AttachStdout = !p.flags.detach;
    body.AttachStderr = !p.flags.detach;
    (body.HostConfig as Record<string, unknown>).AutoRemove = !!p.flags.rm;
    const name = p.flags.name || `${project.name}-${svc}-run-${randomBytes(6).toString('hex')}`;
    const { Id } = await c.client.containerCreate(body, { name });
    await injectFiles(c.client, project, s, Id);
    if (p.flags.detach) {
      await c.client.containerStart(Id);
      c.ctx.out(`${name}\n`);
      return 0;
    }
    const { attachStartWait } = await import('../container/run');
    const code = await attachStartWait(c.ctx, Id, { tty, stdin, stdout: true, stderr: true, autoRemove: !!p.flags.rm, sigProxy: true, start: true });
    if (code !== 0) throw new StatusError('', code);
    return 0;
  },
};

export { containerName };
