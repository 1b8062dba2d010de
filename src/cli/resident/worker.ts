// One command of the resident CLI server, in a worker thread. Started ahead
// of time (the spare): it compiles the bundle (dist/berth.js, with the code
// cache bin/berth wrote) and runs its top level, then waits for one request,
// takes the client's environment, runs main(argv) as bin/berth would, and
// ends with its exit code. Its stdout/stderr are the server's to relay.
import fs from 'node:fs';
import os from 'node:os';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';

export interface WorkRequest {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

type Main = (argv: string[]) => Promise<number>;
interface Bundle { main?: Main; warmPs?: () => Promise<number> }

function loadBundle(bundle: string, dist: string): Bundle {
  const b = fs.statSync(bundle);
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(`${bundle}.${b.size}-${Math.floor(b.mtimeMs)}.cache`);
  } catch {
    /* no cache yet: compile without */
  }
  const source = `(function (exports, require, module, __filename, __dirname) { ${fs.readFileSync(bundle, 'latin1')}\n});`;
  const script = new vm.Script(source, { filename: bundle, cachedData });
  const mod = { exports: {} as Bundle, filename: bundle, id: bundle };
  script.runInThisContext()(mod.exports, require, mod, bundle, dist);
  if (typeof mod.exports.main !== 'function') throw new Error(`${bundle} exports no main()`);
  return mod.exports;
}

const { bundle, dist, warm } = workerData as { bundle: string; dist: string; warm?: 'ps' };
const loaded = loadBundle(bundle, dist);
const main = loaded.main!;
// Asked by the server after a long `ps` (../warmup.ts); a request that comes
// meanwhile waits for it (its message is read once this turn is over).
if (warm === 'ps') loaded.warmPs?.().catch(() => undefined);

/**
 * Bytes written to stdout and stderr, as the server's side receives them
 * (a string as its encoding makes it). With the exit code they are the
 * "done" message: the server answers the client once it has relayed that
 * much, not after this thread's heap is torn down (~4-8 ms, more after a
 * big command).
 */
const written = { out: 0, err: 0 };
function count(stream: NodeJS.WriteStream, key: 'out' | 'err'): void {
  const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') written[key] += Buffer.byteLength(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array) written[key] += chunk.byteLength;
    return write(chunk, ...rest);
  }) as typeof stream.write;
}
count(process.stdout, 'out');
count(process.stderr, 'err');

export interface WorkDone { code: number; out: number; err: number }

function exit(code: number): void {
  // As bin/berth: once the command is done, flush and end.
  process.stdout.write('', () => process.stderr.write('', () => {
    parentPort!.postMessage({ code, ...written } satisfies WorkDone);
    process.exit(code);
  }));
}

parentPort!.once('message', (req: WorkRequest) => {
  // The client's environment, as a whole (bin/berth puts NODE_EXTRA_CA_CERTS
  // back the same way), its home directory and its working directory.
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, req.env);
  const homedir = os.homedir;
  os.homedir = () => process.env.HOME || homedir();
  if (req.cwd) process.cwd = () => req.cwd;
  main(req.argv).then(exit, (e: unknown) => {
    process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
    exit(1);
  });
});
