// Compose v2's progress output, on stderr. Plain (not a terminal, or
// `--progress plain`): one line per step, ` Container app-web-1  Started`.
// On a terminal (cmd/display/tty.go): a live block redrawn in place every
// 100 ms, `[+] Running 2/3` over one line per resource with a spinner (✔
// done, ✘ error), its status in an aligned column and its elapsed time at
// the right edge. `end()` draws it a last time; steps after that (the
// attached `up` prints logs below it) are single settled lines. `--progress
// quiet` prints nothing.
export type ProgressMode = 'auto' | 'tty' | 'plain' | 'quiet';

const DONE = new Set(['Created', 'Started', 'Running', 'Recreated', 'Stopped', 'Removed', 'Pulled', 'Built', 'Healthy', 'Exited', 'Killed', 'Paused', 'Unpaused', 'Restarted', 'Skipped', 'Waiting']);
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

const green = (s: string) => `\x1b[32m${s}\x1b[0m`;
const redBold = (s: string) => `\x1b[1;31m${s}\x1b[0m`;
const yellow = (s: string) => `\x1b[33m${s}\x1b[0m`;
const blue = (s: string) => `\x1b[34m${s}\x1b[0m`;

interface Task {
  label: string;
  status: string;
  state: 'working' | 'done' | 'error';
  start: number;
  end?: number;
}

export interface LiveOptions {
  /** Terminal width (columns); 80 when unknown. */
  width?: () => number;
  now?: () => number;
  /** The block's title, as Compose's operation name. */
  title?: string;
}

export class Progress {
  private readonly tty: boolean;
  readonly quiet: boolean;
  private live: boolean;
  private readonly tasks = new Map<string, Task>();
  private drawn = 0;
  private ticker?: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly width: () => number;
  private readonly title: string;
  /** Set by the attached `up`: starting steps are not shown live (logs follow them), as Compose does. */
  attached = false;

  constructor(private readonly write: (s: string) => void, mode: ProgressMode, isTTY: boolean, o: LiveOptions = {}) {
    this.quiet = mode === 'quiet';
    this.tty = mode === 'tty' || (mode === 'auto' && isTTY);
    this.live = this.tty;
    this.now = o.now ?? Date.now;
    this.width = o.width ?? (() => 80);
    this.title = o.title ?? 'Running';
  }

  /** One step of one resource (kind: Container, Network, Volume, Image, or a service name). */
  event(kind: string, name: string, status: string, error = false): void {
    if (this.quiet) return;
    const label = kind ? `${kind} ${name}` : name;
    if (this.tty && this.attached && (status === 'Starting' || status === 'Started')) return;
    if (this.live) {
      const state = error ? 'error' : DONE.has(status) && status !== 'Waiting' ? 'done' : 'working';
      const t = this.tasks.get(label);
      const now = this.now();
      if (!t) this.tasks.set(label, { label, status, state, start: now, ...(state !== 'working' ? { end: now } : {}) });
      else {
        if (t.state !== 'working' && state === 'working') t.start = now;
        Object.assign(t, { status, state, end: state !== 'working' ? now : undefined });
      }
      this.render();
      this.tick();
      return;
    }
    if (this.tty) {
      // after the live block: settled states only, one line each
      if (!DONE.has(status) && !error) return;
      this.write(` ${error ? '\u2718' : '\u2714'} ${label}  ${status}\n`);
    } else this.write(` ${label}  ${status}\n`);
  }

  /** A warning line as compose's logrus writes it (above the live block). */
  warn(msg: string): void {
    if (this.live && this.drawn) {
      // wipe the block, print the warning, draw the block again below it
      this.write(`\x1b[${this.drawn}A\x1b[0G\x1b[J`);
      this.drawn = 0;
      this.write(`WARN[0000] ${msg}\n`);
      this.render();
      return;
    }
    this.write(`WARN[0000] ${msg}\n`);
  }

  /** Draw the live block a last time and stop redrawing; later steps print as settled lines. */
  end(): void {
    if (!this.live) return;
    if (this.tasks.size) this.render();
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    this.live = false;
  }

  /** Redraw every 100 ms while a step is in progress (spinner, elapsed time); never keeps the process alive. */
  private tick(): void {
    const working = [...this.tasks.values()].some((t) => t.state === 'working');
    if (working && !this.ticker) {
      this.ticker = setInterval(() => this.render(), 100);
      this.ticker.unref();
    } else if (!working && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  private render(): void {
    const width = Math.max(this.width() || 80, 20);
    const now = this.now();
    const tasks = [...this.tasks.values()];
    const done = tasks.filter((t) => t.state !== 'working').length;
    const timers = tasks.map((t) => `${(((t.end ?? now) - t.start) / 1000).toFixed(1)}s`);
    const timerLen = Math.max(...timers.map((s) => s.length));
    // status column: after the longest " ✔ <label>"
    let labelMax = Math.max(...tasks.map((t) => t.label.length));
    const statusMax = Math.max(...tasks.map((t) => t.status.length));
    // too wide: shorten the labels first (never below 10), as Compose truncates task ids
    const overflow = 3 + labelMax + 1 + statusMax + 1 + timerLen - width;
    if (overflow > 0) labelMax = Math.max(10, labelMax - overflow);
    let out = this.drawn ? `\x1b[?25l\x1b[${this.drawn}A\x1b[0G` : '\x1b[?25l';
    out += `[+] ${this.title} ${done}/${tasks.length}\x1b[K\n`;
    tasks.forEach((t, i) => {
      const frame = SPINNER[Math.floor((now - t.start) / 100) % SPINNER.length];
      const mark = t.state === 'done' ? green('✔') : t.state === 'error' ? redBold('✘') : yellow(frame);
      const label = t.label.length > labelMax ? `${t.label.slice(0, labelMax - 1)}…` : t.label;
      const status = t.state === 'done' ? green(t.status) : t.state === 'error' ? redBold(t.status) : t.status;
      const used = 3 + labelMax + 1 + t.status.length;
      const timer = timers[i].padStart(timerLen);
      out += ` ${mark} ${label.padEnd(labelMax)} ${status}${' '.repeat(Math.max(width - used - timerLen, 1))}${blue(timer)}\x1b[K\n`;
    });
    out += '\x1b[?25h';
    this.write(out);
    this.drawn = tasks.length + 1;
  }
}
