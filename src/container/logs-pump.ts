// From conmon's spool to the container's log driver.
//
// conmon writes each container's output as k8s-file lines to a spool file
// (it has no json-file writer). berthd converts the spool into the driver's
// files: while the container runs (inotify on the spool, with a poll), at its
// exit (before waiters are told, so `wait` then `logs` sees everything), and
// at daemon start (catch-up after berthd was down: conmon kept appending to
// the file meanwhile, so nothing is lost and the container never blocks on
// a reader that died, as it would on a pipe).
//
// How far the spool is converted is kept in a small position file, updated
// after each batch (a crash in between repeats at most that batch). What is
// converted is given back to the disk by punching a hole at the start of the
// spool (conmon appends with O_APPEND, so offsets stay valid for attach).
import fs from 'node:fs';
import { parseLine, type LogEntry } from './logs';
import { punchHole } from '../host/sparse';
import { log } from '../util/log';

export interface LogSink {
  write(entries: LogEntry[]): void;
  close(): void;
}

/** Bytes converted between hole punches (one `fallocate` per this much output). */
const PUNCH_STEP = 4 * 1024 * 1024;
const CHUNK = 1024 * 1024;
/** Pause between conversions while output keeps coming (the exit converts the rest at once). */
const BATCH_MS = 100;
/** The shared poll's period; a pump whose inotify watch is armed is polled every SLOW_TICKS-th tick only. */
const POLL_MS = 500;
const SLOW_TICKS = 10;

/**
 * One timer for every following pump (not one per container): with 1,000
 * running containers, 1,000 intervals woke berthd 2,000 times a second
 * for a `stat` each. The poll only covers what inotify can miss (no watch
 * yet, a watch that failed), so a pump with an armed watch is polled
 * every 5 s and one without every 500 ms.
 */
const following = new Set<LogPump>();
let ticker: NodeJS.Timeout | undefined;
let tick = 0;

function startFollowing(p: LogPump): void {
  following.add(p);
  if (!ticker) {
    ticker = setInterval(() => {
      tick++;
      for (const q of following) q.poll(tick % SLOW_TICKS === 0);
    }, POLL_MS);
    ticker.unref();
  }
}

function stopFollowing(p: LogPump): void {
  following.delete(p);
  if (!following.size && ticker) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

export class LogPump {
  private pos: number;
  private punched = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private pending = false;
  private running = false;
  private watcher?: fs.FSWatcher;
  /** Set while following (between follow() and stop()). */
  private live = false;

  /** `sink` absent: the `none` driver (the spool is only consumed). */
  constructor(readonly spool: string, private readonly posFile: string, private readonly sink: LogSink | undefined) {
    this.pos = readPos(posFile);
    this.punched = Math.floor(this.pos / 4096) * 4096;
  }

  /** Spool offset up to which the driver's files hold the output. */
  get position(): number { return this.pos; }

  /** Runs `fn` while no batch is being written (a consistent view of files and position). */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const p = this.chain.then(() => fn());
    this.chain = p.catch(() => {});
    return p;
  }

  /** Converts what the spool holds now. */
  drain(): Promise<void> {
    return this.exclusive(() => this.drainOnce());
  }

  /** Keeps converting as conmon writes, until stop(). */
  follow(): void {
    this.live = true;
    startFollowing(this);
    this.kick();
  }

  /** The shared timer's tick: `all` also polls a pump whose watch is armed. */
  poll(all: boolean): void {
    if (all || !this.watcher) this.kick();
  }

  /**
   * One inotify event wakes the pump, then the watch is dropped until the
   * conversion is done: a watch left armed would deliver an event for each
   * of conmon's writes (one per line), which costs more than converting.
   */
  private arm(): void {
    if (this.watcher || !this.live) return;
    try {
      this.watcher = fs.watch(this.spool, () => {
        this.watcher?.close();
        this.watcher = undefined;
        this.kick();
      });
      this.watcher.on('error', () => { this.watcher?.close(); this.watcher = undefined; });
    } catch { return; /* not there yet: the poll finds it */ }
    // Output written between the last drain's stat and the watch has no
    // event: look once more rather than leave it to the slow poll.
    try {
      if (fs.statSync(this.spool).size !== this.pos) this.kick();
    } catch { /* gone: the exit converts the rest */ }
  }

  /** Coalesces bursts of inotify events into back-to-back drains. */
  private kick(): void {
    if (this.running) {
      this.pending = true;
      return;
    }
    this.running = true;
    void (async () => {
      do {
        this.pending = false;
        await this.drain().catch((e) => log.warn('log pump failed', { spool: this.spool, err: String(e) }));
        // A chatty container: convert in batches rather than once per conmon write.
        if (this.pending && this.live) await new Promise((r) => setTimeout(r, BATCH_MS));
      } while (this.pending && this.live);
      this.running = false;
      this.arm();
    })();
  }

  /** Stops following after converting everything written so far. */
  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    this.live = false;
    stopFollowing(this);
    await this.drain().catch((e) => log.warn('log pump failed', { spool: this.spool, err: String(e) }));
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.live = false;
    stopFollowing(this);
    this.sink?.close();
  }

  private async drainOnce(): Promise<void> {
    // The poll's usual case, every 500 ms for every running container: nothing
    // new. One stat, no open and no buffer (a 1 MiB buffer per poll was most
    // of an idle berthd's CPU with 100 containers).
    try {
      if (fs.statSync(this.spool).size === this.pos) return;
    } catch {
      return;
    }
    let fd: number;
    try {
      fd = fs.openSync(this.spool, 'r');
    } catch {
      return;
    }
    const start = this.pos;
    try {
      const size = fs.fstatSync(fd).size;
      // A spool shorter than what we converted was replaced (a new container dir): start over.
      if (size < this.pos) this.pos = this.punched = 0;
      const buf = Buffer.alloc(Math.min(CHUNK, Math.max(0, size - this.pos)));
      while (this.pos < size) {
        const n = fs.readSync(fd, buf, 0, Math.min(CHUNK, size - this.pos), this.pos);
        if (n <= 0) break;
        const data = buf.subarray(0, n);
        let end = data.lastIndexOf(0x0a);
        if (end < 0) {
          // A line longer than a chunk cannot come from conmon (it splits at 8 KiB); skip the chunk rather than stall.
          if (n === CHUNK) end = n - 1;
          else break;
        }
        const entries: LogEntry[] = [];
        let s = 0;
        while (s <= end) {
          const nl = data.indexOf(0x0a, s);
          const e = parseLine(data.subarray(s, nl));
          // No copy: the sink has written the batch before `buf` is read into again.
          if (e) entries.push(e);
          s = nl + 1;
        }
        this.sink?.write(entries);
        this.pos += end + 1;
      }
    } finally {
      fs.closeSync(fd);
    }
    if (this.pos !== start) {
      writePos(this.posFile, this.pos);
      if (this.pos - this.punched >= PUNCH_STEP) {
        const upTo = Math.floor(this.pos / 4096) * 4096;
        await punchHole(this.spool, upTo).then(() => { this.punched = upTo; }, (e) => log.debug('punch hole failed', { err: String(e) }));
      }
    }
  }
}

function readPos(file: string): number {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

function writePos(file: string, pos: number): void {
  fs.writeFileSync(`${file}.tmp`, String(pos));
  fs.renameSync(`${file}.tmp`, file);
}
