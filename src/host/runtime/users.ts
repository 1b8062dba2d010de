// `--user` resolution against the container's own /etc/passwd and
// /etc/group, read inside the rootfs without following links out of it.
import fs from 'node:fs';
import { InvalidParameter } from '../../util/errors';
import { resolveInRoot } from '../rootfs';

function readInRoot(root: string, rel: string): string | undefined {
  try {
    const p = resolveInRoot(root, rel);
    const st = fs.statSync(p);
    if (!st.isFile() || st.size > 16 * 1024 * 1024) return undefined;
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] });
  }
  return out;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: f[3].split(',').filter(Boolean) });
  }
  return out;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

const isNum = (s: string) => /^\d+$/.test(s);

/**
 * Docker's rules: `user[:group]`, each a name or a number; names must exist
 * in the image, numbers need not. Supplementary groups come from /etc/group
 * membership plus `groupAdd`.
 */
export function resolveUser(rootfs: string, spec: string, groupAdd: string[] = []): ResolvedUser {
  const passwd = parsePasswd(readInRoot(rootfs, '/etc/passwd'));
  const groups = parseGroup(readInRoot(rootfs, '/etc/group'));
  const [u = '', g] = (spec || '').split(':', 2) as [string, string | undefined];
  let uid = 0;
  let gid = 0;
  let name = '';
  let home = '/';
  const userName = u === '' ? 'root' : u;
  const pw = isNum(userName) ? passwd.find((p) => p.uid === Number(userName)) : passwd.find((p) => p.name === userName);
  if (pw) {
    uid = pw.uid;
    gid = pw.gid;
    name = pw.name;
    home = pw.home || '/';
  } else if (isNum(userName)) {
    uid = Number(userName);
  } else if (u !== '') {
    throw new InvalidParameter(`unable to find user ${userName}: no matching entries in passwd file`);
  }
  if (g !== undefined && g !== '') {
    if (isNum(g)) gid = Number(g);
    else {
      const gr = groups.find((x) => x.name === g);
      if (!gr) throw new InvalidParameter(`unable to find group ${g}: no matching entries in group file`);
      gid = gr.gid;
    }
  }
  const extra = new Set<number>();
  if (name && (g === undefined || g === '')) {
    for (const gr of groups) if (gr.members.includes(name) && gr.gid !== gid) extra.add(gr.gid);
  }
  for (const a of groupAdd) {
    if (isNum(a)) extra.add(Number(a));
    else {
      const gr = groups.find((x) => x.name === a);
      if (!gr) throw new InvalidParameter(`Unable to find group ${a}: no matching entries in group file`);
      extra.add(gr.gid);
    }
  }
  if (uid > 0xffffffff - 1 || gid > 0xffffffff - 1) throw new InvalidParameter(`uids and gids must be in range 0-${0xffffffff - 1}`);
  return { uid, gid, additionalGids: [...extra], home };
}
