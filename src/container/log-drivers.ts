// The log drivers a container may name in HostConfig.LogConfig.Type. The
// logs code implements them; create refuses any other name as dockerd does.
import { InvalidParameter } from '../util/errors';

/** json-file (Docker's default), local, none, and k8s-file (conmon's format, the default of older berthd records). */
export const LOG_DRIVERS: readonly string[] = ['json-file', 'local', 'none', 'k8s-file'];

/** dockerd's ValidateLogOpts refusal of an unknown driver name. */
export function checkLogDriver(name: string): void {
  if (!LOG_DRIVERS.includes(name)) throw new InvalidParameter(`logger: no log driver named '${name}' is registered`);
}
