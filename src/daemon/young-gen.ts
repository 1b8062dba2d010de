// V8's young generation for the daemon, set before any other module loads.
// V8 grows the new space from 1 MiB per semi-space up to 8 MiB (16 MiB
// in all) while many young objects survive — they do while berthd loads
// its modules and opens its stores — and keeps it at that size after: ~10
// MiB of a ~70 MiB daemon that, once started, mostly waits on sockets and
// child processes. A growth factor of 1 keeps it at 1 MiB per semi-space.
// `--max-semi-space-size` would say that at V8's start, but berthd is
// started as `node bin/berthd` or `node dist/src/daemon/main.js` with no
// V8 flags; the growth factor is read at each growth, so it takes effect
// here. A young-space size given to node (NODE_OPTIONS, node flags) or
// BERTH_YOUNG_GEN=default leaves V8's default.
import v8 from 'node:v8';
import { youngGenClamped } from '../util/bulk-memory';

const GIVEN = /--(max|min)-semi-space-size|--semi-space-growth-factor/;

export function keepYoungGenSmall(execArgv: string[], env: NodeJS.ProcessEnv): boolean {
  if (env.BERTH_YOUNG_GEN === 'default') return false;
  if (execArgv.some((a) => GIVEN.test(a)) || GIVEN.test(env.NODE_OPTIONS ?? '')) return false;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  youngGenClamped();
  return true;
}

keepYoungGenSmall(process.execArgv, process.env);
