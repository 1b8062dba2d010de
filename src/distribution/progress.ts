// Docker's JSON-lines progress messages (jsonmessage.JSONMessage), as the
// docker CLI renders them into progress bars.

export interface JSONMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message: string; code?: number };
  aux?: unknown;
}

/** Where a pull or push reports progress (the route turns it into a response stream). */
export interface ProgressSink {
  write(m: JSONMessage): void;
}

function human(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(i === 0 ? 0 : 3 - Math.floor(Math.log10(Math.max(v, 1))))}${units[i]}`;
}

/** The `progress` text docker shows for old clients: `[==>   ]  1.2MB/3.4MB`. */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return human(current);
  const width = 50;
  const filled = Math.min(width, Math.floor((current / total) * width));
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (filled === width ? '=' : '>') : '') + ' '.repeat(width - filled);
  return `[${bar}] ${human(current)}/${human(total)}`;
}

/** Rate-limited progress for one layer (every ~100 ms, plus the final update). */
export class LayerProgress {
  private last = 0;
  constructor(
    private readonly sink: ProgressSink,
    readonly id: string,
    private readonly status: string,
    private readonly total: number,
  ) {}

  update(current: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    this.sink.write({ status: this.status, progressDetail: { current, total: this.total }, progress: progressBar(current, this.total), id: this.id });
  }
}

export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
