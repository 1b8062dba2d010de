// runc commands on a running container beyond its lifecycle: freeze/thaw
// (`docker pause`, the freezer cgroup) and live resource changes
// (`docker update`, `runc update --resources -`).
import { execHost } from '../exec';
import { SystemError } from '../../util/errors';
import type { OciResources } from './spec-types';

export async function runcPause(bin: string, root: string, id: string): Promise<void> {
  await run(bin, ['--root', root, 'pause', id]);
}

export async function runcResume(bin: string, root: string, id: string): Promise<void> {
  await run(bin, ['--root', root, 'resume', id]);
}

export async function runcUpdate(bin: string, root: string, id: string, r: OciResources): Promise<void> {
  const { devices: _d, ...rest } = r;
  await run(bin, ['--root', root, 'update', '--resources', '-', id], JSON.stringify(rest));
}

async function run(bin: string, args: string[], input?: string): Promise<void> {
  const r = await execHost(bin, args, { timeout: 15_000, allowFailure: true, input });
  if (r.code !== 0) {
    const m = r.stderr.trim().replace(/^.*?level=error msg="(.*)"\s*$/s, '$1');
    throw new SystemError(`Cannot ${args[2]} container: ${m || `exit ${r.code}`}`);
  }
}
