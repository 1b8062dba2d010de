// Image references parsed the way Docker's distribution/reference does:
// `[registry[:port]/][user/]name[:tag][@digest]`, with docker.io and the
// `library/` namespace filled in, and `latest` as the default tag. Pure code,
// shared by the daemon and the CLI.
import { InvalidParameter } from '../util/errors';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const NAME_MAX = 255;

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainRe = `(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?`;
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const nameRe = `(?:${domainRe}/)?${pathComponent}(?:/${pathComponent})*`;
const tagRe = '[\\w][\\w.-]{0,127}';
const digestRe = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${nameRe})(?::(${tagRe}))?(?:@(${digestRe}))?$`);
const ANCHORED_DOMAIN = new RegExp(`^${domainRe}$`);
const ANCHORED_TAG = new RegExp(`^${tagRe}$`);
const ANCHORED_ID = /^[a-f0-9]{64}$/;

export interface Reference {
  /** Registry host (`docker.io`, `localhost:5000`). */
  domain: string;
  /** Repository path inside the registry (`library/busybox`). */
  path: string;
  tag?: string;
  digest?: string;
}

export const INVALID_FORMAT = 'invalid reference format';

/** Full repository name: `docker.io/library/busybox`. */
export function repoName(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** Full string form: `docker.io/library/busybox:latest`, `...@sha256:..`. */
export function fullString(r: Reference): string {
  let s = repoName(r);
  if (r.tag !== undefined) s += `:${r.tag}`;
  if (r.digest !== undefined) s += `@${r.digest}`;
  return s;
}

/** Short repository name as Docker shows it: `busybox`, `team/app`, `localhost:5000/app`. */
export function familiarName(r: Reference): string {
  if (r.domain === DEFAULT_DOMAIN) {
    if (r.path.startsWith(OFFICIAL_PREFIX) && !r.path.slice(OFFICIAL_PREFIX.length).includes('/')) {
      return r.path.slice(OFFICIAL_PREFIX.length);
    }
    return r.path;
  }
  return repoName(r);
}

/** Short string form: `busybox:latest`, `localhost:5000/team/app:1.0`. */
export function familiarString(r: Reference): string {
  let s = familiarName(r);
  if (r.tag !== undefined) s += `:${r.tag}`;
  if (r.digest !== undefined) s += `@${r.digest}`;
  return s;
}

/**
 * Parses a user-given reference (familiar or full) and normalizes it.
 * Throws InvalidParameter with Docker's messages.
 */
export function parseNormalized(s: string): Reference {
  if (ANCHORED_ID.test(s)) {
    throw new InvalidParameter(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDomain(s);
  // The remainder (name part without tag/digest) must be lowercase.
  let name = remainder;
  const at = name.indexOf('@');
  if (at >= 0) name = name.slice(0, at);
  const colon = name.lastIndexOf(':');
  if (colon >= 0) name = name.slice(0, colon);
  if (name.toLowerCase() !== name) {
    throw new InvalidParameter(`${INVALID_FORMAT}: repository name (${name}) must be lowercase`);
  }
  return parseFull(`${domain}/${remainder}`);
}

/** Parses an already-full reference (domain present). */
export function parseFull(s: string): Reference {
  if (s === '') throw new InvalidParameter(`${INVALID_FORMAT}`);
  const m = REFERENCE.exec(s);
  if (!m) {
    // Distinguish the one case Docker names: uppercase in the name.
    const bare = s.split('@')[0];
    if (REFERENCE.test(bare.toLowerCase()) && bare.toLowerCase() !== bare) {
      throw new InvalidParameter(`${INVALID_FORMAT}: repository name must be lowercase`);
    }
    throw new InvalidParameter(INVALID_FORMAT);
  }
  const name = m[1];
  if (name.length > NAME_MAX) {
    throw new InvalidParameter(`${INVALID_FORMAT}: repository name must not be more than ${NAME_MAX} characters`);
  }
  const slash = name.indexOf('/');
  let domain = name.slice(0, slash);
  const path = name.slice(slash + 1);
  if (slash < 0 || !ANCHORED_DOMAIN.test(domain)) throw new InvalidParameter(INVALID_FORMAT);
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  const ref: Reference = { domain, path };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) {
    if (!/^sha256:[a-f0-9]{64}$/.test(m[3])) {
      throw new InvalidParameter(`${INVALID_FORMAT}: invalid digest ${m[3]}`);
    }
    ref.digest = m[3];
  }
  return ref;
}

function splitDomain(s: string): [string, string] {
  const i = s.indexOf('/');
  let domain: string;
  let remainder: string;
  if (i === -1) {
    domain = DEFAULT_DOMAIN;
    remainder = s;
  } else {
    const first = s.slice(0, i);
    // The first component is a registry only if it looks like a host.
    if (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first) {
      domain = DEFAULT_DOMAIN;
      remainder = s;
    } else {
      domain = first;
      remainder = s.slice(i + 1);
    }
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_PREFIX + remainder;
  return [domain, remainder];
}

/** Adds the default tag when the reference has neither tag nor digest. */
export function withDefaultTag(r: Reference): Reference {
  if (r.tag === undefined && r.digest === undefined) return { ...r, tag: DEFAULT_TAG };
  return r;
}

/** Parse + default tag, as `docker pull`/`tag`/`rmi` treat names. */
export function parseTagged(s: string): Reference {
  return withDefaultTag(parseNormalized(s));
}

export function isValidTag(t: string): boolean {
  return ANCHORED_TAG.test(t);
}

/** Familiar form of a stored full reference string. */
export function familiarOf(full: string): string {
  try {
    return familiarString(parseFull(full));
  } catch {
    return full;
  }
}
