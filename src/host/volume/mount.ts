// Host side of the local volume driver: mounting volumes that have
// type/device/o options, copy-up of image content, symlink-safe paths.
import fs from 'node:fs';
import path from 'node:path';
import { execHost } from '../exec';

export function isMounted(target: string): boolean {
  try {
    const t = fs.realpathSync(target);
    return fs
      .readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1]?.replace(/\\040/g, ' ') === t);
  } catch {
    return false;
  }
}

/** `mount -t type -o o device target` for a local volume with options. */
export async function mountVolume(type: string, device: string, o: string, target: string): Promise<void> {
  if (isMounted(target)) return;
  const args: string[] = [];
  if (type) args.push('-t', type);
  if (o) args.push('-o', o);
  args.push(device || type || 'none', target);
  await execHost('mount', args, { timeout: 20_000 });
}

export async function unmount(target: string): Promise<void> {
  if (!isMounted(target)) return;
  await execHost('umount', [target], { allowFailure: true, timeout: 20_000 });
  if (isMounted(target)) await execHost('umount', ['-l', target], { allowFailure: true, timeout: 20_000 });
}

/**
 * Resolves `p` inside `root` following symlinks as if `root` were `/`, so a
 * link in an image can never lead outside the container's filesystem.
 */
export function resolveInRoot(root: string, p: string): string {
  const parts = p.split('/').filter((x) => x && x !== '.');
  let cur: string[] = [];
  let hops = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === '..') {
      cur.pop();
      continue;
    }
    const full = path.join(root, ...cur, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(full);
    } catch {
      cur.push(part);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) throw new Error(`too many levels of symbolic links: ${p}`);
      const target = fs.readlinkSync(full);
      if (target.startsWith('/')) cur = [];
      parts.unshift(...target.split('/').filter((x) => x && x !== '.'));
      continue;
    }
    cur.push(part);
  }
  return path.join(root, ...cur);
}

/**
 * Copies the content of image directory `src` into an empty volume directory
 * `dst`, keeping owners, modes, times and xattrs (cp -a does not follow links).
 */
export async function copyUp(src: string, dst: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(src);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  if (fs.readdirSync(dst).length > 0) return;
  if (fs.readdirSync(src).length > 0) await execHost('cp', ['-a', '--', `${src}/.`, `${dst}/`], { timeout: 300_000 });
  fs.chownSync(dst, st.uid, st.gid);
  fs.chmodSync(dst, st.mode & 0o7777);
}
