// Follows a conmon k8s-file log ("<time> stdout|stderr F|P <text>" per line)
// and hands the text on as it grows: RUN output streams while the step runs.
import fs from 'node:fs';

export class K8sLogFollower {
  private offset = 0;
  private rest = '';
  private timer?: NodeJS.Timeout;

  constructor(private readonly file: string, private readonly onText: (b: Buffer) => void) {}

  start(intervalMs = 100): void {
    this.timer = setInterval(() => this.poll(), intervalMs);
  }

  /** Read what is left and stop. */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.poll();
    if (this.rest) this.emitLine(this.rest);
    this.rest = '';
  }

  private poll(): void {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.rest += buf.subarray(0, n).toString('utf8');
      }
    } finally {
      fs.closeSync(fd);
    }
    const lines = this.rest.split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) this.emitLine(l);
  }

  private emitLine(line: string): void {
    const m = /^\S+ (?:stdout|stderr) ([FP]) ?(.*)$/.exec(line);
    if (!m) return;
    this.onText(Buffer.from(m[1] === 'F' ? m[2] + '\n' : m[2]));
  }
}
