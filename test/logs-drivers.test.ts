// Log drivers through the docker CLI: json-file by default in Docker's
// format at LogPath, rotation (max-size/max-file/compress), local, none,
// unknown drivers refused, berthd's --log-opt defaults, catch-up of output
// written while berthd was down, and records from before log drivers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { startDaemon, waitFor, type TestDaemon } from './helpers/daemon';
import { parseDaemonArgs } from '../src/daemon/config';

let d: TestDaemon;

before(async () => {
  // A daemon-wide default option: it must reach json-file containers only.
  d = await startDaemon({ args: ['--log-opt', 'max-file=3'] });
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
});

test('berthd --log-driver/--log-opt: defaults checked as Docker checks a container\'s', () => {
  const c = parseDaemonArgs(['--log-driver', 'local', '--log-opt', 'max-size=5m', '--log-opt=max-file=2']);
  assert.ok(c !== 'help' && c !== 'version');
  assert.equal(c.logDriver, 'local');
  assert.deepEqual(c.logOpts, { 'max-size': '5m', 'max-file': '2' });
  const d0 = parseDaemonArgs([]);
  assert.ok(d0 !== 'help' && d0 !== 'version' && d0.logDriver === 'json-file');
  assert.throws(() => parseDaemonArgs(['--log-driver', 'nosuch']), /no log driver named 'nosuch' is registered/);
  assert.throws(() => parseDaemonArgs(['--log-opt', 'max-size=-1']), /max-size|invalid size/);
  assert.throws(() => parseDaemonArgs(['--log-opt', 'novalue']), /invalid key value pair/);
});

const inspect = async (c: string, fmt: string) => (await d.ok(['inspect', '-f', fmt, c])).trim();
const lines = (n: number, prefix = 'line') => `for i in $(seq 1 ${n}); do echo ${prefix}-$i; done`;

test('json-file is the default: Docker\'s lines at LogPath, daemon --log-opt applied', async () => {
  await d.ok(['run', '--name', 'j1', 'busybox', 'sh', '-c', 'echo hello; echo oops >&2']);
  const id = await inspect('j1', '{{.Id}}');
  assert.equal(await inspect('j1', '{{.LogPath}}'), path.join(d.dataRoot, 'containers', id, `${id}-json.log`));
  assert.equal(await inspect('j1', '{{json .HostConfig.LogConfig}}'), '{"Type":"json-file","Config":{"max-file":"3"}}');
  const text = fs.readFileSync(await inspect('j1', '{{.LogPath}}'), 'utf8');
  const recs = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(recs.map((r) => [r.log, r.stream]).sort(), [['hello\n', 'stdout'], ['oops\n', 'stderr']]);
  for (const l of text.trim().split('\n')) assert.match(l, /^\{"log":".*","stream":"std(out|err)","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"\}$/);
  const r = await d.docker(['logs', 'j1']);
  assert.equal(r.stdout, 'hello\n');
  assert.equal(r.stderr, 'oops\n');
  assert.equal((await d.ok(['info', '-f', '{{.LoggingDriver}}'])).trim(), 'json-file');
});

test('max-size/max-file rotate the files on disk; docker logs shows the tail', async () => {
  await d.ok(['run', '--name', 'rot', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c', lines(300)]);
  const lp = await inspect('rot', '{{.LogPath}}');
  const files = fs.readdirSync(path.dirname(lp)).filter((f) => f.startsWith(path.basename(lp))).sort();
  assert.deepEqual(files, [path.basename(lp), `${path.basename(lp)}.1`]);
  // Rotation happens before the entry that finds the file at max-size (1000 bytes): one entry over at most.
  for (const f of files) assert.ok(fs.statSync(path.join(path.dirname(lp), f)).size < 1100, `${f} is ${fs.statSync(path.join(path.dirname(lp), f)).size} bytes`);
  const shown = (await d.ok(['logs', 'rot'])).trim().split('\n');
  assert.equal(shown[shown.length - 1], 'line-300');
  assert.ok(shown.length > 10 && shown.length < 60, `kept ${shown.length} lines`);
  const first = Number(shown[0].split('-')[1]);
  assert.deepEqual(shown, Array.from({ length: shown.length }, (_, i) => `line-${first + i}`));
  assert.equal(await d.ok(['logs', '--tail', '2', 'rot']), 'line-299\nline-300\n');
});

test('compress=true gzips rotated files, and docker logs reads through them', async () => {
  await d.ok(['run', '--name', 'gz', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', '--log-opt', 'compress=true', 'busybox', 'sh', '-c', lines(300)]);
  const lp = await inspect('gz', '{{.LogPath}}');
  assert.ok(fs.existsSync(`${lp}.1.gz`) && fs.existsSync(`${lp}.2.gz`), fs.readdirSync(path.dirname(lp)).join(' '));
  assert.ok(!fs.existsSync(`${lp}.1`));
  assert.match(zlib.gunzipSync(fs.readFileSync(`${lp}.1.gz`)).toString(), /^\{"log":"line-\d+\\n","stream":"stdout"/);
  const shown = (await d.ok(['logs', 'gz'])).trim().split('\n');
  const first = Number(shown[0].split('-')[1]);
  assert.equal(shown[shown.length - 1], 'line-300');
  assert.deepEqual(shown, Array.from({ length: shown.length }, (_, i) => `line-${first + i}`));
  const count = (b: Buffer) => b.toString().trim().split('\n').filter(Boolean).length;
  const onDisk = count(zlib.gunzipSync(fs.readFileSync(`${lp}.2.gz`))) + count(zlib.gunzipSync(fs.readFileSync(`${lp}.1.gz`))) + count(fs.readFileSync(lp));
  assert.equal(shown.length, onDisk);
});

test('--log-driver none: output still reaches the attached client; logs answers Docker\'s error', async () => {
  assert.equal(await d.ok(['run', '--name', 'nl', '--log-driver', 'none', 'busybox', 'echo', 'still here']), 'still here\n');
  assert.equal(await inspect('nl', '{{.LogPath}}'), '');
  const r = await d.docker(['logs', 'nl']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /configured logging driver does not support reading/);
});

test('--log-driver local keeps logs in Docker\'s local-logs file', async () => {
  await d.ok(['run', '--name', 'loc', '--log-driver', 'local', 'busybox', 'sh', '-c', 'echo a1; echo a2 >&2; echo a3']);
  assert.equal(await inspect('loc', '{{json .HostConfig.LogConfig}}'), '{"Type":"local","Config":{}}');
  const id = await inspect('loc', '{{.Id}}');
  assert.ok(fs.statSync(path.join(d.dataRoot, 'containers', id, 'local-logs', 'container.log')).size > 0);
  const r = await d.docker(['logs', 'loc']);
  assert.equal(r.stdout, 'a1\na3\n');
  assert.equal(r.stderr, 'a2\n');
  assert.match(await d.ok(['logs', '-t', 'loc']), /^\d{4}-\d\d-\d\dT[\d:.]+Z a1\n\d{4}-\d\d-\d\dT[\d:.]+Z a3\n$/);
});

test('unknown drivers and options are refused at create with Docker\'s errors', async () => {
  const r = await d.docker(['run', '--log-driver', 'nosuch', 'busybox', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /logger: no log driver named 'nosuch' is registered/);
  const o = await d.docker(['create', '--log-opt', 'bogus=1', 'busybox', 'true']);
  assert.notEqual(o.code, 0);
  assert.match(o.stderr, /unknown log opt 'bogus' for json-file log driver/);
  const c = await d.docker(['create', '--log-opt', 'compress=true', 'busybox', 'true']);
  assert.match(c.stderr, /compress cannot be true when max-file is less than 2 or max-size is not set/);
});

test('output written while berthd is down reaches the json file after it restarts', async () => {
  const id = (await d.ok(['run', '-d', '--name', 'lr', 'busybox', 'sh', '-c', 'echo first; sleep 2; ' + lines(500, 'away')])).trim();
  await waitFor(async () => (await d.docker(['logs', 'lr'])).stdout.includes('first'), 15_000, 'first line logged');
  await d.kill();
  // The container finishes while no berthd reads conmon's output.
  await waitFor(async () => fs.existsSync(path.join(d.execRoot, 'exits', id)), 20_000, 'container exit while berthd is down');
  await d.start();
  const shown = (await d.ok(['logs', 'lr'])).trim().split('\n');
  assert.deepEqual(shown, ['first', ...Array.from({ length: 500 }, (_, i) => `away-${i + 1}`)]);
  const lp = await inspect('lr', '{{.LogPath}}');
  assert.equal(fs.readFileSync(lp, 'utf8').trim().split('\n').length, 501);
});

test('a container recorded before log drivers (k8s-file) keeps its logs', async () => {
  await d.ok(['run', '--name', 'old', 'busybox', 'echo', 'new output']);
  const id = await inspect('old', '{{.Id}}');
  await d.terminate();
  // Rewrite the record as the previous berthd stored it: k8s-file, conmon's ctr.log.
  const dir = path.join(d.dataRoot, 'containers', id);
  const db = new Database(path.join(d.dataRoot, 'berth.db'));
  const row = db.prepare('SELECT record FROM containers WHERE id = ?').get(id) as { record: string };
  const rec = JSON.parse(row.record);
  rec.hostConfig.LogConfig = { Type: 'k8s-file', Config: {} };
  rec.logPath = path.join(dir, 'ctr.log');
  db.prepare('UPDATE containers SET record = ? WHERE id = ?').run(JSON.stringify(rec), id);
  db.close();
  fs.writeFileSync(rec.logPath, '2026-01-02T03:04:05.000000001+00:00 stdout F from the old days\n2026-01-02T03:04:05.000000002+00:00 stderr F old err\n');
  await d.start();
  const r = await d.docker(['logs', 'old']);
  assert.equal(r.stdout, 'from the old days\n');
  assert.equal(r.stderr, 'old err\n');
  // Started again, it still logs (to its k8s-file) and logs shows both runs.
  await d.ok(['start', '-a', 'old']);
  assert.equal((await d.docker(['logs', 'old'])).stdout, 'from the old days\nnew output\n');
});
