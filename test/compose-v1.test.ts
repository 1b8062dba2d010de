// Debian's docker-compose 1.29 (Python, docker-py) keeps driving berthd:
// up -d, ps, exec, logs, down. And what it makes carries the same
// com.docker.compose.* labels, so `berth compose ps` sees its containers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, run, type TestDaemon } from './helpers/daemon';

const HAVE = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].some((p) => fs.existsSync(p));
let d: TestDaemon | undefined;
let dir: string;

before(async () => {
  if (!HAVE) return;
  d = await startDaemon();
  await d.loadBusybox();
  dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'compose-v1-')), 'legacy');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'docker-compose.yml'), [
    'version: "3.7"',
    'services:',
    '  db:',
    '    image: busybox',
    '    command: sh -c "echo db up; sleep 600"',
    '  web:',
    '    image: busybox',
    '    command: sh -c "ping -c 1 -W 5 db > /tmp/ping.txt 2>&1; echo web up; sleep 600"',
    '    depends_on: [db]',
    '    environment: {GREETING: hello}',
  ].join('\n') + '\n');
});

after(async () => {
  if (dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  await d?.stop();
});

test('docker-compose 1.29: up -d, ps, exec, logs, down against berthd', { skip: HAVE ? false : 'docker-compose (Debian 1.29) is not installed' }, async () => {
  const runDc = (args: string[]) => run('docker-compose', args, { cwd: dir, env: { ...d!.env, COMPOSE_INTERACTIVE_NO_CLI: '1' }, timeout: 120_000 });
  const up = await runDc(['up', '-d']);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stderr, /Creating legacy_db_1/);
  const ps = await runDc(['ps']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout, /legacy_db_1 .* Up/);
  assert.match(ps.stdout, /legacy_web_1 .* Up/);
  const ex = await runDc(['exec', '-T', 'web', 'sh', '-c', 'echo $GREETING']);
  assert.equal(ex.code, 0, ex.stderr);
  assert.equal(ex.stdout, 'hello\n');
  const logs = await runDc(['logs', '--no-color', 'db']);
  assert.match(logs.stdout, /db_1 +\| db up/);
  // the labels are the ones berth compose looks for
  const mine = await d!.berth(['compose', 'ps', '--format', 'json'], { cwd: dir });
  assert.equal(mine.code, 0, mine.stderr);
  const rows = mine.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((r) => `${r.Name} ${r.Service} ${r.State}`).sort(), ['legacy_db_1 db running', 'legacy_web_1 web running']);
  const down = await runDc(['down', '-t', '1']);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stderr, /Removing network legacy_default/);
  assert.equal((await d!.ok(['ps', '-aq'])).trim(), '');
});
