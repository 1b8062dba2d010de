// The resident CLI server: `node dist/src/cli/resident/server.js SOCKET`,
// started in the background by the native client (native/fsroot/cli-client.c)
// the first time it finds none. It answers the commands allow.ts lets
// through, each in a fresh worker thread that was started ahead of time
// (worker.ts: the bundle compiled and its top level run), so a command pays
// neither Node's start-up nor the bundle's. One server per user:
//
// - only the owner reaches it: the socket's directory must be the user's
//   and closed to group and others (checked at start and per request);
// - stale code never answers: the bundle and these files are checked
//   (size, mtime) per request; on a change the server says "not served,
//   start a new one" and exits;
// - it exits after BERTH_CLI_IDLE_MS (default 10 min) without a request,
//   and within seconds once its socket is removed or replaced.
// Protocol: see cli-client.c.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { servable, PROCESS_WIDE_ENV } from './allow';
import type { WorkDone, WorkRequest } from './worker';

const sockPath = process.argv[2];
const dist = path.resolve(__dirname, '..', '..', '..');
const root = path.dirname(dist);
const bundle = path.join(dist, 'berth.js');
const workerFile = path.join(__dirname, 'worker.js');
const tscMain = path.join(dist, 'src', 'cli', 'main.js');
const watched = [bundle, tscMain, workerFile, __filename, path.join(__dirname, 'allow.js')];
const IDLE_MS = Number(process.env.BERTH_CLI_IDLE_MS) > 0 ? Number(process.env.BERTH_CLI_IDLE_MS) : 10 * 60_000;
const CHECK_MS = 2_000;
/** Workers kept started ahead (BERTH_CLI_SPARES; 1 keeps one, as before). */
const SPARES = Number(process.env.BERTH_CLI_SPARES) >= 1 ? Math.min(4, Math.floor(Number(process.env.BERTH_CLI_SPARES))) : 2;

/**
 * After a `ps` that printed at least this much (~160 rows), the workers
 * started next warm its formatting before their command comes
 * (../warmup.ts); a shorter `ps` stops that. BERTH_CLI_WARM=0: never.
 */
const WARM_PS_BYTES = 16 * 1024;
const WARM = process.env.BERTH_CLI_WARM !== '0';

function stamp(f: string): string {
  const s = fs.statSync(f);
  return `${s.size}:${s.mtimeMs}:${s.ino}`;
}

/** The socket's directory: ours and 0700 (created so when missing). */
function dirOk(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false;
  }
  const st = fs.lstatSync(dir);
  return st.isDirectory() && st.uid === process.geteuid!() && (st.mode & 0o077) === 0;
}

function frame(type: string, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(body.length, 1);
  return Buffer.concat([h, body]);
}

interface Request { root: string; cwd: string; argv: string[]; env: Record<string, string> }

function parseRequest(buf: Buffer): Request | undefined {
  const parts = buf.toString('utf8').split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  const [version, reqRoot, cwd, , argcText] = parts;
  const argc = Number(argcText);
  if (version !== '1' || !Number.isInteger(argc) || argc < 0 || parts.length < 5 + argc) return undefined;
  const env: Record<string, string> = {};
  for (const kv of parts.slice(5 + argc)) {
    const i = kv.indexOf('=');
    if (i > 0 && !(kv.slice(0, i) in env)) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { root: reqRoot, cwd, argv: parts.slice(5, 5 + argc), env };
}

function start(): void {
  const dir = path.dirname(sockPath);
  if (!sockPath || !path.isAbsolute(sockPath) || !dirOk(dir)) process.exit(2);
  const stamps = watched.map(stamp);
  // bin/berth runs dist/src/ instead of a bundle older than tsc's output: so must we (by not serving).
  const bundleStale = fs.statSync(bundle).mtimeMs < fs.statSync(tscMain).mtimeMs;
  // The environment this process was started with: TZ, locale and Node's options are its own.
  const ownEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => PROCESS_WIDE_ENV.test(k) && k !== 'NODE_EXTRA_CA_CERTS'));

  const spares: Worker[] = [];
  let warmPs = false;
  const warm = (): Worker => {
    const w = new Worker(workerFile, { stdout: true, stderr: true, workerData: { bundle, dist, warm: warmPs ? 'ps' : undefined } });
    w.on('error', () => { /* reported to its request, if it had one */ });
    w.unref();
    return w;
  };
  // The next spare starts once a command is done, not beside it: on two
  // cores its start-up would take the CPU from the command being answered.
  // A command takes the oldest of SPARES: the one started after the last
  // command has had that command's time and the gap after it to get ready,
  // so commands in a loop (a script, the bench) rarely wait for a start-up.
  const take = (): Worker => spares.shift() ?? warm();
  const rewarm = () => {
    while (!stopping && spares.length < SPARES) spares.push(warm());
  };

  let idle: NodeJS.Timeout;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    try {
      if (fs.statSync(sockPath).ino === sockIno) {
        fs.rmSync(sockPath, { force: true });
        fs.rmSync(`${sockPath}.pid`, { force: true });
      }
    } catch { /* gone already */ }
    clearTimeout(idle);
    for (const w of spares.splice(0)) void w.terminate();
    // Requests in flight finish (bounded); nothing new is accepted.
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 30_000).unref();
  };
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(stop, IDLE_MS);
  };

  const changed = (): boolean => {
    try {
      return watched.some((f, i) => stamp(f) !== stamps[i]);
    } catch {
      return true;
    }
  };

  const serve = (sock: net.Socket, req: Request) => {
    if (changed()) {
      sock.end(frame('f', 'spawn'));
      stop();
      return;
    }
    let refusal: string | undefined;
    if (bundleStale) refusal = 'bundle older than dist/src';
    else if (req.root !== root) refusal = 'another install';
    else if (!dirOk(dir)) refusal = 'socket directory';
    else {
      for (const k of new Set([...Object.keys(req.env), ...Object.keys(ownEnv)])) {
        if (PROCESS_WIDE_ENV.test(k) && k !== 'NODE_EXTRA_CA_CERTS' && req.env[k] !== ownEnv[k]) { refusal = k; break; }
      }
    }
    const verdict = refusal ? { ok: false as const, reason: refusal } : servable(req.argv, req.env, req.cwd);
    if (!verdict.ok) {
      sock.end(frame('f', ''));
      return;
    }
    const w = take();
    let done = false;
    let code = 1;
    let open = 3; // stdout, stderr, exit
    const got = { out: 0, err: 0 };
    let told: WorkDone | undefined;
    const answer = () => {
      if (done) return;
      done = true;
      sock.end(frame('x', String(code)));
      if (verdict.kind === 'ps' && code === 0) warmPs = WARM && got.out >= WARM_PS_BYTES;
      rewarm();
    };
    const finish = () => {
      if (--open === 0) answer();
    };
    // The worker's "done" (worker.ts) ends the answer once its output is all
    // here; the stdio ends and the exit stay the way for a worker that died.
    const maybeDone = () => {
      if (told && got.out === told.out && got.err === told.err) {
        code = told.code;
        answer();
      }
    };
    w.stdout.on('data', (b: Buffer) => { if (done) return; got.out += b.length; sock.write(frame('o', b)); maybeDone(); });
    w.stderr.on('data', (b: Buffer) => { if (done) return; got.err += b.length; sock.write(frame('e', b)); maybeDone(); });
    w.once('message', (m: WorkDone) => { told = m; maybeDone(); });
    w.stdout.on('end', finish);
    w.stderr.on('end', finish);
    w.on('error', (e) => { if (!sock.destroyed && !done) sock.write(frame('e', `${e?.stack ?? e}\n`)); });
    w.on('exit', (c) => { if (!told) code = c; finish(); });
    sock.on('close', () => { if (!done) void w.terminate(); });
    const work: WorkRequest = { argv: req.argv, env: req.env, cwd: req.cwd };
    w.postMessage(work);
  };

  const server = net.createServer((sock) => {
    touch();
    let buf = Buffer.alloc(0);
    let need = -1;
    sock.on('error', () => sock.destroy());
    const onData = (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      if (need < 0 && buf.length >= 4) {
        need = buf.readUInt32BE(0);
        if (need > 1 << 24) { sock.destroy(); return; }
      }
      if (need >= 0 && buf.length >= 4 + need) {
        sock.off('data', onData);
        const req = parseRequest(buf.subarray(4, 4 + need));
        if (!req) { sock.end(frame('f', '')); return; }
        serve(sock, req);
      }
    };
    sock.on('data', onData);
  });

  let sockIno = -1;
  const listen = () => {
    server.listen(sockPath, () => {
      fs.chmodSync(sockPath, 0o600);
      sockIno = fs.statSync(sockPath).ino;
      fs.writeFileSync(`${sockPath}.pid`, `${process.pid}\n`, { mode: 0o600 });
      rewarm();
      touch();
      // Removed or replaced (another server, a cleaned-up temp dir): leave.
      setInterval(() => {
        try {
          if (fs.statSync(sockPath).ino !== sockIno) stop();
        } catch {
          stop();
        }
      }, CHECK_MS).unref();
    });
  };
  server.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EADDRINUSE') process.exit(2);
    // A live server keeps its socket; a dead one's is removed and taken over.
    const probe = net.connect(sockPath);
    probe.on('connect', () => { probe.destroy(); process.exit(0); });
    probe.on('error', () => {
      fs.rmSync(sockPath, { force: true });
      listen();
    });
  });
  listen();
  process.on('SIGTERM', () => { stop(); process.exit(0); });
}

start();
