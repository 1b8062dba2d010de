// The seed's example, for real: a Debian bookworm base made here with
// mmdebstrap, a redis image (apt-get install redis-server) and the Flask web
// app counting hits in redis, both built by `berth compose up -d --build`;
// HTTP requests on the published port see 1, 2, 3; `down` removes the
// containers and the network. Skips, saying why, when the base cannot be
// made (no mmdebstrap, mirror unreachable or too slow).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import http from 'node:http';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { debianRootfs, type DebianBase } from './fixtures/debian';

let d: TestDaemon | undefined;
let base: DebianBase;
let dir: string;

const APP = `import time
import redis
from flask import Flask

app = Flask(__name__)
cache = redis.Redis(host='redis', port=6379)


def get_hit_count():
    retries = 20
    while True:
        try:
            return cache.incr('hits')
        except redis.exceptions.ConnectionError:
            if retries == 0:
                raise
            retries -= 1
            time.sleep(0.5)


@app.route('/')
def hello():
    return 'Hello World! I have been seen {} times.\\n'.format(get_hit_count())


if __name__ == '__main__':
    app.run(host='0.0.0.0', port=5000)
`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

before(async () => {
  base = await debianRootfs();
  if (base.ms) console.log(`# debian base made in ${(base.ms / 1000).toFixed(1)} s`);
  if (!base.tar) return;
  d = await startDaemon();
  const imp = await d.docker(['import', base.tar, 'berth-test/debian:bookworm'], { timeout: 180_000 });
  assert.equal(imp.code, 0, imp.stderr);
  dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'compose-seed-')), 'composetest');
  fs.mkdirSync(path.join(dir, 'web'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'redis'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'web', 'app.py'), APP);
  fs.writeFileSync(path.join(dir, 'web', 'Dockerfile'), [
    'FROM berth-test/debian:bookworm',
    'RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-flask python3-redis && rm -rf /var/lib/apt/lists/*',
    'WORKDIR /code',
    'COPY app.py .',
    'CMD ["python3", "app.py"]',
  ].join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'redis', 'Dockerfile'), [
    'FROM berth-test/debian:bookworm',
    'RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*',
    'EXPOSE 6379',
    'CMD ["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0", "--save", ""]',
  ].join('\n') + '\n');
  // the seed's file name and shape: web built from a Dockerfile, publishing a port, and redis
  fs.writeFileSync(path.join(dir, 'docker-compose.yml'), [
    'version: "3.9"',
    'services:',
    '  web:',
    '    build: ./web',
    '    ports:',
    '      - "127.0.0.1:${WEB_PORT}:5000"',
    '    depends_on:',
    '      - redis',
    '  redis:',
    '    build: ./redis',
  ].join('\n') + '\n');
});

after(async () => {
  if (dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  await d?.stop();
});

test('seed: web + redis hit counter with berth compose up -d / down', async (t) => {
  if (!base.tar || !d) {
    t.skip(`no Debian base: ${base.skip}`);
    return;
  }
  const port = await freePort();
  const env = { WEB_PORT: String(port) };
  const t0 = Date.now();
  const up = await d.berth(['compose', 'up', '-d'], { cwd: dir, env, timeout: 600_000 });
  assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}\n${d.logs().slice(-3000)}`);
  console.log(`# build + up -d: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.match(up.stderr, /the attribute `version` is obsolete/);
  assert.match(up.stderr, / Container composetest-redis-1 {2}Started\n/);
  assert.match(up.stderr, / Container composetest-web-1 {2}Started\n/);
  const images = await d.ok(['images', '--format', '{{.Repository}}']);
  assert.match(images, /^composetest-web$/m);
  assert.match(images, /^composetest-redis$/m);
  // flask takes a moment to listen: retry the first request (bounded)
  let first = '';
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      first = await get(port);
      break;
    } catch (e) {
      if (Date.now() > end) throw new Error(`web never answered on 127.0.0.1:${port}: ${e}\n${(await d.berth(['compose', 'logs'], { cwd: dir, env })).stdout}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  assert.equal(first, 'Hello World! I have been seen 1 times.\n');
  assert.equal(await get(port), 'Hello World! I have been seen 2 times.\n');
  assert.equal(await get(port), 'Hello World! I have been seen 3 times.\n');
  const down = await d.berth(['compose', 'down'], { cwd: dir, env, timeout: 120_000 });
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stderr, / Network composetest_default {2}Removed\n/);
  assert.equal((await d.ok(['ps', '-aq', '--filter', 'label=com.docker.compose.project=composetest'])).trim(), '');
  assert.notEqual((await d.docker(['network', 'inspect', 'composetest_default'])).code, 0, 'down left the network');
});
