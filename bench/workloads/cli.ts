// Workload: the CLI's own start-up (issue 17 target 1). Both clients talk
// to the same berthd, so the daemon's share is the same in both columns:
// the "Docker" column is the official docker CLI, the "Berth" column is
// `berth` run as a user runs it (bin/berth as a program). Beside each row,
// the limit: Node running an empty script (what any Node CLI pays first).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Workload, Row } from '../lib/bench';
import { DOCKER_CLI, type Engine } from '../lib/engine';
import { REPO_ROOT } from '../lib/berth-engine';
import { run, failureText } from '../lib/proc';
import { summarize } from '../lib/stats';

const BERTH = path.join(REPO_ROOT, 'bin', 'berth');

async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const r = await run(cmd, args, { env, timeout: 60_000 });
  if (r.code !== 0) throw new Error(failureText(r));
  return r.ms;
}

export const workload: Workload = {
  name: 'cli',
  description: 'CLI start-up: `berth` vs the docker CLI, both against berthd',
  order: 5,
  async run(b) {
    const berthd = b.live.find((e) => e.key === 'berth');
    const docker = b.engines.find((e) => e.key === 'docker');
    const cases: Array<[string, string, string[], number]> = [
      ['cli-ps', '`ps` (CLI start-up; docker CLI vs berth CLI, both on berthd)', ['ps'], b.runs(20, 5)],
      ['cli-version', '`version` (CLI start-up; docker CLI vs berth CLI, both on berthd)', ['version'], b.runs(20, 5)],
      ['cli-run-rm', '`run --rm busybox true` (docker CLI vs berth CLI, both on berthd)', ['run', '--rm', 'busybox', 'true'], b.runs(10, 3)],
    ];
    const rows = cases.map(([id, title]) => b.row(id, title, 'ms', { target: { minRatio: 0.83 } }));
    if (!berthd || !docker) {
      for (const r of rows) for (const e of b.engines) b.fail(r, e, new Error('needs berthd and the docker column (run without --engines)'));
      return;
    }
    // An empty script, the Node floor, sampled in the same loop as the CLIs.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-cli-'));
    const empty = path.join(dir, 'empty.js');
    fs.writeFileSync(empty, '');
    try {
      for (const [i, [, , args, runs]] of cases.entries()) {
        const row = rows[i];
        const floor: number[] = [];
        const floorCa: number[] = [];
        const sample = (e: Engine) => (e.key === 'docker' ? timed(DOCKER_CLI, args, berthd.env) : timed(BERTH, args, berthd.env));
        for (let k = -2; k < runs; k++) {
          for (const e of k % 2 === 0 ? [docker, berthd] : [berthd, docker]) {
            if (b.failed(row, e)) continue;
            try {
              const v = await sample(e);
              if (k >= 0) b.add(row, e, v);
            } catch (err) {
              b.fail(row, e, err);
            }
          }
          // as bin/berth starts node (without NODE_EXTRA_CA_CERTS), and as `node x.js` would here
          const { NODE_EXTRA_CA_CERTS: ca, ...plain } = berthd.env;
          const f = await timed(process.execPath, [empty], plain);
          if (k >= 0) floor.push(f);
          if (ca && k >= 0) floorCa.push(await timed(process.execPath, [empty], berthd.env));
        }
        const fm = summarize(floor)?.median ?? NaN;
        row.note = floorNote(row, fm, summarize(floorCa)?.median);
        b.log(`  ${row.title}: docker CLI ${med(row, 'docker')}, berth ${med(row, 'berth')}, empty node ${fm.toFixed(0)} ms (median)`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await berthd.removeAllContainers();
  },
};

function med(row: Row, key: string): string {
  const s = row.results[key]?.summary;
  return s ? `${s.median.toFixed(0)} ms` : 'failed';
}

function floorNote(row: Row, floor: number, withCa: number | undefined): string {
  const ca = withCa !== undefined ? ` (${withCa.toFixed(0)} ms with this machine's NODE_EXTRA_CA_CERTS, which bin/berth defers)` : '';
  // a ratio to Node's start says something only where start-up is most of the command
  const b = row.id === 'cli-run-rm' ? undefined : row.results.berth?.summary?.median;
  return `"Docker" is the docker CLI, "Berth" the berth CLI, both on berthd; limit: node on an empty script ${floor.toFixed(0)} ms${ca}${b ? `, berth ${(b / floor).toFixed(2)}× of it` : ''}; goal: berth within 1.2× of docker`;
}
