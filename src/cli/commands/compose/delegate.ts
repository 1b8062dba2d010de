// cp and attach: the container commands, with SERVICE (and --index) turned
// into the service's container first.
import { CliError } from '../../registry';
import { projectContainers, containerName } from '../../../compose/state';
import { L } from '../../../compose/labels';
import type { ComposeCommand, ComposeContext } from './context';

async function containerOf(c: ComposeContext, service: string, index: number): Promise<string> {
  const project = c.load();
  if (!project.services[service]) throw new CliError(`no such service: ${service}`);
  const list = await projectContainers(c.client, project.name, { services: [service] });
  const x = list.find((y) => Number(y.Labels?.[L.number]) === index);
  if (!x) throw new CliError(`service "${service}" is not running`);
  return containerName(x);
}

export const composeCpCommand: ComposeCommand = {
  name: 'cp',
  usage: '[OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\n\tberth compose cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH',
  short: 'Copy files/folders between a service container and the local filesystem',
  flags: [
    { name: 'index', type: 'int', default: 1, usage: 'Index of the container if service has multiple replicas' },
    { name: 'archive', short: 'a', type: 'bool', usage: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', type: 'bool', usage: 'Always follow symbol link in SRC_PATH' },
  ],
  args: { min: 2, max: 2 },
  async run(c, p) {
    const args = await Promise.all(p.args.map(async (a) => {
      const m = /^([a-zA-Z0-9._-]+):(.*)$/.exec(a);
      return m ? `${await containerOf(c, m[1], p.flags.index)}:${m[2]}` : a;
    }));
    // the container commands load only when delegated to
    const { cpCommand } = await import('../container/cp');
    return cpCommand.run(c.ctx, { ...p, args });
  },
};

export const composeAttachCommand: ComposeCommand = {
  name: 'attach',
  usage: '[OPTIONS] SERVICE',
  short: "Attach local standard input, output, and error streams to a service's running container",
  flags: [
    { name: 'index', type: 'int', default: 1, usage: 'index of the container if service has multiple replicas.' },
    { name: 'detach-keys', type: 'string', usage: 'Override the key sequence for detaching from a container.' },
    { name: 'no-stdin', type: 'bool', usage: "Don't attach STDIN" },
    { name: 'sig-proxy', type: 'bool', default: true, usage: 'Proxy all received signals to the process' },
  ],
  args: { min: 1, max: 1 },
  async run(c, p) {
    const name = await containerOf(c, p.args[0], p.flags.index);
    const { attachCommand } = await import('../container/exec');
    return attachCommand.run(c.ctx, { ...p, args: [name] });
  },
};
