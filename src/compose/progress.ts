// Compose v2's progress lines: ` Container app-web-1  Started`. On a
// terminal a finished step gets a ✔ (or ✘ on error); `--progress quiet`
// prints nothing. Written to stderr, as Compose does.
export type ProgressMode = 'auto' | 'tty' | 'plain' | 'quiet';

const DONE = new Set(['Created', 'Started', 'Running', 'Recreated', 'Stopped', 'Removed', 'Pulled', 'Built', 'Healthy', 'Exited', 'Killed', 'Paused', 'Unpaused', 'Restarted', 'Skipped', 'Waiting']);

export class Progress {
  private readonly tty: boolean;
  constructor(private readonly write: (s: string) => void, mode: ProgressMode, isTTY: boolean) {
    this.quiet = mode === 'quiet';
    this.tty = mode === 'tty' || (mode === 'auto' && isTTY);
  }
  readonly quiet: boolean;

  /** One step of one resource (kind: Container, Network, Volume, Image, or a service name). */
  event(kind: string, name: string, status: string, error = false): void {
    if (this.quiet) return;
    const label = kind ? `${kind} ${name}` : name;
    if (this.tty) {
      // only settled states on a terminal: no live redraw, one line each
      if (!DONE.has(status) && !error) return;
      this.write(` ${error ? '\u2718' : '\u2714'} ${label}  ${status}\n`);
    } else this.write(` ${label}  ${status}\n`);
  }

  /** A warning line as compose's logrus writes it. */
  warn(msg: string): void {
    this.write(`WARN[0000] ${msg}\n`);
  }
}
