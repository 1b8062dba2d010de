// Paths inside a container's root filesystem, resolved as the container sees
// them: symlinks (absolute or relative) are followed but never leave the root.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidParameter } from '../util/errors';

/** The host path of `rel` inside `root`; a link cycle is a 400, as a bad path from the client. */
export function resolveInRoot(root: string, rel: string, maxLinks = 40): string {
  const parts = rel.split('/').filter((p) => p && p !== '.');
  let cur: string[] = [];
  let links = 0;
  while (parts.length) {
    const p = parts.shift()!;
    if (p === '..') {
      cur.pop();
      continue;
    }
    const full = path.join(root, ...cur, p);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(full);
    } catch {
      cur.push(p);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++links > maxLinks) throw new InvalidParameter(`too many levels of symbolic links: ${rel}`);
      const target = fs.readlinkSync(full);
      if (target.startsWith('/')) cur = [];
      parts.unshift(...target.split('/').filter((x) => x && x !== '.'));
      continue;
    }
    cur.push(p);
  }
  return path.join(root, ...cur);
}
