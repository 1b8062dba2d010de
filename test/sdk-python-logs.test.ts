// The official Python SDK (Debian's python3-docker) against a private
// berthd: run() output through the json-file driver, logs, exec output with
// and without a TTY, exec start failures, the exec socket, kill then rm.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { python } from './helpers/python';

let d: TestDaemon;
const PRELUDE = 'import docker, json, socket, time\ncl = docker.from_env(timeout=60)\napi = cl.api\nout = lambda v: print(json.dumps(v))\nb = lambda x: None if x is None else x.decode("latin-1")\n';

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  await d.ok(['run', '-d', '--name', 'px', 'busybox', 'sleep', '600']);
});

after(async () => {
  await d?.stop();
});

/** Runs a Python snippet with DOCKER_HOST of the test daemon; its last stdout line as JSON. */
async function py(code: string, timeout = 60_000): Promise<any> {
  const r = await python(d, PRELUDE + code, timeout);
  assert.equal(r.code, 0, `python failed (${r.code}): ${r.stderr}\n${d.logs().slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

test('python3-docker: containers.run() returns the output (json-file driver)', async () => {
  const v = await py(`
o1 = cl.containers.run('busybox', ['sh', '-c', 'echo out1; echo err1 >&2'], remove=True)
o2 = cl.containers.run('busybox', ['sh', '-c', 'echo out2; echo err2 >&2'], stdout=True, stderr=True, remove=True)
out([b(o1), b(o2)])`);
  assert.deepEqual(v, ['out1\n', 'out2\nerr2\n']);
});

test('python3-docker: logs of a json-file container, and the file Docker log shippers tail', async () => {
  const v = await py(`
c = cl.containers.run('busybox', ['sh', '-c', 'echo one; echo two >&2; printf three'], detach=True)
c.wait(timeout=30)
c.reload()
path = c.attrs['LogPath']
with open(path) as f: lines = f.read().splitlines()
out({'cfg': c.attrs['HostConfig']['LogConfig'], 'path': path, 'id': c.id, 'logs': b(c.logs()), 'err': b(c.logs(stdout=False)),
     'ts': b(c.logs(timestamps=True, tail=1)), 'lines': [json.loads(l) for l in lines], 'raw': lines})`);
  assert.deepEqual(v.cfg, { Type: 'json-file', Config: {} });
  assert.equal(v.path, `${d.dataRoot}/containers/${v.id}/${v.id}-json.log`);
  assert.equal(v.logs, 'one\ntwo\nthree');
  assert.equal(v.err, 'two\n');
  assert.match(v.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z three$/);
  const byLog = new Map(v.lines.map((l: any) => [l.log, l]));
  assert.deepEqual(Object.keys(v.lines[0]), ['log', 'stream', 'time']);
  assert.equal((byLog.get('one\n') as any)?.stream, 'stdout');
  assert.equal((byLog.get('two\n') as any)?.stream, 'stderr');
  assert.ok(byLog.has('three'), `partial last line kept without a newline: ${v.raw.join('\n')}`);
  for (const l of v.lines) assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
});

test('python3-docker: exec_run with a TTY returns every byte; demux as Docker frames it', async () => {
  const v = await py(`
c = cl.containers.get('px')
cmd = ['sh', '-c', 'echo hello out; echo hello err >&2']
r1 = c.exec_run(cmd, tty=True)
r2 = c.exec_run(cmd, demux=True)
r3 = c.exec_run(cmd, tty=True, demux=True)
e = api.exec_create('px', cmd, tty=True)
r4 = api.exec_start(e['Id'], tty=False, demux=True)
e = api.exec_create('px', cmd, tty=False)
r5 = api.exec_start(e['Id'], tty=False)
out([b(r1.output), r1.exit_code, [b(x) for x in r2.output], [b(x) for x in r3.output], [b(x) for x in r4], b(r5)])`);
  assert.equal(v[0], 'hello out\r\nhello err\r\n');
  assert.equal(v[1], 0);
  assert.deepEqual(v[2], ['hello out\n', 'hello err\n']);
  assert.deepEqual(v[3], ['hello out\r\nhello err\r\n', null]);
  // A TTY exec started without Tty: Docker sends its output in stdout frames.
  assert.deepEqual(v[4], ['hello out\r\nhello err\r\n', null]);
  // Two pipes: their relative order is not fixed (on Docker neither), each line is whole and framed.
  assert.deepEqual(v[5].split('\n').sort(), ['', 'hello err', 'hello out']);
});

test('python3-docker: exec of a missing binary is exit 126 with Docker\'s message', async () => {
  const v = await py(`
c = cl.containers.get('px')
r = c.exec_run(['/nonexistent'])
rt = c.exec_run(['/nonexistent'], tty=True)
r255 = c.exec_run(['sh', '-c', 'echo gone >&2; exit 255'])
out([r.exit_code, b(r.output), rt.exit_code, b(rt.output), r255.exit_code, b(r255.output)])`);
  assert.equal(v[0], 126);
  assert.match(v[1], /^OCI runtime exec failed: exec failed: .*"\/nonexistent".*no such file or directory: unknown\r\n$/);
  assert.equal(v[2], 126);
  assert.match(v[3], /OCI runtime exec failed/);
  // A process's own 255 stays 255 with its output.
  assert.equal(v[4], 255);
  assert.equal(v[5], 'gone\n');
});

test('python3-docker: exec_start(socket=True) is the hijacked connection (stdin in, frames out)', async () => {
  // Several rounds: the stdin was lost only when the body came in its own packet.
  const v = await py(`
res = []
for i in range(4):
    e = api.exec_create('px', ['cat'], stdin=True)
    s = api.exec_start(e['Id'], socket=True)
    sock = s._sock if hasattr(s, '_sock') else s
    sock.settimeout(15)
    sock.sendall(b'ping\\n')
    sock.shutdown(socket.SHUT_WR)
    data = b''
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk: break
            data += chunk
    except socket.timeout:
        data += b'<timeout>'
    res.append([b(data), api.exec_inspect(e['Id'])['ExitCode']])
out(res)`, 120_000);
  for (const r of v) assert.deepEqual(r, ['\x01\x00\x00\x00\x00\x00\x00\x05ping\n', 0]);
});

test('python3-docker: kill (and stop) return once stopped, so an immediate remove works', async () => {
  const v = await py(`
res = []
for i in range(3):
    c = cl.containers.run('busybox', ['sleep', '300'], detach=True)
    c.kill()
    c.reload()
    st = c.attrs['State']
    c.remove()
    res.append([st['Running'], st['ExitCode'], st['Status']])
# stop returns once the exit is recorded too; restart once it runs again.
c = cl.containers.run('busybox', ['sleep', '300'], detach=True)
c.restart(timeout=1)
c.reload()
res.append([c.attrs['State']['Running'], c.attrs['State']['Status']])
c.stop(timeout=1)
c.reload()
res.append([c.attrs['State']['Running'], c.attrs['State']['Status']])
c.remove()
out(res)`, 90_000);
  for (const r of v.slice(0, 3)) assert.deepEqual(r, [false, 137, 'exited']);
  assert.deepEqual(v[3], [true, 'running']);
  assert.deepEqual(v[4], [false, 'exited']);
});
