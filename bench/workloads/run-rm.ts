// Workload 1: latency of `docker run --rm busybox true`, the whole
// create → start → wait → remove path as a user sees it.
import type { Workload } from '../lib/bench';
import { failureText } from '../lib/proc';

export const workload: Workload = {
  name: 'run-rm',
  description: '`docker run --rm busybox true` latency',
  order: 10,
  async run(b) {
    const row = b.row('run-rm', '`run --rm busybox true`', 'ms', { target: { minRatio: 4 } });
    await b.interleave(
      row,
      b.runs(20, 5),
      async (e) => {
        const r = await e.docker(['run', '--rm', 'busybox', 'true'], { timeout: 60_000 });
        if (r.code !== 0) throw new Error(failureText(r));
        return r.ms;
      },
      b.runs(2, 1),
    );
    for (const e of b.live) if (b.failed(row, e)) await e.removeAllContainers();
  },
};
