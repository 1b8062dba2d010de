// runc, run through execHost with the daemon's own --root (each daemon, and
// so each test daemon, keeps its container states apart).
import { execHost, HostExecError } from '../exec';

export interface RuncState { status: string; pid: number }

export class Runc {
  constructor(readonly bin: string, readonly root: string) {}

  private args(a: string[]): string[] {
    return ['--root', this.root, ...a];
  }

  async start(id: string): Promise<void> {
    await execHost(this.bin, this.args(['start', id]), { timeout: 30_000 });
  }

  async kill(id: string, signal: string | number): Promise<void> {
    await execHost(this.bin, this.args(['kill', id, String(signal)]), { timeout: 10_000 });
  }

  /** Removes runc's state and the container's cgroups; no error when already gone. */
  async delete(id: string): Promise<void> {
    const r = await execHost(this.bin, this.args(['delete', '--force', id]), { timeout: 30_000, allowFailure: true });
    if (r.code !== 0 && !/does not exist|not exist|no such/i.test(r.stderr)) {
      throw new HostExecError(this.bin, this.args(['delete', '--force', id]), r.code, r.stderr);
    }
  }

  async state(id: string): Promise<RuncState | undefined> {
    const r = await execHost(this.bin, this.args(['state', id]), { timeout: 10_000, allowFailure: true });
    if (r.code !== 0) return undefined;
    try {
      const s = JSON.parse(r.stdout) as { status: string; pid: number };
      return { status: s.status, pid: s.pid };
    } catch {
      return undefined;
    }
  }
}
