// Pure pieces of distribution: endpoint resolution, X-Registry-Auth and
// WWW-Authenticate parsing, platform selection, manifest validation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveEndpoint, isInsecure, registryFromServerAddress } from '../src/distribution/endpoint';
import { decodeRegistryAuth, parseChallenges } from '../src/distribution/auth';
import { parsePlatform, selectManifest, hostPlatform } from '../src/distribution/platform';
import { parseManifest, ManifestError, MAX_MANIFEST_SIZE } from '../src/distribution/manifest';
import { DistributionService } from '../src/distribution/service';
import { Htpasswd, htpasswdLine } from '../src/registry/htpasswd';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const D = (c: string) => 'sha256:' + c.repeat(64);

describe('distribution units', () => {
  it('resolves endpoints: Hub, HTTPS by default, HTTP fallback for loopback and insecure entries', () => {
    assert.deepEqual(resolveEndpoint('docker.io', []).bases, ['https://registry-1.docker.io']);
    assert.deepEqual(resolveEndpoint('reg.example.com', []).bases, ['https://reg.example.com']);
    assert.deepEqual(resolveEndpoint('localhost:5000', []).bases, ['https://localhost:5000', 'http://localhost:5000']);
    assert.equal(resolveEndpoint('127.0.0.1:5000', []).insecureTls, true);
    assert.ok(isInsecure('reg.example.com:5000', ['reg.example.com:5000']));
    assert.ok(isInsecure('10.1.2.3:5000', ['10.0.0.0/8']));
    assert.ok(!isInsecure('11.1.2.3:5000', ['10.0.0.0/8']));
    assert.ok(!isInsecure('reg.example.com', []));
    assert.equal(registryFromServerAddress('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(registryFromServerAddress('localhost:5000'), 'localhost:5000');
    assert.equal(registryFromServerAddress('http://127.0.0.1:5000/v2/'), '127.0.0.1:5000');
  });

  it('decodes X-Registry-Auth (base64url JSON, auth field, empty = anonymous) and rejects garbage', () => {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    assert.deepEqual(decodeRegistryAuth(enc({ username: 'u', password: 'p?>' })), { username: 'u', password: 'p?>' });
    const a = decodeRegistryAuth(enc({ auth: Buffer.from('x:y').toString('base64') }));
    assert.equal(a?.username, 'x');
    assert.equal(a?.password, 'y');
    assert.equal(decodeRegistryAuth(enc({})), undefined);
    assert.equal(decodeRegistryAuth(''), undefined);
    assert.throws(() => decodeRegistryAuth('!!!not-base64-json'), /X-Registry-Auth/);
  });

  it('parses WWW-Authenticate challenges', () => {
    const [b] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
    assert.equal(b.scheme, 'bearer');
    assert.equal(b.params.realm, 'https://auth.docker.io/token');
    assert.equal(b.params.scope, 'repository:library/busybox:pull');
    const [basic] = parseChallenges('Basic realm="Registry Realm"');
    assert.equal(basic.scheme, 'basic');
    assert.equal(basic.params.realm, 'Registry Realm');
  });

  it('selects platforms like Docker (arm64 defaults to v8; unknown input refused)', () => {
    const entries = [
      { mediaType: 'x', digest: D('a'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'x', digest: D('b'), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: 'x', digest: D('c'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: 'x', digest: D('d'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    ];
    assert.equal(selectManifest(entries, parsePlatform('linux/arm64')!)?.digest, D('b'));
    assert.equal(selectManifest(entries, parsePlatform('linux/arm/v6')!)?.digest, D('d'));
    assert.equal(selectManifest(entries, parsePlatform('linux/x86_64')!)?.digest, D('a'));
    assert.equal(selectManifest(entries, parsePlatform('windows/amd64')!), undefined);
    assert.equal(hostPlatform().os, 'linux');
    assert.throws(() => parsePlatform('linux'), /unknown operating system or architecture/);
  });

  it('validates manifests: shape, media type, schema 1, size', () => {
    const good = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('a'), size: 2 }, layers: [] }));
    assert.equal(parseManifest(good, 'application/vnd.oci.image.manifest.v1+json').kind, 'image');
    assert.equal(parseManifest(good, 'application/json').kind, 'image');
    assert.throws(() => parseManifest(good, 'application/vnd.docker.distribution.manifest.v2+json'), /does not match/);
    assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1}'), ''), /schema 1 is not supported/);
    assert.throws(() => parseManifest(Buffer.from('[1]'), ''), ManifestError);
    const badDigest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: 'sha256:zz', size: 1 }, layers: [] }));
    assert.throws(() => parseManifest(badDigest, ''), /invalid digest/);
    assert.throws(() => parseManifest(Buffer.alloc(MAX_MANIFEST_SIZE + 1, ' '), ''), /too large/);
  });

  it('combines fromImage and tag as the Engine API does', () => {
    assert.deepEqual(DistributionService.pullReference('busybox', 'latest'), { domain: 'docker.io', path: 'library/busybox', tag: 'latest' });
    assert.deepEqual(DistributionService.pullReference('localhost:5000/team/app', D('e')), { domain: 'localhost:5000', path: 'team/app', digest: D('e') });
    assert.deepEqual(DistributionService.pullReference('localhost:5000/team/app:1.0', undefined), { domain: 'localhost:5000', path: 'team/app', tag: '1.0' });
    assert.throws(() => DistributionService.pullReference('busybox', 'bad tag!'), /invalid reference format/);
    assert.throws(() => DistributionService.pullReference('Busybox', 'latest'), /must be lowercase/);
  });

  it('htpasswd: bcrypt entries ($2y$ as htpasswd -B writes) verify; others are ignored', async () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'htp-')), 'htpasswd');
    fs.writeFileSync(f, `${htpasswdLine('amy', 'pw', 4)}\nmd5user:$apr1$abc$def\n# comment\n`);
    const h = new Htpasswd(f);
    assert.equal(await h.check('amy', 'pw'), true);
    assert.equal(await h.check('amy', 'pw'), true); // cached
    assert.equal(await h.check('amy', 'nope'), false);
    assert.equal(await h.check('md5user', 'x'), false);
    assert.deepEqual(Htpasswd.parseBasic('Basic ' + Buffer.from('a:b:c').toString('base64')), { user: 'a', password: 'b:c' });
    fs.rmSync(path.dirname(f), { recursive: true });
  });
});
