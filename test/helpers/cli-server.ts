// The resident CLI server (src/cli/resident/) is per user: a test that runs
// bin/berth as a program gives it a private socket in a temp dir instead,
// and stops the server (if one started) and removes the dir when done.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CliSocket {
  dir: string;
  sock: string;
  /** The server's pid, if one is running on this socket. */
  pid(): number | undefined;
  /** Kills the server (bounded wait) and removes the directory. */
  cleanup(): Promise<void>;
}

export function cliSocket(): CliSocket {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-test-'));
  fs.chmodSync(dir, 0o700);
  const sock = path.join(dir, 'sock');
  const pid = (): number | undefined => {
    try {
      const p = Number(fs.readFileSync(`${sock}.pid`, 'utf8'));
      if (!(p > 0)) return undefined;
      process.kill(p, 0);
      return p;
    } catch {
      return undefined;
    }
  };
  return {
    dir,
    sock,
    pid,
    async cleanup() {
      const p = pid();
      if (p) {
        try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
        const until = Date.now() + 10_000;
        while (Date.now() < until && alive(p)) await new Promise((r) => setTimeout(r, 50));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie is gone for our purposes
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * For test files that run bin/berth as a program: BERTH_CLI_SOCKET in this
 * process's environment (children inherit it), cleaned up by `after`.
 */
export function privateCliSocket(after: (fn: () => Promise<void>) => void): CliSocket {
  const s = cliSocket();
  process.env.BERTH_CLI_SOCKET = s.sock;
  after(() => s.cleanup());
  return s;
}
