// The builder through the official docker CLI (DOCKER_BUILDKIT=0, the classic
// builder's API): COPY/metadata steps, cache hits and invalidation,
// multi-stage with unneeded stages skipped, .dockerignore, build args, and
// Docker's errors for bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { Readable } from 'node:stream';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
let env: NodeJS.ProcessEnv;
const dirs: string[] = [];

function ctxDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(d.root, 'ctx-'));
  dirs.push(dir);
  for (const [name, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), body);
  }
  return dir;
}

function build(args: string[]) {
  return d.docker(['build', ...args], { env, timeout: 120_000 });
}

/** Image ids printed as ` ---> <id>` after each step, in order. */
function stepIds(out: string): string[] {
  return [...out.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].map((m) => m[1]);
}

function builtId(out: string): string {
  const m = /Successfully built ([0-9a-f]{12})/.exec(out);
  assert.ok(m, `no "Successfully built" in:\n${out}`);
  return m[1];
}

function postBuild(query: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: d.socket, path: `/v1.43/build?${query}`, method: 'POST', timeout: 30_000, headers: { 'Content-Type': 'application/x-tar' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: unknown) => void chunks.push(c as Buffer));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

before(async () => {
  d = await startDaemon();
  env = { ...d.env, DOCKER_BUILDKIT: '0' };
});
after(async () => {
  await d?.stop();
});

test('COPY and metadata steps: one layer per COPY, cache on rebuild, same id', async () => {
  const dir = ctxDir({
    Dockerfile: 'FROM scratch\nCOPY a.txt /a.txt\nCOPY sub /data/\nENV A=1\nLABEL x=y\nCMD ["/x"]\n',
    'a.txt': 'hello\n',
    'sub/s.txt': 's\n',
  });
  const r1 = await build(['-t', 'copytest:1', dir]);
  assert.equal(r1.code, 0, r1.stderr + r1.stdout);
  assert.match(r1.stdout, /Step 1\/6 : FROM scratch/);
  assert.match(r1.stdout, /Successfully tagged copytest:1/);
  assert.doesNotMatch(r1.stdout, /Using cache/);
  const id1 = builtId(r1.stdout);
  const r2 = await build(['-t', 'copytest:1', dir]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal((r2.stdout.match(/ ---> Using cache/g) ?? []).length, 5, r2.stdout);
  assert.equal(builtId(r2.stdout), id1);
  // Touching a file (mtime only) keeps the cache: checksums ignore mtimes.
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(path.join(dir, 'a.txt'), later, later);
  const r3 = await build([dir]);
  assert.equal(builtId(r3.stdout), id1);
  // Changing the second COPY's source rebuilds from that step on only.
  fs.writeFileSync(path.join(dir, 'sub/s.txt'), 'changed\n');
  const r4 = await build([dir]);
  assert.equal(r4.code, 0, r4.stderr);
  const ids2 = stepIds(r2.stdout);
  const ids4 = stepIds(r4.stdout);
  assert.equal(ids4[0], ids2[0], 'first COPY still cached');
  assert.match(r4.stdout, /Step 2\/6 : COPY a.txt \/a.txt\n ---> Using cache/);
  assert.match(r4.stdout, /Step 3\/6 : COPY sub \/data\/\n ---> [0-9a-f]{12}\n/);
  assert.notEqual(ids4[1], ids2[1]);
  assert.notEqual(builtId(r4.stdout), id1);
  // Same content under another name is a different step.
  const renamed = ctxDir({ Dockerfile: 'FROM scratch\nCOPY b.txt /d/\n', 'b.txt': 'same\n' });
  const first = ctxDir({ Dockerfile: 'FROM scratch\nCOPY a.txt /d/\n', 'a.txt': 'same\n' });
  assert.equal((await build(['-t', 'name-a', first])).code, 0);
  const rb = await build(['-t', 'name-b', renamed]);
  assert.doesNotMatch(rb.stdout, /Using cache/);
  assert.equal((await imageFiles('name-b')).get('/d/b.txt')?.body, 'same\n');
  // --no-cache rebuilds everything.
  const r5 = await build(['--no-cache', dir]);
  assert.doesNotMatch(r5.stdout, /Using cache/);
});

test('multi-stage: COPY --from by name and index, unneeded stages are not built, --target', async () => {
  const dir = ctxDir({
    Dockerfile: [
      'FROM scratch AS first',
      'COPY a.txt /a.txt',
      'FROM scratch AS broken',
      'COPY does-not-exist /x',
      'FROM scratch',
      'COPY --from=first /a.txt /from-name.txt',
      'COPY --from=0 /a.txt /from-index.txt',
      '',
    ].join('\n'),
    'a.txt': 'A\n',
  });
  const r = await build([dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.doesNotMatch(r.stdout, /does-not-exist/);
  assert.match(r.stdout, /Step 1\/5 : FROM scratch AS first/);
  const t = await build(['--target', 'first', dir]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /Step 2\/2 : COPY a.txt/);
  const bad = await build(['--target', 'broken', dir]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /COPY failed: file not found in build context or excluded by \.dockerignore: stat does-not-exist: file does not exist/);
  const unknown = await build(['--target', 'nope', dir]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /failed to reach build target nope in Dockerfile/);
});

test('.dockerignore and build args', async () => {
  const dir = ctxDir({
    Dockerfile: 'ARG BASE=scratch\nFROM ${BASE}\nARG DEST=/default\nARG UNSET\nCOPY . ${DEST}/\nLABEL dest=$DEST unset=${UNSET:-none}\n',
    '.dockerignore': '*.log\n!keep.log\nsecret/\n',
    'a.log': 'no',
    'keep.log': 'yes',
    'secret/key': 'k',
    'app.txt': 'app',
  });
  const r = await build(['--build-arg', 'DEST=/opt/app', '--build-arg', 'UNUSED=1', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /\[Warning\] One or more build-args \[UNUSED\] were not consumed/);
  // Building the same through the raw API with a context that still holds the
  // ignored files gives the same result: the daemon applies .dockerignore too.
  const sum1 = /COPY \. \$\{DEST\}\/\n ---> ([0-9a-f]{12})/.exec(r.stdout)?.[1];
  assert.ok(sum1);
});

test('variable expansion: ENV sees the values from before it, ARG defaults, ${x:-y} and ${x:+y}', async () => {
  const dir = ctxDir({
    Dockerfile: [
      'FROM scratch',
      'ENV abc=hello',
      'ENV abc=bye def=$abc',
      'ARG WHO',
      'ARG TAGGED=v1',
      'ENV ghi=$abc who=${WHO:-nobody} t=${TAGGED:+set-$TAGGED} esc=\\$abc quoted="a b"',
      'LABEL greeting="hi $who"',
      'WORKDIR /srv/$TAGGED',
      '',
    ].join('\n'),
  });
  const r = await build(['-t', 'expand', dir]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const img = JSON.parse((await d.docker(['image', 'inspect', 'expand'], { env })).stdout)[0];
  const e = img.Config.Env as string[];
  assert.ok(e.includes('abc=bye'), e.join());
  assert.ok(e.includes('def=hello'), e.join());
  assert.ok(e.includes('ghi=bye'), e.join());
  assert.ok(e.includes('who=nobody'), e.join());
  assert.ok(e.includes('t=set-v1'), e.join());
  assert.ok(e.includes('esc=$abc'), e.join());
  assert.ok(e.includes('quoted=a b'), e.join());
  assert.ok(e.some((x) => x.startsWith('PATH=')), 'default PATH');
  assert.equal(img.Config.Labels.greeting, 'hi nobody');
  assert.equal(img.Config.WorkingDir, '/srv/v1');
});

test('bad input: Docker errors, nothing left behind', async () => {
  const unknown = await build([ctxDir({ Dockerfile: 'FROM scratch\n\nFOO bar\n' })]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /dockerfile parse error on line 3: unknown instruction: FOO/);

  const noFrom = await build([ctxDir({ Dockerfile: 'COPY a /a\n', a: 'x' })]);
  assert.notEqual(noFrom.code, 0);
  assert.match(noFrom.stderr, /no build stage in current context/);

  const missing = await build([ctxDir({ Dockerfile: 'FROM scratch\nCOPY nothere /x\n' })]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr + missing.stdout, /COPY failed: file not found in build context or excluded by \.dockerignore: stat nothere: file does not exist/);

  const glob = await build([ctxDir({ Dockerfile: 'FROM scratch\nCOPY *.none /x/\n' })]);
  assert.notEqual(glob.code, 0);
  assert.match(glob.stderr + glob.stdout, /COPY failed: no source files were specified/);

  const escape = await build([ctxDir({ Dockerfile: 'FROM scratch\nCOPY ../../../../etc/passwd /x\n' })]);
  assert.notEqual(escape.code, 0, 'COPY ../ must not reach outside the context');
  assert.match(escape.stderr + escape.stdout, /stat etc\/passwd: file does not exist/);

  // Symlinks in the context that point out resolve inside the context root.
  const linkDir = ctxDir({ Dockerfile: 'FROM scratch\nCOPY abs/passwd /x\n' });
  fs.symlinkSync('/etc', path.join(linkDir, 'abs'));
  const viaAbs = await build([linkDir]);
  assert.notEqual(viaAbs.code, 0);
  assert.match(viaAbs.stderr + viaAbs.stdout, /stat abs\/passwd: file does not exist/);
  const relDir = ctxDir({ Dockerfile: 'FROM scratch\nCOPY rel /x\n', 'etc/passwd': 'inside\n' });
  fs.symlinkSync('../../../../../../etc/passwd', path.join(relDir, 'rel'));
  const viaRel = await build(['-t', 'symlink-inside', relDir]);
  assert.equal(viaRel.code, 0, viaRel.stderr + viaRel.stdout);
  assert.equal((await imageFiles('symlink-inside')).get('/x')?.body, 'inside\n', 'the link resolved to the context copy, not the host file');

  const multi = await build([ctxDir({ Dockerfile: 'FROM scratch\nCOPY a b /dst\n', a: '1', b: '2' })]);
  assert.notEqual(multi.code, 0);
  assert.match(multi.stderr + multi.stdout, /When using COPY with more than one source file, the destination must be a directory and end with a \//);

  const notTar = await postBuild('t=x', Buffer.from('this is not a tar archive at all, just some text that is long enough '.repeat(20)));
  assert.equal(notTar.status, 400, notTar.body);
  assert.match(notTar.body, /failed to read build context/);

  const badTag = await build(['-t', 'Bad:Tag', ctxDir({ Dockerfile: 'FROM scratch\n' })]);
  assert.notEqual(badTag.code, 0);

  // No build temp dirs or filesystem views remain.
  const left = fs.readdirSync(path.join(d.dataRoot, 'builder')).filter((n) => n !== 'tmp');
  assert.deepEqual(left, []);
  const tmp = fs.existsSync(path.join(d.dataRoot, 'builder', 'tmp')) ? fs.readdirSync(path.join(d.dataRoot, 'builder', 'tmp')) : [];
  assert.deepEqual(tmp, []);
  const views = fs.readdirSync(path.join(d.dataRoot, 'containers')).filter((n) => n.startsWith('buildview-'));
  assert.deepEqual(views, []);
  assert.doesNotMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(d.dataRoot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '/containers/buildview'));
});

/** Files of an image, from `docker save`: path → {mode, uid, gid, body|link}, top layer wins. */
async function imageFiles(ref: string): Promise<Map<string, { mode: number; uid: number; gid: number; type: string; body: string; link?: string }>> {
  const tar = (await import('tar-stream')).default;
  const out = path.join(d.root, `save-${Date.now()}.tar`);
  const r = await d.docker(['save', '-o', out, ref], { env });
  assert.equal(r.code, 0, r.stderr);
  const entries = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    const ex = tar.extract();
    ex.on('entry', (h, s, next) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: unknown) => void chunks.push(c as Buffer));
      s.on('end', () => {
        entries.set(h.name, Buffer.concat(chunks));
        next();
      });
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
    fs.createReadStream(out).pipe(ex);
  });
  fs.rmSync(out);
  const manifest = JSON.parse(entries.get('manifest.json')!.toString());
  const files = new Map<string, { mode: number; uid: number; gid: number; type: string; body: string; link?: string }>();
  for (const layer of manifest[0].Layers as string[]) {
    await new Promise<void>((resolve, reject) => {
      const ex = tar.extract();
      ex.on('entry', (h, s, next) => {
        const chunks: Buffer[] = [];
        s.on('data', (c: unknown) => void chunks.push(c as Buffer));
        s.on('end', () => {
          files.set('/' + h.name.replace(/\/$/, ''), { mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, type: h.type ?? 'file', body: Buffer.concat(chunks).toString(), link: h.linkname ?? undefined });
          next();
        });
      });
      ex.on('finish', () => resolve());
      ex.on('error', reject);
      Readable.from([entries.get(layer)!]).pipe(ex);
    });
  }
  return files;
}

async function inspect(ref: string): Promise<any> {
  const r = await d.docker(['image', 'inspect', ref], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout)[0];
}

test('instructions: WORKDIR, COPY --chown/--chmod, heredoc, ADD tar and URL, metadata in the config', async () => {
  // A loopback HTTP server for ADD <url>.
  const server = http.createServer((req, res) => {
    if (req.url === '/files/remote.txt') {
      res.writeHead(200, { 'Last-Modified': new Date('2020-01-02T03:04:05Z').toUTCString() });
      res.end('remote content\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('node:net').AddressInfo).port;
  try {
    const tarStream = (await import('tar-stream')).default.pack();
    tarStream.entry({ name: 'inner/x.txt' }, 'from tar\n');
    tarStream.finalize();
    const chunks: Buffer[] = [];
    for await (const c of tarStream as any) chunks.push(c);
    const dir = ctxDir({
      Dockerfile: [
        'FROM scratch',
        'MAINTAINER someone',
        'WORKDIR /app',
        'WORKDIR sub',
        'COPY --chown=1000:2000 --chmod=0640 a.txt ./',
        'COPY <<EOF /etc/greeting',
        'hello ${NAME:-world}',
        'EOF',
        'ADD archive.tar /unpacked/',
        `ADD http://127.0.0.1:${port}/files/remote.txt /remote/`,
        'COPY *.md /docs/',
        'USER 1000:1000',
        'EXPOSE 80 53/udp 8000-8001',
        'VOLUME ["/data"]',
        'STOPSIGNAL SIGTERM',
        'HEALTHCHECK --interval=5s --retries=2 CMD ["/bin/true"]',
        'ONBUILD COPY . /src',
        'SHELL ["/bin/bash", "-c"]',
        'ENTRYPOINT exec /app/run',
        '',
      ].join('\n'),
      'a.txt': 'A\n',
      'archive.tar': Buffer.concat(chunks).toString('latin1'),
      'one.md': '1',
      'two.md': '2',
    });
    // The tar body must be written as bytes.
    fs.writeFileSync(path.join(dir, 'archive.tar'), Buffer.concat(chunks));
    const r = await build(['-t', 'instr:1', '--label', 'from.cli=yes', dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const img = await inspect('instr:1');
    const c = img.Config;
    assert.equal(img.Author, 'someone');
    assert.equal(c.WorkingDir, '/app/sub');
    assert.equal(c.User, '1000:1000');
    assert.deepEqual(Object.keys(c.ExposedPorts).sort(), ['53/udp', '80/tcp', '8000/tcp', '8001/tcp']);
    assert.deepEqual(Object.keys(c.Volumes), ['/data']);
    assert.equal(c.StopSignal, 'SIGTERM');
    assert.deepEqual(c.Healthcheck, { Test: ['CMD', '/bin/true'], Interval: 5e9, Retries: 2 });
    assert.deepEqual(c.OnBuild, ['COPY . /src']);
    assert.deepEqual(c.Shell, ['/bin/bash', '-c']);
    assert.deepEqual(c.Entrypoint, ['/bin/bash', '-c', 'exec /app/run']);
    assert.equal(c.Labels['from.cli'], 'yes');
    // Layers: WORKDIR /app, WORKDIR sub (both make dirs), COPY, COPY heredoc, ADD tar, ADD url, COPY glob = 7.
    assert.equal(img.RootFS.Layers.length, 7);
    const files = await imageFiles('instr:1');
    const a = files.get('/app/sub/a.txt')!;
    assert.equal(a.body, 'A\n');
    assert.equal(a.uid, 1000);
    assert.equal(a.gid, 2000);
    assert.equal(a.mode & 0o777, 0o640);
    assert.equal(files.get('/etc/greeting')?.body, 'hello world\n');
    assert.equal(files.get('/unpacked/inner/x.txt')?.body, 'from tar\n');
    assert.equal(files.get('/remote/remote.txt')?.body, 'remote content\n');
    assert.equal((files.get('/remote/remote.txt')!.mode & 0o777), 0o600);
    assert.equal(files.get('/docs/one.md')?.body, '1');
    assert.equal(files.get('/docs/two.md')?.body, '2');
    // History: metadata steps are empty layers.
    const h = await d.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', 'instr:1'], { env });
    assert.match(h.stdout, /#\(nop\)  USER 1000:1000\|0B/);
  } finally {
    server.close();
  }
});

test('ONBUILD triggers run in the child build; -f names a Dockerfile in the context', async () => {
  const parent = ctxDir({ 'build/Parent.dockerfile': 'FROM scratch\nONBUILD COPY trigger.txt /triggered.txt\n', 'trigger.txt': 'unused' });
  const r1 = await build(['-f', path.join(parent, 'build/Parent.dockerfile'), '-t', 'onbuild-parent', parent]);
  assert.equal(r1.code, 0, r1.stderr + r1.stdout);
  const child = ctxDir({ Dockerfile: 'FROM onbuild-parent\nLABEL child=1\n', 'trigger.txt': 'child file\n' });
  const r2 = await build(['-t', 'onbuild-child', child]);
  assert.equal(r2.code, 0, r2.stderr + r2.stdout);
  assert.match(r2.stdout, /# Executing 1 build trigger/);
  const files = await imageFiles('onbuild-child');
  assert.equal(files.get('/triggered.txt')?.body, 'child file\n');
  const img = await inspect('onbuild-child');
  assert.equal(img.Config.OnBuild, null, 'triggers are not inherited');
});

test('the daemon applies .dockerignore itself (raw API context with ignored files)', async () => {
  const tar = (await import('tar-stream')).default;
  const pack = tar.pack();
  pack.entry({ name: 'Dockerfile' }, 'FROM scratch\nCOPY secret.txt /s\n');
  pack.entry({ name: '.dockerignore' }, 'secret.txt\n');
  pack.entry({ name: 'secret.txt' }, 'top secret');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as any) chunks.push(c);
  const r = await postBuild('', Buffer.concat(chunks));
  assert.equal(r.status, 200);
  assert.match(r.body, /"errorDetail":\{"message":"COPY failed: file not found in build context or excluded by \.dockerignore: stat secret.txt: file does not exist"\}/);
});

test('berth build: tags, cache and --iidfile through the berth CLI', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM scratch\nCOPY f /f\nCMD ["/f"]\n', f: 'x', '.dockerignore': 'junk\n', junk: 'j' });
  const iid = path.join(d.root, 'iid.txt');
  const r1 = await d.berth(['build', '-t', 'berthbuilt:1', '-t', 'berthbuilt:2', '--iidfile', iid, dir], { timeout: 120_000 });
  assert.equal(r1.code, 0, r1.stderr + r1.stdout);
  assert.match(r1.stdout, /Successfully tagged berthbuilt:1\nSuccessfully tagged berthbuilt:2/);
  const id = fs.readFileSync(iid, 'utf8');
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  const r2 = await d.berth(['build', '-q', dir], { timeout: 120_000 });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(r2.stdout.trim(), id);
  const bad = await d.berth(['build', ctxDir({ Dockerfile: 'FROM scratch\nBAD x\n' })]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /dockerfile parse error on line 2: unknown instruction: BAD/);
});

test('the cache survives a daemon restart; a Dockerfile on stdin builds', async () => {
  const dir = ctxDir({ Dockerfile: 'FROM scratch\nCOPY f /f\nENV X=1\n', f: 'persist\n' });
  const r1 = await build([dir]);
  assert.equal(r1.code, 0, r1.stderr);
  await d.restart();
  const r2 = await build([dir]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal((r2.stdout.match(/Using cache/g) ?? []).length, 2);
  assert.equal(builtId(r2.stdout), builtId(r1.stdout));
  const iid = path.join(d.root, 'docker-iid');
  const q = await build(['-q', '--iidfile', iid, dir]);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(q.stdout.trim(), fs.readFileSync(iid, 'utf8').trim());
  assert.match(q.stdout.trim(), new RegExp(`^sha256:${builtId(r1.stdout)}[0-9a-f]{52}$`));
  const s = await d.docker(['build', '-t', 'from-stdin', '-'], { env, input: 'FROM scratch\nLABEL via=stdin\n', timeout: 60_000 });
  assert.equal(s.code, 0, s.stderr + s.stdout);
  assert.equal((await inspect('from-stdin')).Config.Labels.via, 'stdin');
  const b = await d.berth(['build', '-t', 'from-stdin-berth', '-'], { input: 'FROM scratch\nLABEL via=berth\n', timeout: 60_000 });
  assert.equal(b.code, 0, b.stderr + b.stdout);
  assert.equal((await inspect('from-stdin-berth')).Config.Labels.via, 'berth');
});
