// Runs a small script with Debian's python3-docker (the official Python SDK)
// against a test daemon: DOCKER_HOST is the daemon's socket.
import type { TestDaemon, RunResult } from './daemon';
import { run } from './daemon';

/** /usr/bin/python3: Debian's interpreter, whose site-packages hold python3-docker. */
export const PYTHON = '/usr/bin/python3';

export function python(d: TestDaemon, script: string, timeout = 60_000): Promise<RunResult> {
  return run(PYTHON, ['-c', script], { env: { ...d.env, PYTHONDONTWRITEBYTECODE: '1' }, timeout });
}

/** A script that must exit 0; returns its stdout. */
export async function pyOk(d: TestDaemon, script: string, timeout = 60_000): Promise<string> {
  const r = await python(d, script, timeout);
  if (r.code !== 0) throw new Error(`python failed (${r.code}):\n${r.stderr}\n${r.stdout}\n--- daemon log tail:\n${d.logs().slice(-2000)}`);
  return r.stdout;
}
