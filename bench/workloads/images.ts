// Workload: making images from real amounts of data — `docker import` of a
// ~170 MB Debian rootfs (the mmdebstrap fixture of test/fixtures/debian.ts,
// or a generated tree of similar size and file count when mmdebstrap cannot
// make one), `docker commit` of a container that wrote 100 MB, and a build
// step (`RUN dd`) that writes 100 MB. Beside each row, the limit: `tar -x`
// of the same bytes into the same file system.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import type { Bench, Row, Workload } from '../lib/bench';
import type { Engine } from '../lib/engine';
import { failureText, run } from '../lib/proc';
import { settleRemovals } from '../lib/host';
import { summarize } from '../lib/stats';
import { debianRootfs } from '../../test/fixtures/debian';

const MB = 100;

/** A rootfs-like tree (~8,700 files, ~170 MB, mixed sizes and text/binary) as a tar, when there is no Debian fixture. */
function generatedRootfs(dir: string): string {
  const out = path.join(dir, 'generated-rootfs.tar');
  if (fs.existsSync(out)) return out;
  const root = path.join(dir, 'generated-rootfs');
  for (let d = 0; d < 300; d++) {
    const sub = path.join(root, 'usr', `d${d}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 29; f++) {
      const size = f === 0 ? 400_000 : 2_000 + ((d * 29 + f) % 13) * 1_000;
      const body = f % 2 ? randomBytes(size) : Buffer.from('line of text\n'.repeat(Math.ceil(size / 13))).subarray(0, size);
      fs.writeFileSync(path.join(sub, `f${f}`), body);
    }
  }
  execFileSync('tar', ['-C', root, '-cf', out, '.']);
  fs.rmSync(root, { recursive: true, force: true });
  return out;
}

/**
 * `n` copies of `file`, each with one small file of its own appended: a
 * different diffID each, so neither engine finds the layer it already has
 * (and drops the new extraction: a removal) and no sample needs an rmi first.
 */
function variants(file: string, dir: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = path.join(dir, `variant-${i}.tar`);
    const extra = path.join(dir, `variant-${i}`);
    fs.mkdirSync(extra, { recursive: true });
    fs.writeFileSync(path.join(extra, `bench-variant-${i}`), `${i}\n`);
    fs.copyFileSync(file, v);
    execFileSync('tar', ['-rf', v, '-C', extra, `bench-variant-${i}`]);
    fs.rmSync(extra, { recursive: true });
    out.push(v);
  }
  return out;
}

/**
 * Median ms of `tar -xf file` into a fresh dir under `dir` (the limit), `runs`
 * times; the dirs go at the end, or into `keep` for the caller to remove.
 */
async function tarLimit(file: string, dir: string, runs: number, keep?: string[]): Promise<number> {
  const ms: number[] = [];
  const dests: string[] = keep ?? [];
  try {
    settleRemovals(file);
    for (let i = 0; i < runs; i++) {
      const dest = fs.mkdtempSync(path.join(dir, 'limit-'));
      dests.push(dest);
      const r = await run('tar', ['-xf', file, '-C', dest], { timeout: 300_000 });
      if (r.code !== 0) throw new Error(`tar -x: ${failureText(r)}`);
      ms.push(r.ms);
    }
  } finally {
    if (!keep) {
      for (const d of dests) fs.rmSync(d, { recursive: true, force: true });
      settleRemovals();
    }
  }
  return summarize(ms)!.median;
}

function noteLimit(row: Row, what: string, ms: number): void {
  row.note = `limit: ${what} ${ms.toFixed(0)} ms (median; Berth ${fmtRatio(row, ms, 'berth')}, Docker ${fmtRatio(row, ms, 'docker')} of it)`;
}

function fmtRatio(row: Row, limit: number, key: string): string {
  const m = row.results[key]?.summary?.median;
  return m === undefined ? '?' : `${(m / limit).toFixed(1)}×`;
}

async function rmi(e: Engine, ref: string): Promise<void> {
  await e.docker(['rmi', '-f', ref]);
}

async function importRow(b: Bench, work: string): Promise<void> {
  const deb = await debianRootfs();
  const file = deb.tar ?? generatedRootfs(work);
  const mb = (fs.statSync(file).size / 2 ** 20).toFixed(0);
  const row = b.row('import', `\`import\` of a ${mb} MB rootfs tar (${deb.tar ? 'Debian bookworm' : 'generated'})`, 'ms', { target: { minRatio: 2 } });
  const runs = b.runs(5, 3);
  const warmup = 1;
  const inputs = variants(file, work, (runs + warmup) * b.live.length);
  const made: Array<[Engine, string]> = [];
  const limitDirs: string[] = [];
  let n = 0;
  let limit = 0;
  try {
    // the limit first, its dirs kept: removed before it, it would pay for the imports' removals
    limit = await tarLimit(file, work, b.runs(5, 3), limitDirs);
    settleRemovals(...inputs); // read from memory, as the limit's input
    await b.interleave(row, runs, async (e) => {
      const ref = `bench-import:${n}`;
      const r = await e.docker(['import', inputs[n++], ref], { timeout: 600_000 });
      if (r.code !== 0) throw new Error(failureText(r));
      made.push([e, ref]);
      return r.ms;
    }, warmup);
  } finally {
    for (const [e, ref] of made) await rmi(e, ref);
    for (const v of [...inputs, ...limitDirs]) fs.rmSync(v, { recursive: true, force: true });
    settleRemovals();
  }
  noteLimit(row, `\`tar -x\` of the same ${mb} MB`, limit);
}

async function commitRow(b: Bench, work: string): Promise<void> {
  const row = b.row('commit', `\`commit\` of a container that wrote ${MB} MB`, 'ms', { target: { minRatio: 2 } });
  let n = 0;
  await b.interleave(row, b.runs(5, 3), async (e) => {
    const ref = `bench-commit:${++n}`;
    const c = (await e.must(['run', '-d', 'busybox', 'sh', '-c', `dd if=/dev/urandom of=/data.bin bs=1M count=${MB} 2>/dev/null; sleep 1000`], { timeout: 120_000 })).stdout.trim();
    // Wait until the file is whole (dd done), so commit copies all of it.
    const end = Date.now() + 120_000;
    for (;;) {
      const s = await e.docker(['exec', c, 'sh', '-c', `test "$(stat -c %s /data.bin)" = ${MB * 1024 * 1024} && ! pidof dd`]);
      if (s.code === 0) break;
      if (Date.now() > end) throw new Error('dd in the container did not finish');
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await e.docker(['commit', c, ref], { timeout: 300_000 });
    await e.docker(['rm', '-f', c]);
    await rmi(e, ref);
    if (r.code !== 0) throw new Error(failureText(r));
    return r.ms;
  }, 1);
  noteLimit(row, `\`tar -x\` of a ${MB} MB file's tar`, await tarLimit(bigTar(work), work, b.runs(5, 2)));
}

async function buildRow(b: Bench, work: string): Promise<void> {
  const row = b.row('build-write', `\`build\`: one \`RUN dd\` step writing ${MB} MB (--no-cache)`, 'ms', { target: { minRatio: 2 } });
  const ctx = path.join(work, 'build-write-ctx');
  fs.mkdirSync(ctx, { recursive: true });
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM busybox\nRUN dd if=/dev/urandom of=/data.bin bs=1M count=${MB} 2>/dev/null\n`);
  let n = 0;
  await b.interleave(row, b.runs(5, 3), async (e) => {
    const ref = `bench-build-write:${++n}`;
    const r = await e.docker(['build', '--no-cache', '-q', '-t', ref, ctx], { timeout: 300_000, env: { DOCKER_BUILDKIT: '0' } });
    await rmi(e, ref);
    if (r.code !== 0) throw new Error(failureText(r));
    return r.ms;
  }, 1);
  noteLimit(row, `\`tar -x\` of a ${MB} MB file's tar (the \`dd\` itself and a container run come on top)`, await tarLimit(bigTar(work), work, b.runs(5, 2)));
}

function bigTar(work: string): string {
  const out = path.join(work, 'big.tar');
  if (fs.existsSync(out)) return out;
  const src = path.join(work, 'big');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'data.bin'), randomBytes(MB * 1024 * 1024));
  execFileSync('tar', ['-C', src, '-cf', out, '.']);
  fs.rmSync(src, { recursive: true, force: true });
  return out;
}

export const workload: Workload = {
  name: 'images',
  description: '`import` of a ~170 MB rootfs, `commit` of 100 MB, a build step writing 100 MB (with `tar -x` beside)',
  order: 65,
  async run(b) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-images-'));
    try {
      await importRow(b, work);
      await commitRow(b, work);
      await buildRow(b, work);
    } finally {
      for (const e of b.live) await e.removeAllContainers();
      fs.rmSync(work, { recursive: true, force: true });
    }
  },
};
