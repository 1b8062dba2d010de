// The CLI's start-up path: bin/berth runs the bundle (dist/berth.js) with a
// V8 code cache, falls back to tsc's output when the bundle is missing or
// stale, and plain requests go over a socket without loading node:http.
// No daemon: a fake one on a unix socket answers with canned HTTP.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { exchange } from '../src/client/exchange';
import { EngineClient } from '../src/client';
import { ApiError } from '../src/client/errors';
import { privateCliSocket } from './helpers/cli-server';

// bin/berth as a program: its CLI server (if one starts) is this file's, stopped at the end.
privateCliSocket(after);

const ROOT = path.resolve(__dirname, '..', '..');

function node(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A fake daemon: each request gets the raw bytes `answer(requestHead)` returns, sent in `pieces` writes. */
async function fakeDaemon(answer: (head: string) => string | Buffer, pieces = 1): Promise<{ sock: string; heads: string[]; close: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-startup-'));
  const sock = path.join(dir, 'd.sock');
  const heads: string[] = [];
  const server = net.createServer((c) => {
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      heads.push(buf.slice(0, end + 4 + len));
      const out = Buffer.from(answer(buf.slice(0, end)));
      const step = Math.ceil(out.length / pieces);
      let i = 0;
      const next = (): void => {
        if (i >= out.length) return void c.end();
        c.write(out.subarray(i, i + step), () => setTimeout(next, 5));
        i += step;
      };
      next();
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return {
    sock,
    heads,
    close: () => new Promise<void>((r) => server.close(() => { fs.rmSync(dir, { recursive: true, force: true }); r(); })),
  };
}

const json = (status: string, body: string, extra = ''): string =>
  `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nApi-Version: 1.43\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test('exchange: content-length, chunked (split anywhere) and close-delimited bodies', async () => {
  const body = JSON.stringify({ big: 'x'.repeat(70_000) });
  const chunked = (s: string): string => `${Buffer.byteLength(s.slice(0, 5)).toString(16)}\r\n${s.slice(0, 5)}\r\n${Buffer.byteLength(s.slice(5)).toString(16)}\r\n${s.slice(5)}\r\n0\r\n\r\n`;
  const cases: Array<[string, string]> = [
    ['length', json('200 OK', body)],
    ['chunked', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(body)}`],
    ['close', `HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${body}`],
    ['continue', `HTTP/1.1 100 Continue\r\n\r\n${json('201 Created', body)}`],
  ];
  for (const [name, raw] of cases) {
    for (const pieces of [1, 7]) {
      const d = await fakeDaemon(() => raw, pieces);
      try {
        const r = await exchange({ socketPath: d.sock }, 'POST /x HTTP/1.1\r\nHost: h', Buffer.from('{"a":1}'));
        assert.equal(r.status, name === 'continue' ? 201 : 200, name);
        assert.equal(r.body.toString(), body, `${name} in ${pieces} pieces`);
        assert.match(d.heads[0], /^POST \/x HTTP\/1\.1\r\nHost: h\r\nContent-Length: 7\r\nConnection: close\r\n\r\n\{"a":1\}$/);
      } finally {
        await d.close();
      }
    }
  }
});

test('exchange: a connection closed mid-answer is an error, not a short body', async () => {
  const d = await fakeDaemon(() => 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort');
  try {
    await assert.rejects(exchange({ socketPath: d.sock }, 'GET / HTTP/1.1', undefined), /socket hang up/);
  } finally {
    await d.close();
  }
  await assert.rejects(exchange({ socketPath: '/nonexistent/berth.sock' }, 'GET / HTTP/1.1', undefined), { code: 'ENOENT' });
});

test('client: ping negotiates, JSON and error answers, headers the daemon needs', async () => {
  const d = await fakeDaemon((head) => {
    if (head.startsWith('HEAD') || head.startsWith('GET /_ping')) return 'HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nOstype: linux\r\nContent-Length: 2\r\n\r\nOK';
    if (head.includes('/containers/json')) return json('200 OK', '[{"Id":"abc"}]');
    return json('404 Not Found', '{"message":"No such container: nope"}');
  });
  try {
    const c = new EngineClient({ host: `unix://${d.sock}`, env: {} });
    assert.deepEqual(await c.containerList({ all: true }), [{ Id: 'abc' }]);
    assert.equal(c.apiVersion, '1.41');
    await assert.rejects(c.containerInspect('nope'), (e: unknown) => e instanceof ApiError && e.status === 404 && e.message === 'No such container: nope');
    const list = d.heads.find((h) => h.includes('/containers/json'))!;
    assert.match(list, /^GET \/v1\.41\/containers\/json\?all=1 HTTP\/1\.1\r\n/);
    assert.match(list, /\r\nHost: api\.moby\.localhost\r\n/);
    assert.match(list, /\r\nUser-Agent: Berth-Client\//);
  } finally {
    await d.close();
  }
});

test('berth ps runs from the bundle with a code cache and never loads node:http', async () => {
  const bundle = path.join(ROOT, 'dist', 'berth.js');
  // npm run build and npm test write it; after a plain tsc it is missing or stale.
  const main = fs.statSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js')).mtimeMs;
  if (!fs.existsSync(bundle) || fs.statSync(bundle).mtimeMs < main) {
    const b = await node([path.join(ROOT, 'scripts', 'bundle.js')]);
    assert.equal(b.code, 0, b.stderr);
  }
  const d = await fakeDaemon((head) =>
    head.includes('/_ping') ? 'HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nContent-Length: 2\r\n\r\nOK' : json('200 OK', '[]'),
  );
  // What bin/berth loaded, printed when it exits.
  const probe = path.join(path.dirname(d.sock), 'probe.js');
  fs.writeFileSync(probe, `process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify({ http: process.moduleLoadList.includes('NativeModule http'), bundle: require.cache[${JSON.stringify(bundle)}] === undefined && process.moduleLoadList.includes('NativeModule vm') })));`);
  try {
    for (let i = 0; i < 2; i++) {
      const r = await node(['-r', probe, path.join(ROOT, 'bin', 'berth'), '-H', `unix://${d.sock}`, 'ps']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n');
      assert.deepEqual(JSON.parse(r.stderr.slice(r.stderr.indexOf('LOADED ') + 7)), { http: false, bundle: true });
    }
    const caches = fs.readdirSync(path.dirname(bundle)).filter((f) => /^berth\.js\..*\.cache$/.test(f));
    assert.equal(caches.length, 1, `one code cache beside the bundle: ${caches.join(', ')}`);
  } finally {
    await d.close();
  }
});

test('bin/berth falls back to dist/src when the bundle is missing or older than tsc output', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-startup-'));
  try {
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.mkdirSync(path.join(dir, 'dist', 'src', 'cli'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'bin', 'berth'), path.join(dir, 'bin', 'berth'));
    const main = path.join(dir, 'dist', 'src', 'cli', 'main.js');
    const bundle = path.join(dir, 'dist', 'berth.js');
    fs.writeFileSync(main, "process.stdout.write('from dist/src');");
    const berth = (): Promise<string> => node([path.join(dir, 'bin', 'berth')]).then((r) => r.stdout + r.stderr);
    assert.equal(await berth(), 'from dist/src', 'no bundle');
    fs.writeFileSync(bundle, "process.stdout.write('from bundle ' + (typeof module.exports) + ' ' + __dirname.endsWith('dist'));");
    const t = Date.now() / 1000;
    fs.utimesSync(main, t - 10, t - 10);
    fs.utimesSync(bundle, t, t);
    assert.equal(await berth(), 'from bundle object true');
    assert.equal(await berth(), 'from bundle object true', 'second run, from the code cache');
    fs.utimesSync(main, t + 5, t + 5);
    assert.equal(await berth(), 'from dist/src', 'tsc ran after the bundle was made');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `file` itself (its `#!`), not through node. */
function program(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test('bin/berth as a program keeps Node from loading NODE_EXTRA_CA_CERTS, and puts it back', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-startup-'));
  try {
    // Node warns at start-up when it cannot load the file: the warning shows whether it tried.
    const missing = path.join(dir, 'no-such-ca.pem');
    const probe = path.join(dir, 'probe.js');
    fs.writeFileSync(probe, "process.on('exit', () => process.stderr.write('EXTRA=' + process.env.NODE_EXTRA_CA_CERTS + ' MOVED=' + process.env.BERTH_EXTRA_CA_CERTS + '\\n'));");
    const env = { NODE_EXTRA_CA_CERTS: missing, NODE_OPTIONS: `-r ${probe}` };
    const viaNode = await node([path.join(ROOT, 'bin', 'berth'), '--version'], env);
    assert.equal(viaNode.code, 0, viaNode.stderr);
    assert.match(viaNode.stderr, /extra certs/i, 'node bin/berth: Node loads them itself (the check can fail)');
    const direct = await program(path.join(ROOT, 'bin', 'berth'), ['--version'], env);
    assert.equal(direct.code, 0, direct.stderr);
    assert.match(direct.stdout, /^Berth version /);
    assert.doesNotMatch(direct.stderr, /extra certs/i, 'bin/berth: Node did not parse them at start-up');
    assert.match(direct.stderr, new RegExp(`EXTRA=${missing} MOVED=undefined`), 'the variable is back for the CLI and its children');
    // Options for berth after it are not node's (the shebang used to say `node --`).
    const flag = await program(path.join(ROOT, 'bin', 'berth'), ['--env-file', 'x'], {});
    assert.match(flag.stderr, /unknown flag: --env-file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a TLS daemon signed by a CA from NODE_EXTRA_CA_CERTS is trusted through bin/berth', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-startup-'));
  const tls = await import('node:tls');
  const sh = (cmd: string): Promise<void> => new Promise((resolve, reject) => execFile('sh', ['-c', cmd], { cwd: dir, timeout: 30_000 }, (e, _o, err) => (e ? reject(new Error(err)) : resolve())));
  let server: import('node:tls').Server | undefined;
  try {
    await sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=berth-test-ca 2>/dev/null');
    await sh('openssl req -newkey rsa:2048 -nodes -keyout key.pem -out srv.csr -subj /CN=localhost 2>/dev/null');
    await sh("printf 'subjectAltName=IP:127.0.0.1\\n' > ext && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile ext 2>/dev/null");
    server = tls.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (c) => {
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        c.end(buf.includes('/_ping') ? 'HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nContent-Length: 2\r\n\r\nOK' : json('200 OK', '[]'));
        buf = '';
      });
      c.on('error', () => {});
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const certs = path.join(dir, 'empty');
    fs.mkdirSync(certs); // no ca.pem: the default CAs (and the extra ones) decide
    const args = ['-H', `tcp://127.0.0.1:${port}`, '--tlsverify', 'ps', '-q'];
    const env = { DOCKER_CERT_PATH: certs, DOCKER_CONFIG: certs, DOCKER_HOST: '', BERTH_HOST: '' };
    const without = await program(path.join(ROOT, 'bin', 'berth'), args, { ...env, NODE_EXTRA_CA_CERTS: '' });
    assert.notEqual(without.code, 0, 'an unknown CA is refused (the check can fail)');
    const withCa = await program(path.join(ROOT, 'bin', 'berth'), args, { ...env, NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem') });
    assert.equal(withCa.code, 0, withCa.stderr);
    assert.equal(withCa.stdout, '');
  } finally {
    server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
