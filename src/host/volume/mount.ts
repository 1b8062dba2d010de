// Host side of the local volume driver: mounting volumes that have
// type/device/o options, copy-up of image content, symlink-safe paths.
import fs from 'node:fs';
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
