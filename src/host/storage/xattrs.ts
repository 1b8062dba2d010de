// Extended attributes of layer files: checking names that come from a tar,
// setting one attribute on one file without following a symlink, and reading
// every attribute under a directory. Names and values always travel as data
// (argv, base64), never inside a text format a crafted name could extend.
import { InvalidParameter } from '../../util/errors';
import { execHost } from '../exec';

/** XATTR_NAME_MAX and XATTR_SIZE_MAX (linux/limits.h). */
const NAME_MAX = 255;
const SIZE_MAX = 65536;
const NAMESPACES = ['user.', 'trusted.', 'security.', 'system.'];

export type XattrVerdict = 'apply' | 'skip';

/**
 * Checks an attribute name from a layer entry. Throws for a name no honest
 * archiver writes (empty, too long, a control character); 'skip' for names
 * that must not or cannot be applied: overlay's own `trusted.overlay.*` (a
 * tar must never redirect or hide lower files) and unknown namespaces, which
 * the kernel refuses with EOPNOTSUPP and Docker then ignores.
 */
export function checkXattrName(name: string, entry: string): XattrVerdict {
  const bad = (why: string) => new InvalidParameter(`invalid tar entry ${JSON.stringify(entry)}: extended attribute ${JSON.stringify(name)} ${why}`);
  if (name === '') throw bad('has an empty name');
  if (Buffer.byteLength(name) > NAME_MAX) throw bad(`has a name longer than ${NAME_MAX} bytes`);
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  if (/[\x00-\x1f\x7f]/.test(name)) throw bad('has a control character in its name');
  const ns = NAMESPACES.find((p) => name.startsWith(p));
  if (!ns || name.length === ns.length) return 'skip';
  if (name.startsWith('trusted.overlay.')) return 'skip';
  return 'apply';
}

export function checkXattrValue(name: string, value: Buffer, entry: string): void {
  if (value.length > SIZE_MAX) {
    throw new InvalidParameter(`invalid tar entry ${JSON.stringify(entry)}: extended attribute ${JSON.stringify(name)} is larger than ${SIZE_MAX} bytes`);
  }
}

/**
 * Sets one attribute on `file` itself (lsetxattr: a symlink is never
 * followed). Base64 keeps binary values (security.capability) intact and a
 * 64 KiB value within one argv string. Resolves false when the file system
 * refuses it (e.g. user.* on a symlink), as Docker skips ENOTSUP/EPERM.
 */
export async function setXattr(file: string, name: string, value: Buffer): Promise<{ ok: boolean; error?: string }> {
  const args = ['-h', '-n', name];
  if (value.length) args.push('-v', '0s' + value.toString('base64'));
  args.push('--', file);
  const r = await execHost('setfattr', args, { allowFailure: true });
  return r.code === 0 ? { ok: true } : { ok: false, error: r.stderr.trim() };
}

export type XattrMap = Map<string, Map<string, Buffer>>;

/**
 * Reads all attributes under `root` (absolute paths → name → value) with one
 * getfattr call that never follows a symlink, neither while walking (-P) nor
 * for the file itself (-h): a link to a host file must not record the host
 * file's attributes.
 */
export async function readXattrs(root: string): Promise<XattrMap> {
  const r = await execHost('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', root], {
    allowFailure: true,
    timeout: 120_000,
  });
  return parseGetfattr(r.stdout);
}

/** Parses `getfattr -d -e base64` output; names and paths come octal-escaped. */
export function parseGetfattr(out: string): XattrMap {
  const map: XattrMap = new Map();
  let cur: Map<string, Buffer> | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) {
      cur = new Map();
      map.set(unquote(line.slice(8)), cur);
      continue;
    }
    if (!cur || line === '' || line.startsWith('#')) continue;
    // '=' inside a name is escaped (\075), so the first '=' ends the name.
    const i = line.indexOf('=');
    const name = unquote(i < 0 ? line : line.slice(0, i));
    const v = i < 0 ? '' : line.slice(i + 1);
    let value: Buffer;
    if (v.startsWith('0s')) value = Buffer.from(v.slice(2), 'base64');
    else if (v.startsWith('0x')) value = Buffer.from(v.slice(2), 'hex');
    else value = Buffer.from(v.replace(/^"|"$/g, ''));
    cur.set(name, value);
  }
  return map;
}

/** Undoes getfattr's quoting: `\ooo` is one byte. */
export function unquote(s: string): string {
  const parts = s.split(/(\\[0-7]{3})/);
  const bufs = parts.map((p) => (/^\\[0-7]{3}$/.test(p) ? Buffer.from([parseInt(p.slice(1), 8) & 0xff]) : Buffer.from(p)));
  return Buffer.concat(bufs).toString();
}
