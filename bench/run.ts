// Benchmark harness: Berth against Docker on this machine, side by side.
//
//   npm run bench            full run (node dist/bench/run.js)
//   npm run bench:quick      few runs per workload
//   node dist/bench/run.js [--quick] [--only name[,name]] [--engines docker,berth] [--profile]
//
// Starts a private dockerd and a private berthd (own sockets, data roots, exec
// roots, bridges), loads the busybox fixture into both, runs each workload
// with the official docker CLI against both engines interleaved, writes
// bench/results/<timestamp>/{report.md,results.json}, and removes everything
// it made, also on failure or Ctrl-C. It never asserts timings.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { busyboxArchive } from '../test/fixtures/busybox';
import { Bench, errorText } from './lib/bench';
import type { Engine } from './lib/engine';
import { DockerEngine } from './lib/docker-engine';
import { ensureCommand } from './lib/apt';
import { BerthEngine, REPO_ROOT } from './lib/berth-engine';
import { NamedEngine } from './lib/named-engine';
import { loadWorkloads } from './lib/registry';
import { machineInfo, writeResults } from './lib/report';
import { summarizeProfiles } from './lib/profile';
import { summarizeRequestLog } from './lib/reqlog';

const LOCK = '/tmp/berth-bench.lock';

interface Args {
  quick: boolean;
  only?: string[];
  engines: string[];
  profile: boolean;
  scaleSizes?: number[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, engines: ['docker', 'berth'], profile: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--quick') a.quick = true;
    else if (flag === '--only') a.only = value().split(',').filter(Boolean);
    else if (flag === '--engines') a.engines = value().split(',').filter(Boolean);
    else if (flag === '--profile') a.profile = true;
    else if (flag === '--scale-sizes') {
      a.scaleSizes = value().split(',').map(Number);
      if (a.scaleSizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--scale-sizes takes positive integers, e.g. 10,100,300');
    }
    else if (flag === '-h' || flag === '--help') {
      process.stdout.write('usage: node dist/bench/run.js [--quick] [--only name[,name]] [--engines docker,berth] [--profile] [--scale-sizes 10,100,1000]\n');
      process.exit(0);
    } else throw new Error(`unknown flag ${argv[i]}`);
  }
  return a;
}

/** One harness at a time: two would fight over Docker's fixed iptables chain names. */
function takeLock(): void {
  try {
    fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
  } catch {
    const pid = Number(fs.readFileSync(LOCK, 'utf8'));
    // an empty or foreign lock file (e.g. one flock(1) made) holds no pid: kill(0) would probe our own group
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      /* stale */
    }
    if (alive && pid > 0 && pid !== process.pid) throw new Error(`another benchmark run (pid ${pid}) holds ${LOCK}`);
    fs.writeFileSync(LOCK, String(process.pid));
  }
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (it starts two container engines)');
  const workloads = loadWorkloads().filter((w) => !args.only || args.only.includes(w.name));
  if (args.only) {
    const unknown = args.only.filter((n) => !workloads.some((w) => w.name === n));
    if (unknown.length) throw new Error(`no workload named ${unknown.join(', ')} (have: ${loadWorkloads().map((w) => w.name).join(', ')})`);
  }
  // Workloads that bring their own daemons (in their own network
  // namespaces) need no shared engines, but still the lock: two runs at
  // once share the 2 cores and time each other.
  const standalone = workloads.length > 0 && workloads.every((w) => w.ownEngines);
  takeLock();
  const started = new Date();
  const outDir = path.join(REPO_ROOT, 'bench', 'results', stamp(started));
  fs.mkdirSync(outDir, { recursive: true });
  const logLines: string[] = [];
  const log = (s: string): void => {
    const line = `[${((Date.now() - started.getTime()) / 1000).toFixed(1).padStart(6)}s] ${s}`;
    logLines.push(line);
    process.stdout.write(line + '\n');
  };

  const id = randomBytes(3).toString('hex');
  const tmp = fs.mkdtempSync('/tmp/berth-bench-');
  // bin/berth run as a program starts the user's resident CLI server
  // (src/cli/resident/): this run's is private, and ends with tmp (the
  // server leaves within seconds once its socket is gone).
  fs.mkdirSync(path.join(tmp, 'cli'), { mode: 0o700 });
  process.env.BERTH_CLI_SOCKET ??= path.join(tmp, 'cli', 'sock');
  const engines: Engine[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      log('stopping engines and cleaning up');
      await Promise.all(engines.map((e) => e.stop().catch((err) => log(`  ${e.key}: stop: ${errorText(err)}`))));
      fs.rmSync(tmp, { recursive: true, force: true });
    })());
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupted = true;
    log(`${sig}: interrupted`);
    const hard = setTimeout(() => process.exit(130), 120_000);
    void stopAll().finally(() => {
      clearTimeout(hard);
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const e of engines) e.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
    try {
      if (fs.readFileSync(LOCK, 'utf8') === String(process.pid)) fs.rmSync(LOCK);
    } catch {
      /* gone */
    }
  });

  try {
    if (standalone) {
      for (const k of args.engines) engines.push(new NamedEngine(k, path.join(tmp, k), path.join(outDir, `${k}.log`)));
    }
    if (args.engines.includes('docker')) {
      ensureCommand('dockerd', 'docker.io', log);
    }
    if (args.engines.includes('docker') && !standalone) {
      engines.push(new DockerEngine(path.join(tmp, 'docker'), path.join(outDir, 'dockerd.log'), id));
    }
    if (args.engines.includes('berth') && !standalone) {
      const profDir = args.profile ? path.join(outDir, 'profile') : undefined;
      engines.push(new BerthEngine(path.join(tmp, 'berth'), path.join(outDir, 'berthd.log'), id, { cpuProfDir: profDir, logLevel: args.profile ? 'debug' : 'info' }));
    }
    const archive = await busyboxArchive();
    for (const e of standalone ? [] : engines) {
      try {
        log(`starting ${e.title}`);
        await e.start();
        log(`  ${e.title} ${e.version} on ${e.socket}`);
      } catch (err) {
        e.brokenReason = `did not start: ${errorText(err)}`;
        log(`  ${e.title} ${e.brokenReason}`);
        continue;
      }
      try {
        await e.loadImage(archive);
      } catch (err) {
        e.brokenReason = `busybox load failed: ${errorText(err)}`;
        log(`  ${e.title} ${e.brokenReason}`);
      }
    }

    let current = '';
    const bench = new Bench(engines, { quick: args.quick, scaleSizes: args.scaleSizes }, log, () => current);
    for (const w of workloads) {
      if (interrupted) break;
      current = w.name;
      log(`workload ${w.name}: ${w.description}`);
      try {
        await w.run(bench);
      } catch (err) {
        log(`  workload ${w.name} aborted: ${errorText(err)}`);
        for (const r of bench.rows.filter((x) => x.workload === w.name))
          for (const e of bench.live) if (!r.results[e.key].summary) bench.fail(r, e, `workload aborted: ${errorText(err)}`);
        for (const e of bench.live) await e.removeAllContainers();
      }
    }

    if (interrupted) {
      await stopAll(); // the signal handler exits once this is done
      return 130;
    }
    const info = {
      date: started.toISOString(),
      command: ['node', 'dist/bench/run.js', ...process.argv.slice(2)].join(' '),
      mode: args.quick ? 'quick' : 'full',
      durationS: (Date.now() - started.getTime()) / 1000,
      machine: machineInfo(),
      engines: engines.map((e) => ({ key: e.key, title: e.title, version: e.version, error: e.brokenReason })),
    };
    const md = writeResults(outDir, info, bench.rows);
    process.stdout.write('\n' + md + '\n');
    await stopAll();
    if (args.profile) {
      const summary = [summarizeProfiles(path.join(outDir, 'profile')), summarizeRequestLog(path.join(outDir, 'berthd.log'))].filter(Boolean).join('\n');
      if (summary) {
        fs.writeFileSync(path.join(outDir, 'profile.md'), summary);
        process.stdout.write(summary + '\n');
      }
    }
    log(`results in ${path.relative(process.cwd(), outDir) || outDir}`);
    return 0;
  } finally {
    await stopAll();
    fs.writeFileSync(path.join(outDir, 'harness.log'), logLines.join('\n') + '\n');
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
