// The confined filesystem helper (a short-lived child of berthd, one per
// archive or export request; Docker's chrootarchive does the same). It loads
// all the code it will run, bind-mounts a stopped container's volumes (in its
// own private mount namespace, made by `unshare` before it started), then
// chroots into the container's root and only then touches container paths.
// Request: JSON in argv[2]. Data: stdin/stdout. Control: JSON lines on fd 3
// ({"ok": ...} | {"error": {"status", "message"}}).
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { fsrootNative, O_PATH } from '../native/addon';
import * as ops from './ops';
import type { ConfinedRequest } from './run';

function send(msg: unknown): void {
  fs.writeSync(3, JSON.stringify(msg) + '\n');
}

function fail(e: unknown): never {
  // Messages name container paths only: every path the helper uses is one.
  const { status, message } = ops.opError(e);
  try {
    send({ error: { status, message } });
  } catch {
    /* berthd went away */
  }
  process.exit(1);
}

/** Creates a missing mount point, each component resolved by the kernel inside the root. */
function ensureMountPoint(rootFd: number, dest: string, dir: boolean): void {
  const n = fsrootNative();
  const parts = dest.split('/').filter(Boolean);
  let prefix = '';
  for (let i = 0; i < parts.length; i++) {
    const next = `${prefix}/${parts[i]}`;
    try {
      fs.closeSync(n.openInRoot(rootFd, next, O_PATH));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const pfd = n.openInRoot(rootFd, prefix || '/', O_PATH | fs.constants.O_DIRECTORY);
      try {
        // Through the parent's descriptor: the new name itself is never followed.
        const p = `/proc/self/fd/${pfd}/${parts[i]}`;
        if (i === parts.length - 1 && !dir) fs.closeSync(fs.openSync(p, 'wx', 0o755));
        else fs.mkdirSync(p, 0o755);
      } finally {
        fs.closeSync(pfd);
      }
    }
    prefix = next;
  }
}

/** Bind-mounts each volume onto its mount point inside `root` (stopped containers; private mount namespace). */
function mountVolumes(req: ConfinedRequest): void {
  if (!req.mounts?.length) return;
  const n = fsrootNative();
  const rootFd = fs.openSync(req.root, O_PATH | fs.constants.O_DIRECTORY);
  try {
    for (const m of [...req.mounts].sort((a, b) => a.destination.split('/').length - b.destination.split('/').length)) {
      let sfd: number;
      try {
        sfd = fs.openSync(m.source, O_PATH);
      } catch {
        continue; // a bind source that is gone: Docker would fail the start, not the copy
      }
      try {
        ensureMountPoint(rootFd, m.destination, fs.fstatSync(sfd).isDirectory());
        const tfd = n.openInRoot(rootFd, m.destination, O_PATH);
        try {
          n.bind(`/proc/self/fd/${sfd}`, `/proc/self/fd/${tfd}`);
        } finally {
          fs.closeSync(tfd);
        }
        if (!m.rw) {
          const mfd = n.openInRoot(rootFd, m.destination, O_PATH);
          try {
            n.remountReadonly(`/proc/self/fd/${mfd}`);
          } finally {
            fs.closeSync(mfd);
          }
        }
      } finally {
        fs.closeSync(sfd);
      }
    }
  } finally {
    fs.closeSync(rootFd);
  }
}

/**
 * The helper may open no device: a node the container planted where a file
 * was (between our lstat and open) is refused by the kernel, so opening it
 * cannot have a device's side effects (cgroup v1 devices controller; on
 * other hosts the fstat check after open still keeps its content out).
 */
function denyDevices(): void {
  const ctl = '/sys/fs/cgroup/devices';
  if (!fs.existsSync(path.join(ctl, 'devices.deny'))) return;
  const dir = path.join(ctl, 'berth-fsroot-helper');
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'devices.deny'), 'a');
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(process.pid));
  } catch (e) {
    // A daemon confined by its own cgroup may not make one: the fstat check still applies.
    process.stderr.write(`devices cgroup not joined: ${(e as Error).message}\n`);
  }
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '{}') as ConfinedRequest;
  const n = fsrootNative();
  n.pdeathsig();
  if (process.ppid === 1) process.exit(1); // berthd died before the signal was armed
  denyDevices();
  mountVolumes(req);
  n.chroot(req.root);
  // From here on, nothing may be loaded from the container's files.
  (Module.prototype as any).require = () => {
    throw new Error('no module loading inside a container root');
  };
  const a = req.args;
  switch (req.op) {
    case 'stat':
      send({ ok: ops.stat(a.path as string, a.container as string) });
      break;
    case 'get':
      await ops.get(a.path as string, a.container as string, process.stdout, (s) => send({ ok: s }));
      send({ done: true });
      break;
    case 'put':
      await ops.put(a as unknown as ops.PutOptions, process.stdin);
      send({ ok: true });
      break;
    case 'export':
      send({ ok: true });
      await ops.exportRoot(process.stdout, n.lxattrs);
      send({ done: true });
      break;
    default:
      throw new ops.OpError(500, `unknown operation ${String(req.op)}`);
  }
  process.exit(0);
}

// stdout to a client that left: end quietly, berthd already knows.
process.stdout.on('error', () => process.exit(1));
main().catch(fail);
