// berthd as a registry client, proven with the official docker CLI: pull by
// tag, digest and platform from the Berth registry server; push to it; push
// to and pull from the real distribution registry with and without htpasswd
// auth; `pull -a`; /distribution/{name}/json.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import {
  makeImage,
  startBerthRegistry,
  startDistributionRegistry,
  tmpDir,
  run,
  sha256,
  type FixtureImage,
  type RunningRegistry,
} from './helpers/registry';
import { htpasswdLine } from '../src/registry/htpasswd';

/** Pushes a fixture image (blobs + manifest) to a registry over HTTP. */
export async function pushFixture(base: string, repo: string, ref: string, img: FixtureImage, headers: Record<string, string> = {}): Promise<void> {
  for (const blob of [img.config, ...img.layers.map((l) => l.gz)]) {
    const r = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob, headers });
    assert.equal(r.status, 201, await r.text());
  }
  const r = await fetch(`${base}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': img.mediaType, ...headers } });
  assert.equal(r.status, 201, await r.text());
}

/** GET on the daemon's unix socket. */
function apiGet(socket: string, p: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: p, method: 'GET' }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => {
        let body: any = data;
        try {
          body = JSON.parse(data);
        } catch {
          /* text */
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function imageId(d: TestDaemon, ref: string): Promise<string> {
  const r = await d.docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

describe('distribution: docker CLI against berthd and the Berth registry', () => {
  let d: TestDaemon;
  let reg: RunningRegistry;
  let app: FixtureImage;
  before(async () => {
    d = await startDaemon();
    await d.loadBusybox();
    reg = await startBerthRegistry();
    app = await makeImage([{ 'app/one.txt': 'one' }, { 'app/two.txt': 'two' }, { 'app/three.txt': 'three' }]);
    await pushFixture(reg.url, 'team/app', '1.0', app);
    await pushFixture(reg.url, 'team/app', '1.1', app);
  });
  after(async () => {
    await reg?.stop();
    await d?.stop();
    if (reg) fs.rmSync(reg.root, { recursive: true, force: true });
  });

  it('pulls by tag with progress, records RepoDigests, and is up to date the second time', async () => {
    const ref = `${reg.addr}/team/app:1.0`;
    const r = await d.docker(['pull', ref]);
    assert.equal(r.code, 0, r.stderr + d.logs().slice(-2000));
    assert.match(r.stdout, /1\.0: Pulling from team\/app/);
    assert.match(r.stdout, /Pull complete/);
    assert.match(r.stdout, new RegExp(`Digest: ${app.manifestDigest}`));
    assert.match(r.stdout, /Status: Downloaded newer image for/);
    assert.equal(await imageId(d, ref), app.configDigest);
    const digests = await d.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref]);
    assert.deepEqual(JSON.parse(digests.stdout), [`${reg.addr}/team/app@${app.manifestDigest}`]);
    const listing = await d.docker(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}']);
    assert.match(listing.stdout, new RegExp(`${reg.addr}/team/app 1\\.0 ${app.manifestDigest}`));
    const again = await d.docker(['pull', ref]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Already exists/);
    assert.match(again.stdout, /Status: Image is up to date for/);
    // The layers are the image's content: the blobs we pulled are in the content store.
    for (const l of app.layers) assert.ok(fs.existsSync(path.join(d.dataRoot, 'blobs/sha256', l.digest.slice(7))));
  });

  it('dockerode pulls with progress events and an authconfig; a pull event is published', async () => {
    const Docker = (await import('dockerode')).default;
    const api = new Docker({ socketPath: d.socket });
    const since = Math.floor(Date.now() / 1000) - 1;
    const fresh = await makeImage([{ 'fresh/1': 'x'.repeat(300000) }, { 'fresh/2': 'y' }]);
    await pushFixture(reg.url, 'team/fresh', '1', fresh);
    const ref = `${reg.addr}/team/fresh:1`;
    const stream = await api.pull(ref, { authconfig: { username: 'nobody', password: 'unused', serveraddress: reg.addr } });
    const events: any[] = await new Promise((resolve, reject) => api.modem.followProgress(stream, (err: any, out: any[]) => (err ? reject(err) : resolve(out))));
    const statuses = events.map((e) => e.status);
    for (const want of ['Pulling fs layer', 'Downloading', 'Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete']) {
      assert.ok(statuses.includes(want), `${want} in ${statuses.join('|')}`);
    }
    const dl = events.find((e) => e.status === 'Downloading');
    assert.ok(fresh.layers.some((l) => l.digest.slice(7, 19) === dl.id), dl.id);
    assert.ok(dl.progressDetail.total > 0 && dl.progressDetail.current <= dl.progressDetail.total);
    assert.ok(statuses.some((s) => /^Digest: sha256:/.test(s)), statuses.join('|'));
    assert.ok(statuses.some((s) => /^Status: Downloaded newer image for /.test(s)));
    const info = await api.getImage(ref).inspect();
    assert.equal(info.Id, fresh.configDigest);
    const ev = await d.docker(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'event=pull', '--format', '{{.Actor.ID}}']);
    assert.ok(ev.stdout.includes(`${reg.addr}/team/fresh:1`), ev.stdout);
    // Push through dockerode: Preparing, then Pushed or Mounted, and the aux digest.
    const target = `${reg.addr}/team/pushed:1`;
    await api.getImage(ref).tag({ repo: `${reg.addr}/team/pushed`, tag: '1' });
    const ps = await api.getImage(target).push({ authconfig: { username: 'x', password: 'y', serveraddress: reg.addr } });
    const pev: any[] = await new Promise((resolve, reject) => api.modem.followProgress(ps, (err: any, out: any[]) => (err ? reject(err) : resolve(out))));
    const pst = pev.map((e) => e.status);
    assert.ok(pst.includes('Preparing'), pst.join('|'));
    assert.ok(pst.includes('Mounted from team/fresh') || pst.includes('Pushed'), pst.join('|'));
    const aux = pev.find((e) => e.aux)?.aux;
    assert.equal(aux?.Digest, fresh.manifestDigest);
    assert.equal(aux?.Tag, '1');
    // A missing tag is an error dockerode surfaces.
    await assert.rejects(async () => {
      const s2 = await api.pull(`${reg.addr}/team/app:nope`);
      await new Promise((resolve, reject) => api.modem.followProgress(s2, (err: any, out: any) => (err ? reject(err) : resolve(out))));
    }, /not found/);
  });

  it('accepts localhost:PORT names as Docker does', async () => {
    const port = reg.addr.split(':')[1];
    const ref = `localhost:${port}/team/app:1.0`;
    const r = await d.docker(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await imageId(d, ref), app.configDigest);
    const listed = await d.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.match(listed.stdout, new RegExp(`^localhost:${port}/team/app:1\\.0$`, 'm'));
  });

  it('pulls by digest and removes by digest', async () => {
    const ref = `${reg.addr}/team/app@${app.manifestDigest}`;
    const r = await d.docker(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await imageId(d, ref), app.configDigest);
    const rmi = await d.docker(['rmi', ref]);
    assert.equal(rmi.code, 0, rmi.stderr);
    assert.match(rmi.stdout, new RegExp(`Untagged: ${reg.addr}/team/app@${app.manifestDigest}`));
    assert.notEqual((await d.docker(['image', 'inspect', ref])).code, 0);
    assert.equal(await imageId(d, `${reg.addr}/team/app:1.0`), app.configDigest);
    const wrong = await d.docker(['pull', `${reg.addr}/team/app@sha256:${'0'.repeat(64)}`]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr + wrong.stdout, /not found|manifest unknown/);
  });

  it('pull -a fetches every tag', async () => {
    const r = await d.docker(['pull', '-a', `${reg.addr}/team/app`]);
    assert.equal(r.code, 0, r.stderr);
    const tags = await d.docker(['images', '--format', '{{.Tag}}', `${reg.addr}/team/app`]);
    assert.deepEqual(tags.stdout.trim().split('\n').sort(), ['1.0', '1.1']);
  });

  it('pushes a local image (new manifest) and a pulled one (same digest, mounted blobs)', async () => {
    const target = `${reg.addr}/mine/busybox:v1`;
    assert.equal((await d.docker(['tag', 'busybox:latest', target])).code, 0);
    const p = await d.docker(['push', target]);
    assert.equal(p.code, 0, p.stderr + d.logs().slice(-2000));
    assert.match(p.stdout, /The push refers to repository \[127\.0\.0\.1:\d+\/mine\/busybox\]/);
    assert.match(p.stdout, /Pushed/);
    const m = /v1: digest: (sha256:[a-f0-9]{64}) size: (\d+)/.exec(p.stdout);
    assert.ok(m, p.stdout);
    const inspect = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target}`]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.equal(sha256(Buffer.from(inspect.stdout)), m![1]);
    assert.equal(JSON.parse(inspect.stdout).config.digest, await imageId(d, 'busybox:latest'));
    // Pushing again: every layer is already there.
    const again = await d.docker(['push', target]);
    assert.match(again.stdout, /Layer already exists/);
    // --all-tags pushes every tag of the repository.
    for (const t of ['a', 'b']) assert.equal((await d.docker(['tag', 'busybox:latest', `${reg.addr}/mine/all:${t}`])).code, 0);
    const all = await d.docker(['push', '--all-tags', `${reg.addr}/mine/all`]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /a: digest: sha256:/);
    assert.match(all.stdout, /b: digest: sha256:/);
    assert.deepEqual(((await (await fetch(`${reg.url}/v2/mine/all/tags/list`)).json()) as any).tags, ['a', 'b']);
    // A pulled image keeps its manifest digest; its blobs are mounted from team/app.
    const other = `${reg.addr}/other/app:2.0`;
    await d.docker(['tag', `${reg.addr}/team/app:1.0`, other]);
    const p2 = await d.docker(['push', other]);
    assert.equal(p2.code, 0, p2.stderr);
    assert.match(p2.stdout, /Mounted from team\/app/);
    assert.match(p2.stdout, new RegExp(`2\\.0: digest: ${app.manifestDigest}`));
    // Round trip: remove locally, pull back, same image id.
    const id = await imageId(d, target);
    assert.equal((await d.docker(['rmi', target])).code, 0);
    const back = await d.docker(['pull', target]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(await imageId(d, target), id);
  });

  it('keeps an imported layer once, as files; push gzips it once, same digest every time', async () => {
    const dir = tmpDir('imp-');
    fs.mkdirSync(path.join(dir, 'root', 'etc'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'root', 'etc', 'hello'), 'hello from an imported rootfs\n'.repeat(500));
    const tarFile = path.join(dir, 'rootfs.tar');
    assert.equal((await run('tar', ['-C', path.join(dir, 'root'), '-cf', tarFile, '.'])).code, 0);
    const tarBytes = fs.readFileSync(tarFile);
    const diffId = sha256(tarBytes);
    const imp = await d.docker(['import', tarFile, 'imported:1']);
    assert.equal(imp.code, 0, imp.stderr);
    // The layer is kept as its files and a tar-split: no copy of the tar, no gzip.
    const blobs = path.join(d.dataRoot, 'blobs', 'sha256');
    assert.ok(!fs.existsSync(path.join(blobs, diffId.slice(7))), 'no uncompressed copy of the imported tar');
    const splitFile = path.join(d.dataRoot, 'layers', diffId.slice(7), 'tar-split');
    assert.ok(fs.existsSync(splitFile), 'the layer keeps a tar-split');
    const gzBefore = fs.readdirSync(blobs).filter((n) => fs.readFileSync(path.join(blobs, n)).subarray(0, 2).equals(Buffer.from([0x1f, 0x8b])));
    const layerDigests: string[] = [];
    for (const repo of ['mine/imp-a:1', 'mine/imp-b:1', 'mine/imp-a:1']) {
      assert.equal((await d.docker(['tag', 'imported:1', `${reg.addr}/${repo}`])).code, 0);
      const p = await d.docker(['push', `${reg.addr}/${repo}`]);
      assert.equal(p.code, 0, p.stderr + d.logs().slice(-2000));
      const [name, tag] = repo.split(':');
      const man = await (await fetch(`${reg.url}/v2/${name}/manifests/${tag}`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).json() as any;
      assert.equal(man.layers.length, 1);
      assert.equal(man.layers[0].mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
      layerDigests.push(man.layers[0].digest);
      // What the registry holds is a gzip of the very tar.
      const gz = Buffer.from(await (await fetch(`${reg.url}/v2/${name}/blobs/${man.layers[0].digest}`)).arrayBuffer());
      assert.equal(sha256(gz), man.layers[0].digest);
      assert.equal(sha256((await import('node:zlib')).gunzipSync(gz)), diffId);
    }
    assert.equal(new Set(layerDigests).size, 1, `one layer digest for every push: ${layerDigests.join(' ')}`);
    const gzAfter = fs.readdirSync(blobs).filter((n) => fs.readFileSync(path.join(blobs, n)).subarray(0, 2).equals(Buffer.from([0x1f, 0x8b])));
    assert.deepEqual(gzAfter.filter((n) => !gzBefore.includes(n)), [layerDigests[0].slice(7)], 'the gzip is made once and kept');
    // save writes the uncompressed layer.tar: the same bytes.
    const saved = path.join(dir, 'saved.tar');
    assert.equal((await d.docker(['save', '-o', saved, 'imported:1'])).code, 0);
    const x = await run('tar', ['-xOf', saved, `${diffId.slice(7)}/layer.tar`]);
    assert.equal(x.code, 0, x.stderr);
    assert.equal(sha256(Buffer.from(x.stdout, 'latin1')), diffId);
    for (const r of ['imported:1', `${reg.addr}/mine/imp-a:1`, `${reg.addr}/mine/imp-b:1`]) await d.docker(['rmi', r]);
    assert.ok(!fs.existsSync(splitFile), 'rmi removes the layer and its tar-split');
    assert.ok(!fs.existsSync(path.join(blobs, layerDigests[0].slice(7))), 'and the gzip made for push');
  });

  it('save → load → push of an imported and a committed image gives the same digests', async () => {
    const dir = tmpDir('rt-');
    const root = path.join(dir, 'root');
    fs.mkdirSync(path.join(root, 'usr', 'lib', 'x'.repeat(150)), { recursive: true });
    fs.writeFileSync(path.join(root, 'usr', 'lib', 'x'.repeat(150), 'y'.repeat(120)), 'long name\n');
    fs.writeFileSync(path.join(root, 'usr', 'lib', 'big'), Buffer.alloc(3 << 20, 'b'));
    fs.linkSync(path.join(root, 'usr', 'lib', 'big'), path.join(root, 'usr', 'lib', 'big-hard'));
    fs.symlinkSync('lib/big', path.join(root, 'usr', 'big-link'));
    const tarFile = path.join(dir, 'rootfs.tar');
    assert.equal((await run('tar', ['--format=posix', '-C', root, '-cf', tarFile, '.'])).code, 0);
    assert.equal((await d.docker(['import', tarFile, 'rt-imported:1'])).code, 0);
    const c = await d.docker(['run', '--name', 'rt-commit', 'busybox', 'sh', '-c', 'mkdir -p /data && echo hi > /data/a && dd if=/dev/zero of=/data/b bs=1k count=700 2>/dev/null && rm /bin/yes']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await d.docker(['commit', 'rt-commit', 'rt-committed:1'])).code, 0);
    assert.equal((await d.docker(['rm', 'rt-commit'])).code, 0);
    const images = ['rt-imported:1', 'rt-committed:1'];
    const ids = await Promise.all(images.map((r) => imageId(d, r)));
    const blobs = path.join(d.dataRoot, 'blobs', 'sha256');
    const diffIdsOf = async (r: string): Promise<string[]> => JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', r])).stdout);
    for (const r of images) for (const id of await diffIdsOf(r)) assert.ok(!fs.existsSync(path.join(blobs, id.slice(7))), `${r}: no kept tar for ${id}`);

    /** Pushes each image under `prefix`; returns manifest digest and layer digests per image. */
    const pushAll = async (prefix: string): Promise<string[]> => {
      const out: string[] = [];
      for (const r of images) {
        const name = `${prefix}/${r.split(':')[0]}`;
        assert.equal((await d.docker(['tag', r, `${reg.addr}/${name}:1`])).code, 0);
        const p = await d.docker(['push', `${reg.addr}/${name}:1`]);
        assert.equal(p.code, 0, p.stderr + d.logs().slice(-2000));
        const res = await fetch(`${reg.url}/v2/${name}/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
        const body = Buffer.from(await res.arrayBuffer());
        const man = JSON.parse(body.toString()) as any;
        out.push(`${r} ${sha256(body)} ${man.layers.map((l: any) => l.digest).join(',')}`);
        assert.equal((await d.docker(['rmi', `${reg.addr}/${name}:1`])).code, 0);
      }
      return out;
    };
    const first = await pushAll('rt-a');
    const saved = path.join(dir, 'saved.tar');
    assert.equal((await d.docker(['save', '-o', saved, ...images])).code, 0);
    // Each layer.tar in the archive is its diffID's tar, made again from the files.
    for (const r of images) {
      for (const id of await diffIdsOf(r)) {
        // As bytes (run() decodes stdout as text).
        const x = execFileSync('tar', ['-xOf', saved, `${id.slice(7)}/layer.tar`], { maxBuffer: 256 << 20 });
        assert.equal(sha256(x), id, `${r}: layer.tar of ${id}`);
      }
    }
    const imported = (await diffIdsOf('rt-imported:1'))[0];
    assert.equal(imported, sha256(fs.readFileSync(tarFile)), 'the imported layer is the tar as given');
    for (const r of images) assert.equal((await d.docker(['rmi', r])).code, 0);
    assert.ok(!fs.existsSync(path.join(d.dataRoot, 'layers', imported.slice(7))), 'the imported layer is gone');
    const load = await d.docker(['load', '-i', saved]);
    assert.equal(load.code, 0, load.stderr);
    assert.deepEqual(await Promise.all(images.map((r) => imageId(d, r))), ids);
    for (const r of images) for (const id of await diffIdsOf(r)) assert.ok(!fs.existsSync(path.join(blobs, id.slice(7))), `${r}: no kept tar after load`);
    const second = await pushAll('rt-b');
    assert.deepEqual(second, first, 'same manifest and layer digests after save and load');
    for (const r of images) await d.docker(['rmi', r]);
  });

  it('selects the platform from an OCI index (host by default, --platform on request)', async () => {
    const amd = await makeImage([{ 'arch': 'amd64' }], { oci: true, arch: 'amd64' });
    const arm = await makeImage([{ 'arch': 'arm64' }], { oci: true, arch: 'arm64' });
    await pushFixture(reg.url, 'team/multi', amd.manifestDigest, amd);
    await pushFixture(reg.url, 'team/multi', arm.manifestDigest, arm);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: arm.mediaType, digest: arm.manifestDigest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          { mediaType: amd.mediaType, digest: amd.manifestDigest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    );
    const put = await fetch(`${reg.url}/v2/team/multi/manifests/latest`, { method: 'PUT', body: index, headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' } });
    assert.equal(put.status, 201);
    const ref = `${reg.addr}/team/multi:latest`;
    const r = await d.docker(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Digest: ${sha256(index)}`));
    assert.equal(await imageId(d, ref), amd.configDigest);
    const r2 = await d.docker(['pull', '--platform', 'linux/arm64', ref]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(await imageId(d, ref), arm.configDigest);
    // A single-platform image of another platform: pulled, with Docker's warning.
    const single = await d.docker(['pull', '--platform', 'linux/arm64', `${reg.addr}/team/app:1.0`]);
    assert.equal(single.code, 0, single.stderr);
    assert.match(single.stdout, /WARNING: image with reference .*team\/app:1\.0 was found but does not match the specified platform: wanted linux\/arm64\/v8, actual: linux\/amd64/);
    const none = await d.docker(['pull', '--platform', 'linux/s390x', ref]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr + none.stdout, /no matching manifest for linux\/s390x/);
    // GET /distribution/{name}/json lists the platforms of the index.
    const info = await apiGet(d.socket, `/v1.43/distribution/${ref}/json`);
    assert.equal(info.status, 200);
    assert.equal(info.body.Descriptor.digest, sha256(index));
    assert.deepEqual(info.body.Platforms.map((p: any) => p.architecture).sort(), ['amd64', 'arm64']);
  });
});

describe('distribution: the Debian distribution registry', () => {
  let d: TestDaemon;
  let open: RunningRegistry;
  let secured: RunningRegistry;
  let dir: string;
  before(async () => {
    dir = tmpDir('dist-auth-');
    fs.writeFileSync(path.join(dir, 'htpasswd'), htpasswdLine('bob', 'hunter2', 5) + '\n');
    d = await startDaemon();
    await d.loadBusybox();
    open = await startDistributionRegistry();
    secured = await startDistributionRegistry({ htpasswd: path.join(dir, 'htpasswd') });
  });
  after(async () => {
    await open?.stop();
    await secured?.stop();
    await d?.stop();
    for (const x of [open?.root, secured?.root, dir]) if (x) fs.rmSync(x, { recursive: true, force: true });
  });

  it('pushes to and pulls from it without auth', async () => {
    const ref = `${open.addr}/lib/busybox:1`;
    const id = await imageId(d, 'busybox:latest');
    assert.equal((await d.docker(['tag', 'busybox:latest', ref])).code, 0);
    const p = await d.docker(['push', ref]);
    assert.equal(p.code, 0, p.stderr + open.output());
    assert.match(p.stdout, /1: digest: sha256:[a-f0-9]{64} size: \d+/);
    assert.equal((await d.docker(['rmi', ref])).code, 0);
    const r = await d.docker(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await imageId(d, ref), id);
    const tags = await (await fetch(`${open.url}/v2/lib/busybox/tags/list`)).json();
    assert.deepEqual(tags, { name: 'lib/busybox', tags: ['1'] });
  });

  it('requires login with htpasswd, then pushes and pulls with the stored credentials', async () => {
    const ref = `${secured.addr}/sec/busybox:1`;
    assert.equal((await d.docker(['tag', 'busybox:latest', ref])).code, 0);
    const denied = await d.docker(['push', ref]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr + denied.stdout, /unauthorized|authentication required|no basic auth credentials/i);
    const badLogin = await d.docker(['login', '-u', 'bob', '--password-stdin', secured.addr], { input: 'wrong\n' });
    assert.notEqual(badLogin.code, 0);
    assert.match(badLogin.stderr, /401|unauthorized/i);
    const login = await d.docker(['login', '-u', 'bob', '--password-stdin', secured.addr], { input: 'hunter2\n' });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const p = await d.docker(['push', ref]);
    assert.equal(p.code, 0, p.stderr + secured.output());
    assert.match(p.stdout, /1: digest: sha256:/);
    assert.equal((await d.docker(['rmi', ref])).code, 0);
    const r = await d.docker(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await imageId(d, ref), await imageId(d, 'busybox:latest'));
    assert.equal((await d.docker(['logout', secured.addr])).code, 0);
    assert.equal((await d.docker(['rmi', ref])).code, 0);
    const after = await d.docker(['pull', ref]);
    assert.notEqual(after.code, 0);
  });

  it('berth login writes the credentials docker uses; berth logout removes them', async () => {
    const ref = `${secured.addr}/sec/shared:1`;
    const bad = await d.berth(['login', '-u', 'bob', '--password-stdin', secured.addr], { input: 'wrong\n' });
    assert.notEqual(bad.code, 0);
    const login = await d.berth(['login', '-u', 'bob', '--password-stdin', secured.addr], { input: 'hunter2\n' });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const cfg = JSON.parse(fs.readFileSync(path.join(d.env.DOCKER_CONFIG!, 'config.json'), 'utf8'));
    assert.equal(cfg.auths[secured.addr].auth, Buffer.from('bob:hunter2').toString('base64'));
    assert.equal((await d.docker(['tag', 'busybox:latest', ref])).code, 0);
    const p = await d.docker(['push', ref]);
    assert.equal(p.code, 0, p.stderr);
    // berth pull/push send the same stored credentials.
    const ref2 = `${secured.addr}/sec/viaberth:1`;
    assert.equal((await d.docker(['tag', 'busybox:latest', ref2])).code, 0);
    const bp = await d.berth(['push', ref2]);
    assert.equal(bp.code, 0, bp.stderr + bp.stdout);
    assert.equal((await d.docker(['rmi', ref2])).code, 0);
    const bl = await d.berth(['pull', ref2]);
    assert.equal(bl.code, 0, bl.stderr + bl.stdout);
    assert.equal(await imageId(d, ref2), await imageId(d, 'busybox:latest'));
    const out = await d.berth(['logout', secured.addr]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`Removing login credentials for ${secured.addr}`));
    const cfg2 = JSON.parse(fs.readFileSync(path.join(d.env.DOCKER_CONFIG!, 'config.json'), 'utf8'));
    assert.equal(cfg2.auths[secured.addr], undefined);
  });
});

describe('distribution: Berth registry with TLS and htpasswd', () => {
  let d: TestDaemon;
  let reg: RunningRegistry;
  let dir: string;
  before(async () => {
    dir = tmpDir('berth-tls-');
    fs.writeFileSync(path.join(dir, 'htpasswd'), htpasswdLine('carol', 'pa55', 5) + '\n');
    const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
    assert.equal(r.code, 0, r.stderr);
    reg = await startBerthRegistry({ htpasswd: path.join(dir, 'htpasswd'), tls: { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') } });
    d = await startDaemon();
    await d.loadBusybox();
  });
  after(async () => {
    await reg?.stop();
    await d?.stop();
    for (const x of [reg?.root, dir]) if (x) fs.rmSync(x, { recursive: true, force: true });
  });

  it('logs in, pushes and pulls over HTTPS (loopback: certificate not verified, as Docker)', async () => {
    const ref = `${reg.addr}/tls/busybox:1`;
    assert.equal((await d.docker(['tag', 'busybox:latest', ref])).code, 0);
    const denied = await d.docker(['push', ref]);
    assert.notEqual(denied.code, 0);
    const login = await d.docker(['login', '-u', 'carol', '--password-stdin', reg.addr], { input: 'pa55\n' });
    assert.equal(login.code, 0, login.stderr + d.logs().slice(-1500));
    const p = await d.docker(['push', ref]);
    assert.equal(p.code, 0, p.stderr);
    const m = /1: digest: (sha256:[a-f0-9]{64})/.exec(p.stdout);
    assert.ok(m, p.stdout);
    // The registry holds exactly that manifest, over TLS.
    const raw = await run('curl', ['-sk', '-u', 'carol:pa55', '-H', 'Accept: application/vnd.docker.distribution.manifest.v2+json', `${reg.url}/v2/tls/busybox/manifests/1`]);
    assert.equal(sha256(Buffer.from(raw.stdout)), m![1]);
    assert.equal((await d.docker(['rmi', ref])).code, 0);
    const r = await d.docker(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await imageId(d, ref), await imageId(d, 'busybox:latest'));
  });
});
