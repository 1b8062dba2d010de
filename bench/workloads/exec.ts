// Workload 5: latency of `docker exec <c> true` in a running container.
import type { Workload } from '../lib/bench';
import type { Engine } from '../lib/engine';
import { failureText } from '../lib/proc';

export const workload: Workload = {
  name: 'exec',
  description: '`docker exec <c> true` latency',
  order: 50,
  async run(b) {
    const row = b.row('exec', '`exec <c> true`', 'ms', { target: { minRatio: 1.5 } }); // issue 17 t2
    const ids = new Map<Engine, string>();
    try {
      await b.each([row], async (e) => {
        const r = await e.must(['run', '-d', 'busybox', 'sleep', '1000'], { timeout: 60_000 });
        ids.set(e, r.stdout.trim());
      });
      await b.interleave(
        row,
        b.runs(20, 5),
        async (e) => {
          const r = await e.docker(['exec', ids.get(e)!, 'true'], { timeout: 60_000 });
          if (r.code !== 0) throw new Error(failureText(r));
          return r.ms;
        },
        b.runs(2, 1),
      );
    } finally {
      for (const e of b.live) await e.removeAllContainers();
    }
  },
};
