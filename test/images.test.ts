// Images through the official docker CLI (and ./bin/berth where it has the
// command): load/save, import, list/inspect/history, tag, rmi, prune, and
// hostile archives that must leave nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import * as tar from 'tar-stream';
import http from 'node:http';
import Docker from 'dockerode';
import { startDaemon, type TestDaemon } from './helpers/daemon';

import { makeTar } from './helpers/tar';

let d: TestDaemon;
let work: string;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function ok(args: string[], input?: Buffer | string) {
  const r = await d.docker(args, input !== undefined ? { input } : {});
  assert.equal(r.code, 0, `docker ${args.join(' ')} failed: ${r.stderr}\n${d.logs().slice(-3000)}`);
  return r.stdout;
}

async function fails(args: string[], re: RegExp, input?: Buffer | string) {
  const r = await d.docker(args, input !== undefined ? { input } : {});
  assert.notEqual(r.code, 0, `docker ${args.join(' ')} should fail; stdout: ${r.stdout}`);
  assert.match(r.stderr, re);
  return r.stderr;
}

function layerDirs(): string[] {
  return fs.readdirSync(path.join(d.dataRoot, 'layers')).filter((x) => x !== 'l' && x !== 'empty').sort();
}

function rootfsTar(files: Record<string, string>): Promise<Buffer> {
  return makeTar(Object.entries(files).map(([name, body]) => ({ name, body })));
}

/** A docker-archive with one image; pieces can be broken on purpose. */
async function dockerArchive(layer: Buffer, o: { tag?: string; diffId?: string; missing?: boolean } = {}): Promise<Buffer> {
  const diffId = o.diffId ?? `sha256:${sha(layer)}`;
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2024-02-02T00:00:00Z', config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created: '2024-02-02T00:00:00Z', created_by: 'test' }],
  }));
  const id = sha(config);
  const entries: any[] = [
    { name: `${id}.json`, body: config },
    { name: 'manifest.json', body: JSON.stringify([{ Config: `${id}.json`, RepoTags: [o.tag ?? 'hostile:1'], Layers: ['abc/layer.tar'] }]) },
  ];
  if (!o.missing) entries.push({ name: 'abc/layer.tar', body: layer });
  return makeTar(entries);
}

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
  work = fs.mkdtempSync('/tmp/berth-images-test-');
});

after(async () => {
  await d?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('busybox loads; images, inspect and history show it as docker does', async () => {
  const ls = await ok(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
  assert.match(ls, /^busybox:latest [0-9a-f]{12}$/m);
  const insp = JSON.parse(await ok(['image', 'inspect', 'busybox']))[0];
  assert.match(insp.Id, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(insp.RepoTags, ['busybox:latest']);
  assert.deepEqual(insp.Config.Cmd, ['sh']);
  assert.equal(insp.GraphDriver.Name, 'overlay2');
  assert.ok(fs.existsSync(insp.GraphDriver.Data.UpperDir + '/bin/busybox'), 'layer extracted where GraphDriver says');
  assert.equal(insp.RootFS.Type, 'layers');
  assert.equal(insp.RootFS.Layers.length, 1);
  assert.ok(insp.Size > 500_000);
  assert.notEqual(insp.Metadata.LastTagTime, '0001-01-01T00:00:00Z');
  // Short id, full id, sha256:-prefixed id and name@... all resolve.
  for (const ref of [insp.Id, insp.Id.slice(7), insp.Id.slice(7, 19), 'docker.io/library/busybox:latest']) {
    assert.equal((await ok(['image', 'inspect', '--format', '{{.Id}}', ref])).trim(), insp.Id, ref);
  }
  await fails(['image', 'inspect', 'nosuch'], /No such image: nosuch/);

  const hist = (await ok(['history', '--no-trunc', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Size}}', 'busybox'])).trim().split('\n');
  assert.equal(hist.length, 2);
  assert.ok(hist[0].startsWith(insp.Id + '|'), hist[0]);
  assert.match(hist[0], /CMD \["sh"\]\|0B/);
  assert.match(hist[1], /^<missing>\|.*ADD file/);

  assert.equal((await ok(['images', '-q'])).trim(), insp.Id.slice(7, 19));
  assert.equal((await ok(['images', '-q', '--no-trunc'])).trim(), insp.Id);
  assert.match(await ok(['images', '--digests']), /busybox\s+latest\s+<none>\s+[0-9a-f]{12}/);
  assert.match(await ok(['images', '--filter', 'reference=busy*']), /busybox/);
  assert.doesNotMatch(await ok(['images', '--filter', 'reference=nope*']), /busybox/);
  await fails(['images', '--filter', 'bogus=1'], /invalid filter 'bogus'/);

  const b = await d.berth(['images']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /busybox\s+latest/);
});

test('import from stdin and from a file, with --change and -m', async () => {
  const t = await rootfsTar({ 'hello.txt': 'hello' });
  const id = (await ok(['import', '-c', 'CMD ["/bin/sh","-c","cat /hello.txt"]', '-c', 'ENV A=b C=d', '-c', 'WORKDIR /w', '-c', 'EXPOSE 80/udp', '-c', 'LABEL k=v', '-m', 'my message', '-', 'imp:1'], t)).trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  const insp = JSON.parse(await ok(['image', 'inspect', 'imp:1']))[0];
  assert.equal(insp.Id, id);
  assert.deepEqual(insp.Config.Cmd, ['/bin/sh', '-c', 'cat /hello.txt']);
  assert.deepEqual(insp.Config.Env, ['A=b', 'C=d']);
  assert.equal(insp.Config.WorkingDir, '/w');
  assert.deepEqual(insp.Config.ExposedPorts, { '80/udp': {} });
  assert.deepEqual(insp.Config.Labels, { k: 'v' });
  assert.equal(insp.Comment, 'my message');
  assert.equal(insp.RootFS.Layers[0], `sha256:${sha(t)}`);
  assert.match(await ok(['images', '--filter', 'label=k=v', '--format', '{{.Repository}}']), /^imp$/m);

  const file = path.join(work, 'rootfs.tar.gz');
  fs.writeFileSync(file, zlib.gzipSync(t));
  await ok(['import', file, 'imp:2']);
  const insp2 = JSON.parse(await ok(['image', 'inspect', 'imp:2']))[0];
  assert.equal(insp2.RootFS.Layers[0], insp.RootFS.Layers[0], 'gzip is detected; same diffID');
  assert.equal(insp2.Comment, 'Imported from -');
  await fails(['import', '-c', 'FROM x', '-', 'imp:3'], /from is not a valid change command/, t);
  // Refused before the (large) body is read: the client still gets the error, not a broken pipe.
  const big = await rootfsTar({ big: 'z'.repeat(8 * 1024 * 1024) });
  await fails(['import', '-', 'Bad:1'], /invalid reference format/, big);
});

test('tag, untag vs delete, dangling after a tag moves, prune', async () => {
  const bb = (await ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox'])).trim();
  await ok(['tag', 'busybox', 'localhost:5000/team/app:1.0']);
  assert.match(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), /^localhost:5000\/team\/app:1\.0$/m);
  await fails(['tag', 'busybox', 'Bad/Name'], /invalid reference format: repository name \(library\/Bad\) must be lowercase|invalid reference format/);
  await fails(['tag', 'nosuch', 'x:1'], /No such image: nosuch/);
  // Deleting by id with two repositories is a conflict; by name just untags.
  await fails(['rmi', bb.slice(7, 19)], new RegExp(`conflict: unable to delete ${bb.slice(7, 19)} \\(must be forced\\) - image is referenced in multiple repositories`));
  const un = await ok(['rmi', 'localhost:5000/team/app:1.0']);
  assert.equal(un.trim(), 'Untagged: localhost:5000/team/app:1.0');
  assert.ok((await ok(['images', '-q', '--no-trunc'])).includes(bb));

  // A tag moving to a new image leaves the old one dangling.
  const a = (await ok(['import', '-', 'mover:latest'], await rootfsTar({ a: 'a' }))).trim();
  const b2 = (await ok(['import', '-', 'mover:latest'], await rootfsTar({ b: 'b' }))).trim();
  assert.notEqual(a, b2);
  assert.equal((await ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).trim(), a);
  assert.match(await ok(['images']), new RegExp(`<none>\\s+<none>\\s+${a.slice(7, 19)}`));
  const pr = await ok(['image', 'prune', '-f']);
  assert.match(pr, new RegExp(`deleted: ${a}`));
  assert.equal((await ok(['images', '-q', '--filter', 'dangling=true'])).trim(), '');

  // rmi by short id of a single-tagged image untags and deletes, layers too.
  const before = layerDirs();
  const out = await ok(['rmi', b2.slice(7, 15)]);
  assert.match(out, /Untagged: mover:latest/);
  assert.match(out, new RegExp(`Deleted: ${b2}`));
  assert.equal(layerDirs().length, before.length - 1, 'its layer went with it');
  await fails(['rmi', 'mover'], /No such image: mover:latest/);

  // berth CLI: tag and rmi.
  const t = await d.berth(['tag', 'busybox', 'viaberth:1']);
  assert.equal(t.code, 0, t.stderr);
  const rm = await d.berth(['rmi', 'viaberth:1']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, /Untagged: viaberth:1/);
});

test('rmi refuses while a real container uses the image', async () => {
  const id = (await ok(['import', '-c', 'CMD ["true"]', '-', 'inuse:1'], await rootfsTar({ u: 'used' }))).trim();
  await ok(['tag', 'inuse:1', 'inuse:2']);
  const cid = (await ok(['create', '--pull=never', '--network', 'none', 'inuse:1'])).trim();
  try {
    // Two tags: untagging one is fine; the last one needs force.
    assert.equal((await ok(['rmi', 'inuse:1'])).trim(), 'Untagged: inuse:1');
    await fails(['rmi', 'inuse:2'], new RegExp(`conflict: unable to remove repository reference "inuse:2" \\(must force\\) - container ${cid.slice(0, 12)} is using its referenced image ${id.slice(7, 19)}`));
    await fails(['rmi', id.slice(7, 19)], new RegExp(`conflict: unable to delete ${id.slice(7, 19)} \\(must be forced\\) - image is being used by stopped container ${cid.slice(0, 12)}`));
    // Forced: untagged and deleted; the container keeps its layers.
    const out = await ok(['rmi', '-f', 'inuse:2']);
    assert.match(out, /Untagged: inuse:2/);
    assert.match(out, new RegExp(`Deleted: ${id}`));
  } finally {
    await d.docker(['rm', '-f', cid]);
  }
});

test('save and load round trip keeps image ids', async () => {
  await ok(['import', '-c', 'CMD ["x"]', '-', 'rt:1'], await rootfsTar({ 'f': 'round trip' }));
  const ids = (await ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox', 'rt:1'])).trim().split('\n');
  const file = path.join(work, 'save.tar');
  await ok(['save', '-o', file, 'busybox', 'rt:1']);
  // The archive is a docker-archive with both images.
  const names: string[] = [];
  const ex = tar.extract();
  fs.createReadStream(file).pipe(ex);
  let manifest: any;
  for await (const e of ex) {
    names.push(e.header.name);
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    if (e.header.name === 'manifest.json') manifest = JSON.parse(Buffer.concat(chunks).toString());
  }
  assert.ok(names.includes(`${ids[0].slice(7)}.json`));
  assert.equal(manifest.length, 2);
  assert.deepEqual(manifest.map((m: any) => m.RepoTags[0]).sort(), ['busybox:latest', 'rt:1']);

  await ok(['rmi', 'rt:1']);
  await ok(['tag', 'busybox', 'keep:me']);
  await ok(['rmi', 'busybox']);
  const out = await ok(['load', '-i', file]);
  assert.match(out, /Loaded image: busybox:latest/);
  assert.match(out, /Loaded image: rt:1/);
  const again = (await ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox', 'rt:1'])).trim().split('\n');
  assert.deepEqual(again, ids);
  await ok(['rmi', 'keep:me']);
  // save through the berth CLI to stdout works too.
  const b = await d.berth(['save', '-o', path.join(work, 'b.tar'), 'rt:1']);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(fs.statSync(path.join(work, 'b.tar')).size > 1024);
});

test('load of an OCI layout', async () => {
  const layer = await rootfsTar({ 'oci.txt': 'from oci' });
  const gz = zlib.gzipSync(layer);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2024-03-03T00:00:00Z', config: { Cmd: ['cat', '/oci.txt'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha(gz)}`, size: gz.length }],
  }));
  const index = {
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length,
      annotations: { 'io.containerd.image.name': 'docker.io/library/ocitest:1', 'org.opencontainers.image.ref.name': '1' },
    }],
  };
  const archive = await makeTar([
    { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', body: JSON.stringify(index) },
    { name: `blobs/sha256/${sha(config)}`, body: config },
    { name: `blobs/sha256/${sha(manifest)}`, body: manifest },
    { name: `blobs/sha256/${sha(gz)}`, body: gz },
  ]);
  const out = await ok(['load'], archive);
  assert.match(out, /Loaded image: ocitest:1/);
  assert.equal((await ok(['image', 'inspect', '--format', '{{.Id}}', 'ocitest:1'])).trim(), `sha256:${sha(config)}`);
});

test('hostile archives are refused and leave nothing behind', async () => {
  const imagesBefore = (await ok(['images', '-a', '-q', '--no-trunc'])).trim();
  const layersBefore = layerDirs();
  const blobsBefore = fs.readdirSync(path.join(d.dataRoot, 'blobs', 'sha256')).sort();
  const cases: Array<[string, Buffer, RegExp]> = [
    ['dotdot', await dockerArchive(await makeTar([{ name: 'ok', body: 'x' }, { name: '../../../etc/evil', body: 'x' }])), /escapes the layer root/],
    ['absolute', await dockerArchive(await makeTar([{ name: '/etc/evil', body: 'x' }])), /absolute path/],
    ['symlink out', await dockerArchive(await makeTar([
      { name: 'evil', type: 'symlink', linkname: '../../../../../../../../tmp' },
      { name: 'evil/berth-pwned', body: 'x' },
    ])), /escapes the layer root/],
    ['hardlink out', await dockerArchive(await makeTar([{ name: 'h', type: 'link', linkname: '../../../../etc/passwd' }])), /escapes the layer root/],
    // Device nodes are accepted as Docker does (test/layer-roundtrip.test.ts); a whiteout of '..' is not.
    ['whiteout of ..', await dockerArchive(await makeTar([{ name: 'd/.wh...', body: '' }])), /invalid whiteout name/],
    ['diff id mismatch', await dockerArchive(await makeTar([{ name: 'x', body: 'x' }]), { diffId: `sha256:${'0'.repeat(64)}` }), /invalid diffID/],
    ['missing layer file', await dockerArchive(await makeTar([{ name: 'x', body: 'x' }]), { missing: true }), /not found in the archive/],
    ['truncated archive', (await dockerArchive(await makeTar([{ name: 'x', body: 'y'.repeat(20000) }]))).subarray(0, 6000), /invalid|not found|Unexpected end/],
    ['not an archive', Buffer.from('hello, this is not a tar at all'.repeat(40)), /invalid/],
  ];
  for (const [what, archive, re] of cases) {
    const r = await d.docker(['load'], { input: archive });
    assert.notEqual(r.code, 0, `${what}: load should fail: ${r.stdout}`);
    assert.match(r.stderr, re, what);
  }
  // Import with hostile content fails the same way.
  await fails(['import', '-', 'hostimp:1'], /escapes the layer root/, await makeTar([{ name: '../x', body: 'x' }]));
  await fails(['import', '-', 'hostimp:1'], /invalid tar archive|Unexpected end/, (await rootfsTar({ big: 'z'.repeat(30000) })).subarray(0, 5000));

  assert.equal((await ok(['images', '-a', '-q', '--no-trunc'])).trim(), imagesBefore, 'no image or tag left behind');
  assert.deepEqual(layerDirs(), layersBefore, 'no layer dir left behind');
  assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'blobs', 'sha256')).sort(), blobsBefore, 'no blob left behind');
  assert.equal(fs.existsSync('/tmp/berth-pwned'), false);
  assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'blobs', 'tmp')), [], 'no temp file left behind');
});

test('import from a URL; dockerode sees the same images', async () => {
  const t = await rootfsTar({ 'url.txt': 'from url' });
  const server = http.createServer((_req, res) => { res.writeHead(200); res.end(t); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as any).port;
    await ok(['import', `http://127.0.0.1:${port}/rootfs.tar`, 'fromurl:1']);
    const insp = JSON.parse(await ok(['image', 'inspect', 'fromurl:1']))[0];
    assert.equal(insp.Comment, `Imported from http://127.0.0.1:${port}/rootfs.tar`);
    assert.equal(insp.RootFS.Layers[0], `sha256:${sha(t)}`);
  } finally {
    server.close();
  }
  const docker = new Docker({ socketPath: d.socket });
  const list = await docker.listImages();
  assert.ok(list.some((i) => (i.RepoTags ?? []).includes('fromurl:1')));
  const img = await docker.getImage('fromurl:1').inspect();
  assert.equal(img.RepoTags[0], 'fromurl:1');
  await docker.getImage('fromurl:1').tag({ repo: 'viadockerode', tag: 'x' });
  const del = await docker.getImage('viadockerode:x').remove();
  assert.deepEqual(del, [{ Untagged: 'viadockerode:x' }]);
  await assert.rejects(docker.getImage('nosuch:1').inspect(), (e: any) => e.statusCode === 404 && /No such image: nosuch:1/.test(e.message));
});

test('load moves an existing tag and says so', async () => {
  await ok(['import', '-', 'moveme:1'], await rootfsTar({ one: '1' }));
  const old = (await ok(['image', 'inspect', '--format', '{{.Id}}', 'moveme:1'])).trim();
  const layer = await rootfsTar({ two: '2' });
  const out = await ok(['load'], await dockerArchive(layer, { tag: 'moveme:1' }));
  assert.match(out, new RegExp(`The image moveme:1 already exists, renaming the old one with ID ${old} to empty string`));
  assert.match(out, /Loaded image: moveme:1/);
  assert.notEqual((await ok(['image', 'inspect', '--format', '{{.Id}}', 'moveme:1'])).trim(), old);
  assert.match(await ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true']), new RegExp(old));
});

test('berth CLI: import, load, history, inspect, image prune', async () => {
  const file = path.join(work, 'berth-rootfs.tar');
  fs.writeFileSync(file, await rootfsTar({ 'b.txt': 'berth' }));
  const imp = await d.berth(['import', '-c', 'CMD ["cat","/b.txt"]', file, 'byberth:1']);
  assert.equal(imp.code, 0, imp.stderr);
  assert.match(imp.stdout, /^sha256:[0-9a-f]{64}$/m);
  const insp = await d.berth(['image', 'inspect', '--format', '{{json .Config.Cmd}}', 'byberth:1']);
  assert.equal(insp.code, 0, insp.stderr);
  assert.equal(insp.stdout.trim(), '["cat","/b.txt"]');
  const hist = await d.berth(['history', '-q', 'byberth:1']);
  assert.equal(hist.code, 0, hist.stderr);
  assert.equal(hist.stdout.trim(), imp.stdout.trim().slice(7, 19));
  const saved = path.join(work, 'byberth.tar');
  await ok(['save', '-o', saved, 'byberth:1']);
  await ok(['rmi', 'byberth:1']);
  const ld = await d.berth(['load', '-i', saved]);
  assert.equal(ld.code, 0, ld.stderr);
  assert.match(ld.stdout, /Loaded image: byberth:1/);
  // Make it dangling, then prune through berth.
  await ok(['import', '-', 'byberth:1'], await rootfsTar({ other: 'x' }));
  const pr = await d.berth(['image', 'prune', '-f']);
  assert.equal(pr.code, 0, pr.stderr);
  assert.match(pr.stdout, new RegExp(`deleted: ${imp.stdout.trim()}`));
});

test('image events: import, tag, untag, delete, save, load', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const id = (await ok(['import', '-', 'ev:1'], await rootfsTar({ e: 'e' }))).trim();
  await ok(['save', '-o', path.join(work, 'ev.tar'), 'ev:1']);
  await ok(['rmi', 'ev:1']);
  await ok(['load', '-i', path.join(work, 'ev.tar')]);
  const until = Math.floor(Date.now() / 1000) + 1;
  const ev = await ok(['events', '--since', String(since), '--until', String(until), '--filter', 'type=image', '--format', '{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "name"}}']);
  const lines = ev.trim().split('\n');
  for (const want of [`import ${id} ${id}`, `tag ${id} ev:1`, `save ${id} ${id}`, `untag ${id} ${id}`, `delete ${id} ${id}`, `load ${id} ${id}`]) {
    assert.ok(lines.includes(want), `missing event "${want}" in:\n${ev}`);
  }
});
