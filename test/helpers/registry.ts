// Fixtures for distribution tests: small images built in memory (OCI layout
// directories and docker-archive tars), a Berth registry server and the
// Debian distribution registry on free loopback ports.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import net from 'node:net';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import tar from 'tar-stream';

export function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

/** A tar of the given files (path → content). */
export async function makeTar(files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const [name, content] of Object.entries(files)) {
    const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
    pack.entry({ name, size: buf.length, mode: 0o644, mtime: new Date(0) }, buf);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface FixtureImage {
  config: Buffer;
  configDigest: string;
  /** Uncompressed layer tars and their gzipped blobs. */
  layers: { tar: Buffer; gz: Buffer; diffId: string; digest: string }[];
  manifest: Buffer;
  manifestDigest: string;
  mediaType: string;
}

/** Builds an image of `layerFiles.length` layers for linux/amd64 (or `arch`). */
export async function makeImage(
  layerFiles: Record<string, string | Buffer>[],
  opts: { oci?: boolean; arch?: string; cmd?: string[] } = {},
): Promise<FixtureImage> {
  const layers = [];
  for (const files of layerFiles) {
    const t = await makeTar(files);
    const gz = zlib.gzipSync(t, { level: 1 });
    layers.push({ tar: t, gz, diffId: sha256(t), digest: sha256(gz) });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.arch ?? 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Cmd: opts.cmd ?? ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'fixture' })),
    }),
  );
  const oci = !!opts.oci;
  const mediaType = oci ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: {
        mediaType: oci ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: layers.map((l) => ({
        mediaType: oci ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        digest: l.digest,
        size: l.gz.length,
      })),
    }),
  );
  return { config, configDigest: sha256(config), layers, manifest, manifestDigest: sha256(manifest), mediaType };
}

/** Writes an image as an OCI layout directory (for skopeo's `oci:DIR:tag`). */
export function writeOciLayout(dir: string, img: FixtureImage, tag: string): void {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => fs.writeFileSync(path.join(blobs, sha256(b).slice(7)), b);
  put(img.config);
  for (const l of img.layers) put(l.gz);
  put(img.manifest);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Waits (bounded) until `url` answers any HTTP status. */
export async function waitHttp(url: string, timeoutMs = 15000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      return;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs}ms: ${last}`);
}

export interface RunningRegistry {
  addr: string;
  url: string;
  root: string;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function track(proc: ChildProcess): () => string {
  let out = '';
  proc.stdout?.on('data', (d) => (out += d));
  proc.stderr?.on('data', (d) => (out += d));
  return () => out;
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** Retries a start on a new port when the process died (a port taken between pick and bind). */
async function withPortRetry(start: () => Promise<RunningRegistry>): Promise<RunningRegistry> {
  let last: unknown;
  for (let i = 0; i < 3; i++) {
    try {
      const r = await start();
      await new Promise((res) => setTimeout(res, 100));
      if (r.proc.exitCode === null && r.proc.signalCode === null) return r;
      last = new Error(`registry exited: ${r.output()}`);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/** Starts `berth registry serve` through the berth CLI. */
export function startBerthRegistry(opts: { htpasswd?: string; tls?: { cert: string; key: string }; root?: string } = {}): Promise<RunningRegistry> {
  return withPortRetry(() => startBerthRegistryOnce(opts));
}

async function startBerthRegistryOnce(opts: { htpasswd?: string; tls?: { cert: string; key: string }; root?: string }): Promise<RunningRegistry> {
  const port = await freePort();
  const root = opts.root ?? tmpDir('berth-reg-');
  const args = [path.join(REPO_ROOT, 'bin/berth'), 'registry', 'serve', '--root', root, '--addr', `127.0.0.1:${port}`];
  if (opts.htpasswd) args.push('--htpasswd', opts.htpasswd);
  if (opts.tls) args.push('--tls-cert', opts.tls.cert, '--tls-key', opts.tls.key);
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = track(proc);
  const scheme = opts.tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  try {
    if (!opts.tls) await waitHttp(`${url}/v2/`);
    else await waitFor(() => output().includes('listening'), 15000);
  } catch (e) {
    await stopProc(proc);
    throw new Error(`${(e as Error).message}; registry output: ${output()}`);
  }
  return { addr: `127.0.0.1:${port}`, url, root, proc, output, stop: () => stopProc(proc) };
}

/** Starts Debian's distribution registry (/usr/bin/docker-registry) with its own config. */
export function startDistributionRegistry(opts: { htpasswd?: string } = {}): Promise<RunningRegistry> {
  return withPortRetry(() => startDistributionRegistryOnce(opts));
}

async function startDistributionRegistryOnce(opts: { htpasswd?: string }): Promise<RunningRegistry> {
  const port = await freePort();
  const root = tmpDir('dist-reg-');
  const cfg = [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${root}/data`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(opts.htpasswd ? ['auth:', '  htpasswd:', '    realm: test-realm', `    path: ${opts.htpasswd}`] : []),
  ].join('\n');
  fs.writeFileSync(path.join(root, 'config.yml'), cfg + '\n');
  const proc = spawn('/usr/bin/docker-registry', ['serve', path.join(root, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = track(proc);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${url}/v2/`);
  } catch (e) {
    await stopProc(proc);
    throw new Error(`${(e as Error).message}; registry output: ${output()}`);
  }
  return { addr: `127.0.0.1:${port}`, url, root, proc, output, stop: () => stopProc(proc) };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${timeoutMs}ms`);
}

/** Runs a program (bounded) and collects its output. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: Buffer } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    p.stdin.end(opts.input);
  });
}
