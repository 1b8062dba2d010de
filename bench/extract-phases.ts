// The phases of one layer extraction, in-process: what an import of a
// rootfs tar costs piece by piece, and what the machine can do at best.
//
//   node dist/bench/extract-phases.js [tar] [--runs N] [--only a,b,...] [--dir D]
//
// Phases (each run into a fresh dir under D, removed after):
//   read     read the file, nothing else
//   sha256   read + sha256 on the pool (the diffID)
//   parse    read + tar-stream parse, entries drained
//   apply    applyTar of the file, with tar-split (a pull's fallback, a load)
//   import   what an import does: 64 KiB chunks (a socket's) hashed on the
//            pool and passed to applyTar through a 1 MiB pipe, with tar-split
//   tarx     `tar -xf` of the same file (the limit the report quotes)
//   ceiling  every entry created from memory by the addon's batches, N jobs
//            at a time (dirs first on the JS thread): the pool's own limit
// Each prints wall ms, the process's CPU ms and the JS thread's busy share.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import * as tar from 'tar-stream';
import { applyTar } from '../src/host/storage/tar-apply';
import { SplitRecorder } from '../src/host/storage/tar-split';
import { poolDigestCounter } from '../src/host/storage/pool-digest';
import { pipeline } from 'node:stream/promises';
import { PassThrough, Writable } from 'node:stream';
import { fsrootNative } from '../src/host/native/addon';
import { settleRemovals } from './lib/host';

interface Result { wall: number; cpu: number; busy: number; js: number }

/** CPU ms of the JS thread alone (user + system; /proc, 10 ms ticks). */
function jsThreadCpu(): number {
  const f = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

async function measure(fn: () => Promise<void>): Promise<Result> {
  const j0 = jsThreadCpu();
  const c0 = process.cpuUsage();
  const e0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const e = performance.eventLoopUtilization(e0);
  return { wall, cpu: (c.user + c.system) / 1000, busy: e.utilization, js: jsThreadCpu() - j0 };
}

async function readAll(file: string, each?: (b: Buffer) => Promise<void> | void): Promise<void> {
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) if (each) await each(c);
}

async function parse(file: string): Promise<void> {
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => { ex.on('finish', resolve); ex.on('error', reject); });
  ex.on('entry', (_h, s, next) => { s.on('end', next); s.resume(); });
  fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(ex);
  await done;
}

type Item = [string, Buffer | string, number, number, number, number, number];

/** Reads the whole tar into create items (files and symlinks) and a dir list. */
async function loadItems(file: string, root: string): Promise<{ dirs: string[]; batches: Item[][] }> {
  const ex = tar.extract();
  const dirs: string[] = [];
  const items: Item[] = [];
  const done = new Promise<void>((resolve, reject) => { ex.on('finish', resolve); ex.on('error', reject); });
  ex.on('entry', (h, s, next) => {
    const p = path.join(root, path.normalize(h.name));
    const chunks: Buffer[] = [];
    s.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    s.on('end', () => {
      if (h.type === 'directory') dirs.push(p);
      else if (h.type === 'file') items.push([p, Buffer.concat(chunks), h.mode ?? 0o644, 0, 0, 0, 0]);
      else if (h.type === 'symlink') items.push([p, h.linkname ?? '', 0, 0, 0, 0, 0]);
      next();
    });
  });
  fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(ex);
  await done;
  const batches: Item[][] = [];
  let cur: Item[] = [];
  let bytes = 0;
  for (const it of items) {
    cur.push(it);
    bytes += typeof it[1] === 'string' ? 0 : it[1].length;
    if (cur.length >= 32 || bytes >= 1 << 20) { batches.push(cur); cur = []; bytes = 0; }
  }
  if (cur.length) batches.push(cur);
  return { dirs, batches };
}

async function ceiling(file: string, root: string, inFlight: number): Promise<Result> {
  const { dirs, batches } = await loadItems(file, root);
  const n = fsrootNative() as { createBatchAsync(items: Item[]): Promise<void> };
  return measure(async () => {
    for (const d of dirs) fs.mkdirSync(d, { recursive: true });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches.length) {
        const b = batches[next++]!;
        // A path listed twice (hard links are not items) is made once.
        await n.createBatchAsync(b).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'EEXIST') throw e; });
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (k: string): string | undefined => { const i = args.indexOf(k); return i >= 0 ? args.splice(i, 2)[1] : undefined; };
  const runs = Number(opt('--runs') ?? 3);
  const only = (opt('--only') ?? 'read,sha256,parse,apply,import,tarx,ceiling').split(',');
  const base = opt('--dir') ?? '/var/tmp/berth-extract-phases';
  const file = args[0] ?? '/tmp/berth-fixtures/debian-bookworm-20261205-1806694a274d.tar';
  fs.mkdirSync(base, { recursive: true });
  const fresh = (): string => fs.mkdtempSync(path.join(base, 'x-'));
  // after removing, the freed inodes must not be paid for by the next run (settleRemovals)
  const clean = (d: string): void => {
    fs.rmSync(d, { recursive: true, force: true });
    settleRemovals(file);
  };
  const phases: Record<string, () => Promise<Result>> = {
    read: () => measure(() => readAll(file)),
    sha256: () => measure(async () => {
      const h = poolDigestCounter();
      await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), h.stream, new Writable({ write(_c, _e, cb) { cb(); } }));
      h.digest();
    }),
    parse: () => measure(() => parse(file)),
    apply: async () => {
      const d = fresh();
      fs.mkdirSync(path.join(d, 'diff'));
      try {
        return await measure(async () => { await applyTar(file, path.join(d, 'diff'), undefined, new SplitRecorder(d)); });
      } finally { clean(d); }
    },
    import: async () => {
      const d = fresh();
      fs.mkdirSync(path.join(d, 'diff'));
      try {
        return await measure(async () => {
          const h = poolDigestCounter();
          const tap = new PassThrough({ highWaterMark: 1 << 20 });
          const applying = applyTar(tap, path.join(d, 'diff'), undefined, new SplitRecorder(d), true);
          applying.catch(() => {});
          await pipeline(fs.createReadStream(file, { highWaterMark: 64 << 10 }), h.stream, tap);
          await applying;
          h.digest();
        });
      } finally { clean(d); }
    },
    tarx: async () => {
      const d = fresh();
      try { return await measure(async () => { execFileSync('tar', ['-xf', file, '-C', d]); }); } finally { clean(d); }
    },
    ceiling: async () => {
      const d = fresh();
      try { return await ceiling(file, d, Number(process.env.IN_FLIGHT ?? 4)); } finally { clean(d); }
    },
  };
  for (let r = 0; r < runs; r++) {
    for (const k of only) {
      const ph = phases[k];
      if (!ph) throw new Error(`no phase ${k}`);
      const res = await ph();
      const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
      console.log(`${k.padEnd(8)} wall ${res.wall.toFixed(0).padStart(6)} ms  cpu ${res.cpu.toFixed(0).padStart(6)} ms  js-thread cpu ${res.js.toFixed(0).padStart(5)} ms  js-busy ${(res.busy * 100).toFixed(0).padStart(3)}%  load ${load}`);
    }
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
