// Workload 2: twenty `docker run -d busybox sleep 1000` at once, wall time
// until all twenty run; then one `docker rm -f` of all twenty.
import type { Workload } from '../lib/bench';
import type { Engine } from '../lib/engine';
import { failureText, waitFor } from '../lib/proc';

const COUNT = 20;

export const workload: Workload = {
  name: 'concurrent',
  description: `${COUNT} concurrent \`run -d\`, then \`rm -f\` of all`,
  order: 20,
  async run(b) {
    // Issue 17 t3: ≥ 3× Docker (the harness's first target, 5×, was never an issue's).
    const runRow = b.row('run-d-20', `${COUNT} concurrent \`run -d busybox sleep 1000\` (wall)`, 's', { target: { minRatio: 3 } });
    const rmRow = b.row('rm-f-20', `\`rm -f\` of those ${COUNT} (one command)`, 's', { target: { minRatio: 5 } });
    const round = async (e: Engine): Promise<number> => {
      if ((await e.containerIds(true)).length) await e.removeAllContainers();
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: COUNT }, () => e.docker(['run', '-d', 'busybox', 'sleep', '1000'], { timeout: 180_000 })));
      const bad = rs.filter((r) => r.code !== 0);
      if (bad.length) {
        await e.removeAllContainers();
        throw new Error(`${bad.length}/${COUNT} failed: ${failureText(bad[0])}`);
      }
      // `run -d` returns once the container started; confirm, and count any wait.
      let t1 = performance.now();
      const running = async () => (await e.containerIds(false)).length >= COUNT;
      if (!(await running())) {
        await waitFor(`${COUNT} containers running`, 30_000, running, 100);
        t1 = performance.now();
      }
      const ids = rs.map((r) => r.stdout.trim());
      const rm = await e.docker(['rm', '-f', ...ids], { timeout: 180_000 });
      if (rm.code !== 0) {
        b.fail(rmRow, e, failureText(rm));
        await e.removeAllContainers();
      } else if (!b.failed(rmRow, e)) {
        b.add(rmRow, e, rm.ms / 1000);
      }
      return (t1 - t0) / 1000;
    };
    await b.interleave(runRow, b.runs(5, 2), round);
    for (const e of b.live) if (b.failed(runRow, e)) b.fail(rmRow, e, 'no containers to remove (run -d failed)');
    b.log(`  ${rmRow.title}: ${b.live.map((e) => `${e.key} ${rmRow.results[e.key].summary?.median.toFixed(2) ?? 'failed'}`).join(', ')} s (median)`);
  },
};
