// What the namespace-cluster workloads (swarm, swarm-services) share: a
// fresh cluster per run that is torn down and checked for leftovers even
// when the run throws or the process exits, runs that alternate which
// engine goes first, polling with a bound, and the closing medians line.
import type { Bench, Row } from './bench';
import type { Engine } from './engine';
import { startCluster, type Cluster, type ClusterHost, type ClusterOptions } from '../../test/helpers/cluster';
import { sleep } from './proc';

/** Polls every 200 ms until `pred` holds (a throwing probe is "not yet"); the elapsed seconds since t0. */
export async function secondsUntil(t0: number, limitS: number, what: string, pred: () => Promise<boolean>): Promise<number> {
  while ((performance.now() - t0) / 1000 < limitS) {
    if (await pred().catch(() => false)) return (performance.now() - t0) / 1000;
    await sleep(200);
  }
  throw new Error(`${what}: not within ${limitS} s`);
}

/**
 * Starts one host per name, each with this engine's daemon (berthd, or
 * dockerd for the docker engine), records the engine's version, runs `fn`,
 * then destroys the cluster and logs anything it left behind.
 */
export async function withCluster(b: Bench, e: Engine, names: string[], fn: (hosts: ClusterHost[]) => Promise<void>, opts: Pick<ClusterOptions, 'dockerBridge'> = {}): Promise<void> {
  let cluster: Cluster | undefined;
  const onExit = () => cluster?.destroySync();
  process.once('exit', onExit);
  try {
    const engine = e.key === 'docker' ? 'dockerd' : 'berthd';
    b.log(`  ${e.key}: starting ${names.length} hosts (${engine} each)`);
    cluster = await startCluster(names.length, { engine, names, startTimeout: 120_000, debug: false, ...opts });
    e.version ||= (await cluster.hosts[0].docker(['version', '--format', '{{.Server.Version}}'])).stdout.trim();
    await fn(cluster.hosts);
  } finally {
    if (cluster) {
      await cluster.destroy();
      const left = await cluster.leftovers();
      if (left.length) b.log(`  ${e.key}: LEFT BEHIND: ${left.join('; ')}`);
    }
    process.removeListener('exit', onExit);
  }
}

/**
 * `runs` runs per live engine, alternating which engine goes first (as
 * interleave() does); an engine with a failed row is not run again, and a
 * run's error goes to `onError`.
 */
export async function alternatingRuns(b: Bench, rows: Record<string, Row>, runs: number,
  run: (e: Engine, i: number) => Promise<void>, onError: (e: Engine, err: unknown) => void): Promise<void> {
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? b.live : [...b.live].reverse();
    for (const e of order) {
      if (Object.values(rows).some((r) => b.failed(r, e))) continue;
      try {
        await run(e, i);
      } catch (err) {
        onError(e, err);
      }
    }
  }
}

/** One line per row: each engine's median (`digits` decimals) or its error. */
export function logMedians(b: Bench, rows: Record<string, Row>, digits: (r: Row) => number): void {
  for (const r of Object.values(rows)) {
    b.log(`  ${r.title}: ${b.live.map((e) => `${e.key} ${r.results[e.key].summary?.median.toFixed(digits(r)) ?? r.results[e.key].error ?? 'failed'}`).join(', ')} ${r.unit} (median)`);
  }
}
