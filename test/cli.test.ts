// End-to-end: the berth CLI against a private daemon, compared with the
// official docker CLI talking to the same daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { execFileSync, spawn } from 'node:child_process';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { startBerthRegistry, freePort } from './helpers/registry';

let d: TestDaemon;
let work: string;
let tlsDir: string;
let tlsHost: string;

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCerts(dir: string): void {
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 30_000 });
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=berth-test-ca']);
  fs.writeFileSync(path.join(dir, 'srv.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  fs.writeFileSync(path.join(dir, 'cli.ext'), 'extendedKeyUsage=clientAuth\n');
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=localhost']);
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'server-cert.pem', '-days', '2', '-extfile', 'srv.ext']);
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'client.csr', '-subj', '/CN=client']);
  ssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'cert.pem', '-days', '2', '-extfile', 'cli.ext']);
}

before(async () => {
  tlsDir = fs.mkdtempSync('/tmp/berth-cli-tls-');
  makeCerts(tlsDir);
  tlsHost = `tcp://127.0.0.1:${await freePort()}`;
  d = await startDaemon({
    args: ['-H', tlsHost, '--tlsverify', '--tlscacert', path.join(tlsDir, 'ca.pem'), '--tlscert', path.join(tlsDir, 'server-cert.pem'), '--tlskey', path.join(tlsDir, 'server-key.pem')],
  });
  await d.loadBusybox();
  work = fs.mkdtempSync(path.join(d.root, 'cli-'));
  fs.mkdirSync(path.join(work, 'rootfs/etc'), { recursive: true });
  fs.writeFileSync(path.join(work, 'rootfs/hello.txt'), 'hello\n');
  execFileSync('tar', ['-C', path.join(work, 'rootfs'), '-cf', path.join(work, 'root.tar'), '.']);
});

after(async () => {
  await d?.stop();
  if (tlsDir) fs.rmSync(tlsDir, { recursive: true, force: true });
});

/** Run both CLIs at once with the same arguments; retry if a relative-time column ticked between them. */
async function both(args: string[]): Promise<[string, string]> {
  for (let i = 0; ; i++) {
    const [a, b] = await Promise.all([d.docker(args), d.berth(args)]);
    assert.equal(b.code, a.code, `exit codes differ for ${args.join(' ')}: docker ${a.stderr} / berth ${b.stderr}`);
    if (a.stdout === b.stdout) return [a.stdout, b.stdout];
    if (i === 4) {
      // Still a tick apart (node starts slower than docker's Go binary): compare with
      // relative times masked and runs of spaces collapsed (a column can widen from 9 to 10 seconds).
      const mask = (t: string) => t.replace(/(\d+ seconds|Less than a second|1 second|About a minute)/g, 'T').replace(/ {2,}/g, '  ');
      assert.equal(mask(b.stdout), mask(a.stdout));
      return [a.stdout, a.stdout];
    }
  }
}

/** The container endpoints are landing in parallel; skip as todo until they answer. */
async function containersReady(): Promise<boolean> {
  const r = await d.berth(['ps', '-a', '-q']);
  return !/page not found/.test(r.stderr);
}

test('version and info: docker layout and identical --format results', async () => {
  const v = await d.berth(['version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^Client:\n Version: +0\.1\.0\n API version: +1\.43\n/);
  assert.match(v.stdout, /\nServer: Berth Engine\n Engine:\n  Version: +\S+\n  API version: +1\.43 \(minimum version 1\.24\)/);
  const [dv, bv] = await both(['version', '--format', '{{.Server.Version}} {{.Server.APIVersion}} {{.Client.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}']);
  assert.equal(bv, dv);
  const [di, bi] = await both(['info', '--format', '{{.ServerVersion}} {{.Driver}} {{.Images}} {{json .RegistryConfig.InsecureRegistryCIDRs}} {{.DockerRootDir}}']);
  assert.equal(bi, di);
  assert.match(bi, /^\S+ overlay2 1 \["127\.0\.0\.0\/8"\] /);
  // The text layout: same lines as docker's apart from client version, clock and map order.
  const norm = (s: string) => s.split('\n').filter((l) => !/^ (Version|Runtimes|  System Time):/.test(l) && !/^  System Time/.test(l)).join('\n');
  const a = await d.docker(['info']);
  const b = await d.berth(['info']);
  assert.equal(b.code, 0);
  assert.equal(norm(b.stdout), norm(a.stdout));
});

test('import (file and stdin, -c, -m), images table and --format identical to docker', async () => {
  const r = await d.berth(['import', '-c', 'CMD ["/bin/true"]', '-c', 'ENV A=1', '-m', 'from berth', path.join(work, 'root.tar'), 'imported:v1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const id = r.stdout.trim();
  const s = await d.berth(['import', '-', 'fromstdin'], { input: fs.readFileSync(path.join(work, 'root.tar')) });
  assert.equal(s.code, 0, s.stderr);
  const ins = await d.berth(['inspect', '-f', '{{.Id}}|{{json .Config.Cmd}}|{{index .Config.Env 0}}|{{.Comment}}', 'imported:v1']);
  assert.equal(ins.stdout, `${id}|["/bin/true"]|A=1|from berth\n`);
  const [di, bi] = await both(['images']);
  assert.equal(bi, di);
  assert.match(bi, /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\n/);
  assert.match(bi, /\nbusybox +latest +[0-9a-f]{12} +.+ago +\d/);
  for (const f of ['{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}', 'table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}', '{{json .}}', 'json']) {
    const [a, b] = await both(['images', '--format', f]);
    assert.equal(b, a, `--format ${f}`);
  }
  for (const args of [['images', '-q'], ['images', '--no-trunc'], ['images', 'busybox'], ['images', '--filter', 'reference=imported'], ['image', 'ls', '--digests']]) {
    const [a, b] = await both(args);
    assert.equal(b, a, args.join(' '));
  }
});

test('image inspect, history, tag, rmi, save/load as docker prints them', async () => {
  let [a, b] = await both(['image', 'inspect', 'busybox']);
  assert.equal(b, a);
  assert.equal(JSON.parse(b)[0].RepoTags[0], 'busybox:latest');
  [a, b] = await both(['inspect', '--format', '{{.Id}} {{json .Config.Cmd}} {{.Os}} {{.Architecture}} {{len .RootFS.Layers}}', 'busybox']);
  assert.equal(b, a);
  [a, b] = await both(['history', 'busybox']);
  assert.equal(b, a);
  [a, b] = await both(['history', '--no-trunc', '-H=false', 'busybox']);
  assert.equal(b, a);
  const t = await d.berth(['tag', 'busybox', 'example.com/team/bb:1.0']);
  assert.equal(t.code, 0, t.stderr);
  const l = await d.berth(['images', '--format', '{{.Repository}}:{{.Tag}}', 'example.com/team/bb']);
  assert.equal(l.stdout, 'example.com/team/bb:1.0\n');
  const rm = await d.berth(['rmi', 'example.com/team/bb:1.0']);
  assert.equal(rm.stdout, 'Untagged: example.com/team/bb:1.0\n');
  const save = path.join(work, 'bb.tar');
  const sv = await d.berth(['save', '-o', save, 'busybox']);
  assert.equal(sv.code, 0, sv.stderr);
  assert.ok(fs.statSync(save).size > 1_000_000);
  await d.berth(['tag', 'busybox', 'keep:me']);
  const gone = await d.berth(['rmi', 'busybox']);
  assert.equal(gone.code, 0, gone.stderr);
  assert.equal(gone.stdout, 'Untagged: busybox:latest\n');
  const ld = await d.berth(['load', '-i', save]);
  assert.equal(ld.code, 0, ld.stderr);
  assert.match(ld.stdout, /Loaded image: busybox:latest/);
  await d.berth(['rmi', 'keep:me']);
});

test('errors and exit codes follow docker', async () => {
  let r = await d.berth(['inspect', 'nope']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '[]\n');
  assert.equal(r.stderr, 'Error: No such object: nope\n');
  r = await d.berth(['image', 'inspect', 'nope']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, (await d.docker(['image', 'inspect', 'nope'])).stderr);
  r = await d.berth(['rmi', 'nope']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'Error response from daemon: No such image: nope:latest\n');
  r = await d.berth(['run']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^"berth run" requires at least 1 argument\.\nSee 'berth run --help'\.\n\nUsage:  berth run \[OPTIONS\] IMAGE \[COMMAND\] \[ARG\.\.\.\]/);
  r = await d.berth(['ps', '--bogus']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^unknown flag: --bogus\n/);
  r = await d.berth(['stop', '-t', 'abc', 'x']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^invalid argument "abc" for "-t, --time" flag: strconv\.ParseInt: parsing "abc": invalid syntax/);
  r = await d.berth(['logs']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^"berth logs" requires exactly 1 argument\./);
  r = await d.berth(['nosuchcommand']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unknown command: berth nosuchcommand/);
  r = await d.berth(['-H', `unix://${d.root}/absent.sock`, 'ps']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Cannot connect to the Berth daemon at unix:\/\/.*absent\.sock\. Is the berth daemon running\?/);
  r = await d.berth(['images', '--format', '{{.Nope']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /template/);
  const h = await d.berth(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage:  berth \[OPTIONS\] COMMAND/);
  for (const c of ['run', 'ps', 'images', 'inspect', 'container', 'image']) assert.match(h.stdout, new RegExp(`\\n  ${c} +\\S`));
  const rh = await d.berth(['run', '--help']);
  assert.match(rh.stdout, /Usage:  berth run \[OPTIONS\] IMAGE \[COMMAND\] \[ARG\.\.\.\]/);
  assert.match(rh.stdout, /-e, --env list/);
});

test('events: --since/--until/--filter and --format match docker', async () => {
  // A fractional `since` (both CLIs take it) starts after the image events
  // of the test before (its save/load and rmi), however fast that ran.
  const since = (Date.now() / 1000).toFixed(3);
  await d.berth(['tag', 'busybox', 'evt:1']);
  await d.berth(['rmi', 'evt:1']);
  const until = String(Math.floor(Date.now() / 1000) + 1);
  await new Promise((r) => setTimeout(r, 1100));
  const args = ['events', '--since', since, '--until', until, '--filter', 'type=image'];
  const a = await d.docker(args);
  const b = await d.berth(args);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout, a.stdout);
  assert.match(b.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) image tag sha256:[0-9a-f]{64} \(name=evt:1\)\n/m);
  const f = [...args, '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'];
  const af = await d.docker(f);
  const bf = await d.berth(f);
  assert.equal(bf.stdout, af.stdout);
  assert.match(bf.stdout, /^image tag evt:1\nimage untag /);
});

test('tcp+TLS: DOCKER_CERT_PATH/DOCKER_TLS_VERIFY and --tlsverify flags, like docker', async () => {
  const env = { DOCKER_HOST: tlsHost, BERTH_HOST: '', DOCKER_CERT_PATH: tlsDir, DOCKER_TLS_VERIFY: '1' };
  const f = ['version', '--format', '{{.Server.Version}} {{.Client.APIVersion}}'];
  const a = await d.docker(f, { env });
  const b = await d.berth(f, { env });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout, a.stdout);
  const flags = await d.berth(['-H', tlsHost, '--tlsverify', '--tlscacert', path.join(tlsDir, 'ca.pem'), '--tlscert', path.join(tlsDir, 'cert.pem'), '--tlskey', path.join(tlsDir, 'key.pem'), 'images', '-q'], { env: { BERTH_HOST: '', DOCKER_HOST: '' } });
  assert.equal(flags.code, 0, flags.stderr);
  assert.match(flags.stdout, /^[0-9a-f]{12}\n/);
  // No client certificate: the daemon refuses the handshake.
  const nocert = await d.berth(['-H', tlsHost, '--tlsverify', '--tlscacert', path.join(tlsDir, 'ca.pem'), 'images'], { env: { BERTH_HOST: '', DOCKER_HOST: '', DOCKER_CERT_PATH: '/nonexistent' } });
  assert.notEqual(nocert.code, 0);
  assert.equal(nocert.stdout, '');
});

test('push and pull through a local registry print what docker prints', async () => {
  const reg = await startBerthRegistry();
  try {
    const ref = `${reg.addr}/cli/bb:1`;
    assert.equal((await d.berth(['tag', 'busybox', ref])).code, 0);
    const push = await d.berth(['push', ref], { timeout: 60_000 });
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, new RegExp(`^The push refers to repository \\[${reg.addr}/cli/bb\\]\n`));
    assert.match(push.stdout, /\n1: digest: sha256:[0-9a-f]{64} size: \d+\n$/);
    assert.equal((await d.berth(['rmi', ref])).code, 0);
    const pull = await d.berth(['pull', ref], { timeout: 60_000 });
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /^1: Pulling from cli\/bb\n/);
    assert.match(pull.stdout, new RegExp(`\nStatus: Downloaded newer image for ${ref}\n${ref}\n$`));
    const again = await d.berth(['pull', ref]);
    const dockerAgain = await d.docker(['pull', ref]);
    assert.equal(again.stdout, dockerAgain.stdout);
    const q = await d.berth(['pull', '-q', `${reg.addr}/cli/bb`]);
    const dq = await d.docker(['pull', '-q', `${reg.addr}/cli/bb`]);
    assert.equal(q.code, 1);
    assert.equal(q.stderr, dq.stderr);
    await d.berth(['rmi', ref]);
  } finally {
    await reg.stop();
  }
});

test('run, ps, inspect, logs, rm through berth', async (t) => {
  if (!(await containersReady())) return t.todo('daemon side pending');
  let r = await d.berth(['run', '--rm', 'busybox', 'echo', 'hello from berth']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello from berth\n');
  r = await d.berth(['run', '--name', 'exit3', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  r = await d.berth(['run', '-e', 'FOO=bar', '-w', '/tmp', '--rm', 'busybox', 'sh', '-c', 'echo $FOO $(pwd)']);
  assert.equal(r.stdout, 'bar /tmp\n');
  r = await d.berth(['run', '-d', '--name', 'sleeper', '-l', 'role=test', 'busybox', 'sleep', '300']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
  const id = r.stdout.trim();
  for (const args of [['ps', '--format', '{{.ID}} {{.Image}} {{.Command}} {{.Names}} {{.State}} {{.Labels}}'], ['ps', '-a', '-q'], ['ps', '-a', '--no-trunc', '--format', '{{json .Names}} {{.ID}}'], ['ps', '--filter', 'label=role=test', '--format', 'table {{.Names}}\\t{{.Status}}']]) {
    const [a, b] = await both(args);
    assert.equal(b, a, args.join(' '));
  }
  const [pa, pb] = await both(['ps', '-a']);
  assert.equal(pb, pa);
  const [sa, sb] = await both(['ps', '-s']);
  assert.equal(sb, sa);
  // the default table and -q ask berthd for only the keys they show (berth-fields); others ignore it
  const lean = JSON.parse(await new Promise<string>((resolve, reject) => {
    http.get({ socketPath: d.socket, path: '/containers/json?berth-fields=Id,Status' }, (res) => {
      let t = '';
      res.on('data', (c) => { t += c; }).on('end', () => resolve(t)).on('error', reject);
    }).on('error', reject);
  })) as Array<Record<string, unknown>>;
  assert.deepEqual(lean.map((e) => Object.keys(e)), [['Id', 'Status']]);
  assert.equal(lean[0].Id, id);
  assert.match(pb, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n/);
  assert.match(pb, new RegExp(`\\n${id.slice(0, 12)} +busybox +"sleep 300" +.+ ago +Up .+ sleeper\\n`));
  const [ia, ib] = await both(['inspect', '--format', '{{.Id}} {{.Name}} {{.State.Running}} {{json .Config.Cmd}} {{.Config.Labels.role}}', 'sleeper']);
  assert.equal(ib, ia);
  assert.equal(ib, `${id} /sleeper true ["sleep","300"] test\n`);
  r = await d.berth(['logs', 'exit3']);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  const [la, lb] = await both(['logs', '-t', '--tail', '1', 'exit3']);
  assert.equal(lb, la);
  const [ca, cb] = await both(['container', 'inspect', '-s', 'sleeper']);
  assert.equal(cb, ca);
  // diff, export, commit of a container's filesystem.
  r = await d.berth(['run', '--name', 'fsc', 'busybox', 'sh', '-c', 'echo x > /new; mkdir /tmp/d']);
  assert.equal(r.code, 0, r.stderr);
  const [da, db] = await both(['diff', 'fsc']);
  assert.equal(db, da);
  assert.match(db, /^A \/new$/m);
  const tarFile = path.join(work, 'fsc.tar');
  r = await d.berth(['export', '-o', tarFile, 'fsc']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(execFileSync('tar', ['-tf', tarFile]).toString(), /^\.?\/?new$/m);
  r = await d.berth(['commit', '-m', 'msg', '-a', 'me', '-c', 'ENV X=1', 'fsc', 'committed:1']);
  assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  r = await d.berth(['inspect', '-f', '{{.Comment}}|{{.Author}}|{{index .Config.Env 1}}', 'committed:1']);
  assert.equal(r.stdout, 'msg|me|X=1\n');
  r = await d.berth(['rename', 'fsc', 'fsc2']);
  assert.equal(r.code, 0, r.stderr);
  r = await d.berth(['rm', 'fsc2']);
  assert.equal(r.stdout, 'fsc2\n');
  await d.berth(['rmi', 'committed:1']);
  r = await d.berth(['stop', '-t', '1', 'sleeper']);
  assert.equal(r.stdout, 'sleeper\n');
  r = await d.berth(['wait', 'sleeper']);
  assert.match(r.stdout, /^\d+\n$/);
  r = await d.berth(['rm', 'sleeper', 'exit3']);
  assert.equal(r.stdout, 'sleeper\nexit3\n');
  r = await d.berth(['rm', 'sleeper']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'Error response from daemon: No such container: sleeper\n');
});

/** Start a long-running berth command; collect its stdout until `until` matches (bounded). */
function follow(args: string[], until: RegExp, timeoutMs = 30_000): { done: Promise<string>; stop: () => void } {
  const child = spawn(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'berth'), ...args], { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const done = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out; got: ${out}`)); }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (until.test(out)) { clearTimeout(timer); child.kill('SIGINT'); resolve(out); }
    });
    child.on('exit', () => { clearTimeout(timer); resolve(out); });
  });
  return { done, stop: () => child.kill('SIGKILL') };
}

test('events and logs -f stream live', async (t) => {
  if (!(await containersReady())) return t.todo('daemon side pending');
  const ev = follow(['events', '--filter', 'type=container', '--filter', 'container=streamer', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], /^die streamer$/m);
  await new Promise((r) => setTimeout(r, 500));
  const r = await d.berth(['run', '-d', '--name', 'streamer', 'busybox', 'sh', '-c', 'echo one; sleep 1; echo two']);
  assert.equal(r.code, 0, r.stderr);
  const lf = follow(['logs', '-f', 'streamer'], /two\n/);
  const logs = await lf.done;
  assert.equal(logs, 'one\ntwo\n');
  const events = await ev.done;
  assert.match(events, /^create streamer\n(.*\n)*start streamer\n(.*\n)*die streamer$/m);
  await d.berth(['rm', '-f', 'streamer']);
});

test('run -i forwards piped stdin and closes it at EOF', async (t) => {
  if (!(await containersReady())) return t.todo('daemon side pending');
  // The daemon must deliver stdin EOF for cat to end; docker's own CLI shows whether it does.
  const probe = await d.docker(['run', '-i', '--rm', '--network', 'bridge', 'busybox', 'cat'], { input: 'probe\n', timeout: 15_000 }).catch(() => undefined);
  if (!probe || probe.stdout !== 'probe\n') return t.todo('daemon side pending: attach stdin EOF');
  const r = await d.berth(['run', '-i', '--rm', 'busybox', 'cat'], { input: 'piped stdin\n', timeout: 30_000 });
  assert.equal(r.stdout, 'piped stdin\n');
  assert.equal(r.code, 0);
});

test('run exit codes for start failures: 127 not found, 125 daemon errors', async (t) => {
  if (!(await containersReady())) return t.todo('daemon side pending');
  let r = await d.berth(['run', 'busybox', '/no/such/binary']);
  const a = await d.docker(['run', '--network', 'bridge', 'busybox', '/no/such/binary']);
  assert.equal(r.code, a.code);
  assert.equal(r.code, 127);
  assert.match(r.stderr, /^berth: Error response from daemon: /);
  r = await d.berth(['run', 'nosuchimage:tag']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /Unable to find image 'nosuchimage:tag' locally/);
  r = await d.berth(['create', '--name', 'c1', 'busybox', 'echo', 'started']);
  assert.equal(r.code, 0, r.stderr);
  r = await d.berth(['start', '-a', 'c1']);
  assert.equal(r.stdout, 'started\n');
  r = await d.berth(['run', '-t', '--rm', 'busybox', 'sh', '-c', 'echo tty; tty']);
  assert.equal(r.stdout, 'tty\r\n/dev/pts/0\r\n');
  const cid = path.join(work, 'cid');
  r = await d.berth(['run', '-d', '--cidfile', cid, 'busybox', 'true']);
  assert.equal(fs.readFileSync(cid, 'utf8'), r.stdout.trim());
  r = await d.berth(['run', '--cidfile', cid, 'busybox', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /container ID file found/);
  r = await d.berth(['container', 'prune', '-f']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Deleted Containers:\n([0-9a-f]{64}\n)+\nTotal reclaimed space: \d/);
  r = await d.berth(['ps', '-aq', '--filter', 'status=exited']);
  assert.equal(r.stdout, '');
});
