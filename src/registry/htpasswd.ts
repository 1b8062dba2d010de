// htpasswd basic auth as the distribution registry supports it: bcrypt
// entries only (what `htpasswd -B` writes). Verified passwords are cached by
// a hash of user+password so bcrypt runs once per credential, not per request.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';

export class Htpasswd {
  private readonly entries = new Map<string, string>();
  private readonly verified = new Set<string>();

  constructor(readonly file: string) {
    this.reload();
  }

  reload(): void {
    this.entries.clear();
    this.verified.clear();
    for (const raw of fs.readFileSync(this.file, 'utf8').split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const hash = line.slice(i + 1);
      // Only bcrypt ($2a$/$2b$/$2y$) is accepted, as distribution does.
      if (!/^\$2[aby]\$\d\d\$/.test(hash)) continue;
      this.entries.set(line.slice(0, i), hash);
    }
  }

  async check(user: string, password: string): Promise<boolean> {
    const hash = this.entries.get(user);
    if (!hash) return false;
    const key = createHash('sha256').update(user).update('\0').update(password).update('\0').update(hash).digest('hex');
    if (this.verified.has(key)) return true;
    const ok = await bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$'));
    if (ok) this.verified.add(key);
    return ok;
  }

  /** user:password from an `Authorization: Basic ...` header. */
  static parseBasic(header: string | undefined): { user: string; password: string } | undefined {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
    if (!m) return undefined;
    const s = Buffer.from(m[1], 'base64').toString('utf8');
    const i = s.indexOf(':');
    if (i < 0) return undefined;
    return { user: s.slice(0, i), password: s.slice(i + 1) };
  }
}

/** An htpasswd line for `user` (bcrypt, as `htpasswd -B` writes it). */
export function htpasswdLine(user: string, password: string, cost = 10): string {
  return `${user}:${bcrypt.hashSync(password, cost).replace(/^\$2b\$/, '$2y$')}`;
}
