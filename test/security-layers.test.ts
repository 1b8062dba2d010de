// Hostile layer tars (test/corpus/hostile-layers.ts) through every way a
// layer enters berthd — `docker load`, `docker pull` from `berth registry
// serve`, and `docker build` with ADD of a local tar (four at a time):
// every case is refused with a clear error or sanitized, no host file gains
// an extended attribute, nothing escapes, the daemon lives and answers no
// 500. (What honest layers carry, and pack: layer-roundtrip.test.ts.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { sha256, startBerthRegistry, type RunningRegistry } from './helpers/registry';
import { configOf, dockerArchive, hostileLayers, rawTar, type HostileCase, type RawEntry, type Targets } from './corpus/hostile-layers';

let d: TestDaemon;
let reg: RunningRegistry;
let t: Targets;
let work: string;

/** All xattrs of a host path (not following a symlink), as getfattr prints them; '' when none. */
function hostXattrs(p: string): string {
  return execFileSync('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', p], { encoding: 'utf8' }).trim();
}

function assertHostClean(what: string): void {
  for (const p of [t.file, t.dir, t.bin]) assert.equal(hostXattrs(p), '', `${what}: host path ${p} gained xattrs`);
  assert.equal(fs.existsSync('/tmp/berth-corpus-pwned'), false, `${what}: a file escaped to /tmp`);
  assert.deepEqual(fs.readdirSync(t.dir).sort(), ['canary'], `${what}: the host dir changed`);
}

/** One xattr of a file in an extracted layer (null when absent). */
function layerXattr(file: string, name: string): Buffer | null {
  try {
    return execFileSync('getfattr', ['-h', '--only-values', '-n', name, '--', file], { stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

/** Puts a one-layer image into the registry (blobs, then the manifest). */
async function pushRaw(repo: string, layer: Buffer): Promise<void> {
  const gz = zlib.gzipSync(layer, { level: 1 });
  const config = configOf(layer);
  for (const blob of [config, gz]) {
    const r = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob });
    assert.equal(r.status, 201, await r.text());
  }
  const mt = 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: mt,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256(gz), size: gz.length }],
  });
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': mt } });
  assert.equal(r.status, 201, await r.text());
}

/** Checks an accepted case's extracted layer: xattrs on the layer's own files, device nodes. */
function checkLayer(c: HostileCase, layer: Buffer, via: string): void {
  if (c.expect.outcome !== 'accepted') return;
  const diff = path.join(d.dataRoot, 'layers', sha256(layer).slice(7), 'diff');
  assert.ok(fs.existsSync(diff), `${c.name} via ${via}: layer dir`);
  for (const [file, name, want] of c.expect.xattrs ?? []) {
    const got = layerXattr(path.join(diff, file), name);
    assert.deepEqual(got, want, `${c.name} via ${via}: ${file} ${name}`);
  }
  for (const [file, kind, major, minor] of c.expect.nodes ?? []) {
    const st = fs.lstatSync(path.join(diff, file));
    if (kind === 'fifo') assert.ok(st.isFIFO(), `${file} is a fifo`);
    else assert.ok(kind === 'block' ? st.isBlockDevice() : st.isCharacterDevice(), `${file} is a ${kind} device`);
    if (kind !== 'fifo') assert.deepEqual([Math.floor(st.rdev / 256), st.rdev % 256], [major, minor], `${file} numbers`);
  }
}

/** A failure (a timeout) with the daemon log's tail attached. */
async function withLogs<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- daemon log tail ---\n${d.logs().slice(-3000)}`);
  }
}

/** The corpus; BERTH_CORPUS_ONLY=<regex> narrows it to the cases named so (to study one). */
function cases(): HostileCase[] {
  const only = process.env.BERTH_CORPUS_ONLY;
  return hostileLayers(t).filter((c) => !only || new RegExp(only).test(c.name));
}

/** The daemon answers /_ping (a few tries: a loaded machine may be slow, a dead daemon never answers). */
async function alive(): Promise<boolean> {
  for (let i = 0; i < 10; i++) {
    if (await d.ping()) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

/** Runs fn over items, `n` at a time (bounded: each fn is a bounded docker call). */
async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
}

const PARALLEL = 4;

const figures = { tried: 0, refused: 0, sanitized: 0, keptHonest: 0 };

/** Counts an outcome: refused, sanitized (accepted with the hostile part dropped or kept inside the layer), or honest content kept. */
function tally(c: HostileCase, code: number): void {
  figures.tried++;
  if (code !== 0) figures.refused++;
  else if (c.legit) figures.keptHonest++;
  else figures.sanitized++;
}

before(async () => {
  work = fs.mkdtempSync('/tmp/berth-corpus-');
  t = { dir: path.join(work, 'hostdir'), file: path.join(work, 'hostdir', 'canary'), bin: path.join(work, 'hostbin') };
  fs.mkdirSync(t.dir);
  fs.writeFileSync(t.file, 'host file\n');
  fs.copyFileSync('/bin/true', t.bin);
  d = await startDaemon();
  reg = await startBerthRegistry();
});

after(async () => {
  await reg?.stop();
  await d?.stop();
  if (reg) fs.rmSync(reg.root, { recursive: true, force: true });
  fs.rmSync('/tmp/berth-corpus-pwned', { force: true, recursive: true });
  if (work) fs.rmSync(work, { recursive: true, force: true });
  console.log(`hostile layer inputs: ${JSON.stringify(figures)}`);
});

describe('hostile layer corpus', () => {
  // Each path gets its own copy of the layer (one extra entry) so that a
  // layer the previous path kept is extracted again, never "Already exists".
  const variant = (entries: RawEntry[], via: string) => rawTar([...entries, { name: `zz-via-${via}`, body: via }]);

  it('docker load: every case refused with a clear error or sanitized; host untouched', async () => {
    await pool(cases(), PARALLEL, async (c, i) => {
      const layer = variant(c.entries, 'load');
      const r = await d.docker(['load'], { input: await dockerArchive(layer, `corpus/load:${i}`) });
      tally(c, r.code);
      assertHostClean(`${c.name} via load`);
      assert.ok(await alive(), `daemon alive after ${c.name}`);
      if (c.expect.outcome === 'refused') {
        assert.notEqual(r.code, 0, `${c.name}: load should be refused: ${r.stdout}`);
        assert.match(r.stderr + r.stdout, c.expect.error, c.name); // a 400, or a 200 stream with an error line
      } else {
        assert.equal(r.code, 0, `${c.name}: ${r.stderr}\n${d.logs().slice(-1500)}`);
        checkLayer(c, layer, 'load');
      }
    });
  });

  it('docker pull from berth registry serve: the same verdicts; host untouched', async () => {
    await pool(cases(), PARALLEL, async (c, i) => {
      const layer = variant(c.entries, 'pull');
      await pushRaw(`corpus/c${i}`, layer);
      const r = await withLogs(d.docker(['pull', `${reg.addr}/corpus/c${i}:1`], { timeout: 30_000 }));
      tally(c, r.code);
      assertHostClean(`${c.name} via pull`);
      assert.ok(await alive(), `daemon alive after ${c.name}`);
      if (c.expect.outcome === 'refused') {
        assert.notEqual(r.code, 0, `${c.name}: pull should be refused: ${r.stdout}`);
        assert.match(r.stderr + r.stdout, c.expect.error, c.name);
      } else {
        assert.equal(r.code, 0, `${c.name}: ${r.stderr}\n${d.logs().slice(-1500)}`);
        checkLayer(c, layer, 'pull');
      }
    });
  });

  it('docker build, ADD of a local tar: refused or sanitized; host untouched', async () => {
    await pool(cases(), PARALLEL, async (c, i) => {
      const ctx = fs.mkdtempSync(path.join(work, 'ctx-'));
      fs.writeFileSync(path.join(ctx, 'evil.tar'), variant(c.entries, 'build'));
      fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nADD evil.tar /\n');
      const r = await withLogs(d.docker(['build', '-t', `corpus/build:${i}`, ctx], { timeout: 30_000 }));
      tally(c, r.code);
      assertHostClean(`${c.name} via build`);
      assert.ok(await alive(), `daemon alive after ${c.name}`);
      // The builder re-packs the archive's entries (cleaning names) before
      // the layer is applied, so some refusals become sanitized copies; an
      // injection never passes.
      if (c.expect.outcome === 'refused' && /control character/.test(String(c.expect.error))) {
        assert.notEqual(r.code, 0, `${c.name}: build should fail: ${r.stdout}`);
        assert.match(r.stderr + r.stdout, c.expect.error, c.name);
      }
      assert.doesNotMatch(r.stderr + r.stdout, /EACCES|EEXIST|\/tmp\/berth-test-|Internal Server Error/, `${c.name}: no host detail or crash in the answer`);
    });
  });

  it('no request failed with a 500 and the daemon logged no crash', () => {
    const logs = d.logs();
    assert.doesNotMatch(logs, /"msg":"request failed"/, 'a hostile input gave a 5xx');
    assert.doesNotMatch(logs, /uncaught|unhandled/i);
  });
});
