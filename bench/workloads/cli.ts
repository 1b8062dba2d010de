// Workload: the CLI's own start-up (issue 17 target 1). Both clients talk
// to the same berthd, so the daemon's share is the same in both columns:
// the "Docker" column is the official docker CLI, the "Berth" column is
// `berth` run as a user runs it (bin/berth as a program: the native client
// and the resident CLI server, src/cli/resident/, on a private socket).
// The "(Node path)" rows are the same with BERTH_CLI_SERVER=0: a Node
// process per command, as before. Beside each row, the limit: Node running
// an empty script (what any Node CLI pays first).
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
    const cases: Array<[string, string, string[], number, boolean]> = [
      ['cli-ps', '`ps` (CLI start-up; docker CLI vs berth CLI, both on berthd)', ['ps'], b.runs(20, 5), true],
      ['cli-version', '`version` (CLI start-up; docker CLI vs berth CLI, both on berthd)', ['version'], b.runs(20, 5), true],
      ['cli-run-rm', '`run --rm busybox true` (docker CLI vs berth CLI, both on berthd; not served: the client execs node)', ['run', '--rm', 'busybox', 'true'], b.runs(10, 3), true],
      ['cli-ps-node', '`ps` (Node path, BERTH_CLI_SERVER=0)', ['ps'], b.runs(20, 5), false],
      ['cli-version-node', '`version` (Node path, BERTH_CLI_SERVER=0)', ['version'], b.runs(20, 5), false],
      ['cli-run-rm-node', '`run --rm busybox true` (Node path, BERTH_CLI_SERVER=0)', ['run', '--rm', 'busybox', 'true'], b.runs(10, 3), false],
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
    // The resident CLI server's socket: private to this run, its server stopped at the end.
    const sockDir = path.join(dir, 'cli');
    fs.mkdirSync(sockDir, { mode: 0o700 });
    const sock = path.join(sockDir, 'sock');
    const { NODE_OPTIONS: _no, XDG_RUNTIME_DIR: _xdg, ...base } = berthd.env;
    const served = { ...base, BERTH_CLI_SOCKET: sock };
    const nodePath = { ...base, BERTH_CLI_SERVER: '0' };
    try {
      // first use starts the server in the background; wait for it (bounded)
      await timed(BERTH, ['version'], served).catch(() => 0);
      for (let t = 0; t < 100 && !fs.existsSync(`${sock}.pid`); t++) await new Promise((r) => setTimeout(r, 100));
      for (const [i, [, , args, runs, resident]] of cases.entries()) {
        const row = rows[i];
        const floor: number[] = [];
        const floorCa: number[] = [];
        const env = resident ? served : nodePath;
        const sample = (e: Engine) => (e.key === 'docker' ? timed(DOCKER_CLI, args, berthd.env) : timed(BERTH, args, env));
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
      try {
        process.kill(Number(fs.readFileSync(`${sock}.pid`, 'utf8')), 'SIGTERM');
      } catch {
        /* no server started */
      }
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
  const b = row.id.startsWith('cli-run-rm') ? undefined : row.results.berth?.summary?.median;
  return `"Docker" is the docker CLI, "Berth" the berth CLI, both on berthd; limit: node on an empty script ${floor.toFixed(0)} ms${ca}${b ? `, berth ${(b / floor).toFixed(2)}× of it` : ''}; goal: berth within 1.2× of docker`;
}
