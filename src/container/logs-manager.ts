// Each container's log: where conmon's spool is, which driver turns it into
// files (one LogPump per container while it has output to convert), and
// reading it back for `docker logs`. Records from before log drivers
// (k8s-file) have no pump: their spool is their log.
import path from 'node:path';
import { LogReader, type LogEntry } from './logs';
import { LogPump } from './logs-pump';
import { RotatingLogFile, codecFor, readLogFiles } from './logs-files';
import { driverFile, settingsOf, type LogSettings } from './logs-driver';
import { BerthError } from '../util/errors';
import type { ContainerRecord } from './types';

export class LogManager {
  private readonly pumps = new Map<string, LogPump>();

  constructor(private readonly dirOf: (id: string) => string) {}

  settings(c: ContainerRecord): LogSettings {
    return settingsOf(c.hostConfig.LogConfig, c.logPath);
  }

  /** The file conmon writes (k8s-file lines); attach follows it whatever the driver. */
  spoolPath(c: ContainerRecord): string {
    return this.settings(c).driver === 'k8s-file' ? c.logPath : path.join(this.dirOf(c.id), 'output.spool');
  }

  private pump(c: ContainerRecord): LogPump | undefined {
    const s = this.settings(c);
    if (s.driver === 'k8s-file') return undefined;
    let p = this.pumps.get(c.id);
    if (!p) {
      const dir = this.dirOf(c.id);
      const codec = codecFor(s.driver);
      const sink = codec ? new RotatingLogFile(driverFile(dir, c.id, s.driver), s, codec) : undefined;
      p = new LogPump(path.join(dir, 'output.spool'), path.join(dir, 'output.pos'), sink);
      this.pumps.set(c.id, p);
    }
    return p;
  }

  /** The container runs (started, or found running at daemon start): convert as it writes. */
  onRunning(c: ContainerRecord): void {
    const p = this.pump(c);
    if (p && !this.following.has(c.id)) {
      this.following.add(c.id);
      p.follow();
    }
  }

  private readonly following = new Set<string>();

  /** The container exited: convert the rest (conmon wrote all before the exit file). */
  async onExit(c: ContainerRecord): Promise<void> {
    const p = this.pump(c);
    if (!p) return;
    this.following.delete(c.id);
    await p.stop();
    this.pumps.delete(c.id);
    p.close();
  }

  /** A stopped container at daemon start: convert what conmon wrote while we were away. */
  async catchUp(c: ContainerRecord): Promise<void> {
    if (this.settings(c).driver === 'k8s-file') return;
    await this.onExit(c);
  }

  /** The container is being removed: its files go with its directory. */
  forget(id: string): void {
    this.following.delete(id);
    this.pumps.get(id)?.close();
    this.pumps.delete(id);
  }

  /** `docker logs` works (every driver but none). */
  readable(c: ContainerRecord): boolean {
    return this.settings(c).driver !== 'none';
  }

  /** Docker's answer to `docker logs` of a container whose driver keeps nothing. */
  checkReadable(c: ContainerRecord): void {
    if (!this.readable(c)) throw new BerthError('configured logging driver does not support reading', 501);
  }

  /**
   * Past output for `docker logs`, and the spool offset where following
   * continues (every entry before it is in `entries`, none after).
   */
  async history(c: ContainerRecord): Promise<{ entries: LogEntry[]; followFrom: number }> {
    const s = this.settings(c);
    this.checkReadable(c);
    if (s.driver === 'k8s-file') {
      const entries: LogEntry[] = [];
      const reader = new LogReader(c.logPath, 0, (e) => entries.push(e));
      await reader.read();
      return { entries, followFrom: LogReader.sizeOf(c.logPath) };
    }
    const transient = !this.pumps.has(c.id);
    const p = this.pump(c)!;
    const file = driverFile(this.dirOf(c.id), c.id, s.driver);
    try {
      await p.drain();
      return await p.exclusive(() => ({ entries: readLogFiles(file, s, codecFor(s.driver)!), followFrom: p.position }));
    } finally {
      if (transient && !this.following.has(c.id) && this.pumps.get(c.id) === p) this.forget(c.id);
    }
  }
}
