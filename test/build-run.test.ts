// Builds with RUN steps (real containers through the container service),
// through `DOCKER_BUILDKIT=0 docker build` and `berth build`: a small app
// image that then runs, RUN output and exit codes, build args in RUN and the
// cache, heredocs, SHELL, multi-stage with RUN, --network, and that no build
// containers or mounts are left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
let env: NodeJS.ProcessEnv;

function ctxDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(d.root, 'ctx-'));
  for (const [name, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), body);
  }
  return dir;
}

function build(args: string[]) {
  return d.docker(['build', ...args], { env, timeout: 180_000 });
}

async function noBuildLeftovers(): Promise<void> {
  const ps = await d.docker(['ps', '-aq'], { env });
  assert.equal(ps.stdout.trim(), '', 'no intermediate containers remain');
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  assert.doesNotMatch(mounts, new RegExp(`${d.dataRoot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/containers/`), 'no container or view mounts remain');
}

before(async () => {
  d = await startDaemon();
  env = { ...d.env, DOCKER_BUILDKIT: '0' };
  await d.loadBusybox();
});
after(async () => {
  await d?.stop();
});

test('a small app image: WORKDIR, COPY . ., RUN, CMD, EXPOSE; it runs and prints', async () => {
  const dir = ctxDir({
    Dockerfile: [
      'FROM busybox',
      'WORKDIR /app',
      'COPY . .',
      'RUN echo "built at step 4" > built.txt && ls /app && echo to-stderr >&2',
      'EXPOSE 8080',
      'CMD ["sh", "-c", "cat /app/built.txt /app/msg.txt"]',
      '',
    ].join('\n'),
    'msg.txt': 'hello from the app\n',
  });
  const r = await build(['-t', 'app:1', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Step 4\/6 : RUN echo "built at step 4" > built.txt && ls \/app && echo to-stderr >&2\n ---> Running in ([0-9a-f]{12})\n/);
  assert.match(r.stdout, /msg\.txt\n/); // RUN output streamed
  assert.match(r.stdout, /to-stderr\n/);
  const cid = /Running in ([0-9a-f]{12})/.exec(r.stdout)![1];
  assert.match(r.stdout, new RegExp(`Removing intermediate container ${cid}\\n ---> [0-9a-f]{12}\\n`));
  assert.match(r.stdout, /Successfully tagged app:1/);
  await noBuildLeftovers();
  const run = await d.docker(['run', '--rm', 'app:1'], { env, timeout: 60_000 });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'built at step 4\nhello from the app\n');
  const insp = JSON.parse((await d.docker(['image', 'inspect', 'app:1'], { env })).stdout)[0];
  assert.deepEqual(insp.Config.ExposedPorts, { '8080/tcp': {} });
  assert.equal(insp.Config.WorkingDir, '/app');
  // busybox has 1 layer; WORKDIR, COPY and RUN add one each; EXPOSE and CMD none.
  assert.equal(insp.RootFS.Layers.length, 4);
  // A RUN that changes nothing adds no layer either.
  const noop = await build(['-t', 'noop', ctxDir({ Dockerfile: 'FROM app:1\nRUN true\n' })]);
  assert.equal(noop.code, 0, noop.stderr + noop.stdout);
  const ni = JSON.parse((await d.docker(['image', 'inspect', 'noop'], { env })).stdout)[0];
  assert.equal(ni.RootFS.Layers.length, 4);
  assert.equal(ni.Config.Cmd.join(' '), 'sh -c cat /app/built.txt /app/msg.txt');
  // Rebuild: all cached, same id, no container.
  const again = await build(['-t', 'app:1', dir]);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /Running in/);
  assert.equal((again.stdout.match(/Using cache/g) ?? []).length, 5);
  assert.equal(/Successfully built (\w+)/.exec(again.stdout)![1], insp.Id.slice(7, 19));
  // The intermediate images are listed with -a only.
  const all = await d.docker(['images', '-a', '-q'], { env });
  const top = await d.docker(['images', '-q'], { env });
  assert.ok(all.stdout.trim().split('\n').length >= top.stdout.trim().split('\n').length + 4, all.stdout + '\n--\n' + top.stdout);
});

test('a failing RUN: errorDetail with its exit code, docker build exits non-zero, nothing left', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nRUN echo before\nRUN exit 3\nRUN echo never\n' });
  const r = await build([dir]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
  assert.doesNotMatch(r.stdout, /never/);
  await noBuildLeftovers();
  const f = await build(['--force-rm', dir]);
  assert.notEqual(f.code, 0);
  await noBuildLeftovers();
  // --rm=false keeps the build containers (the successful step's and the failed one).
  const keep = await build(['--rm=false', '--no-cache', dir]);
  assert.notEqual(keep.code, 0);
  assert.doesNotMatch(keep.stdout, /Removing intermediate container/);
  const ids = (await d.docker(['ps', '-aq'], { env })).stdout.trim().split('\n').filter(Boolean);
  assert.equal(ids.length, 2);
  assert.equal((await d.docker(['rm', '-f', ...ids], { env })).code, 0);
});

test('unknown stage or image in COPY --from / FROM, excluded Dockerfile stays out of COPY . .', async () => {
  const r = await build([ctxDir({ Dockerfile: 'FROM busybox\nCOPY --from=nostage /x /x\n' })]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /invalid from flag value nostage: /);
  const f = await build([ctxDir({ Dockerfile: 'FROM nosuchbase\n' })]);
  assert.notEqual(f.code, 0);
  assert.match(f.stderr, /registry-1\.docker\.io|pull access denied/);
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nCOPY . /ctx/\nCMD ["ls", "-a", "/ctx"]\n', '.dockerignore': 'Dockerfile\n.dockerignore\n', 'kept.txt': 'k' });
  const b = await build(['-t', 'noignorefiles', dir]);
  assert.equal(b.code, 0, b.stderr + b.stdout);
  const ls = await d.docker(['run', '--rm', 'noignorefiles'], { env, timeout: 60_000 });
  assert.equal(ls.stdout, '.\n..\nkept.txt\n');
  // --pull is accepted: with no registry reachable the local image is used.
  const p = await build(['--pull', dir]);
  assert.equal(p.code, 0, p.stderr);
});

test('build args reach RUN, show in history, and invalidate the cache when they change', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nARG GREETING=hi\nRUN echo "$GREETING" > /greeting\nCMD ["cat", "/greeting"]\n' });
  const r1 = await build(['--build-arg', 'GREETING=bonjour', '-t', 'args:1', dir]);
  assert.equal(r1.code, 0, r1.stderr + r1.stdout);
  const run = await d.docker(['run', '--rm', 'args:1'], { env, timeout: 60_000 });
  assert.equal(run.stdout, 'bonjour\n');
  const h = await d.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'args:1'], { env });
  assert.match(h.stdout, /\|1 GREETING=bonjour \/bin\/sh -c echo "\$GREETING" > \/greeting/);
  const same = await build(['--build-arg', 'GREETING=bonjour', dir]);
  assert.doesNotMatch(same.stdout, /Running in/);
  const changed = await build(['--build-arg', 'GREETING=hallo', dir]);
  assert.match(changed.stdout, /Running in/);
  const dflt = await build(['-t', 'args:2', dir]);
  assert.equal((await d.docker(['run', '--rm', 'args:2'], { env, timeout: 60_000 })).stdout, 'hi\n');
  assert.equal(dflt.code, 0);
});

test('heredoc RUN, SHELL, USER, and a multi-stage build with RUN', async () => {
  const dir = ctxDir({
    Dockerfile: [
      'FROM busybox AS builder',
      'RUN <<EOF',
      'mkdir -p /out',
      'echo "compiled" > /out/artifact',
      'EOF',
      'SHELL ["/bin/sh", "-e", "-c"]',
      'RUN echo "$0 $-" > /out/shell',
      'FROM busybox',
      'COPY --from=builder /out /opt/',
      'USER nobody',
      'RUN id -un > /tmp/whoami',
      'CMD ["sh", "-c", "cat /opt/artifact /tmp/whoami"]',
      '',
    ].join('\n'),
  });
  const r = await build(['-t', 'multi:1', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = await d.docker(['run', '--rm', 'multi:1'], { env, timeout: 60_000 });
  assert.equal(run.stdout, 'compiled\nnobody\n');
  const sh = await d.docker(['run', '--rm', '--user', 'root', 'multi:1', 'cat', '/opt/shell'], { env, timeout: 60_000 });
  assert.match(sh.stdout, /^\/bin\/sh .*e/);
  await noBuildLeftovers();
});

test('COPY --chown with names from the image, --chmod keeps created parents usable', async () => {
  const dir = ctxDir({
    Dockerfile: 'FROM busybox\nCOPY --chown=nobody --chmod=0600 f /deep/dir/f\nUSER nobody\nCMD ["sh", "-c", "stat -c %u:%g:%a /deep/dir/f /deep/dir && cat /deep/dir/f"]\n',
    f: 'secret\n',
  });
  const r = await build(['-t', 'chown', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = await d.docker(['run', '--rm', 'chown'], { env, timeout: 60_000 });
  assert.equal(run.stdout, '65534:65534:600\n65534:65534:755\nsecret\n');
  const bad = await build([ctxDir({ Dockerfile: 'FROM busybox\nCOPY --chown=nosuchuser f /f\n', f: 'x' })]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unable to convert uid\/gid chown string to host mapping: can't find uid for user nosuchuser/);
});

test('--network none: RUN has only a loopback interface', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nRUN cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " | sort > /ifaces\nCMD ["cat", "/ifaces"]\n' });
  const r = await build(['--network', 'none', '-t', 'nonet', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = await d.docker(['run', '--rm', '--network', 'none', 'nonet'], { env, timeout: 60_000 });
  assert.equal(run.stdout, 'lo\n');
});

test('berth build with RUN', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nRUN echo from-berth > /b\nCMD ["cat", "/b"]\n' });
  const r = await d.berth(['build', '-t', 'berth-run', dir], { timeout: 180_000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Running in [0-9a-f]{12}\n/);
  const run = await d.docker(['run', '--rm', 'berth-run'], { env, timeout: 60_000 });
  assert.equal(run.stdout, 'from-berth\n');
  const bad = await d.berth(['build', ctxDir({ Dockerfile: 'FROM busybox\nRUN exit 7\n' })], { timeout: 180_000 });
  assert.equal(bad.code, 7);
  assert.match(bad.stderr, /returned a non-zero code: 7/);
});

test('a RUN built through the docker CLI is a cache hit for berth build (--network default)', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM busybox\nRUN echo netkey > /k\n' });
  const r1 = await build(['-t', 'netkey', dir]);
  assert.equal(r1.code, 0, r1.stderr);
  const r2 = await d.berth(['build', '-t', 'netkey', dir], { timeout: 180_000 });
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /Step 2\/2 : RUN echo netkey > \/k\n ---> Using cache\n/);
  const id = (out: string) => /Successfully built ([0-9a-f]{12})/.exec(out)?.[1];
  assert.equal(id(r2.stdout), id(r1.stdout));
});

test('a client that goes away cancels the build: the RUN container is stopped and removed', async () => {
  const tar = (await import('tar-stream')).default;
  const http = await import('node:http');
  const pack = tar.pack();
  pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nRUN echo started && sleep 60\n');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as any) chunks.push(c);
  const t0 = Date.now();
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ socketPath: d.socket, path: '/v1.43/build?t=cancelled', method: 'POST', headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('{"stream":"started\\n"}')) {
          req.destroy();
          resolve();
        }
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
    setTimeout(() => reject(new Error('build did not start in 30 s')), 30_000).unref();
    req.end(Buffer.concat(chunks));
  });
  let left = 'x';
  for (let i = 0; i < 100 && left; i++) {
    left = (await d.docker(['ps', '-aq'], { env })).stdout.trim();
    if (left) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(left, '', 'the build container is gone');
  assert.ok(Date.now() - t0 < 40_000, 'cancelled well before the sleep ended');
  const img = await d.docker(['image', 'inspect', 'cancelled'], { env });
  assert.notEqual(img.code, 0, 'no image tagged');
  await noBuildLeftovers();
});

test('POST /build/prune answers Docker\'s shape', async () => {
  const r = await d.docker(['builder', 'prune', '-f'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Total reclaimed space: 0B/);
});
