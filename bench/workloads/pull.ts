// Workload: `docker pull` of a three-layer image of about 100 MB
// (incompressible data, so the wire and the disk both carry it) from a
// local Berth registry server on loopback; each run starts with the image
// removed, so every layer is downloaded, verified and extracted again.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import tar from 'tar-stream';
import type { Workload } from '../lib/bench';
import { failureText } from '../lib/proc';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const LAYER_MB = [60, 30, 10];

function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

async function tarOf(name: string, data: Buffer): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((r, j) => {
    pack.on('end', () => r());
    pack.on('error', j);
  });
  pack.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Starts `berth registry serve` and pushes the bench image into it. */
async function startRegistryWithImage(root: string): Promise<{ addr: string; proc: ChildProcess; layers: Buffer[] }> {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const proc = spawn(path.join(REPO_ROOT, 'bin', 'berth'), ['registry', 'serve', '--root', root, '--addr', addr], { stdio: 'ignore' });
  const base = `http://${addr}`;
  const end = Date.now() + 15000;
  for (;;) {
    try {
      await fetch(`${base}/v2/`, { signal: AbortSignal.timeout(1000) });
      break;
    } catch {
      if (Date.now() > end) throw new Error('bench registry did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const layers: { gz: Buffer; diffId: string }[] = [];
  for (const [i, mb] of LAYER_MB.entries()) {
    const t = await tarOf(`data/layer${i}.bin`, randomBytes(mb * 1024 * 1024));
    layers.push({ gz: zlib.gzipSync(t, { level: 1 }), diffId: sha256(t) });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch,
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  for (const blob of [config, ...layers.map((l) => l.gz)]) {
    const r = await fetch(`${base}/v2/bench/pull/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob });
    if (r.status !== 201) throw new Error(`bench registry upload failed: ${r.status} ${await r.text()}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256(l.gz), size: l.gz.length })),
  });
  const r = await fetch(`${base}/v2/bench/pull/manifests/1`, {
    method: 'PUT',
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  if (r.status !== 201) throw new Error(`bench registry manifest push failed: ${r.status}`);
  return { addr, proc, layers: layers.map((l) => l.gz) };
}

/** The physical limits beside the row: the same blobs gunzipped and extracted by `gzip -d | tar -x` (one after another, and all at once), and `dd` of as many bytes. */
async function limits(root: string, gz: Buffer[], runs: number): Promise<string> {
  const files = gz.map((g, i) => {
    const f = path.join(root, `limit-${i}.tar.gz`);
    fs.writeFileSync(f, g);
    return f;
  });
  const total = gz.reduce((n, g) => n + g.length, 0);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const time = async (script: string): Promise<number> => {
    const dest = fs.mkdtempSync(path.join(root, 'limit-x-'));
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const p = spawn('sh', ['-c', script, 'sh', dest, ...files], { stdio: 'ignore' });
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`limit script failed (${code})`))));
    });
    const ms = performance.now() - t0;
    fs.rmSync(dest, { recursive: true, force: true });
    return ms;
  };
  const seq: number[] = [];
  const par: number[] = [];
  const dd: number[] = [];
  for (let i = 0; i < runs; i++) {
    seq.push(await time('d=$1; shift; for f; do gzip -dc "$f" | tar -x -C "$d"; done'));
    par.push(await time('d=$1; shift; for f; do mkdir "$d/$f.x" -p; (gzip -dc "$f" | tar -x -C "$d/$f.x") & done; wait'));
    dd.push(await time(`dd if=/dev/zero of="$1/dd" bs=1M count=${Math.round(total / 2 ** 20)} conv=fdatasync status=none`));
  }
  return `limits (median of ${runs}): \`gzip -d | tar -x\` of the same blobs ${median(seq).toFixed(0)} ms one after another, ${median(par).toFixed(0)} ms all at once; \`dd\` of ${Math.round(total / 2 ** 20)} MiB with fdatasync ${median(dd).toFixed(0)} ms`;
}

export const workload: Workload = {
  name: 'pull',
  description: '`docker pull` of a 3-layer ~100 MB image from a local registry',
  order: 70,
  async run(b) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-registry-'));
    const row = b.row('pull', '`pull` 3 layers, 100 MB, local registry', 'ms', { target: { minRatio: 1.5 } });
    let reg: { addr: string; proc: ChildProcess; layers: Buffer[] } | undefined;
    try {
      reg = await startRegistryWithImage(root);
      const ref = `${reg.addr}/bench/pull:1`;
      await b.interleave(
        row,
        b.runs(5, 2),
        async (e) => {
          await e.docker(['rmi', '-f', ref]);
          const r = await e.docker(['pull', '-q', ref], { timeout: 300_000 });
          if (r.code !== 0) throw new Error(failureText(r));
          return r.ms;
        },
        b.runs(1, 0),
      );
      for (const e of b.live) await e.docker(['rmi', '-f', ref]);
      row.note = await limits(root, reg.layers, b.runs(5, 2));
    } finally {
      reg?.proc.kill('SIGTERM');
      fs.rmSync(root, { recursive: true, force: true });
    }
  },
};
