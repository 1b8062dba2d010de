// A few network namespaces made ahead (empty, lo up), so a container's start
// takes one instead of making it: the namespace's creation (unshare on a
// thread, its bind mount, the kernel's per-namespace set-up) leaves the
// start's critical path. Filled after the first start and refilled when no
// start has come for a while; drained at daemon stop, swept at start-up
// (a crash's leftovers), and named `<tag>_p<hex>`, never like a container's
// `<tag>-<id>`, so nothing mistakes one for a container's.
import { randomBytes } from 'node:crypto';
import * as ip from '../host/network/ip';
import { log } from '../util/log';

/** How long no start must have come before the pool is refilled. */
const IDLE_MS = 150;

export class NetnsPool {
  private readonly spare: string[] = [];
  private filling?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private lastUse = 0;
  private stopped = false;
  /** Set when the host cannot make spares (no rtnetlink addon): the pool stays empty. */
  private unsupported = false;

  constructor(
    private readonly tag: string,
    readonly size: number,
  ) {}

  /** Names of this daemon's spares (also a crashed one's): `<tag>_p` and 8 hex digits. */
  isSpare(name: string): boolean {
    return new RegExp(`^${this.tag}_p[0-9a-f]{8}$`).test(name);
  }

  /** Spares on the host now (for tests and the sweep). */
  held(): string[] {
    return [...this.spare];
  }

  /** Start-up: namespaces a previous run left in the pool are removed. */
  async sweep(): Promise<void> {
    for (const ns of ip.listNetns()) {
      if (this.isSpare(ns)) await ip.deleteNetns(ns).catch((e) => log.warn('cannot remove a spare network namespace', { netns: ns, err: String(e) }));
    }
  }

  /**
   * Gives a spare the name `name` (which must not exist); false when none is
   * ready (the caller makes the namespace itself). Schedules a refill.
   */
  async take(name: string): Promise<boolean> {
    this.lastUse = Date.now();
    this.schedule();
    const spare = this.spare.pop();
    if (!spare) return false;
    try {
      await ip.adoptNetns(spare, name);
      return true;
    } catch (e) {
      log.warn('a spare network namespace could not be adopted', { netns: spare, err: String(e) });
      await ip.deleteNetns(spare).catch(() => {});
      return false;
    }
  }

  private schedule(): void {
    if (this.stopped || this.unsupported || this.size <= 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (Date.now() - this.lastUse < IDLE_MS) return this.schedule();
      if (!this.filling) this.filling = this.fill().finally(() => (this.filling = undefined));
    }, IDLE_MS);
    this.timer.unref();
  }

  /** One spare at a time until full; stops when a start comes meanwhile (and refills after it). */
  private async fill(): Promise<void> {
    while (!this.stopped && this.spare.length < this.size) {
      if (Date.now() - this.lastUse < IDLE_MS) return this.schedule();
      const name = `${this.tag}_p${randomBytes(4).toString('hex')}`;
      try {
        if (!(await ip.makeSpareNetns(name))) {
          this.unsupported = true;
          return;
        }
      } catch (e) {
        log.warn('cannot make a spare network namespace', { netns: name, err: String(e) });
        return;
      }
      if (this.stopped) {
        await ip.deleteNetns(name).catch(() => {});
        return;
      }
      this.spare.push(name);
    }
  }

  /** Daemon stop: no more refills; every spare removed. */
  async drain(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.filling;
    const all = this.spare.splice(0);
    await Promise.all(all.map((ns) => ip.deleteNetns(ns).catch((e) => log.warn('cannot remove a spare network namespace', { netns: ns, err: String(e) }))));
  }
}
