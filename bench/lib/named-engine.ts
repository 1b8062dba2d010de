// An engine that only names a side (docker / berth) for workloads that start
// their own daemons (the swarm workload's clusters): no daemon of its own,
// nothing on the host to clean up.
import fs from 'node:fs';
import { Engine } from './engine';

export class NamedEngine extends Engine {
  readonly title: string;

  constructor(readonly key: string, root: string, logFile: string) {
    super(root, logFile);
    this.title = key === 'docker' ? 'Docker' : 'Berth';
  }

  async start(): Promise<void> {}

  isMonitor(): boolean {
    return false;
  }

  protected cleanupHost(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
