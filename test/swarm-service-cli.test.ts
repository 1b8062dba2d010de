// `service inspect --pretty` and `service logs` (issue 15's CLI) on a
// single-node swarm: berth's output must equal the docker CLI's for the same
// command against the same daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startDaemon, waitFor, sameOnBothClis, ROOT_DIR, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
const PORT = 20000 + 4 * Math.floor(Math.random() * 4000);

// lines of different tasks may interleave differently between two reads
const sorted = (t: string) => t.split('\n').sort().join('\n');
/** Both CLIs, same arguments: same exit code, stdout and stderr (program names aside). */
const same = (args: string[], sortLines = false) => sameOnBothClis(d, args, sortLines ? { stdout: sorted, stderr: sorted } : {});

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  await d.ok(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', `127.0.0.1:${PORT}`]);
});

after(async () => {
  await d?.docker(['service', 'rm', 'web', 'plain']).catch(() => {});
  await d?.docker(['swarm', 'leave', '--force']).catch(() => {});
  await d?.stop();
});

test('service inspect --pretty: the docker CLI\'s page, field for field', async () => {
  await d.ok(['service', 'create', '-d', '--name', 'web', '--replicas', '2',
    '--label', 'tier=front', '--label', 'empty=', '--env', 'GREETING=hi', '--workdir', '/tmp', '--user', 'root', '--init',
    '--limit-cpu', '0.5', '--limit-memory', '64M', '--reserve-memory', '16M',
    '--constraint', 'node.role==manager', '--placement-pref', 'spread=node.labels.zone',
    '--update-parallelism', '2', '--update-delay', '3s', '--update-failure-action', 'rollback', '--update-monitor', '4s',
    '--rollback-parallelism', '1', '--rollback-order', 'start-first',
    '--mount', 'type=tmpfs,target=/scratch', '--health-cmd', 'true', '--health-interval', '5s', '--health-retries', '2',
    '--log-driver', 'json-file', '--log-opt', 'max-size=1m',
    'busybox', 'sh', '-c', 'echo hello from $HOSTNAME; echo to-stderr >&2; sleep 300']);
  await d.ok(['service', 'create', '-d', '--name', 'plain', 'busybox', 'sleep', '300']);
  const page = await same(['service', 'inspect', '--pretty', 'web']);
  // what the page must show, beside being docker's
  for (const line of ['Name:\t\tweb', ' tier=front', 'Service Mode:\tReplicated', ' Replicas:\t2', ' Delay:\t\t3s', ' On failure:\trollback',
    ' Monitoring Period: 4s', ' Rollback order:    start-first', ' Args:\t\tsh -c echo hello from $HOSTNAME; echo to-stderr >&2; sleep 300 ',
    ' Init:\t\ttrue', ' Target:\t/scratch', '  CPU:\t\t0.5', '  Memory:\t64MiB', '  Memory:\t16MiB', ' Name:\t\tjson-file', '  max-size:       1m',
    '  Interval = 5s']) {
    assert.ok(page.stdout.split('\n').includes(line), `--pretty shows ${JSON.stringify(line)}:\n${page.stdout}`);
  }
  assert.ok(page.stdout.startsWith('\nID:\t\t'), 'a blank line first, as docker');
  await same(['service', 'inspect', '--pretty', 'plain', 'web']);
  await same(['service', 'inspect', '--pretty', 'nope']);
  await same(['service', 'inspect', '--pretty', '--format', '{{.ID}}', 'web']);
});

test('service logs: lines prefixed name.slot.task@node, flags as docker\'s', async () => {
  await waitFor(async () => {
    const r = await d.docker(['service', 'logs', '--raw', 'web']);
    return r.code === 0 && (r.stdout.match(/hello from/g) ?? []).length === 2 && (r.stderr.match(/to-stderr/g) ?? []).length === 2;
  }, 90_000, 'both tasks of web logged their lines', 500, () => d.logs().slice(-2000));
  const logs = await same(['service', 'logs', 'web'], true);
  const host = (await d.ok(['info', '--format', '{{.Name}}'])).trim();
  assert.match(logs.stdout, new RegExp(`^web\\.[12]\\.[0-9a-z]{12}@${host.replace(/[.]/g, '\\.')}    \\| hello from `, 'm'));
  assert.match(logs.stderr, /^web\.[12]\.[0-9a-z]{12}@\S+ {4}\| to-stderr$/m);
  for (const flags of [['--no-task-ids'], ['--no-trunc'], ['--no-resolve'], ['--raw'], ['--timestamps'], ['--details'], ['--tail', '1'], ['--since', '1h']]) {
    await same(['service', 'logs', ...flags, 'web'], true);
  }
  const task = (await d.ok(['service', 'ps', '-q', '--no-trunc', 'web'])).trim().split('\n')[0];
  const byTask = await same(['service', 'logs', task], true);
  assert.equal((byTask.stdout.match(/hello from/g) ?? []).length, 1, 'a task\'s logs are its own');
  await same(['service', 'logs', 'nope']);
  // --follow streams until the client leaves: bounded read of its first lines
  const child = spawn(process.execPath, ['--', path.join(ROOT_DIR, 'bin', 'berth'), 'service', 'logs', '--follow', 'web'], { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  child.stdout.on('data', (c: Buffer) => { seen += c.toString(); });
  try {
    await waitFor(async () => (seen.match(/hello from/g) ?? []).length === 2, 30_000, 'service logs --follow shows both tasks', 100, () => seen);
    assert.equal(child.exitCode, null, '--follow keeps streaming');
  } finally {
    child.kill('SIGKILL');
  }
});
