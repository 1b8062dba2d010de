// The harness both `berth compose` test files share: a private berthd with
// busybox, project directories made from a map of files (removed after the
// file), and `berth compose` run in them.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type TestDaemon, type RunResult } from './daemon';

export interface ComposeHarness {
  /** The test daemon (set by the harness's before()). */
  readonly d: TestDaemon;
  /** Temporary roots removed after the file; a test may add its own. */
  readonly roots: string[];
  project(name: string, files: Record<string, string>): string;
  compose(dir: string, args: string[], env?: NodeJS.ProcessEnv, timeout?: number): Promise<RunResult>;
  ok(dir: string, args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult>;
  inspect(name: string): Promise<any>;
  names(projectName: string): Promise<string[]>;
}

/**
 * Registers before/after hooks for the calling test file and returns its
 * helpers; `onStarted` hands the started daemon to the file.
 */
export function composeHarness(onStarted: (d: TestDaemon) => void = () => {}): ComposeHarness {
  let d: TestDaemon | undefined;
  const roots: string[] = [];
  const daemon = (): TestDaemon => {
    if (!d) throw new Error('the compose harness daemon is not started');
    return d;
  };

  before(async () => {
    d = await startDaemon();
    await d.loadBusybox();
    onStarted(d);
  });

  after(async () => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
    await d?.stop();
  });

  function project(name: string, files: Record<string, string>): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-t-'));
    roots.push(root);
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text);
    }
    return dir;
  }

  async function compose(dir: string, args: string[], env: NodeJS.ProcessEnv = {}, timeout = 60_000): Promise<RunResult> {
    return daemon().berth(['compose', ...args], { cwd: dir, env, timeout });
  }

  async function ok(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    const r = await compose(dir, args, env);
    assert.equal(r.code, 0, `compose ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}\n${daemon().logs().slice(-1500)}`);
    return r;
  }

  async function inspect(name: string): Promise<any> {
    return JSON.parse(await daemon().ok(['inspect', name]))[0];
  }

  async function names(projectName: string): Promise<string[]> {
    return (await daemon().ok(['ps', '-a', '--filter', `label=com.docker.compose.project=${projectName}`, '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort();
  }

  return { get d() { return daemon(); }, roots, project, compose, ok, inspect, names };
}
