// Conformance of `berth registry serve` with the OCI distribution spec v1.1,
// over real HTTP on loopback; skopeo copies images in and out unchanged.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  makeImage,
  writeOciLayout,
  startBerthRegistry,
  tmpDir,
  run,
  sha256,
  type RunningRegistry,
} from './helpers/registry';
import { htpasswdLine } from '../src/registry/htpasswd';
import { privateCliSocket } from './helpers/cli-server';

// ./bin/berth as a program (registry gc): its CLI server (if one starts) is this file's, stopped at the end.
privateCliSocket(after);

const API = 'registry/2.0';

async function req(url: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const r = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(20000) });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, body, json: () => JSON.parse(body.toString()) };
}

function errCode(r: { json: () => any }): string {
  return r.json().errors[0].code;
}

async function pushBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const d = sha256(data);
  const r = await req(`${base}/v2/${repo}/blobs/uploads/?digest=${d}`, { method: 'POST', body: data, headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(r.status, 201, r.body.toString());
  return d;
}

describe('berth registry serve: OCI distribution API', () => {
  let reg: RunningRegistry;
  let base: string;
  before(async () => {
    reg = await startBerthRegistry();
    base = reg.url;
  });
  after(async () => {
    await reg.stop();
    fs.rmSync(reg.root, { recursive: true, force: true });
  });

  it('answers /v2/ with the API version header', async () => {
    const r = await req(`${base}/v2/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('docker-distribution-api-version'), API);
  });

  it('monolithic upload, HEAD, GET and ranged GET of a blob', async () => {
    const data = Buffer.from('hello blob world');
    const d = await pushBlob(base, 'conf/mono', data);
    const h = await req(`${base}/v2/conf/mono/blobs/${d}`, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('content-length'), String(data.length));
    assert.equal(h.headers.get('docker-content-digest'), d);
    const g = await req(`${base}/v2/conf/mono/blobs/${d}`);
    assert.deepEqual(g.body, data);
    const part = await req(`${base}/v2/conf/mono/blobs/${d}`, { headers: { Range: 'bytes=6-9' } });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), 'blob');
    // Not linked in another repository: unknown there.
    const other = await req(`${base}/v2/conf/other/blobs/${d}`, { method: 'GET' });
    assert.equal(other.status, 404);
    assert.equal(errCode(other), 'BLOB_UNKNOWN');
  });

  it('chunked upload with Content-Range, status, and out-of-order chunks rejected', async () => {
    const a = Buffer.alloc(70000, 'a');
    const b = Buffer.alloc(30000, 'b');
    const all = Buffer.concat([a, b]);
    const start = await req(`${base}/v2/conf/chunk/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const uuid = start.headers.get('docker-upload-uuid');
    assert.ok(uuid);
    let loc = start.headers.get('location')!;
    assert.match(loc, /\/v2\/conf\/chunk\/blobs\/uploads\//);
    assert.equal(start.headers.get('range'), '0-0');
    const p1 = await req(new URL(loc, base).href, { method: 'PATCH', body: a, headers: { 'Content-Range': `0-${a.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.get('range'), `0-${a.length - 1}`);
    loc = p1.headers.get('location')!;
    // A chunk that does not continue where the upload is → 416.
    const bad = await req(new URL(loc, base).href, { method: 'PATCH', body: b, headers: { 'Content-Range': `5-${5 + b.length - 1}` } });
    assert.equal(bad.status, 416);
    const st = await req(new URL(loc, base).href);
    assert.equal(st.status, 204);
    assert.equal(st.headers.get('range'), `0-${a.length - 1}`);
    const p2 = await req(new URL(loc, base).href, { method: 'PATCH', body: b, headers: { 'Content-Range': `${a.length}-${all.length - 1}` } });
    assert.equal(p2.status, 202);
    const d = sha256(all);
    const fin = await req(new URL(p2.headers.get('location')!, base).href + `?digest=${d}`, { method: 'PUT' });
    assert.equal(fin.status, 201, fin.body.toString());
    assert.equal(fin.headers.get('docker-content-digest'), d);
    const g = await req(`${base}/v2/conf/chunk/blobs/${d}`);
    assert.equal(sha256(g.body), d);
    // The finished upload is gone.
    const gone = await req(new URL(loc, base).href);
    assert.equal(gone.status, 404);
    assert.equal(errCode(gone), 'BLOB_UPLOAD_UNKNOWN');
  });

  it('rejects a digest mismatch and keeps nothing', async () => {
    const data = Buffer.from('real content');
    const wrong = sha256(Buffer.from('other content'));
    const r = await req(`${base}/v2/conf/bad/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: data });
    assert.equal(r.status, 400);
    assert.equal(errCode(r), 'DIGEST_INVALID');
    assert.equal((await req(`${base}/v2/conf/bad/blobs/${wrong}`, { method: 'HEAD' })).status, 404);
    assert.ok(!fs.existsSync(path.join(reg.root, 'blobs/sha256', wrong.slice(7))));
    assert.ok(!fs.existsSync(path.join(reg.root, 'blobs/sha256', sha256(data).slice(7))));
    const bogus = await req(`${base}/v2/conf/bad/blobs/sha256:xyz`);
    assert.equal(bogus.status, 400);
    assert.equal(errCode(bogus), 'DIGEST_INVALID');
  });

  it('rejects invalid repository names', async () => {
    const r = await req(`${base}/v2/Bad..Name/tags/list`);
    assert.equal(r.status, 400);
    assert.equal(errCode(r), 'NAME_INVALID');
    const esc = await req(`${base}/v2/a/%2e%2e/%2e%2e/blobs/uploads/`, { method: 'POST' });
    assert.ok(esc.status === 400 || esc.status === 404, String(esc.status));
  });

  it('manifests by tag and digest; blobs must exist first; bad manifests rejected', async () => {
    const img = await makeImage([{ 'x.txt': 'x' }, { 'y.txt': 'y' }]);
    const repo = 'conf/man';
    // Manifest before its blobs → MANIFEST_BLOB_UNKNOWN.
    const early = await req(`${base}/v2/${repo}/manifests/v1`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': img.mediaType } });
    assert.equal(early.status, 400);
    assert.equal(errCode(early), 'MANIFEST_BLOB_UNKNOWN');
    await pushBlob(base, repo, img.config);
    for (const l of img.layers) await pushBlob(base, repo, l.gz);
    const put = await req(`${base}/v2/${repo}/manifests/v1`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': img.mediaType } });
    assert.equal(put.status, 201, put.body.toString());
    assert.equal(put.headers.get('docker-content-digest'), img.manifestDigest);
    assert.equal(put.headers.get('location'), `/v2/${repo}/manifests/${img.manifestDigest}`);
    const get = await req(`${base}/v2/${repo}/manifests/v1`, { headers: { Accept: img.mediaType } });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('content-type'), img.mediaType);
    assert.equal(get.headers.get('docker-content-digest'), img.manifestDigest);
    assert.deepEqual(get.body, img.manifest);
    const head = await req(`${base}/v2/${repo}/manifests/${img.manifestDigest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(img.manifest.length));
    // By digest with the wrong digest in the URL.
    const wrong = await req(`${base}/v2/${repo}/manifests/${sha256(Buffer.from('z'))}`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': img.mediaType } });
    assert.equal(errCode(wrong), 'DIGEST_INVALID');
    const malformed = await req(`${base}/v2/${repo}/manifests/v2`, { method: 'PUT', body: '{"schemaVersion": 2, "config": ', headers: { 'Content-Type': img.mediaType } });
    assert.equal(malformed.status, 400);
    assert.equal(errCode(malformed), 'MANIFEST_INVALID');
    const unknownType = await req(`${base}/v2/${repo}/manifests/v2`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': 'application/vnd.example.thing+json' } });
    assert.equal(errCode(unknownType), 'MANIFEST_INVALID');
    const big = Buffer.alloc(5 * 1024 * 1024, ' ');
    const oversized = await req(`${base}/v2/${repo}/manifests/v2`, { method: 'PUT', body: big, headers: { 'Content-Type': img.mediaType } });
    assert.equal(oversized.status, 413);
    assert.equal(errCode(oversized), 'SIZE_INVALID');
    const tags = await req(`${base}/v2/${repo}/tags/list`);
    assert.deepEqual(tags.json(), { name: repo, tags: ['v1'] });
    const missing = await req(`${base}/v2/${repo}/manifests/nope`);
    assert.equal(missing.status, 404);
    assert.equal(errCode(missing), 'MANIFEST_UNKNOWN');
  });

  it('OCI index referencing manifests in the repo, and referrers', async () => {
    const repo = 'conf/index';
    const a = await makeImage([{ 'a': 'amd' }], { oci: true, arch: 'amd64' });
    const b = await makeImage([{ 'a': 'arm' }], { oci: true, arch: 'arm64' });
    for (const img of [a, b]) {
      await pushBlob(base, repo, img.config);
      for (const l of img.layers) await pushBlob(base, repo, l.gz);
      const r = await req(`${base}/v2/${repo}/manifests/${img.manifestDigest}`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': img.mediaType } });
      assert.equal(r.status, 201);
    }
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: a.mediaType, digest: a.manifestDigest, size: a.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: b.mediaType, digest: b.manifestDigest, size: b.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      }),
    );
    const put = await req(`${base}/v2/${repo}/manifests/multi`, { method: 'PUT', body: index, headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' } });
    assert.equal(put.status, 201, put.body.toString());
    const dangling = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: a.mediaType, digest: sha256(Buffer.from('none')), size: 4 }] }));
    const bad = await req(`${base}/v2/${repo}/manifests/dangling`, { method: 'PUT', body: dangling, headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' } });
    assert.equal(errCode(bad), 'MANIFEST_BLOB_UNKNOWN');
    // An artifact whose subject is image a.
    const emptyCfg = Buffer.from('{}');
    await pushBlob(base, repo, emptyCfg);
    const art = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.sbom',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(emptyCfg), size: 2 },
        layers: [],
        subject: { mediaType: a.mediaType, digest: a.manifestDigest, size: a.manifest.length },
      }),
    );
    const artPut = await req(`${base}/v2/${repo}/manifests/${sha256(art)}`, { method: 'PUT', body: art, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(artPut.status, 201);
    assert.equal(artPut.headers.get('oci-subject'), a.manifestDigest);
    const refs = await req(`${base}/v2/${repo}/referrers/${a.manifestDigest}`);
    assert.equal(refs.status, 200);
    const j = refs.json();
    assert.equal(j.manifests.length, 1);
    assert.equal(j.manifests[0].digest, sha256(art));
    assert.equal(j.manifests[0].artifactType, 'application/vnd.example.sbom');
  });

  it('cross-repository mount links an existing blob, else starts an upload', async () => {
    const data = Buffer.from('shared layer');
    const d = await pushBlob(base, 'conf/src', data);
    const m = await req(`${base}/v2/conf/dst/blobs/uploads/?mount=${d}&from=conf/src`, { method: 'POST' });
    assert.equal(m.status, 201);
    assert.equal(m.headers.get('docker-content-digest'), d);
    assert.equal((await req(`${base}/v2/conf/dst/blobs/${d}`, { method: 'HEAD' })).status, 200);
    const miss = await req(`${base}/v2/conf/dst2/blobs/uploads/?mount=${d}&from=conf/nothere`, { method: 'POST' });
    assert.equal(miss.status, 202);
    assert.ok(miss.headers.get('docker-upload-uuid'));
  });

  it('tag listing and catalog paginate with n/last and a Link header', async () => {
    const repo = 'conf/page';
    const img = await makeImage([{ 'p': 'p' }]);
    await pushBlob(base, repo, img.config);
    for (const l of img.layers) await pushBlob(base, repo, l.gz);
    for (const t of ['c', 'a', 'e', 'b', 'd']) {
      const r = await req(`${base}/v2/${repo}/manifests/${t}`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': img.mediaType } });
      assert.equal(r.status, 201);
    }
    const p1 = await req(`${base}/v2/${repo}/tags/list?n=2`);
    assert.deepEqual(p1.json().tags, ['a', 'b']);
    const link = p1.headers.get('link');
    assert.ok(link && /rel="next"/.test(link), String(link));
    const next = /<([^>]+)>/.exec(link!)![1];
    const p2 = await req(base + next);
    assert.deepEqual(p2.json().tags, ['c', 'd']);
    const p3 = await req(`${base}/v2/${repo}/tags/list?n=2&last=d`);
    assert.deepEqual(p3.json().tags, ['e']);
    assert.equal(p3.headers.get('link'), null);
    const badN = await req(`${base}/v2/${repo}/tags/list?n=-1`);
    assert.equal(errCode(badN), 'PAGINATION_NUMBER_INVALID');
    const all = (await req(`${base}/v2/_catalog`)).json().repositories as string[];
    assert.ok(all.includes('conf/page') && all.includes('conf/man'));
    assert.deepEqual([...all].sort(), all);
    const c1 = await req(`${base}/v2/_catalog?n=1`);
    assert.equal(c1.json().repositories.length, 1);
    assert.ok(c1.headers.get('link'));
    const unknown = await req(`${base}/v2/conf/nosuch/tags/list`);
    assert.equal(unknown.status, 404);
    assert.equal(errCode(unknown), 'NAME_UNKNOWN');
  });

  it('deletes tags, manifests and blobs', async () => {
    const repo = 'conf/del';
    const img = await makeImage([{ 'd': 'd' }]);
    await pushBlob(base, repo, img.config);
    for (const l of img.layers) await pushBlob(base, repo, l.gz);
    for (const t of ['one', 'two']) {
      await req(`${base}/v2/${repo}/manifests/${t}`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': img.mediaType } });
    }
    assert.equal((await req(`${base}/v2/${repo}/manifests/one`, { method: 'DELETE' })).status, 202);
    assert.deepEqual((await req(`${base}/v2/${repo}/tags/list`)).json().tags, ['two']);
    assert.equal((await req(`${base}/v2/${repo}/manifests/${img.manifestDigest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await req(`${base}/v2/${repo}/manifests/two`)).status, 404);
    assert.equal((await req(`${base}/v2/${repo}/manifests/${img.manifestDigest}`)).status, 404);
    assert.equal((await req(`${base}/v2/${repo}/blobs/${img.configDigest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await req(`${base}/v2/${repo}/blobs/${img.configDigest}`, { method: 'HEAD' })).status, 404);
    assert.equal((await req(`${base}/v2/${repo}/manifests/${img.manifestDigest}`, { method: 'DELETE' })).status, 404);
  });

  it('a connection cut mid-upload leaves a resumable upload and no blob', async () => {
    const data = Buffer.alloc(200000, 'q');
    const start = await req(`${base}/v2/conf/cut/blobs/uploads/`, { method: 'POST' });
    const loc = new URL(start.headers.get('location')!, base);
    const net = await import('node:net');
    await new Promise<void>((resolve) => {
      const s = net.connect(Number(loc.port), loc.hostname, () => {
        s.write(`PATCH ${loc.pathname} HTTP/1.1\r\nHost: x\r\nContent-Length: ${data.length}\r\n\r\n`);
        s.write(data.subarray(0, 1000), () => setTimeout(() => { s.destroy(); resolve(); }, 200));
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    const st = await req(loc.href);
    assert.equal(st.status, 204);
    const have = Number(st.headers.get('range')!.split('-')[1]) + 1;
    assert.ok(have <= 1000);
    const rest = await req(loc.href + `?digest=${sha256(data)}`, { method: 'PUT', body: data.subarray(have) });
    assert.equal(rest.status, 201, rest.body.toString());
    assert.equal(sha256((await req(`${base}/v2/conf/cut/blobs/${sha256(data)}`)).body), sha256(data));
  });

  it('skopeo copies an image in and back out unchanged', async () => {
    const img = await makeImage([{ 'bin/hello': 'hello' }, { 'etc/motd': 'welcome' }], { oci: true });
    const src = tmpDir('oci-src-');
    writeOciLayout(src, img, 'v1');
    const ref = `docker://${reg.addr}/team/app:1.0`;
    let r = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:v1`, ref]);
    assert.equal(r.code, 0, r.stderr);
    r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(Buffer.from(r.stdout)), img.manifestDigest);
    const out = tmpDir('oci-out-');
    r = await run('skopeo', ['copy', '--src-tls-verify=false', ref, `oci:${out}:v1`]);
    assert.equal(r.code, 0, r.stderr);
    for (const d of [img.manifestDigest, img.configDigest, ...img.layers.map((l) => l.digest)]) {
      const f = path.join(out, 'blobs/sha256', d.slice(7));
      assert.ok(fs.existsSync(f), `missing ${d}`);
      assert.equal('sha256:' + createHash('sha256').update(fs.readFileSync(f)).digest('hex'), d);
    }
    // docker-archive in (layers recompressed by skopeo), same config digest back out.
    const arch = path.join(tmpDir('arch-'), 'x.tar');
    r = await run('skopeo', ['copy', `oci:${src}:v1`, `docker-archive:${arch}:team/app:1.0`]);
    assert.equal(r.code, 0, r.stderr);
    r = await run('skopeo', ['copy', '--dest-tls-verify=false', `docker-archive:${arch}`, `docker://${reg.addr}/team/fromarchive:1.0`]);
    assert.equal(r.code, 0, r.stderr);
    r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.addr}/team/fromarchive:1.0`]);
    const man = JSON.parse(r.stdout);
    assert.equal(man.config.digest, img.configDigest);
    for (const d of [src, out, path.dirname(arch)]) fs.rmSync(d, { recursive: true, force: true });
  });
});

describe('berth registry serve: htpasswd and TLS', () => {
  let reg: RunningRegistry;
  let dir: string;
  before(async () => {
    dir = tmpDir('reg-auth-');
    fs.writeFileSync(path.join(dir, 'htpasswd'), htpasswdLine('alice', 's3cret', 5) + '\n');
    const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
    assert.equal(r.code, 0, r.stderr);
    reg = await startBerthRegistry({ htpasswd: path.join(dir, 'htpasswd'), tls: { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') } });
  });
  after(async () => {
    await reg.stop();
    fs.rmSync(reg.root, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('asks for basic credentials and accepts only the right ones, over TLS', async () => {
    const r = await run('curl', ['-sk', '-o', '/dev/null', '-D', '-', `${reg.url}/v2/`]);
    assert.match(r.stdout, /HTTP\/1.1 401/);
    assert.match(r.stdout, /www-authenticate: Basic realm="Registry Realm"/i);
    const bad = await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '-u', 'alice:wrong', `${reg.url}/v2/`]);
    assert.equal(bad.stdout, '401');
    const ok = await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '-u', 'alice:s3cret', `${reg.url}/v2/`]);
    assert.equal(ok.stdout, '200');
    // Plain HTTP to the TLS port fails.
    const plain = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${reg.url.replace('https', 'http')}/v2/`]);
    assert.notEqual(plain.stdout, '200');
  });

  it('skopeo pushes with credentials and is refused without', async () => {
    const img = await makeImage([{ 'f': 'auth' }], { oci: true });
    const src = tmpDir('oci-auth-');
    writeOciLayout(src, img, 'v1');
    const noCreds = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${reg.addr}/sec/app:1`]);
    assert.notEqual(noCreds.code, 0);
    assert.match(noCreds.stderr, /authentication required|unauthorized/i);
    const r = await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:s3cret', `oci:${src}:v1`, `docker://${reg.addr}/sec/app:1`]);
    assert.equal(r.code, 0, r.stderr);
    fs.rmSync(src, { recursive: true, force: true });
  });
});

describe('berth registry gc', () => {
  it('removes unreferenced blobs and keeps referenced and recent ones', async () => {
    const reg = await startBerthRegistry();
    try {
      const base = reg.url;
      const img = await makeImage([{ 'k': 'keep' }]);
      await pushBlob(base, 'gc/app', img.config);
      for (const l of img.layers) await pushBlob(base, 'gc/app', l.gz);
      await req(`${base}/v2/gc/app/manifests/v1`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': img.mediaType } });
      const orphan = await pushBlob(base, 'gc/app', Buffer.from('nobody references me'));
      const berth = path.resolve(__dirname, '../../bin/berth');
      // Every gc must succeed: on failure show its stderr, not just an empty stdout.
      const gc = async (...args: string[]) => {
        const out = await run(berth, ['registry', 'gc', '--root', reg.root, ...args]);
        assert.equal(out.code, 0, `berth registry gc ${args.join(' ')}: ${out.stderr}`);
        return out;
      };
      // Within the default grace period nothing is removed (a push may be in flight).
      let r = await gc();
      assert.match(r.stdout, /deleted 0 blobs/);
      r = await gc('--grace', '0s', '--dry-run');
      assert.match(r.stdout, new RegExp(`deleting blob ${orphan}`));
      assert.ok(fs.existsSync(path.join(reg.root, 'blobs/sha256', orphan.slice(7))));
      r = await gc('--grace', '0s');
      assert.match(r.stdout, /deleted 1 blobs/);
      assert.ok(!fs.existsSync(path.join(reg.root, 'blobs/sha256', orphan.slice(7))));
      assert.equal((await req(`${base}/v2/gc/app/blobs/${orphan}`, { method: 'HEAD' })).status, 404);
      // The image is intact.
      for (const d of [img.configDigest, ...img.layers.map((l) => l.digest)]) {
        assert.equal((await req(`${base}/v2/gc/app/blobs/${d}`, { method: 'HEAD' })).status, 200);
      }
      assert.equal((await req(`${base}/v2/gc/app/manifests/v1`)).status, 200);
      // A blob a pusher just found with HEAD counts as recent: not collected.
      const old = await pushBlob(base, 'gc/app', Buffer.from('old but just checked'));
      const past = new Date(Date.now() - 3 * 3600_000);
      fs.utimesSync(path.join(reg.root, 'blobs/sha256', old.slice(7)), past, past);
      fs.utimesSync(path.join(reg.root, 'repositories/gc/app/_blobs/sha256', old.slice(7)), past, past);
      assert.equal((await req(`${base}/v2/gc/app/blobs/${old}`, { method: 'HEAD' })).status, 200);
      r = await gc('--grace', '1h');
      assert.match(r.stdout, /deleted 0 blobs/);
      r = await gc('--grace', '0s');
      assert.match(r.stdout, /deleted 1 blobs/);
      // Untagged manifests go only with --delete-untagged, then their blobs too.
      await req(`${base}/v2/gc/app/manifests/v1`, { method: 'DELETE' });
      r = await gc('--grace', '0s', '--delete-untagged');
      assert.match(r.stdout, /deleted 3 blobs.*1 manifests/);
      assert.equal((await req(`${base}/v2/gc/app/manifests/${img.manifestDigest}`)).status, 404);
    } finally {
      await reg.stop();
      fs.rmSync(reg.root, { recursive: true, force: true });
    }
  });
});
