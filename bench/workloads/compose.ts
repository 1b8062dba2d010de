// Workload: a 10-service busybox project, `up -d` from nothing (images
// present), a no-op `up -d`, and `down`. First with each engine's own
// client (berth compose on berthd, Debian's docker-compose 1.29 on Docker),
// then berth compose on both (its docker column is the client's own share).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Workload, Bench } from '../lib/bench';
import type { Engine } from '../lib/engine';
import { REPO_ROOT } from '../lib/berth-engine';
import { run, failureText } from '../lib/proc';

const BERTH = path.join(REPO_ROOT, 'bin', 'berth');
const DC = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((p) => fs.existsSync(p));

function projectFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-compose-'));
  const lines = ['version: "3.7"', 'services:'];
  for (let i = 1; i <= 10; i++) {
    lines.push(`  s${i}:`, '    image: busybox', '    command: sleep 100000', '    environment: [N=' + i + ']');
    // one root the nine others wait for: they are created and started in parallel
    if (i > 1) lines.push('    depends_on: [s1]');
  }
  fs.writeFileSync(path.join(dir, 'docker-compose.yml'), lines.join('\n') + '\n');
  return path.join(dir, 'docker-compose.yml');
}

async function phases(b: Bench, tag: string, title: string, client: (e: Engine) => 'berth' | 'v1', file: string): Promise<void> {
  const up = b.row(`compose-up${tag}`, `\`compose up -d\` 10 services, cold (${title})`, 'ms', { target: { minRatio: 4 } });
  const noop = b.row(`compose-noop${tag}`, `\`compose up -d\` no-op (${title})`, 'ms', { note: 'goal: under 150 ms with berth compose' });
  const down = b.row(`compose-down${tag}`, `\`compose down\` (${title})`, 'ms');
  const cli = (e: Engine, args: string[]) => {
    const base = ['-f', file, '-p', 'benchc'];
    const r = client(e) === 'berth'
      // as a user runs it: bin/berth as a program (through sh, see bin/berth)
      ? run(BERTH, ['compose', ...base, ...args], { env: e.env, timeout: 180_000 })
      : run(DC!, [...base, ...args], { env: e.env, timeout: 180_000 });
    return r.then((x) => {
      if (x.code !== 0) throw new Error(failureText(x));
      return x.ms;
    });
  };
  const runs = b.runs(5, 2);
  for (let i = 0; i < runs; i++) {
    const sample = async (row: typeof up, args: string[]) => {
      for (const e of b.live) {
        if (b.failed(row, e)) continue;
        if (client(e) === 'v1' && !DC) { b.fail(row, e, new Error('docker-compose (1.29) is not installed')); continue; }
        try {
          b.add(row, e, await cli(e, args));
        } catch (err) {
          b.fail(row, e, err);
        }
      }
    };
    await sample(up, ['up', '-d']);
    await sample(noop, ['up', '-d']);
    await sample(down, ['down', '-t', '1']);
  }
  for (const e of b.live) await e.removeAllContainers();
}

export const workload: Workload = {
  name: 'compose',
  description: '`compose up -d` (cold, no-op) and `down` of a 10-service project',
  order: 80,
  async run(b) {
    const file = projectFile();
    try {
      await phases(b, '', 'berth compose on berthd · docker-compose 1.29 on Docker', (e) => (e.key === 'berth' ? 'berth' : 'v1'), file);
      await phases(b, '-client', 'berth compose on both', () => 'berth', file);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  },
};
