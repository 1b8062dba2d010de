// Registry credentials and authentication challenges. Clients send
// credentials in X-Registry-Auth (base64url JSON AuthConfig); registries
// answer 401 with `WWW-Authenticate: Basic ...` or `Bearer realm=,service=,scope=`
// and we then either send basic credentials or fetch a token from the realm.
import { InvalidParameter } from '../util/errors';

export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  email?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/** Decodes an X-Registry-Auth header; an empty or `{}` header is anonymous. */
export function decodeRegistryAuth(header: string | undefined | null): AuthConfig | undefined {
  if (!header || header.trim() === '') return undefined;
  let json: string;
  try {
    json = Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    const v = JSON.parse(json);
    if (!v || typeof v !== 'object') return undefined;
    const a = v as AuthConfig;
    // `auth` is base64(user:password) as in config.json.
    if (a.auth && !a.username) {
      const s = Buffer.from(a.auth, 'base64').toString('utf8');
      const i = s.indexOf(':');
      if (i > 0) {
        a.username = s.slice(0, i);
        a.password = s.slice(i + 1);
      }
    }
    if (!a.username && !a.password && !a.identitytoken && !a.registrytoken) return undefined;
    return a;
  } catch {
    throw new InvalidParameter('invalid X-Registry-Auth header: it must be base64url-encoded JSON');
  }
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses WWW-Authenticate (one or more challenges). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (!header) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: Challenge[] = [];
  const re = /([A-Za-z]+)\s+((?:[a-zA-Z_]+=(?:"[^"]*"|[^,\s]*)\s*,?\s*)+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    const params: Record<string, string> = {};
    const pre = /([a-zA-Z_]+)=(?:"([^"]*)"|([^,\s]*))/g;
    let p: RegExpExecArray | null;
    while ((p = pre.exec(m[2]))) params[p[1].toLowerCase()] = p[2] ?? p[3];
    out.push({ scheme: m[1].toLowerCase(), params });
  }
  if (out.length === 0 && /^\s*basic\s*$/i.test(text)) out.push({ scheme: 'basic', params: {} });
  return out;
}

export function basicHeader(a: AuthConfig): string | undefined {
  if (a.username === undefined || a.password === undefined) return undefined;
  return 'Basic ' + Buffer.from(`${a.username}:${a.password}`).toString('base64');
}
