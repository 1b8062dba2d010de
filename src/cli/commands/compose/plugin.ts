// The docker CLI plugin: `berth compose install-plugin` writes
// ~/.docker/cli-plugins/docker-compose (or $DOCKER_CONFIG/cli-plugins) as a
// small script that runs berth, so `docker compose …` reaches us. Explicit
// only, and never over an existing plugin unless --force.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError } from '../../registry';
import { COMPOSE_VERSION } from '../../../compose/labels';
import type { ComposeCommand } from './context';

export function pluginMetadata(): string {
  return JSON.stringify({ SchemaVersion: '0.1.0', Vendor: 'Berth', Version: `v${COMPOSE_VERSION}`, ShortDescription: 'Docker Compose (berth)' }, null, 2) + '\n';
}

export const pluginCommand: ComposeCommand = {
  name: 'install-plugin',
  usage: '[OPTIONS]',
  short: 'Install berth compose as the docker CLI plugin (docker compose)',
  flags: [
    { name: 'force', type: 'bool', usage: 'Replace an existing docker-compose plugin' },
    { name: 'dir', type: 'string', usage: 'Plugin directory (default: $DOCKER_CONFIG/cli-plugins or ~/.docker/cli-plugins)' },
  ],
  args: { max: 0 },
  async run(c, p) {
    const dir = p.flags.dir || path.join(process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'cli-plugins');
    const target = path.join(dir, 'docker-compose');
    if (fs.existsSync(target) && !p.flags.force) throw new CliError(`${target} already exists; not replacing it (use --force to replace)`);
    const berth = berthBin();
    // the docker CLI calls `docker-compose docker-cli-plugin-metadata` and `docker-compose compose ARGS`
    // NODE_EXTRA_CA_CERTS is handed over as bin/berth's own sh line does (see there)
    const script = `#!/bin/sh\n# docker CLI plugin: berth compose (installed by 'berth compose install-plugin')\nif [ "$1" = docker-cli-plugin-metadata ]; then set -- compose "$@"; fi\nif [ -n "\${NODE_EXTRA_CA_CERTS-}" ]; then BERTH_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export BERTH_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; fi\nexec "${process.execPath}" -- "${berth}" "$@"\n`;
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, script, { mode: 0o755 });
    fs.renameSync(tmp, target);
    c.ctx.out(`Installed ${target}\n`);
  },
};

/** bin/berth of this checkout, from dist/src/cli/... or from the bundle (dist/berth.js). */
function berthBin(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const bin = path.join(dir, 'bin', 'berth');
    if (fs.existsSync(bin)) return bin;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..', '..', '..', '..', '..', 'bin', 'berth');
  }
}
