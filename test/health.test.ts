// Healthchecks through the docker CLI: --health-* flags, HEALTHCHECK from
// the image, --no-healthcheck; State.Health in inspect, (healthy) in ps,
// health_status events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type TestDaemon, waitFor as waitUntil } from './helpers/daemon';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
});

const ok = (args: string[], timeout?: number): Promise<string> => d.ok(args, timeout);

const waitFor = (pred: () => Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> => waitUntil(pred, ms, what, 150);

const status = async (n: string) => (await ok(['inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', n])).trim();

test('--health-cmd: starting, then healthy; ps shows (healthy); a health_status event is sent', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  // The start period keeps early failures from counting (as Docker), and the test
  // makes it ready itself: a fixed sleep raced the probes (two failures at ~600 ms
  // already meant unhealthy, a slow inspect could already see healthy).
  await ok(['run', '-d', '--name', 'h1', '--health-cmd', 'test -f /tmp/ready', '--health-interval', '300ms', '--health-retries', '2', '--health-start-period', '60s', 'busybox', 'sleep', '600']);
  assert.equal(await status('h1'), 'starting');
  assert.match(await ok(['ps', '--filter', 'name=h1']), /\(health: starting\)/);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await status('h1'), 'starting', 'failing probes within the start period do not count');
  await ok(['exec', 'h1', 'touch', '/tmp/ready']);
  await waitFor(async () => (await status('h1')) === 'healthy', 15_000, 'healthy');
  assert.match(await ok(['ps', '--filter', 'name=h1']), /\(healthy\)/);
  assert.match(await ok(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}']), /^h1$/m);
  assert.doesNotMatch(await ok(['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}']), /h1/);
  const log = JSON.parse(await ok(['inspect', '-f', '{{json .State.Health}}', 'h1']));
  assert.equal(log.FailingStreak, 0);
  assert.ok(log.Log.length >= 1 && log.Log.length <= 5);
  assert.equal(log.Log[log.Log.length - 1].ExitCode, 0);
  const ev = await ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=h1', '--format', '{{.Action}}']);
  assert.match(ev, /health_status: healthy/);
  // Turning unhealthy after `retries` failures.
  await ok(['exec', 'h1', 'rm', '/tmp/ready']);
  await waitFor(async () => (await status('h1')) === 'unhealthy', 15_000, 'unhealthy');
  const h = JSON.parse(await ok(['inspect', '-f', '{{json .State.Health}}', 'h1']));
  assert.ok(h.FailingStreak >= 2);
  assert.match(await ok(['ps', '--filter', 'name=h1']), /\(unhealthy\)/);
  await ok(['rm', '-f', 'h1']);
});

test('HEALTHCHECK from the image applies; --no-healthcheck disables it', async () => {
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hc-'));
  try {
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nHEALTHCHECK --interval=300ms --timeout=2s --retries=1 CMD exit 1\nCMD ["sleep", "600"]\n');
    const b = await d.docker(['build', '-q', '-t', 'hcimg', ctx], { timeout: 120_000 });
    if (b.code !== 0) {
      // The image config can also be made by commit --change when the builder is unavailable.
      await ok(['create', '--name', 'hcbase', 'busybox', 'sleep', '600']);
      await ok(['commit', '--change', 'HEALTHCHECK --interval=300ms --timeout=2s --retries=1 CMD exit 1', 'hcbase', 'hcimg']);
    }
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
  await ok(['run', '-d', '--name', 'h2', 'hcimg', 'sleep', '600']);
  await waitFor(async () => (await status('h2')) === 'unhealthy', 15_000, 'image healthcheck unhealthy');
  await ok(['run', '-d', '--name', 'h3', '--no-healthcheck', 'hcimg', 'sleep', '600']);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await status('h3'), 'none');
  assert.doesNotMatch(await ok(['ps', '--filter', 'name=h3']), /health/);
  await ok(['rm', '-f', 'h2', 'h3']);
});

test('a probe over its timeout fails with Docker\'s message', async () => {
  await ok(['run', '-d', '--name', 'h4', '--health-cmd', 'sleep 5', '--health-interval', '300ms', '--health-timeout', '300ms', '--health-retries', '1', 'busybox', 'sleep', '600']);
  await waitFor(async () => (await status('h4')) === 'unhealthy', 15_000, 'timeout → unhealthy');
  const h = JSON.parse(await ok(['inspect', '-f', '{{json .State.Health}}', 'h4']));
  assert.match(h.Log[h.Log.length - 1].Output, /Health check exceeded timeout/);
  await ok(['rm', '-f', 'h4']);
});
