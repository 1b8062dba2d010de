// Registry misbehaviour seen from berthd: a fake registry on loopback that
// lies about digests, cuts connections, sends malformed or oversized
// manifests, unknown media types, 401/403/404/429/5xx, and bearer-token auth.
// Each failure must be a clear error with no image, no tag and nothing
// corrupt left in the content store; transient ones are retried or resumed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { makeImage, sha256, type FixtureImage } from './helpers/registry';

interface Fake {
  addr: string;
  hits: Map<string, number>;
  close(): Promise<void>;
}

const TOKEN = 'tok-123';

async function fakeRegistry(img: FixtureImage, bigLayerImg: FixtureImage, hangImg: FixtureImage): Promise<Fake> {
  const hits = new Map<string, number>();
  const count = (k: string) => {
    const n = (hits.get(k) ?? 0) + 1;
    hits.set(k, n);
    return n;
  };
  const blobs = new Map<string, Buffer>();
  const uploaded = new Map<string, Buffer>();
  const pushed = new Map<string, Buffer>();
  for (const i of [img, bigLayerImg, hangImg]) {
    blobs.set(i.configDigest, i.config);
    for (const l of i.layers) blobs.set(l.digest, l.gz);
  }
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const p = u.pathname;
    const send = (status: number, body: Buffer | string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    };
    const ociErr = (status: number, code: string, message: string) => send(status, JSON.stringify({ errors: [{ code, message }] }), { 'Content-Type': 'application/json' });
    if (p === '/token') {
      const auth = req.headers.authorization ?? '';
      if (auth !== 'Basic ' + Buffer.from('tok:pw').toString('base64')) return send(401, JSON.stringify({ details: 'incorrect username or password' }));
      return send(200, JSON.stringify({ token: TOKEN }), { 'Content-Type': 'application/json' });
    }
    if (p === '/v2/' || p === '/v2') {
      // As token-auth registries do: the base answers 401 with the challenge.
      if (req.headers.authorization === `Bearer ${TOKEN}`) return send(200, '{}');
      res.setHeader('WWW-Authenticate', `Bearer realm="http://${req.headers.host}/token",service="fake"`);
      return ociErr(401, 'UNAUTHORIZED', 'authentication required');
    }
    // A push target that cuts the first upload of each blob mid-stream.
    const up = /^\/v2\/(pushcut\/[^/]+)\/blobs\/uploads\/(\w*)$/.exec(p);
    if (up) {
      const repo = up[1];
      if (req.method === 'POST') return send(202, '', { Location: `/v2/${repo}/blobs/uploads/u${count('pushcut uploads')}`, Range: '0-0' });
      if (req.method === 'PATCH') {
        const n = count(`pushcut patch ${up[2]}`);
        const attempt = count('pushcut patches');
        if (attempt === 1) {
          req.once('data', () => req.socket.destroy()); // cut after the first bytes
          return;
        }
        void n;
        const chunks: Buffer[] = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          uploaded.set(up[2], Buffer.concat(chunks));
          send(202, '', { Location: `/v2/${repo}/blobs/uploads/${up[2]}`, Range: `0-${Buffer.concat(chunks).length - 1}` });
        });
        return;
      }
      if (req.method === 'PUT') {
        const digest = u.searchParams.get('digest') ?? '';
        const data = uploaded.get(up[2]) ?? Buffer.alloc(0);
        if (sha256(data) !== digest) return ociErr(400, 'DIGEST_INVALID', 'digest mismatch');
        pushed.set(digest, data);
        return send(201, '', { Location: `/v2/${repo}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      }
    }
    const pm = /^\/v2\/(pushcut\/[^/]+)\/(manifests|blobs)\/([^/]+)$/.exec(p);
    if (pm && req.method === 'HEAD') return send(pushed.has(pm[3]) ? 200 : 404, '');
    if (pm && req.method === 'PUT' && pm[2] === 'manifests') {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const man = JSON.parse(body.toString());
        const missing = [man.config, ...man.layers].filter((x: any) => !pushed.has(x.digest));
        if (missing.length) return ociErr(400, 'MANIFEST_BLOB_UNKNOWN', 'blob unknown');
        send(201, '', { 'Docker-Content-Digest': sha256(body) });
      });
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(p);
    if (!m) return ociErr(404, 'NAME_UNKNOWN', 'nope');
    const [, repo, kind, ref] = m;
    const scenario = repo.split('/')[0];
    count(`${repo} ${kind} ${ref}`);
    const image = scenario === 'slow' || scenario === 'cutonce' || scenario === 'cutalways' ? bigLayerImg : scenario === 'hang' ? hangImg : img;
    if (scenario === 'token') {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.setHeader('WWW-Authenticate', `Bearer realm="http://${req.headers.host}/token",service="fake",scope="repository:${repo}:pull"`);
        return ociErr(401, 'UNAUTHORIZED', 'authentication required');
      }
    }
    if (scenario === 'forbidden') return ociErr(403, 'DENIED', 'requested access to the resource is denied');
    if (scenario === 'missing') return ociErr(404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    if (scenario === 'down') return send(503, 'service unavailable');
    if (scenario === 'busy' && kind === 'manifests' && (hits.get(`${repo} ${kind} ${ref}`) ?? 0) <= 1) {
      return send(429, 'slow down', { 'Retry-After': '0' });
    }
    if (kind === 'manifests') {
      if (scenario === 'malformed') return send(200, '{"schemaVersion": 2, "layers": [', { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' });
      if (scenario === 'oversized') {
        res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' });
        res.end(Buffer.alloc(5 * 1024 * 1024, ' '));
        return;
      }
      if (scenario === 'mediatype') {
        const man = JSON.parse(image.manifest.toString());
        man.mediaType = 'application/vnd.example.unknown+json';
        return send(200, JSON.stringify(man), { 'Content-Type': 'application/vnd.example.unknown+json' });
      }
      if (scenario === 'zstd') {
        const man = JSON.parse(image.manifest.toString());
        man.layers[0].mediaType = 'application/vnd.oci.image.layer.v1.tar+zstd';
        man.mediaType = 'application/vnd.oci.image.manifest.v1+json';
        return send(200, JSON.stringify(man), { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
      }
      return send(200, image.manifest, { 'Content-Type': image.mediaType, 'Docker-Content-Digest': image.manifestDigest });
    }
    const data = blobs.get(ref);
    if (!data) return ociErr(404, 'BLOB_UNKNOWN', 'blob unknown');
    const isLayer = image.layers.some((l) => l.digest === ref);
    if (scenario === 'digest' && isLayer) {
      const evil = Buffer.from(data);
      evil[evil.length - 5] ^= 0xff;
      return send(200, evil);
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) count(`${repo} range ${ref}`);
    const start = range ? Number(range[1]) : 0;
    const body = data.subarray(start);
    const head: Record<string, string> = { 'Content-Length': String(body.length) };
    if (range) head['Content-Range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    const cut = isLayer && ((scenario === 'cutonce' && !range) || scenario === 'cutalways');
    res.writeHead(range ? 206 : 200, head);
    if (cut) {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    if (scenario === 'hang' && isLayer && ref === image.layers[image.layers.length - 1].digest) {
      res.write(body.subarray(0, 1)); // then nothing: the daemon is killed meanwhile
      return;
    }
    if (scenario === 'slow' && isLayer) {
      setTimeout(() => res.end(body), 700);
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  return {
    addr: `127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        srv.close(() => r());
        srv.closeAllConnections();
      }),
  };
}

describe('distribution: bad registries and bad content', () => {
  let d: TestDaemon;
  let fake: Fake;
  let img: FixtureImage;
  let big: FixtureImage;
  before(async () => {
    img = await makeImage([{ 'f/a': 'alpha' }, { 'f/b': 'beta' }]);
    // Incompressible data so the layer is big enough to cut mid-way.
    const noise = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < noise.length; i += 4) noise.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    big = await makeImage([{ 'big/noise': noise }, { 'big/small': 'x' }]);
    fake = await fakeRegistry(img, big, await makeImage([{ 'h/one': 'first layer' }, { 'h/two': 'never arrives' }]));
    d = await startDaemon();
  });
  after(async () => {
    await fake?.close();
    await d?.stop();
  });

  /** After a failed pull: no image, nothing half-written in the content store. */
  function assertClean(ref: string, badBlobs: string[] = []) {
    for (const b of badBlobs) assert.ok(!fs.existsSync(path.join(d.dataRoot, 'blobs/sha256', b.slice(7))), `blob ${b} should not be stored`);
    const tmp = path.join(d.dataRoot, 'blobs/tmp');
    if (fs.existsSync(tmp)) assert.deepEqual(fs.readdirSync(tmp), [], 'no temp files left');
    return d.docker(['image', 'inspect', ref]).then((r) => assert.notEqual(r.code, 0, `${ref} must not exist`));
  }

  it('rejects a layer whose content does not match its digest', async () => {
    const ref = `${fake.addr}/digest/app:1`;
    const r = await d.docker(['pull', ref]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /verification failed for digest sha256:/);
    await assertClean(ref, img.layers.map((l) => l.digest));
  });

  it('resumes a layer download cut mid-way with a Range request', async () => {
    const ref = `${fake.addr}/cutonce/app:1`;
    const r = await d.docker(['pull', ref]);
    assert.equal(r.code, 0, r.stderr + d.logs().slice(-2000));
    assert.ok((fake.hits.get(`cutonce/app range ${big.layers[0].digest}`) ?? 0) >= 1, 'resumed with Range');
    const id = await d.docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
    assert.equal(id.stdout.trim(), big.configDigest);
  });

  it('gives up on a layer that is always cut, leaving nothing', async () => {
    // Same blobs as cutonce are now local; use a fresh daemon-visible digest by removing the image first.
    assert.equal((await d.docker(['rmi', `${fake.addr}/cutonce/app:1`])).code, 0);
    const ref = `${fake.addr}/cutalways/app:1`;
    const r = await d.docker(['pull', ref]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /connection closed|aborted|socket hang up|ECONNRESET|downloading/i);
    await assertClean(ref, [big.layers[0].digest]);
  });

  it('rejects malformed, oversized and unknown-type manifests and zstd layers', async () => {
    const cases: [string, RegExp][] = [
      ['malformed', /invalid manifest.*malformed manifest JSON/],
      ['oversized', /too large/],
      ['mediatype', /unsupported manifest media type: application\/vnd\.example\.unknown\+json/],
      ['zstd', /unsupported layer media type.*zstd/],
    ];
    for (const [scenario, re] of cases) {
      const ref = `${fake.addr}/${scenario}/app:1`;
      const r = await d.docker(['pull', ref]);
      assert.notEqual(r.code, 0, scenario);
      assert.match(r.stderr + r.stdout, re, scenario);
      await assertClean(ref);
    }
  });

  it('maps 403, 404 and persistent 5xx to clear errors; retries a 429', async () => {
    const f = await d.docker(['pull', `${fake.addr}/forbidden/app:1`]);
    assert.notEqual(f.code, 0);
    assert.match(f.stderr, /pull access denied for .*forbidden\/app.*denied/);
    const m = await d.docker(['pull', `${fake.addr}/missing/app:1`]);
    assert.notEqual(m.code, 0);
    assert.match(m.stderr, /manifest for .*missing\/app:1 not found: manifest unknown/);
    const down = await d.docker(['pull', `${fake.addr}/down/app:1`]);
    assert.notEqual(down.code, 0);
    assert.match(down.stderr + down.stdout, /503|service unavailable/i);
    const busy = await d.docker(['pull', `${fake.addr}/busy/app:1`]);
    assert.equal(busy.code, 0, busy.stderr);
    assert.ok((fake.hits.get('busy/app manifests 1') ?? 0) >= 2, 'the 429 was retried');
  });

  it('push to a failing registry ends with a clear error and records no repo digest', async () => {
    const src = `${fake.addr}/busy/app:1`;
    const dst = `${fake.addr}/down/app:1`;
    assert.equal((await d.docker(['tag', src, dst])).code, 0);
    const p = await d.docker(['push', dst]);
    assert.notEqual(p.code, 0);
    assert.match(p.stderr + p.stdout, /503|service unavailable/i);
    const digests = await d.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', dst]);
    assert.ok(!digests.stdout.includes('/down/app@'), digests.stdout);
  });

  it('push retries a blob upload whose connection was cut', async () => {
    const src = `${fake.addr}/busy/app:1`;
    const dst = `${fake.addr}/pushcut/app:1`;
    assert.equal((await d.docker(['tag', src, dst])).code, 0);
    const p = await d.docker(['push', dst]);
    assert.equal(p.code, 0, p.stderr + p.stdout);
    assert.match(p.stdout, /1: digest: sha256:/);
    assert.ok((fake.hits.get('pushcut patches') ?? 0) >= 2, 'the cut upload was tried again');
  });

  it('bearer tokens: anonymous is refused, login and X-Registry-Auth get a token', async () => {
    const ref = `${fake.addr}/token/app:1`;
    const anon = await d.docker(['pull', ref]);
    assert.notEqual(anon.code, 0);
    assert.match(anon.stderr, /unauthorized|denied/i);
    const bad = await d.docker(['login', '-u', 'tok', '--password-stdin', fake.addr], { input: 'nope\n' });
    assert.notEqual(bad.code, 0);
    const ok = await d.docker(['login', '-u', 'tok', '--password-stdin', fake.addr], { input: 'pw\n' });
    assert.equal(ok.code, 0, ok.stderr);
    const r = await d.docker(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    await d.docker(['logout', fake.addr]);
  });

  it('a daemon killed mid-pull leaves no image and drops the layers it had extracted', async () => {
    const layersDir = path.join(d.dataRoot, 'layers');
    const layerDirs = () => new Set(fs.readdirSync(layersDir).filter((n) => /^[a-f0-9]{64}$/.test(n)));
    const before = layerDirs();
    const ref = `${fake.addr}/hang/app:1`;
    const pull = d.docker(['pull', ref]);
    const end = Date.now() + 20000;
    let fresh: string[] = [];
    while (Date.now() < end) {
      fresh = [...layerDirs()].filter((n) => !before.has(n));
      if (fresh.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(fresh.length > 0, 'the first layer was extracted before the kill');
    await d.kill();
    await pull;
    await d.start();
    for (const n of fresh) assert.ok(!fs.existsSync(path.join(layersDir, n)), `layer ${n} of the interrupted pull is gone`);
    assert.notEqual((await d.docker(['image', 'inspect', ref])).code, 0);
    assert.match(d.logs(), /dropped layer of an interrupted pull/);
  });

  it('concurrent pulls of the same image download each blob once', async () => {
    const refs = [`${fake.addr}/slow/app:1`, `${fake.addr}/slow/app:1`, `${fake.addr}/slow/app:1`];
    const rs = await Promise.all(refs.map((r) => d.docker(['pull', r])));
    for (const r of rs) assert.equal(r.code, 0, r.stderr);
    for (const l of big.layers) {
      const n = fake.hits.get(`slow/app blobs ${l.digest}`) ?? 0;
      assert.ok(n <= 1, `layer ${l.digest} fetched ${n} times`);
    }
  });
});
