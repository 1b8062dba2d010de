// Workload: the classic builder (`DOCKER_BUILDKIT=0 docker build`) on a
// ten-step Dockerfile — rebuilt with every step cached, and rebuilt after
// changing one COPY source (that step and the ones after it rebuild).
// The `berth build` row is the cached rebuild as a Berth user runs it:
// `berth build` against berthd in the Berth column (bin/berth as a program:
// the native client and the resident CLI server, src/cli/resident/, on this
// run's private socket), `docker build` against dockerd in the Docker
// column; its "(Node path)" twin is the same with BERTH_CLI_SERVER=0.
import fs from 'node:fs';
import path from 'node:path';
import type { Workload } from '../lib/bench';
import type { Engine } from '../lib/engine';
import { run, failureText } from '../lib/proc';
import { REPO_ROOT } from '../lib/berth-engine';

const BERTH = path.join(REPO_ROOT, 'bin', 'berth');

const DOCKERFILE = [
  'FROM busybox',
  'WORKDIR /app',
  'ENV MODE=bench',
  'COPY a.txt /app/',
  'COPY b.txt /app/',
  'RUN echo one > /one',
  'COPY c.txt /app/',
  'RUN cat /app/c.txt > /two',
  'EXPOSE 8080',
  'CMD ["cat", "/app/a.txt"]',
  '',
].join('\n');

function contextFor(e: Engine): string {
  const dir = path.join(e.root, 'build-ctx');
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'Dockerfile'), DOCKERFILE);
    fs.writeFileSync(path.join(dir, 'a.txt'), 'a\n'.repeat(1000));
    fs.writeFileSync(path.join(dir, 'b.txt'), 'b\n'.repeat(1000));
    fs.writeFileSync(path.join(dir, 'c.txt'), 'c0\n');
  }
  return dir;
}

type Via = 'docker' | 'berth' | 'berth-node';

/** bin/berth's environment: the resident CLI server (bench/run.ts's BERTH_CLI_SOCKET), or the Node path. */
function berthEnv(e: Engine, via: Via): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _no, XDG_RUNTIME_DIR: _xdg, ...env } = e.env;
  return via === 'berth-node' ? { ...env, BERTH_CLI_SERVER: '0' } : env;
}

async function build(e: Engine, dir: string, via: Via = 'docker'): Promise<{ ms: number; stdout: string }> {
  const args = ['build', '-t', 'bench-build', dir];
  const r = via !== 'docker'
    ? await run(BERTH, args, { timeout: 300_000, env: berthEnv(e, via) })
    : await e.docker(args, { timeout: 300_000, env: { DOCKER_BUILDKIT: '0' } });
  if (r.code !== 0) throw new Error(failureText(r));
  return { ms: r.ms, stdout: r.stdout };
}

function assertCached(stdout: string): void {
  if ((stdout.match(/Using cache/g) ?? []).length < 9) throw new Error(`rebuild was not cached: ${JSON.stringify(stdout.slice(-900))}`);
}

export const workload: Workload = {
  name: 'build',
  description: 'classic `docker build` of a ten-step Dockerfile: all cached, and one COPY source changed',
  order: 60,
  async run(b) {
    const cached = b.row('build-cached', '`build` 10 steps, all cached', 'ms', { target: { minRatio: 3 } });
    const changed = b.row('build-one-change', '`build` 10 steps, 3rd COPY source changed', 'ms');
    await b.interleave(
      cached,
      b.runs(10, 3),
      async (e, i) => {
        const r = await build(e, contextFor(e));
        // The warm-up run (i < 0) is the first, uncached build.
        if (i >= 0) assertCached(r.stdout);
        return r.ms;
      },
      1,
    );
    const berthd = b.live.find((e) => e.key === 'berth');
    const sock = process.env.BERTH_CLI_SOCKET;
    if (berthd && sock) {
      // The first use starts the resident CLI server in the background; wait for it (bounded).
      await run(BERTH, ['version'], { timeout: 60_000, env: berthEnv(berthd, 'berth') });
      for (let t = 0; t < 100 && !fs.existsSync(`${sock}.pid`); t++) await new Promise((r) => setTimeout(r, 100));
    }
    for (const [id, title, via] of [
      ['build-cached-berth-cli', '`build` 10 steps, all cached: `berth build` on berthd vs `docker build` on dockerd', 'berth'],
      ['build-cached-berth-cli-node', '`build` 10 steps, all cached: `berth build` (Node path, BERTH_CLI_SERVER=0) vs `docker build` on dockerd', 'berth-node'],
    ] as const) {
      const row = b.row(id, title, 'ms');
      await b.interleave(row, b.runs(10, 3), async (e) => {
        const r = await build(e, contextFor(e), e.key === 'berth' ? via : 'docker');
        assertCached(r.stdout);
        return r.ms;
      });
    }
    let n = 0;
    await b.interleave(changed, b.runs(5, 2), async (e) => {
      const dir = contextFor(e);
      fs.writeFileSync(path.join(dir, 'c.txt'), `c${++n}\n`);
      return (await build(e, dir)).ms;
    });
  },
};
