// What a workload sees: the engines, the run counts for this mode, and
// helpers that interleave the engines run by run and record each row.
import type { Engine } from './engine';
import { summarize, type Summary } from './stats';

export type Unit = 'ms' | 's' | 'MiB';

/** A target from the issue: a minimum Docker/Berth ratio or a ceiling for Berth. */
export interface Target {
  minRatio?: number;
  maxBerth?: number;
}

export interface EngineResult {
  samples: number[];
  summary?: Summary;
  /** Why this engine has no (or incomplete) numbers for the row. */
  error?: string;
}

export interface Row {
  workload: string;
  id: string;
  title: string;
  unit: Unit;
  target?: Target;
  note?: string;
  results: Record<string, EngineResult>;
}

export interface Workload {
  /** Used by --only; also the file name under bench/workloads/. */
  name: string;
  description: string;
  /** Position in the report (lower first). */
  order: number;
  /** Starts its own daemons (swarm clusters): run alone, the harness starts none and takes no lock. */
  ownEngines?: boolean;
  run(b: Bench): Promise<void>;
}

export interface Mode {
  quick: boolean;
  /** Fleet sizes for the scale workload (--scale-sizes). */
  scaleSizes?: number[];
}

export class Bench {
  readonly rows: Row[] = [];

  constructor(
    readonly engines: Engine[],
    readonly mode: Mode,
    readonly log: (s: string) => void,
    private readonly workload: () => string,
  ) {}

  /** Engines that started and have the image; broken ones get their reason in every row. */
  get live(): Engine[] {
    return this.engines.filter((e) => !e.brokenReason);
  }

  /** full-mode count, or the quick-mode one. */
  runs(full: number, quick: number): number {
    return this.mode.quick ? quick : full;
  }

  /** Creates (or returns) a row; engines that are broken are marked failed in it. */
  row(id: string, title: string, unit: Unit, extra: { target?: Target; note?: string } = {}): Row {
    let r = this.rows.find((x) => x.id === id && x.workload === this.workload());
    if (!r) {
      r = { workload: this.workload(), id, title, unit, ...extra, results: {} };
      for (const e of this.engines) r.results[e.key] = e.brokenReason ? { samples: [], error: e.brokenReason } : { samples: [] };
      this.rows.push(r);
    }
    return r;
  }

  add(row: Row, e: Engine, value: number): void {
    const res = row.results[e.key];
    res.samples.push(value);
    res.summary = summarize(res.samples);
  }

  fail(row: Row, e: Engine, err: unknown): void {
    const res = row.results[e.key];
    if (res.error) return;
    res.error = errorText(err);
    this.log(`  ${row.id} ${e.key}: failed: ${res.error}`);
  }

  failed(row: Row, e: Engine): boolean {
    return !!row.results[e.key].error;
  }

  /**
   * Runs `sample` `runs` times per live engine, alternating which engine
   * goes first each run; `warmup` extra runs are discarded. An engine that
   * fails once is marked failed for the row and not sampled again.
   */
  async interleave(row: Row, runs: number, sample: (e: Engine, i: number) => Promise<number>, warmup = 0): Promise<void> {
    for (let i = -warmup; i < runs; i++) {
      if (this.engines.every((e) => e.stopped)) return; // interrupted
      const order = (i + warmup) % 2 === 0 ? this.live : [...this.live].reverse();
      for (const e of order) {
        if (this.failed(row, e)) continue;
        try {
          const v = await sample(e, i);
          if (i >= 0) this.add(row, e, v);
        } catch (err) {
          this.fail(row, e, err);
        }
      }
    }
    const parts = this.live.map((e) => {
      const s = row.results[e.key].summary;
      return `${e.key} ${s ? s.median.toFixed(row.unit === 'ms' ? 0 : 2) : 'failed'}`;
    });
    this.log(`  ${row.title}: ${parts.join(', ')} ${row.unit} (median)`);
  }

  /** Runs `fn` for each live engine, turning a throw into that engine's failure in `rows`. */
  async each(rows: Row[], fn: (e: Engine) => Promise<void>): Promise<void> {
    for (const e of this.live) {
      try {
        await fn(e);
      } catch (err) {
        for (const r of rows) this.fail(r, e, err);
      }
    }
  }
}

export function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].replace(/\s+/g, ' ').slice(0, 200);
}
